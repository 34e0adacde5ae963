// The v1 webhook event as the commands write it into the outbox (commands/notification_formats.h):
// webhook_event_body of payout_object.h behind the commands' interface.
#pragma once

#include "commands/notification_formats.h"

namespace payoutd::api::payouts_v1 {

class WebhookEventFormat final : public commands::V1WebhookFormat {
 public:
  std::string render(const Payout& payout, const PayoutEvent& event,
                     std::string_view event_id) const override;
};

}  // namespace payoutd::api::payouts_v1
