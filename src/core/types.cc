#include "core/types.h"

#include <algorithm>

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

bool is_payout_movement_journal(std::string_view kind) {
  return kind == kPayoutHoldJournal || kind == kPayoutPostJournal || kind == kPayoutRefundJournal;
}

std::string_view outbox_status_name(OutboxStatus status) {
  switch (status) {
    case OutboxStatus::kPending:
      return "pending";
    case OutboxStatus::kDelivered:
      return "delivered";
    case OutboxStatus::kFailed:
      return "failed";
  }
  PAYOUTD_ASSERT(false && "OutboxStatus out of range");
  return {};
}

std::optional<OutboxStatus> parse_outbox_status_name(std::string_view name) {
  for (OutboxStatus status :
       {OutboxStatus::kPending, OutboxStatus::kDelivered, OutboxStatus::kFailed}) {
    if (outbox_status_name(status) == name) return status;
  }
  return std::nullopt;
}

bool WebhookEndpoint::subscribes(std::string_view event_type) const {
  return events.empty() || std::find(events.begin(), events.end(), event_type) != events.end();
}

std::string_view delivery_result_name(DeliveryResult result) {
  switch (result) {
    case DeliveryResult::kDelivered:
      return "delivered";
    case DeliveryResult::kFailed:
      return "failed";
    case DeliveryResult::kRefused:
      return "refused";
  }
  PAYOUTD_ASSERT(false && "DeliveryResult out of range");
  return {};
}

std::optional<DeliveryResult> parse_delivery_result_name(std::string_view name) {
  for (DeliveryResult result :
       {DeliveryResult::kDelivered, DeliveryResult::kFailed, DeliveryResult::kRefused}) {
    if (delivery_result_name(result) == name) return result;
  }
  return std::nullopt;
}

}  // namespace payoutd
