// The dialects' notification formats, as `serve` wires them into the commands (cli/session.cc),
// for tests that build their own commands::Commands. Header-only: a test binary that includes it
// links payoutd_v1_objects and payoutd_v3_objects.
#pragma once

#include "api/cashouts_v3/objects/notification_format.h"
#include "api/payouts_v1/objects/webhook_format.h"
#include "commands/commands.h"

namespace payoutd::testing {

// `options` with both formats set.
inline commands::CommandsOptions with_notification_formats(commands::CommandsOptions options = {}) {
  static const api::cashouts_v3::NotificationFormat v3;
  static const api::payouts_v1::WebhookEventFormat v1;
  options.formats = commands::NotificationFormats{&v3, &v1};
  return options;
}

}  // namespace payoutd::testing
