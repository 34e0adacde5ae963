// The screening hook: every payout is screened once, between `created` and `queued`. A rejection
// makes it `failed` with a rejection code (refunded in the same transaction).
#pragma once

#include <optional>
#include <string>

#include "core/types.h"

namespace payoutd::engine {

struct ScreeningDecision {
  bool allowed = true;
  int rejection_code = 0;  // when !allowed: a v3 rejection code (811 RISK_POLICY, ...)
  std::string message;
};

class Screening {
 public:
  virtual ~Screening() = default;
  // Pure and fast: runs for every payout. Must not block on I/O.
  virtual ScreeningDecision screen(const Payout& payout) = 0;
};

// The built-in rules: a bank account ending in "911" is rejected with 811 RISK_POLICY (the
// sandbox's documented way to drive a screening rejection); everything else passes.
class BuiltinScreening final : public Screening {
 public:
  ScreeningDecision screen(const Payout& payout) override;
};

}  // namespace payoutd::engine
