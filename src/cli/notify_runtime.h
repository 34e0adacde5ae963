// The notification dispatcher of a `payoutd serve` process: the outbound HTTP client (with the
// SSRF guard unless --allow-private-callbacks), the dispatcher with its limits and timings from
// the settings, and its /metrics series.
#pragma once

#include <memory>
#include <string>

#include "cli/session.h"
#include "config/config.h"
#include "core/status.h"
#include "notify/dispatcher.h"
#include "notify/http_sender.h"

namespace payoutd::cli {

class NotifyRuntime {
 public:
  // REQUIRES: the session has its master key. The dispatcher is not started (start() does).
  static Result<std::unique_ptr<NotifyRuntime>> create(const config::Settings& settings,
                                                       Session& session,
                                                       std::string instance_id);
  // Stops the dispatcher; idempotent.
  ~NotifyRuntime();

  notify::Dispatcher& dispatcher() { return *dispatcher_; }

 private:
  NotifyRuntime() = default;

  std::unique_ptr<notify::CurlSender> sender_;
  std::unique_ptr<notify::Dispatcher> dispatcher_;
};

notify::DispatcherOptions dispatcher_options(const config::EngineTimings& timings,
                                             std::string instance_id);
notify::SenderOptions sender_options(const config::Settings& settings);

}  // namespace payoutd::cli
