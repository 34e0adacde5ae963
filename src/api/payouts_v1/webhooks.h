// The v1 webhook endpoints (payouts-v1.md "Webhook endpoints"; delivery is notify/):
//   POST   /api/v1/webhooks                              201 endpoint + secret (shown only here)
//   GET    /api/v1/webhooks                              200 [endpoint]
//   DELETE /api/v1/webhooks/:id                          200 {"id","deleted":true}
//   GET    /api/v1/webhooks/:id/deliveries               200 [attempt], paging headers
//   POST   /api/v1/webhooks/events/:event_id/redeliver   202 {"event_id","requeued"}
// All behind a bearer token; another merchant's endpoint or event is 404.
#pragma once

#include "api/payouts_v1/payouts_v1.h"
#include "http/request.h"

namespace payoutd::api::payouts_v1 {

void handle_webhook_create(Context& context, const Merchant& merchant, http::Request&& request,
                           http::Respond respond);
void handle_webhook_list(Context& context, const Merchant& merchant, http::Request&& request,
                         http::Respond respond);
void handle_webhook_delete(Context& context, const Merchant& merchant, http::Request&& request,
                           http::Respond respond);
void handle_webhook_deliveries(Context& context, const Merchant& merchant,
                               http::Request&& request, http::Respond respond);
void handle_webhook_redeliver(Context& context, const Merchant& merchant,
                              http::Request&& request, http::Respond respond);

}  // namespace payoutd::api::payouts_v1
