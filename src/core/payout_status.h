// Payout statuses, actors, THE transition table, and the per-dialect status mappings.
//
// This is the only place in the program that encodes which status may follow which. Both dialects,
// the engine, the operator CLI and the store ask `check_transition` before claiming a transition.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace payoutd {

enum class PayoutStatus : uint8_t {
  kCreated = 0,
  kQueued,
  kOnHold,
  kProcessing,
  kSettling,
  kActionRequired,
  kCompleted,
  kFailed,
  kCancelled,
  kExpired,
};
inline constexpr int kPayoutStatusCount = 10;

inline constexpr std::array<PayoutStatus, kPayoutStatusCount> kAllPayoutStatuses = {
    PayoutStatus::kCreated,        PayoutStatus::kQueued,    PayoutStatus::kOnHold,
    PayoutStatus::kProcessing,     PayoutStatus::kSettling,  PayoutStatus::kActionRequired,
    PayoutStatus::kCompleted,      PayoutStatus::kFailed,    PayoutStatus::kCancelled,
    PayoutStatus::kExpired,
};

// Internal (database) name: "created", "on_hold", ...
std::string_view status_name(PayoutStatus status);
std::optional<PayoutStatus> parse_status_name(std::string_view name);

// Non-terminal statuses hold `total_amount` in the wallet's held account (ledger invariant 3).
bool status_holds_funds(PayoutStatus status);
// failed, cancelled, expired. (completed is final but may still become failed by a reversal.)
bool status_is_terminal(PayoutStatus status);

// Who asks for a transition. Wire names are the v1 `actor_type` values.
enum class Actor : uint8_t {
  kSystem = 0,  // the engine
  kClient,      // the merchant, through either dialect
  kOperator,    // payoutd payout set-status
  kProvider,    // a connector / the rail
};
std::string_view actor_name(Actor actor);
std::optional<Actor> parse_actor_name(std::string_view name);

// Extra facts a transition may need beyond (from, to, actor).
struct TransitionContext {
  // processing -> cancelled by a merchant is legal only after the connector confirmed the cancel.
  bool connector_confirmed_cancel = false;
};

// Ok when (from -> to) by `actor` is in the table of domain.md. Otherwise kInvalidTransition with
// detail_code = int(from).
Status check_transition(PayoutStatus from, PayoutStatus to, Actor actor,
                        const TransitionContext& context = {});

// All statuses `to` may be reached from by `actor` (ignoring context-dependent edges unless
// context allows them). Used to build conditional updates ("WHERE status IN (...)").
std::array<bool, kPayoutStatusCount> allowed_from_statuses(PayoutStatus to, Actor actor,
                                                          const TransitionContext& context = {});

// What a transition does to money (domain.md "Movements").
enum class LedgerMovement : uint8_t {
  kNone = 0,
  kPostHoldToSettlement,   // -> completed
  kRefundHeldToAvailable,  // -> cancelled / failed / expired before completion
  kRefundSettlementToAvailable,  // completed -> failed (bank reversal)
};
// REQUIRES: check_transition(from, to, actor) is ok for some actor.
LedgerMovement ledger_movement_for(PayoutStatus from, PayoutStatus to);

// ---- Dialect mappings (the table "Status in each dialect") ----

// v1 `status` string. on_hold shows as "action_required" in v1.
std::string_view v1_status_name(PayoutStatus status);
// The type of the v1 webhook event of a status, "payout.<v1 status>" (notifications.md): what
// endpoints subscribe to.
std::string v1_event_type(PayoutStatus status);
// v1 status filter value -> internal statuses it covers (action_required covers on_hold too).
// Returns false for an unknown name.
bool v1_status_filter(std::string_view name, std::array<bool, kPayoutStatusCount>& out);

struct V3Status {
  int code;                      // 0 Pending, 1 Completed, 2 Canceled, 3 Rejected, 4 Delivered, 5 On hold
  std::string_view description;  // "Pending", "Completed", ...
};
V3Status v3_status(PayoutStatus status);
// What the v3 cancel may cancel (v3 status 0 Pending and 5 On hold) has no function of its own: the
// v3 cancel is a client cancel without a connector's confirmation, so check_transition(from,
// kCancelled, Actor::kClient) decides it inside the write op, and refuses processing (v3 510).

// v3 rejection codes (cashouts-v3.md). Returns empty for an unknown code.
std::string_view rejection_reason_name(int rejection_code);
inline constexpr int kRejectionWithdrawalExpired = 809;
inline constexpr int kRejectionWithdrawalReversed = 826;

}  // namespace payoutd
