// Helpers for the engine integration tests: `payoutd serve` with the engine running and the
// sandbox connector on short timings (a TOML config file in the sandbox directory), merchants with
// both dialects' credentials, a keep-alive API client per merchant and server, and bounded polling
// that records every status a payout was seen in, in both dialects.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "integration/clock_driver.h"
#include "integration/harness.h"
#include "json/value.h"

namespace payoutd::testing::engine_it {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Top-level integer keys of the engine/sandbox timings, written as a TOML file.
class EngineConfig {
 public:
  EngineConfig& set(const std::string& key, int64_t value) {
    keys_[key] = value;
    return *this;
  }
  // The value set for `key`, else `fallback` (the server's default).
  int64_t get(const std::string& key, int64_t fallback) const {
    auto found = keys_.find(key);
    return found == keys_.end() ? fallback : found->second;
  }
  std::string toml() const;

 private:
  std::map<std::string, int64_t> keys_;
};

// Timings for driving single payouts through every sandbox path (on the sandbox's test clock,
// which the tests move from event to event): processing lasts 200 ms, settling 400 ms,
// action_required expires after 1 s. The engine looks every 20 ms of real time for due work.
EngineConfig fast_paths_config();

// A merchant with v1 credentials (and a logged-in access token) and imported v3 credentials.
struct Merchant {
  int64_t id = 0;
  std::string username;
  std::string password;
  std::string v3_login;
  std::string v3_pass;
  std::string v3_secret_key;
  int64_t usd_wallet_id = 0;
  int64_t brl_wallet_id = 0;
  std::string token;  // v1 access token (set by EngineTest::login)
};

// JSON access.
std::optional<json::Value> parse_json(const std::string& text);
// The string or number text of `key` in an object; "<absent>" / "<null>" otherwise.
std::string member_text(const json::Value& object, std::string_view key);

// One merchant's view of one server: v3 requests signed with its secret key, v1 requests with
// its bearer token, over one keep-alive connection (re-opened when the server closed it).
class Api {
 public:
  Api(int port, const Merchant& merchant, int timeout_ms = 30000);

  int port() const { return port_; }
  const Merchant& merchant() const { return merchant_; }

  // One request; a transport failure yields status 0. `retry` re-sends once on a fresh
  // connection after a transport failure (only for requests that are safe to repeat).
  HttpResponse v3(const std::string& method, const std::string& path, const std::string& body,
                  bool retry = true);
  HttpResponse v1(const std::string& method, const std::string& path, const std::string& body = "",
                  bool retry = true);

  // A complete v3 create body: BR, BRL `amount`, the beneficiary's bank account `bank_account`.
  std::string v3_create_body(const std::string& external_id, const std::string& bank_account,
                             const std::string& amount = "100.00") const;
  // A complete v1 create body: the USD wallet, `amount`, beneficiary_identifiers.account_number.
  std::string v1_create_body(const std::string& reference_id, const std::string& bank_account,
                             const std::string& amount = "100.00") const;
  // `{"login","pass", <raw members>}`.
  std::string v3_body(const std::vector<std::pair<std::string, std::string>>& raw_members) const;

  HttpResponse v3_status(const std::string& cashout_id) {
    return v3("POST", "/v3/cashout/status", v3_body({{"cashout_id", cashout_id}}));
  }
  HttpResponse v1_get(const std::string& public_id) {
    return v1("GET", "/api/v1/payouts/" + public_id);
  }

 private:
  HttpResponse send(const std::string& method, const std::string& path, const std::string& body,
                    const Headers& headers, bool retry);

  int port_;
  Merchant merchant_;
  HttpClient client_;
};

// Both identities of one payout.
struct PayoutIds {
  std::string cashout_id;  // decimal text
  std::string public_id;   // pyt_...
};

// What polling saw: each dialect's statuses in order, consecutive repeats collapsed.
struct Observed {
  std::vector<std::string> v3;  // cashout_status codes ("0", "4", ...)
  std::vector<std::string> v1;  // v1 status names
  std::string last_v3_body;
  std::string last_v1_body;
  bool reached = false;  // the awaited v1 status was seen before the deadline
};

// An expected sequence of statuses; entries marked optional may be missing from what was seen
// (transient states shorter than one engine pass, e.g. `queued`). Everything else must have been
// seen, in this order, and nothing else.
struct Step {
  std::string value;
  bool optional = false;
};
::testing::AssertionResult sequence_matches(const std::vector<std::string>& seen,
                                            const std::vector<Step>& expected);

// A v3 status answer, exactly (compared as compact JSON text).
std::string v3_status_json(int code, std::string_view description,
                           std::optional<int> rejection_code = std::nullopt,
                           std::optional<std::string> bank_reference_id = std::nullopt);

class EngineTest : public ::testing::Test {
 protected:
  // Every test ends with `ledger check` passing and every server that was not killed stopping
  // cleanly (exit 0 on SIGTERM); on failure the servers' logs are printed.
  void TearDown() override;

