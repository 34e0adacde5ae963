#include "cli/server.h"

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "cli/cli.h"
#include "cli/demo.h"
#include "cli/engine_runtime.h"
#include "cli/notify_runtime.h"
#include "cli/routes.h"
#include "cli/session.h"
#include "http/access_log.h"
#include "http/metrics.h"
#include "http/router.h"
#include "http/server.h"

namespace payoutd::cli {
namespace {

// Called once the port is bound, before the "listening" line: demo prints its banner here, when
// the base URL (with the real port) is known.
using ListeningHook = std::function<void(const std::string& base_url)>;

std::string host_port_text(const std::string& host, uint16_t port) {
  const bool is_ipv6 = host.find(':') != std::string::npos;
  return (is_ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string_view signal_name(int signal_number) {
  if (signal_number == SIGTERM) return "SIGTERM";
  if (signal_number == SIGINT) return "SIGINT";
  return "signal";
}

// The access log lines are JSON objects already: with --log-format json they are written as they
// are (one object per line, like every other log line) instead of nested inside a message string.
http::AccessLog access_log_for(std::string_view log_format) {
  if (log_format != "json") return http::spdlog_access_log();
  return [](std::string_view line) {
    if (!spdlog::default_logger_raw()->should_log(spdlog::level::info)) return;
    std::string text(line);
    text += '\n';
    std::fwrite(text.data(), 1, text.size(), stderr);  // one write per line: lines never interleave
  };
}

// The engine answers the domain's cancels of processing payouts for as long as serve runs; the
// wiring is undone before the engine goes (declared after it, so destroyed first).
class CancellerWiring {
 public:
  CancellerWiring(commands::Commands& commands, commands::ProcessingCanceller& canceller)
      : commands_(commands) {
    commands_.set_processing_canceller(&canceller);
  }
  ~CancellerWiring() { commands_.set_processing_canceller(nullptr); }
  CancellerWiring(const CancellerWiring&) = delete;
  CancellerWiring& operator=(const CancellerWiring&) = delete;

 private:
  commands::Commands& commands_;
};

int serve_session(const config::Settings& settings, Session& session, const ListeningHook& hook) {
  Result<config::ListenAddress> listen = config::parse_listen_address(settings.listen);
  if (!listen.is_ok()) return report_failure(listen.status());

  Result<std::unique_ptr<EngineRuntime>> engine = EngineRuntime::create(settings, session);
  if (!engine.is_ok()) return report_failure(engine.status());
  const CancellerWiring canceller_wiring(session.commands(), (*engine)->engine());

  Result<std::unique_ptr<NotifyRuntime>> notify = NotifyRuntime::create(
      settings, session, (*engine)->engine().options().instance_id + ":notify");
  if (!notify.is_ok()) return report_failure(notify.status());

  http::Metrics& metrics = session.metrics();
  http::Router router;
  RouteContext context{session.commands(), settings, metrics};
  context.engine = &(*engine)->engine();
  if (const std::string* clock_file = session.test_clock_file(); clock_file != nullptr) {
    context.test_clock = &session.clock();
    context.status_warning = "test clock: time is read from " + *clock_file +
                             ", not the system clock (--test-clock; tests only)";
    spdlog::warn("TEST CLOCK: time is read from {}, not the system clock (--test-clock is for "
                 "tests only; never run a deployment with it)",
                 *clock_file);
  }
  register_routes(router, context);
  // The route table at debug level: what this process answers (the contract test checks that
  // each route is an operation of docs/openapi/).
  for (const http::Router::Route& route : router.routes()) {
    spdlog::debug("route {} {} ({})", route.method, route.pattern, route.route_name);
  }

  http::ServerOptions options;
  options.listen_address = listen->host;
  options.port = listen->port;
  options.io_threads = config::effective_threads(settings);
  options.handler_timeout_ms = static_cast<int>(settings.handler_timeout_ms);
  options.version = context.version;
  options.error_responder = error_responder(settings);
  http::Server server(options, router, metrics, access_log_for(settings.log_format));
  if (Status started = server.start(); !started.is_ok()) return report_failure(started);

  if (settings.engine) {
    (*engine)->engine().start();
    (*notify)->dispatcher().start();
    spdlog::info("engine {} running (connector {}), notification dispatcher running{}",
                 (*engine)->engine().options().instance_id, settings.connector,
                 settings.allow_private_callbacks ? " (private callback targets allowed)" : "");
  } else {
    spdlog::info("engine and notification dispatcher not started (--no-engine); connector {}",
                 settings.connector);
  }

  const std::string address = host_port_text(listen->host, server.bound_port());
  // A wildcard bind is reachable on loopback; examples should name an address that answers.
  std::string url_host = listen->host;
  if (url_host == "0.0.0.0") url_host = "127.0.0.1";
  if (url_host == "::") url_host = "::1";
  const std::string base_url = "http://" + host_port_text(url_host, server.bound_port());
  spdlog::info("listening on {} ({} I/O threads)", address, options.io_threads);
  if (hook) hook(base_url);
  // Machine-readable: tests and scripts wait for this exact line.
  std::printf("payoutd listening on %s\n", address.c_str());
  std::fflush(stdout);

  const int received = http::wait_for_termination_signal();
  spdlog::info("received {}: stopping (finishing requests in flight)", signal_name(received));
  server.stop();
  (*engine)->engine().stop();  // finishes its pass in progress: every claim it made is recorded
  (*notify)->dispatcher().stop();  // attempts in flight end (bounded by the timeout) and are recorded
  spdlog::info("stopped");
  return kExitOk;
}

}  // namespace

int run_serve(const config::Settings& settings, bool json) {
  (void)json;  // serve prints only the listening line
  Result<std::unique_ptr<Session>> session =
      Session::open(settings, Session::KeyNeed::kRequired, store_options_for(settings));
  if (!session.is_ok()) return report_failure(session.status());
  const int exit_code = serve_session(settings, **session, {});
  session->reset();  // closes the store: queued writes commit before the process exits
  return exit_code;
}

int run_demo(const config::Settings& settings, bool json) {
  Result<std::unique_ptr<Session>> session =
      Session::open(settings, Session::KeyNeed::kRequired, store_options_for(settings));
  if (!session.is_ok()) return report_failure(session.status());
  Result<DemoMerchant> demo =
      prepare_demo_merchant((*session)->commands(), (*session)->clock().now_micros());
  if (!demo.is_ok()) return report_failure(demo.status());
  const int exit_code = serve_session(settings, **session, [&](const std::string& base_url) {
    print_output(json ? demo_json(*demo, base_url) : demo_text(*demo, base_url, settings.brand));
  });
  session->reset();
  return exit_code;
}

}  // namespace payoutd::cli
