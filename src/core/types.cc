#include "core/types.h"

namespace payoutd {

std::string_view account_kind_name(AccountKind kind) {
  switch (kind) {
    case AccountKind::kAvailable:
      return "available";
    case AccountKind::kHeld:
      return "held";
    case AccountKind::kFunding:
      return "funding";
    case AccountKind::kSettlement:
      return "settlement";
  }
  PAYOUTD_ASSERT(false && "AccountKind out of range");
  return {};
}

std::string_view payout_movement_kind_name(PayoutMovementKind kind) {
  switch (kind) {
    case PayoutMovementKind::kHold:
      return "hold";
    case PayoutMovementKind::kPost:
      return "post";
    case PayoutMovementKind::kRefund:
      return "refund";
  }
  PAYOUTD_ASSERT(false && "PayoutMovementKind out of range");
  return {};
}

}  // namespace payoutd