  // Writes `config` to <sandbox>/<name>.toml and returns the path.
  std::string write_config(const EngineConfig& config, const std::string& name = "engine");
  // Starts `payoutd serve --config <config_path>`, by default with the engine running; fails the
  // test when it does not start. The server is kept in servers_ (stopped in TearDown).
  ServerProcess& start_server(const std::string& config_path,
                              EngineMode engine = EngineMode::kRunning,
                              const std::vector<std::string>& extra_arguments = {});

  // A merchant with v1 + v3 credentials, USD and BRL wallets funded with the given amounts ("" =
  // no wallet), fees per currency ("fixed", "percent bps"; empty = none), logged in on `port`.
  Merchant add_merchant(const std::string& name, const std::string& usd_funding,
                        const std::string& brl_funding,
                        std::pair<std::string, std::string> usd_fees = {},
                        std::pair<std::string, std::string> brl_fees = {});
  // POST /auth/login on `port`; sets merchant.token.
  void login(int port, Merchant& merchant);

  // Creates through v3 / v1 and returns both ids; a failure is recorded and ids are empty.
  PayoutIds create_v3(Api& api, const std::string& external_id, const std::string& bank_account,
                      const std::string& amount = "100.00");
  PayoutIds create_v1(Api& api, const std::string& reference_id, const std::string& bank_account,
                      const std::string& amount = "100.00", std::string* created_body = nullptr);

  // A driver of the sandbox's clock (clock_driver.h) that watches the engine of every running
  // server started with the engine and not killed (and their dispatchers when
  // `with_dispatchers`), with the expiries of the last config written.
  ClockDriver driver(bool with_dispatchers = false) const;

  // Moves the clock from event to event (driver()) and, each time the engines are idle, reads the
  // v3 status and v1 GET of every payout, until each one's v1 status is its awaited one, or
  // `deadline_ms` of real time passed. Every state a payout rests in between two events is seen.
  // Results in the same order.
  std::vector<Observed> poll_until(Api& api, const std::vector<PayoutIds>& payouts,
                                   const std::vector<std::string>& awaited_v1_status,
                                   int deadline_ms = 60000);

  // `payout show --json <cashout_id>` parsed; nullopt on failure.
  std::optional<json::Value> show(const std::string& cashout_id);
  // The events of `payout show` as "to_status/actor_type/message".
  std::vector<std::string> shown_events(const json::Value& shown);
  // The events of a v1 payout as "from>to/actor_type".
  static std::vector<std::string> v1_events(const json::Value& payout);
  // `wallet show` as "available/held".
  std::string wallet_text(int64_t merchant_id, const std::string& currency);
  // PAYOUT_REFUND wallet transactions of a payout through the v1 API, as "amount/balance_after"
  // strings (newest first).
  std::vector<std::string> refunds(Api& api, const std::string& public_id);
  // The sandbox rail's record of a payout: "submissions" text, or "<none>".
  std::string rail_submissions(const std::string& public_id);
  // The payout's "status/connector_state" in the database.
  std::string engine_state(const std::string& cashout_id);
  // Moves the clock from event to event (driver()) until the payout's "status/connector_state"
  // is `wanted`. False (a failure recorded) when it is not reached within `deadline_ms`.
  bool wait_for_state(const std::string& cashout_id, const std::string& wanted,
                      int deadline_ms = 60000);
  // Once the engines are idle at the current time (the clock is not moved): the engine has
  // nothing scheduled for the payout (no follow-up time, no lease), as must hold once a payout
  // reached its end. False (a failure recorded) otherwise.
  bool wait_until_engine_done(const std::string& cashout_id);
  // Moves the clock from event to event until the payout is processing and its submission was
  // recorded as accepted by the rail (so a cancel is answered by the connector, not deferred).
  // False when it moved past processing or did not get there.
  bool wait_until_accepted(const std::string& cashout_id, int deadline_ms = 60000);


  // SIGKILLs servers_[index] (a crash); TearDown then expects no clean exit from it.
  int kill_server(size_t index);

  Sandbox sandbox_;
  std::vector<std::unique_ptr<ServerProcess>> servers_;
  std::vector<bool> killed_;         // per servers_ entry
  std::vector<EngineMode> engines_;  // per servers_ entry
  EngineConfig config_;              // the last one written (write_config)
};

}  // namespace payoutd::testing::engine_it
