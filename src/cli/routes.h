// The one place where HTTP routes are registered for `payoutd serve` (and `demo`).
//
// The built-in GET /status and GET /metrics, and the dialects (cashouts-v3; payouts-v1 when it
// lands), using the commands and settings in the context.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "commands/commands.h"
#include "config/config.h"
#include "engine/engine.h"
#include "http/metrics.h"
#include "http/router.h"

namespace payoutd::cli {

// Shown by GET /status.
inline constexpr std::string_view kPayoutdVersion = "0.1.0";

// Everything a route handler may need. All references outlive the server.
struct RouteContext {
  commands::Commands& commands;
  const config::Settings& settings;
  http::Metrics& metrics;
  // The engine of this process (answers its connector's callbacks); may be null.
  engine::Engine* engine = nullptr;
  std::string version = std::string(kPayoutdVersion);
  // The test clock of --test-clock, else null: then the rate limiters run on it too, and
  // GET /status carries `warning` (never set in a real deployment).
  Clock* test_clock = nullptr;
  std::string status_warning = {};
  // State the dialects' handlers refer to (their contexts, rate limiters); kept alive here, as
  // long as the context, which outlives the server.
  std::vector<std::shared_ptr<void>> dialect_state = {};
};

// REQUIRES: called before the server starts (the router is read-only afterwards).
void register_routes(http::Router& router, RouteContext& context);

// Shapes the errors the HTTP server produces itself (413, 431, 404, ...) in the dialect that owns
// the path: the cashouts-v3 error body under /v3, the default (v1) shape elsewhere.
http::ErrorResponder error_responder(const config::Settings& settings);

}  // namespace payoutd::cli
