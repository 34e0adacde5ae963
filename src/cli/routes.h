// The one place where HTTP routes are registered for `payoutd serve` (and `demo`).
//
// For now: the built-in GET /status and GET /metrics. The dialects (cashouts-v3, payouts-v1) add
// their routes here as they land, using the commands and settings in the context.
#pragma once

#include <string>
#include <string_view>

#include "commands/commands.h"
#include "config/config.h"
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
  std::string version = std::string(kPayoutdVersion);
};

// REQUIRES: called before the server starts (the router is read-only afterwards).
void register_routes(http::Router& router, RouteContext& context);

}  // namespace payoutd::cli
