// Helpers for the Cashouts API v3 integration tests: request bodies, signing modes, assertions on
// v3 answers, and a fixture that starts a payoutd server with a merchant whose v3 credentials are
// the ones of the reference documents (login "cashout_login", pass "cashout_pass", secret key
// "cashout_secret_key"), so the seed examples and the signature vectors run verbatim.
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

namespace payoutd::testing::v3 {

inline constexpr std::string_view kLogin = "cashout_login";
inline constexpr std::string_view kPass = "cashout_pass";
inline constexpr std::string_view kSecretKey = "cashout_secret_key";
inline constexpr std::string_view kNotificationUrl = "https://merchant.example.com/notify";

// `merchant create` flags importing the reference credentials.
std::vector<std::string> imported_credentials(std::string_view login = kLogin,
                                              std::string_view pass = kPass,
                                              std::string_view secret_key = kSecretKey);

// "text" as a JSON string literal (quotes included).
std::string json_string(std::string_view text);

// A JSON object built from raw member texts, in insertion order, so a test can put anything (a
// wrong type, invalid bytes) in any member.
class Body {
 public:
  // Replaces the member's value when present, else appends it. `raw_json` is used verbatim.
  Body& set(const std::string& key, std::string raw_json);
  Body& set_string(const std::string& key, std::string_view text) {
    return set(key, json_string(text));
  }
  Body& remove(const std::string& key);
  std::string text() const;

 private:
  std::vector<std::pair<std::string, std::string>> members_;
};

// login + pass of the reference merchant.
Body credentials_body(std::string_view login = kLogin, std::string_view pass = kPass);
// A complete, valid create request (BR, BRL 100.00, every optional field filled).
Body create_body(const std::string& external_id);
Body status_body(const std::string& cashout_id_raw);                 // cashout_id only
Body cancel_body(const std::string& cashout_id_raw, const std::string& external_id);
Body update_status_body(const std::string& cashout_id_raw, const std::string& status);

enum class Signing : uint8_t {
  kValid,       // lower-case hex HMAC of the exact body with the merchant's key
  kUpperCase,   // the same, upper-case hex
  kNone,        // no Payload-Signature header
  kOtherBody,   // a valid signature of a different body
  kWrongKey,    // HMAC of the body under another key
  kBase64,      // the right digest, Base64-encoded
  kTruncated,   // 63 of the 64 hex characters
  kEmptyValue,  // the header with an empty value
};

std::string signature_for(std::string_view body, Signing signing,
                          std::string_view key = kSecretKey);

// Parses a response body; nullopt when it is not JSON.
std::optional<json::Value> parse_body(const std::string& body);
// Compact re-serialisation (members in order, numbers as written): equal texts = equal JSON.
std::string compact(const json::Value& value);

// The response is HTTP `http_status`, Content-Type application/json, and exactly
// {"code": code, "message": ...} (message equal to `message` when given).
::testing::AssertionResult is_v3_error(const HttpResponse& response, int http_status, int code,
                                       std::optional<std::string> message = std::nullopt);
// HTTP 200, application/json, body exactly `expected_body` (compared after compacting both).
::testing::AssertionResult is_ok_json(const HttpResponse& response,
                                      const std::string& expected_body);

// A database with the reference merchant (BRL 10000.00 and USD 100.00 funded) and a server on it.
class V3Test : public ::testing::Test {
 protected:
  void SetUp() override;
  // Every test ends with all ledger invariants holding.
  void TearDown() override;

  // Extra `serve` flags. Default: BRL minimum 1.00 and transaction maximum 5000.00.
  virtual std::vector<std::string> server_arguments() const;

  // Starts (or restarts) the server with server_arguments().
  void start_server();

  // One request on a fresh connection. A transport failure yields status 0.
  HttpResponse send(const std::string& method, const std::string& path, const std::string& body,
                    Signing signing = Signing::kValid, std::string_view key = kSecretKey);
  HttpResponse create(const Body& body, Signing signing = Signing::kValid);
  HttpResponse status(const Body& body) { return send("POST", "/v3/cashout/status", body.text()); }
  HttpResponse update_status(const Body& body) {
    return send("PUT", "/v3/cashout/status", body.text());
  }
  HttpResponse cancel(const Body& body) { return send("DELETE", "/v3/cashout/cancel", body.text()); }

  // Creates a cashout and returns its id (as the decimal text the API returned); "" on failure
  // (with a test failure recorded).
  std::string create_cashout(const std::string& external_id, const std::string& amount = "100.00",
                             bool on_hold = false);

  // `payout show <id> --json` -> "status" (internal name); "" on failure.
  std::string internal_status(const std::string& cashout_id);
  // `payout set-status <id> --status <to> [extra...]`; true on exit 0.
  bool operator_set_status(const std::string& cashout_id, const std::string& to,
                           const std::vector<std::string>& extra = {});

  // Available and held of the reference merchant's wallet, "available/held".
  std::string wallet_text(const std::string& currency = "BRL");

  Sandbox sandbox_;
  int64_t merchant_id_ = 0;
  std::unique_ptr<ServerProcess> server_;
};

}  // namespace payoutd::testing::v3
