// The Payouts REST API v1 dialect: Bearer-token authentication (POST /auth/login, /auth/refresh,
// /auth/logout), payouts (create, get, list, cancel, bulk cancel), wallets and wallet
// transactions. Contract: shared/spec/payouts-v1.md; what payoutd decided where it is silent:
// docs/payouts-v1.md.
//
// A thin translator, like the cashouts-v3 dialect: parse, authenticate (token hash lookup),
// validate, call one domain command, render its result. Money, statuses, transitions and the
// ledger belong to commands/; a payout created in either dialect is the same payout here.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "commands/commands.h"
#include "commands/v1_login_gate.h"
#include "http/router.h"

namespace payoutd::api::payouts_v1 {

struct PayoutsV1Options {
  commands::ApiTokenLifetimes token_lifetimes;  // access 30 min, refresh 7 days by default
  commands::LoginThrottleOptions login_throttle;
  int64_t idempotency_key_ttl_micros = 24LL * 3600 * 1'000'000;  // 24 hours
};

// The Idempotency-Keys whose first request is being processed on this node: a second request
// with the same key meanwhile is answered 409 at once (payouts-v1.md). Across nodes the create's
// transaction orders the two and the later one gets the stored response instead.
class InFlightKeys {
 public:
  enum class Claim : uint8_t { kClaimed, kBusy, kFull };
  static constexpr size_t kMaxKeys = 65536;

  Claim claim(int64_t merchant_id, const std::string& key);
  // REQUIRES: claim() returned kClaimed for the same pair.
  void release(int64_t merchant_id, const std::string& key);

 private:
  std::mutex mutex_;
  std::set<std::pair<int64_t, std::string>> keys_;  // guarded by mutex_
};

// Everything the handlers use. Must outlive the server the routes are registered on.
struct Context {
  Context(commands::Commands& commands_in, PayoutsV1Options options_in)
      : commands(commands_in),
        options(std::move(options_in)),
        login_gate(commands_in, options.login_throttle) {}
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  commands::Commands& commands;
  const PayoutsV1Options options;
  commands::V1LoginGate login_gate;
  InFlightKeys in_flight_keys;
};

// Adds the /auth and /api/v1 routes. REQUIRES: called before the server starts; `context`
// outlives it. GET /status is the server's built-in route.
void register_routes(http::Router& router, Context& context);

// Default options with the token lifetimes of the process settings (seconds).
PayoutsV1Options options_with_token_ttls(int64_t access_ttl_seconds, int64_t refresh_ttl_seconds);

// Creates the context, registers the routes on it and returns it; the caller keeps it alive as
// long as the server (the CLI's RouteContext::dialect_state).
std::shared_ptr<Context> install(http::Router& router, commands::Commands& commands,
                                 PayoutsV1Options options);

}  // namespace payoutd::api::payouts_v1
