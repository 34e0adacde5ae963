// The Cashouts API v3 dialect (D24 family): POST /v3/cashout, POST /v3/cashout/status,
// PUT /v3/cashout/status, DELETE /v3/cashout/cancel. Contract: shared/spec/cashouts-v3.md; what
// payoutd decided where it is silent: docs/cashouts-v3.md.
//
// A thin translator. Each request goes: body is a JSON object (502) -> login/pass read from it ->
// one call to the admission gate (commands/v3_gate.h: credentials 401, Payload-Signature 302,
// allow-list 402, merchant enabled 519, rate limit 429, in that order) -> field validation (300,
// 303, 518, 526, 540) -> one domain command -> its result mapped to v3 codes. No ledger, status or SQL logic here: the
// commands own all of it, including the transition table that refuses illegal moves.
#pragma once

#include <string>
#include <utility>

#include "api/cashouts_v3/wire.h"
#include "commands/commands.h"
#include "commands/rate_limiter.h"
#include "commands/v3_gate.h"
#include "http/request.h"
#include "http/router.h"

namespace payoutd::api::cashouts_v3 {

struct CashoutsV3Options {
  // Names the service in the messages the spec leaves free (404 and 503 bodies). The spec's
  // fixed messages are never rebranded.
  std::string brand = "payoutd";
  commands::RateLimit rate_limit;
  // The rate limiter's time; empty = std::chrono::steady_clock (the test clock under tests).
  commands::RateLimiter::MonotonicClock rate_limit_clock;
};

// Everything the handlers use. Must outlive the server the routes are registered on.
struct Context {
  // REQUIRES: validate_rate_limit(options.rate_limit) is ok.
  Context(commands::Commands& commands_in, CashoutsV3Options options_in)
      : commands(commands_in),
        options(std::move(options_in)),
        gate(commands_in, options.rate_limit, options.rate_limit_clock) {}
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  commands::Commands& commands;
  const CashoutsV3Options options;
  commands::V3Gate gate;
};

// Adds the four v3 routes. REQUIRES: called before the server starts; `context` outlives it.
void register_routes(http::Router& router, Context& context);

}  // namespace payoutd::api::cashouts_v3
