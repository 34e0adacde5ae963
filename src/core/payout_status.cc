#include "core/payout_status.h"

#include <string>

namespace payoutd {
namespace {

using S = PayoutStatus;

constexpr uint8_t bit(Actor actor) { return static_cast<uint8_t>(1u << static_cast<unsigned>(actor)); }
constexpr uint8_t kEngine = bit(Actor::kSystem);
constexpr uint8_t kMerchant = bit(Actor::kClient);
constexpr uint8_t kOperator = bit(Actor::kOperator);
constexpr uint8_t kConnector = bit(Actor::kProvider);

struct Edge {
  S from;
  S to;
  uint8_t actors;  // bit set of Actor
  bool needs_connector_confirmed_cancel;
};

// The transition table of domain.md, one row per (from, to). The operator may make every
// transition of the table (standing in for engine or connector), so every row includes kOperator.
constexpr Edge kEdges[] = {
    {S::kCreated, S::kQueued, kEngine | kOperator, false},
    {S::kCreated, S::kOnHold, kMerchant | kOperator, false},
    {S::kQueued, S::kOnHold, kMerchant | kOperator, false},
    {S::kOnHold, S::kQueued, kMerchant | kOperator, false},
    {S::kCreated, S::kCancelled, kMerchant | kOperator, false},
    {S::kQueued, S::kCancelled, kMerchant | kOperator, false},
    {S::kOnHold, S::kCancelled, kMerchant | kOperator, false},
    {S::kActionRequired, S::kCancelled, kMerchant | kOperator, false},
    // "processing -> cancelled: merchant, only when the connector confirms the cancel". The operator
    // stands in for the connector's confirmation.
    {S::kProcessing, S::kCancelled, kMerchant | kOperator, true},
    {S::kQueued, S::kProcessing, kEngine | kOperator, false},
    {S::kProcessing, S::kSettling, kConnector | kOperator, false},
    {S::kProcessing, S::kCompleted, kConnector | kOperator, false},
    {S::kProcessing, S::kFailed, kConnector | kOperator, false},
    {S::kProcessing, S::kActionRequired, kConnector | kOperator, false},
    {S::kSettling, S::kCompleted, kConnector | kOperator, false},
    {S::kSettling, S::kFailed, kConnector | kOperator, false},
    {S::kSettling, S::kActionRequired, kConnector | kOperator, false},
    {S::kActionRequired, S::kQueued, kConnector | kOperator, false},
    {S::kActionRequired, S::kFailed, kConnector | kOperator, false},
    {S::kActionRequired, S::kExpired, kEngine | kOperator, false},
    {S::kOnHold, S::kExpired, kEngine | kOperator, false},
    {S::kCompleted, S::kFailed, kConnector | kOperator, false},
    {S::kCreated, S::kFailed, kEngine | kOperator, false},
};

const Edge* find_edge(S from, S to) {
  for (const Edge& edge : kEdges) {
    if (edge.from == from && edge.to == to) return &edge;
  }
  return nullptr;
}

bool edge_allows(const Edge& edge, Actor actor, const TransitionContext& context) {
  if ((edge.actors & bit(actor)) == 0) return false;
  // Only the merchant needs the connector's word; the operator's action is that word.
  if (edge.needs_connector_confirmed_cancel && actor == Actor::kClient &&
      !context.connector_confirmed_cancel) {
    return false;
  }
  return true;
}

constexpr std::string_view kStatusNames[kPayoutStatusCount] = {
    "created", "queued", "on_hold", "processing", "settling", "action_required",
    "completed", "failed", "cancelled", "expired",
};

}  // namespace

std::string_view status_name(PayoutStatus status) {
  const auto index = static_cast<size_t>(status);
  PAYOUTD_ASSERT(index < kPayoutStatusCount);
  return kStatusNames[index];
}

std::optional<PayoutStatus> parse_status_name(std::string_view name) {
  for (int i = 0; i < kPayoutStatusCount; ++i) {
    if (kStatusNames[i] == name) return static_cast<PayoutStatus>(i);
  }
  return std::nullopt;
}

bool status_holds_funds(PayoutStatus status) {
  switch (status) {
    case S::kCreated:
    case S::kQueued:
    case S::kOnHold:
    case S::kProcessing:
    case S::kSettling:
    case S::kActionRequired:
      return true;
    case S::kCompleted:
    case S::kFailed:
    case S::kCancelled:
    case S::kExpired:
      return false;
  }
  PAYOUTD_ASSERT(false);
  return false;
}

bool status_is_terminal(PayoutStatus status) {
  return status == S::kFailed || status == S::kCancelled || status == S::kExpired;
}

std::string_view actor_name(Actor actor) {
  switch (actor) {
    case Actor::kSystem:
      return "system";
    case Actor::kClient:
      return "client";
    case Actor::kOperator:
      return "operator";
    case Actor::kProvider:
      return "provider";
  }
  PAYOUTD_ASSERT(false);
  return "";
}

std::optional<Actor> parse_actor_name(std::string_view name) {
  for (Actor actor : {Actor::kSystem, Actor::kClient, Actor::kOperator, Actor::kProvider}) {
    if (actor_name(actor) == name) return actor;
  }
  return std::nullopt;
}

Status check_transition(PayoutStatus from, PayoutStatus to, Actor actor,
                        const TransitionContext& context) {
  const Edge* edge = find_edge(from, to);
  if (edge != nullptr && edge_allows(*edge, actor, context)) return Status::ok();
  std::string message = "Invalid status transition: ";
  message += status_name(from);
  message += " -> ";
  message += status_name(to);
  message += " is not allowed for actor ";
  message += actor_name(actor);
  return Status::error(ErrorKind::kInvalidTransition, std::move(message))
      .with_detail_code(static_cast<int>(from));
}

std::array<bool, kPayoutStatusCount> allowed_from_statuses(PayoutStatus to, Actor actor,
                                                          const TransitionContext& context) {
  std::array<bool, kPayoutStatusCount> allowed{};
  for (const Edge& edge : kEdges) {
    if (edge.to == to && edge_allows(edge, actor, context)) {
      allowed[static_cast<size_t>(edge.from)] = true;
    }
  }
  return allowed;
}

LedgerMovement ledger_movement_for(PayoutStatus from, PayoutStatus to) {
  PAYOUTD_ASSERT(find_edge(from, to) != nullptr);
  if (to == S::kCompleted) return LedgerMovement::kPostHoldToSettlement;
  if (from == S::kCompleted && to == S::kFailed) return LedgerMovement::kRefundSettlementToAvailable;
  if (to == S::kCancelled || to == S::kFailed || to == S::kExpired) {
    PAYOUTD_ASSERT(status_holds_funds(from));
    return LedgerMovement::kRefundHeldToAvailable;
  }
  return LedgerMovement::kNone;
}

std::string_view v1_status_name(PayoutStatus status) {
  if (status == S::kOnHold) return "action_required";
  return status_name(status);
}

std::string v1_event_type(PayoutStatus status) {
  return "payout." + std::string(v1_status_name(status));
}

bool v1_status_filter(std::string_view name, std::array<bool, kPayoutStatusCount>& out) {
  out = {};
  bool any = false;
  for (PayoutStatus status : kAllPayoutStatuses) {
    if (v1_status_name(status) == name) {
      out[static_cast<size_t>(status)] = true;
      any = true;
    }
  }
  return any;
}

V3Status v3_status(PayoutStatus status) {
  switch (status) {
    case S::kCreated:
    case S::kQueued:
      return {0, "Pending"};
    case S::kOnHold:
    case S::kActionRequired:
      return {5, "On hold"};
    case S::kProcessing:
    case S::kSettling:
      return {4, "Delivered"};
    case S::kCompleted:
      return {1, "Completed"};
    case S::kFailed:
    case S::kExpired:
      return {3, "Rejected"};
    case S::kCancelled:
      return {2, "Canceled"};
  }
  PAYOUTD_ASSERT(false);
  return {0, ""};
}

std::string_view rejection_reason_name(int rejection_code) {
  switch (rejection_code) {
    case 800: return "ERROR_ACCOUNT_INCORRECT";
    case 801: return "ERROR_ACCOUNT_CLOSED";
    case 802: return "ERROR_AMOUNT_INCORRECT";
    case 803: return "ERROR_BANK_INVALID";
    case 804: return "ERROR_BANK_BRANCH_INCORRECT";
    case 805: return "ERROR_BENEFICIARY_DOCUMENT_ID_INVALID";
    case 806: return "ERROR_BENEFICIARY_NAME_INCORRECT";
    case 807: return "ERROR_REJECTED_BY_BANK";
    case 808: return "ERROR_OTHER";
    case 809: return "WITHDRAWAL_EXPIRED";
    case 810: return "LIMIT_EXCEEDED";
    case 811: return "RISK_POLICY";
    case 812: return "BLOCKED_FROZEN_ACCOUNT";
    case 813: return "DOCUMENT_ACCOUNT_MISMATCH";
    case 814: return "INVALID_PIX_KEY";
    case 818: return "ACCOUNT_UNABLE";
    case 819: return "INVALID_ACCOUNT_TYPE";
    case 820: return "REJECTED_BY_MERCHANT_REQUEST";
    case 824: return "REJECTED_BY_THIRD_PARTY_CONTROL";
    case 826: return "WITHDRAWAL_REVERSED";
    default: return {};
  }
}

}  // namespace payoutd
