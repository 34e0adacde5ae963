// The wire formats of the notifications a committed event causes. The domain decides who is
// notified, when and with which payout (docs/notifications.md); the dialects decide the bytes. Each
// dialect implements its format (api/cashouts_v3/objects/, api/payouts_v1/objects/) and `serve`
// wires them into the commands (cli/session.cc), so commands/ includes no wire format.
//
// Called on the writer thread inside the event's transaction: pure, cheap, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/types.h"

namespace payoutd::commands {

// The v3 notification (a form POST with the payout's fields; `control` is signed at send time).
class V3NotificationFormat {
 public:
  virtual ~V3NotificationFormat() = default;
  // The fields of the notification for `payout` as of `at`, as stored in the outbox row.
  virtual std::string render(const Payout& payout, int64_t at) const = 0;
};

// The v1 webhook event.
class V1WebhookFormat {
 public:
  virtual ~V1WebhookFormat() = default;
  // REQUIRES: payout.status == event.to_status (the payout as of that event).
  virtual std::string render(const Payout& payout, const PayoutEvent& event,
                             std::string_view event_id) const = 0;
};

struct NotificationFormats {
  const V3NotificationFormat* v3 = nullptr;  // both required (Commands asserts); not owned
  const V1WebhookFormat* v1 = nullptr;
};

}  // namespace payoutd::commands
