// Helpers for the Payouts API v1 integration tests: a fixture with a payoutd server on a sandbox
// database, merchants with their v1 (and imported v3) credentials, login, authenticated requests,
// JSON access, and small builders for create bodies.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "integration/harness.h"
#include "json/value.h"

namespace payoutd::testing::v1 {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct V1Merchant {
  int64_t id = 0;
  std::string username;  // v1 api credentials, shown once by `merchant create --json`
  std::string password;
  std::string v3_login;  // v3 credentials (for cross-dialect tests)
  std::string v3_pass;
  std::string v3_secret_key;
  int64_t usd_wallet_id = 0;  // 0 when the merchant has no USD wallet
};

struct Tokens {
  std::string access;
  std::string refresh;
};

// Parses JSON; nullopt when the text is not JSON.
std::optional<json::Value> parse_json(const std::string& text);
// The string or number-text of member `key` of an object; "<absent>" / "<null>" otherwise.
std::string member_text(const json::Value& object, std::string_view key);
// "a.b.c" through nested objects; nullptr when any step is missing.
const json::Value* path(const json::Value& root, std::string_view dotted);

// A create body for the seed's example payout (100.00 USD, John Doe, US, "Bonus Payment"), with
// `reference_id` and `wallet_id`; members in this order, `amount` as raw JSON text. With an
// `account_number`, beneficiary_identifiers {account_number, bank_code "021"} follow the
// beneficiary (the engine and multi-node tests pick the sandbox rail's script by the account);
// `description` replaces "Bonus Payment".
std::string seed_create_body(const std::string& reference_id, int64_t wallet_id,
                             const std::string& amount = "100.00",
                             const std::optional<std::string>& account_number = std::nullopt,
                             const std::string& description = "Bonus Payment");

// The response is `status` with the v1 error body {"error": name, "message": message}
// (message compared when given); extra members allowed only when `allow_details`.
::testing::AssertionResult is_v1_error(const HttpResponse& response, int status,
                                       std::string_view name,
                                       std::optional<std::string_view> message = std::nullopt,
                                       bool allow_details = false);

class V1Test : public ::testing::Test {
 protected:
  void SetUp() override;
  // Every test ends with the ledger invariants holding and the server stopping cleanly.
  void TearDown() override;

  // Extra `serve` flags.
  virtual std::vector<std::string> server_arguments() const { return {}; }
  void start_server();

  // `merchant create --json` with imported v3 credentials derived from `name`, optional USD
  // funding (exact decimal text, "" = no wallet) and USD fees.
  V1Merchant add_merchant(const std::string& name, const std::string& usd_funding = "1000.00",
                          const std::string& usd_fixed_fee = "");

  // POST /auth/login; fails the test (and returns empty tokens) on anything but 200.
  Tokens login(const V1Merchant& merchant);

  // One request on a fresh connection; a transport failure yields status 0.
  HttpResponse send(const std::string& method, const std::string& target,
                    const std::string& body = "", const Headers& headers = {});
  // The same with "Authorization: Bearer <token>".
  HttpResponse call(const std::string& token, const std::string& method,
                    const std::string& target, const std::string& body = "",
                    Headers headers = {});

  // Creates a payout with the seed body; returns its id ("" and a test failure otherwise).
  std::string create_payout(const std::string& token, int64_t wallet_id,
                            const std::string& reference_id, const std::string& amount = "100.00");

  // `payout set-status <id> --status <to>` through the operator CLI (standing in for the engine).
  bool operator_set_status(const std::string& payout_id, const std::string& to);
  // `wallet show` available/held of the merchant's wallet as "available/held".
  std::string wallet_text(int64_t merchant_id, const std::string& currency = "USD");

  Sandbox sandbox_;
  std::unique_ptr<ServerProcess> server_;
};

}  // namespace payoutd::testing::v1
