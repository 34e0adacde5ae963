// The HTTP/1.1 server: accepts connections, reads requests within size and time limits, routes
// them to async handlers, writes responses, counts and logs every answered request.
//
// Plain C++ on purpose: Boost.Beast/Asio live only in server.cc, so including this header costs
// the dialect rooms and the CLI nothing.
//
// Limits and what a client gets past them (bodies shaped by ServerOptions::error_responder):
//   body > max_body_bytes ................ 413, then close (Content-Length checked before reading)
//   header section > max_header_bytes .... 431, then close
//   malformed HTTP ....................... 400, then close
//   header not complete within header_read_timeout_ms (from accept, or from the first byte of a
//   later keep-alive request) / body not within body_read_timeout_ms / nothing for idle_timeout_ms
//   between keep-alive requests .......... connection closed without a response
//   more than max_connections open ....... accepted and closed at once
//   handler throws ....................... 500; handler silent for handler_timeout_ms ... 503
// Every response carries X-Request-Id (a valid incoming one echoed: 1..128 of [A-Za-z0-9._-]).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "http/access_log.h"
#include "http/metrics.h"
#include "http/request.h"
#include "http/router.h"

namespace payoutd::http {

struct ServerOptions {
  std::string listen_address = "127.0.0.1";  // an IPv4 or IPv6 literal ("0.0.0.0", "::")
  uint16_t port = 8080;                      // 0 = ephemeral; see Server::bound_port()
  int io_threads = 0;                        // 0 = std::thread::hardware_concurrency()
  size_t max_body_bytes = 65536;
  size_t max_header_bytes = 8192;  // request line + header fields
  int header_read_timeout_ms = 10000;
  int body_read_timeout_ms = 10000;
  int idle_timeout_ms = 60000;
  int handler_timeout_ms = 30000;
  int write_timeout_ms = 10000;  // a client that does not read its response is dropped
  int drain_timeout_ms = 10000;  // stop(): how long in-flight requests may take to finish
  size_t max_connections = 10000;
  std::string version;  // informational; only /status shows it (add_builtin_routes)
  ErrorResponder error_responder;  // empty = default_error_response
};

class Server {
 public:
  // `router` and `metrics` must outlive the server; the router must be complete (read-only from
  // start() on). `access_log` may be empty (no access log).
  Server(ServerOptions options, Router& router, Metrics& metrics,
         AccessLog access_log = spdlog_access_log());
  ~Server();  // stop()s if needed
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the I/O threads. Errors: kInvalidArgument (bad options or address),
  // kUnavailable (bind/listen failed, e.g. port in use). A server starts at most once.
  Status start();
  // REQUIRES: start() succeeded.
  uint16_t bound_port() const;

  // Graceful: stops accepting (new connections are refused once stop() returns), closes idle
  // keep-alive connections, lets requests in flight finish (their responses say Connection: close)
  // for up to drain_timeout_ms, then closes what is left and joins the I/O threads. Responds that
  // arrive afterwards are ignored. Idempotent; safe before start().
  // REQUIRES: not called from a handler or an I/O thread (it joins them).
  void stop();
  // Blocks until stop() has finished (returns at once if the server never started).
  void wait();
  // Threads blocked in wait(), for tests to wait on instead of sleeping. A thread is counted
  // only once wait() has found the server not stopped and released its lock to block.
  size_t threads_in_wait() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Signals are left to the caller (no hidden signal handlers inside a library). The intended use in
// `payoutd serve`:
//   block_termination_signals();        // first thing in main, before any thread exists
//   server.start(); ...
//   wait_for_termination_signal();      // returns SIGTERM or SIGINT
//   server.stop();
// Blocks SIGINT and SIGTERM in the calling thread; threads created afterwards inherit the mask.
void block_termination_signals();
// REQUIRES: block_termination_signals() ran in this thread. Returns the signal number received.
int wait_for_termination_signal();

// GET /status -> 200 {"status":"ok","version":"<version>"} (route "status");
// GET /metrics -> 200 Prometheus text format 0.0.4 (route "metrics").
// REQUIRES: `metrics` outlives the router's use.
// `warning`, when not empty, is shown by /status as {"status":"ok","version":..,"warning":..}.
void add_builtin_routes(Router& router, Metrics& metrics, std::string version,
                        std::string_view warning = {});

}  // namespace payoutd::http
