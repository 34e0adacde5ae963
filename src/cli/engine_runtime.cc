#include "cli/engine_runtime.h"

#include <unistd.h>

#include <array>
#include <climits>
#include <cstdio>

#include "engine/connectors/manual.h"

namespace payoutd::cli {

engine::EngineOptions engine_options(const config::EngineTimings& timings,
                                     std::string instance_id) {
  engine::EngineOptions options;
  options.instance_id = std::move(instance_id);
  options.batch_limit = static_cast<int>(timings.engine_batch_size);
  options.lease_ms = timings.engine_lease_ms;
  // A sixth of the lease, so a call started just in time still ends well inside it.
  options.lease_margin_ms = timings.engine_lease_ms / 6;
  options.poll_interval_ms = timings.engine_poll_interval_ms;
  options.follow_up_max_ms = timings.engine_follow_up_max_ms;
  options.reconcile_initial_ms = timings.engine_reconcile_initial_ms;
  options.reconcile_max_ms = timings.engine_reconcile_max_ms;
  options.cancel_recheck_ms = timings.engine_cancel_recheck_ms;
  options.on_hold_expiry_ms = timings.on_hold_expiry_seconds * 1000;
  options.action_required_expiry_ms = timings.action_required_expiry_seconds * 1000;
  return options;
}

engine::SandboxTimings sandbox_timings(const config::EngineTimings& timings) {
  engine::SandboxTimings out;
  out.settle_after_ms = timings.sandbox_settle_after_ms;
  out.complete_after_ms = timings.sandbox_complete_after_ms;
  out.fail_after_ms = timings.sandbox_fail_after_ms;
  out.action_required_after_ms = timings.sandbox_action_required_after_ms;
  out.cancel_answer_after_ms = timings.sandbox_cancel_answer_after_ms;
  out.reversal_after_ms = timings.sandbox_reversal_after_ms;
  out.unknown_for_ms = timings.sandbox_unknown_for_ms;
  return out;
}

std::string engine_instance_id(RandomSource& random) {
  std::array<char, HOST_NAME_MAX + 1> host{};
  if (gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  std::array<uint8_t, 4> bytes{};
  random.fill(bytes);
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), "%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2],
                bytes[3]);
  return std::string(host.data()) + ":" + std::to_string(getpid()) + ":" + suffix;
}

Result<std::unique_ptr<EngineRuntime>> EngineRuntime::create(const config::Settings& settings,
                                                             Session& session) {
  std::unique_ptr<EngineRuntime> runtime(new EngineRuntime());
  if (settings.connector == engine::kSandboxConnectorName) {
    runtime->connector_ = std::make_unique<engine::SandboxConnector>(
        session.store(), sandbox_timings(settings.timings), settings.sandbox_callback_secret);
  } else if (settings.connector == engine::kManualConnectorName) {
    runtime->connector_ = std::make_unique<engine::ManualConnector>();
  } else {
    return Status::invalid_argument("connector", "unknown connector '" + settings.connector + "'");
  }
  engine::EngineOptions options =
      engine_options(settings.timings, engine_instance_id(session.random()));
  options.on_transition_committed = [metrics = &session.domain_metrics()](
                                        std::optional<PayoutStatus> from, PayoutStatus to) {
    metrics->on_transition(from, to);
  };
  runtime->engine_ = std::make_unique<engine::Engine>(
      session.store(), session.commands(), *runtime->connector_, runtime->screening_,
      session.clock(), std::move(options));
  // The runtime outlives the HTTP server that serves /metrics (serve_session's order).
  session.metrics().add_collector([engine = runtime->engine_.get()](http::Metrics& registry) {
    registry.gauge("payoutd_engine_passes_total", "Passes of the engine loop started")
        .set(static_cast<int64_t>(engine->passes_started()));
    registry.gauge("payoutd_engine_last_idle_pass",
                   "Number of the engine loop's latest pass that found nothing due")
        .set(static_cast<int64_t>(engine->last_idle_pass()));
  });
  return runtime;
}

EngineRuntime::~EngineRuntime() {
  engine_.reset();  // stops the loop and the request worker before the connector goes
}

}  // namespace payoutd::cli
