#include "engine/rail_plan.h"

#include "core/status.h"

namespace payoutd::engine {

std::vector<PayoutStatus> transitions_for_rail_state(PayoutStatus current, RailState state) {
  using S = PayoutStatus;
  const bool live = current == S::kProcessing || current == S::kSettling;
  switch (state) {
    case RailState::kUnknown:
    case RailState::kNotFound:
    case RailState::kProcessing:
      return {};
    case RailState::kSettling:
      if (current == S::kProcessing) return {S::kSettling};
      return {};
    case RailState::kActionRequired:
      if (live) return {S::kActionRequired};
      return {};
    case RailState::kCompleted:
      if (live) return {S::kCompleted};
      return {};
    case RailState::kFailed:
      if (live || current == S::kActionRequired) return {S::kFailed};
      return {};
    case RailState::kReversed:
      // A reversal we learn about after missing the completion: post first, then refund, so the
      // ledger shows both movements as they happened on the rail.
      if (live) return {S::kCompleted, S::kFailed};
      if (current == S::kCompleted) return {S::kFailed};
      return {};
    case RailState::kCancelled:
      if (current == S::kProcessing) return {S::kCancelled};
      return {};
  }
  PAYOUTD_ASSERT(false && "RailState out of range");
  return {};
}

int64_t reconcile_delay_ms(int attempts, int64_t initial_ms, int64_t max_ms) {
  PAYOUTD_ASSERT(attempts >= 1);
  PAYOUTD_ASSERT(initial_ms > 0 && max_ms >= initial_ms);
  int64_t delay = initial_ms;
  for (int i = 1; i < attempts && delay < max_ms; ++i) delay *= 2;
  return delay < max_ms ? delay : max_ms;
}

}  // namespace payoutd::engine
