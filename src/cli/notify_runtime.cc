#include "cli/notify_runtime.h"

#include <utility>

namespace payoutd::cli {

notify::DispatcherOptions dispatcher_options(const config::EngineTimings& timings,
                                             std::string instance_id) {
  notify::DispatcherOptions options;
  options.instance_id = std::move(instance_id);
  options.workers = static_cast<int>(timings.notify_workers);
  options.per_destination_limit = static_cast<int>(timings.notify_per_destination_limit);
  options.poll_interval_ms = timings.notify_poll_interval_ms;
  options.lease_ms = timings.notify_lease_ms;
  options.backoff_initial_ms = timings.notify_backoff_initial_ms;
  options.backoff_max_ms = timings.notify_backoff_max_ms;
  options.backoff_jitter_percent = static_cast<int>(timings.notify_backoff_jitter_percent);
  options.retry_window_ms = timings.notify_retry_window_seconds * 1000;
  return options;
}

notify::SenderOptions sender_options(const config::Settings& settings) {
  notify::SenderOptions options;
  options.connect_timeout_ms = static_cast<int>(settings.timings.notify_connect_timeout_ms);
  options.total_timeout_ms = static_cast<int>(settings.timings.notify_timeout_ms);
  options.allow_private = settings.allow_private_callbacks;
  return options;
}

Result<std::unique_ptr<NotifyRuntime>> NotifyRuntime::create(const config::Settings& settings,
                                                             Session& session,
                                                             std::string instance_id) {
  PAYOUTD_ASSERT(session.master_key() != nullptr);
  notify::init_http_client_library();
  std::unique_ptr<NotifyRuntime> runtime(new NotifyRuntime());
  runtime->sender_ = std::make_unique<notify::CurlSender>(sender_options(settings));
  runtime->dispatcher_ = std::make_unique<notify::Dispatcher>(
      session.store(), session.clock(), session.random(), *session.master_key(),
      *runtime->sender_, dispatcher_options(settings.timings, std::move(instance_id)));

  // Counters from the dispatcher and the backlog from the database, copied at scrape time. The
  // runtime outlives the HTTP server that serves /metrics (serve_session's order).
  notify::Dispatcher* dispatcher = runtime->dispatcher_.get();
  Store* store = &session.store();
  session.metrics().add_collector([dispatcher, store](http::Metrics& registry) {
    const notify::DispatcherStats stats = dispatcher->stats();
    constexpr std::string_view kAttempts = "payoutd_notification_attempts_total";
    constexpr std::string_view kAttemptsHelp = "Notification delivery attempts by result";
    registry.gauge(kAttempts, kAttemptsHelp, {{"result", "delivered"}})
        .set(static_cast<int64_t>(stats.delivered));
    registry.gauge(kAttempts, kAttemptsHelp, {{"result", "failed"}})
        .set(static_cast<int64_t>(stats.failed_attempts));
    registry.gauge(kAttempts, kAttemptsHelp, {{"result", "refused"}})
        .set(static_cast<int64_t>(stats.refused));
    registry.gauge("payoutd_notifications_given_up_total",
                   "Notifications marked failed (retry window over, refused, endpoint deleted)")
        .set(static_cast<int64_t>(stats.given_up));
    registry.gauge("payoutd_notification_dispatcher_errors_total",
                   "Store errors of the dispatcher while claiming or recording")
        .set(static_cast<int64_t>(stats.errors));
    registry.gauge("payoutd_notification_dispatcher_claims_total",
                   "Looks of the notification dispatcher for due rows")
        .set(static_cast<int64_t>(stats.claims_started));
    registry.gauge("payoutd_notification_dispatcher_last_idle_claim",
                   "Number of the dispatcher's latest look that found nothing due and nothing "
                   "in flight")
        .set(static_cast<int64_t>(stats.last_idle_claim));
    OutboxCounts counts;
    Status read = store->read([&counts](OutboxReads& tx) -> Status {
      PAYOUTD_ASSIGN_OR_RETURN(OutboxCounts found, tx.outbox_counts());
      counts = found;
      return Status::ok();
    });
    if (read.is_ok()) {
      registry.gauge("payoutd_notifications_pending", "Notifications waiting to be delivered")
          .set(counts.pending);
      registry.gauge("payoutd_notifications_failed", "Notifications given up (redeliverable)")
          .set(counts.failed);
    }
  });
  return runtime;
}

NotifyRuntime::~NotifyRuntime() {
  if (dispatcher_) dispatcher_->stop();  // before the sender goes
}

}  // namespace payoutd::cli
