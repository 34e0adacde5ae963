// The v3 notification as the commands write it into the outbox (commands/notification_formats.h):
// its fields (docs/notifications.md) as a JSON object, captured at commit time. The `control`
// signature is computed by the dispatcher at send time, so no secret is ever stored in the outbox.
// Pure formatting, a room of its own below the dialect so that every caller of the commands can
// wire it without the HTTP layer.
#pragma once

#include "commands/notification_formats.h"

namespace payoutd::api::cashouts_v3 {

class NotificationFormat final : public commands::V3NotificationFormat {
 public:
  std::string render(const Payout& payout, int64_t at) const override;
};

}  // namespace payoutd::api::cashouts_v3
