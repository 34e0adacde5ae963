#include "api/payouts_v1/objects/webhook_format.h"

#include "api/payouts_v1/objects/payout_object.h"

namespace payoutd::api::payouts_v1 {

std::string WebhookEventFormat::render(const Payout& payout, const PayoutEvent& event,
                                       std::string_view event_id) const {
  return webhook_event_body(payout, event, event_id);
}

}  // namespace payoutd::api::payouts_v1
