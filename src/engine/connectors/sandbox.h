// The `sandbox` connector: a deterministic simulated rail for development and tests.
//
// The outcome of a payout is chosen by the last three digits of the beneficiary's bank_account
// (docs/engine.md has the table): e.g. "...807" fails with rejection code 807, "...900" goes to
// action_required, "...901" accepts a cancel while processing, "...905" is reversed after it
// completes, "...906" times out. Anything else completes: processing -> settling -> completed.
//
// The rail keeps its own record of each payout (sandbox_rail.h: rail_records, in the same
// database, so that every payoutd process and node sees one rail). Timelines are computed from the record's submission
// time and the configured delays, so any instance answers the same at the same instant.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/connectors/connector.h"
#include "engine/connectors/sandbox_rail.h"
#include "store/store.h"

namespace payoutd::engine {

struct SandboxTimings {
  int64_t settle_after_ms = 2'000;           // processing -> settling
  int64_t complete_after_ms = 5'000;         // -> completed (from submission)
  int64_t fail_after_ms = 3'000;             // "8xx" accounts: -> failed
  int64_t action_required_after_ms = 2'000;  // "900": -> action_required
  int64_t cancel_answer_after_ms = 3'000;    // "903"/"904": the deferred cancel answer
  int64_t reversal_after_ms = 10'000;        // "905": completed -> reversed
  int64_t unknown_for_ms = 5'000;            // "906": no answer for this long after submission
  // Each delay above gets 0..jitter_ms added, derived from the payout key and jitter_seed, so
  // timelines differ per payout yet stay reproducible.
  int64_t jitter_ms = 0;
  uint64_t jitter_seed = 0;
};

// The behaviour a bank account selects (its last three digits).
enum class SandboxProfile : uint8_t {
  kComplete = 0,        // anything not below: processing -> settling -> completed
  kFail,                // "800".."826" (a v3 rejection code): processing -> failed with that code
  kActionRequired,      // "900": processing -> action_required, and stays there
  kCancelAccepted,      // "901": stays processing; a cancel is accepted at once
  kCancelRefused,       // "902": completes; a cancel is refused (already out)
  kCancelLater,         // "903": stays processing; a cancel is answered later: cancelled
  kCancelLaterRefused,  // "904": a cancel is answered later: refused, then it completes
  kReversed,            // "905": completes, then the bank reverses it (826)
  kTimeout,             // "906": submit and queries time out for a while, then it completes
};

struct SandboxChoice {
  SandboxProfile profile = SandboxProfile::kComplete;
  int rejection_code = 0;  // kFail only
};
SandboxChoice sandbox_choice(const Beneficiary& beneficiary);

inline constexpr std::string_view kSandboxConnectorName = "sandbox";

class SandboxConnector final : public Connector {
 public:
  // `store` holds the rail's records. `callback_secret` authenticates callbacks (HMAC-SHA256 of
  // the body, hex, in the Sandbox-Signature header); empty: callbacks are refused.
  SandboxConnector(Store& store, SandboxTimings timings, std::string callback_secret = {});

  std::string_view name() const override { return kSandboxConnectorName; }
  bool submits_automatically() const override { return true; }
  std::vector<RailStatus> submit(std::span<const ConnectorPayout> payouts, int64_t now) override;
  std::vector<RailStatus> query(std::span<const ConnectorPayout> payouts, int64_t now) override;
  CancelAnswer try_cancel(const ConnectorPayout& payout, int64_t now) override;
  Result<RailCallback> parse_callback(std::string_view body,
                                      std::string_view signature_header) override;

  // The rail's state of a payout with record `record` at `now` (pure; exposed for tests).
  RailStatus state_at(const ConnectorPayout& payout, const sandbox_rail::RailRecord& record,
                      int64_t now) const;

 private:
  int64_t delay_micros(int64_t base_ms, std::string_view key, int salt) const;

  Store& store_;
  SandboxTimings timings_;
  std::string callback_secret_;
};

}  // namespace payoutd::engine
