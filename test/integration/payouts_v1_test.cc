// Payouts REST API v1, end to end: a real payoutd process, real HTTP, a real database.
// Covers issue 4's "How it is checked": the seed's figures and cancel rules, cross-dialect
// consistency, tenant isolation, tokens, idempotency, listings, bulk cancel, wallets and wallet
// transactions, and the seed's own client code run with Node.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "integration/clock_driver.h"
#include "integration/v1_support.h"
#include "json/writer.h"

namespace payoutd::testing::v1 {
namespace {

bool is_rfc3339_seconds(const std::string& text) {
  static const std::regex kPattern(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$)");
  return std::regex_match(text, kPattern);
}

std::vector<std::string> ids_of(const HttpResponse& response) {
  std::vector<std::string> ids;
  std::optional<json::Value> body = parse_json(response.body);
  if (!body || !body->is_array()) return ids;
  for (const json::Value& item : body->items()) ids.push_back(member_text(item, "id"));
  return ids;
}

std::string header_or(const HttpResponse& response, std::string_view name) {
  return response.header(name).value_or("<none>");
}

// Events of a payout response as "from>to/actor/message" strings.
std::vector<std::string> events_of(const json::Value& payout) {
  std::vector<std::string> out;
  const json::Value* events = payout.find("events");
  if (events == nullptr || !events->is_array()) return out;
  for (const json::Value& event : events->items()) {
    out.push_back(member_text(event, "from_status") + ">" + member_text(event, "to_status") + "/" +
                  member_text(event, "actor_type") + "/" + member_text(event, "message"));
  }
  return out;
}

// A v3 request body with the merchant's credentials (cashouts-v3.md), signed by the caller.
std::string v3_body(const V1Merchant& merchant,
                    const std::vector<std::pair<std::string, std::string>>& raw_members) {
  std::string body = "{\"login\":\"" + merchant.v3_login + "\",\"pass\":\"" + merchant.v3_pass + "\"";
  for (const auto& [key, raw] : raw_members) body += ",\"" + key + "\":" + raw;
  return body + "}";
}

class V1ApiTest : public V1Test {};

TEST_F(V1ApiTest, StatusIsServedWithoutAuthentication) {
  HttpResponse response = send("GET", "/status");
  ASSERT_EQ(response.status, 200) << response.body;
  std::optional<json::Value> body = parse_json(response.body);
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(member_text(*body, "status"), "ok");
  EXPECT_NE(member_text(*body, "version"), "<absent>");
}

TEST_F(V1ApiTest, SeedFiguresCreateGetCancelAndRefund) {
  const V1Merchant merchant = add_merchant("seed", "1000.00", "1.50");
  const Tokens tokens = login(merchant);
  ASSERT_FALSE(tokens.access.empty());
  EXPECT_EQ(wallet_text(merchant.id), "1000.00/0.00");

  HttpResponse created = call(tokens.access, "POST", "/api/v1/payouts",
                              seed_create_body("PAY_2024_001", merchant.usd_wallet_id));
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(header_or(created, "content-type"), "application/json");
  EXPECT_NE(created.header("x-request-id"), std::nullopt);
  std::optional<json::Value> payout = parse_json(created.body);
  ASSERT_TRUE(payout.has_value()) << created.body;
  const std::string id = member_text(*payout, "id");
  EXPECT_TRUE(std::regex_match(id, std::regex("^pyt_[0-9A-Za-z]{16}$"))) << id;
  EXPECT_EQ(member_text(*payout, "reference_id"), "PAY_2024_001");
  EXPECT_EQ(member_text(*payout, "client_id"), std::to_string(merchant.id));
  EXPECT_EQ(member_text(*payout, "wallet_id"), std::to_string(merchant.usd_wallet_id));
  EXPECT_EQ(member_text(*payout, "status"), "created");
  // Amounts are JSON numbers with exactly the currency's decimals.
  EXPECT_NE(created.body.find("\"amount\":100.00,"), std::string::npos) << created.body;
  EXPECT_NE(created.body.find("\"fees\":1.50,"), std::string::npos) << created.body;
  EXPECT_NE(created.body.find("\"total_amount\":101.50,"), std::string::npos) << created.body;
  EXPECT_EQ(member_text(*payout, "currency"), "USD");
  EXPECT_EQ(member_text(*path(*payout, "beneficiary"), "email"), "john.doe@example.com");
  EXPECT_EQ(member_text(*path(*payout, "beneficiary"), "first_name"), "John");
  EXPECT_EQ(member_text(*path(*payout, "beneficiary"), "last_name"), "Doe");
  EXPECT_EQ(member_text(*path(*payout, "beneficiary"), "country"), "US");
  EXPECT_EQ(member_text(*path(*payout, "beneficiary"), "phone"), "<null>");
  EXPECT_EQ(member_text(*payout, "description"), "Bonus Payment");
  EXPECT_TRUE(is_rfc3339_seconds(member_text(*payout, "created_at")));
  for (const char* absent : {"queued_at", "submitted_at", "completed_at", "failed_at",
                             "cancelled_at", "expired_at", "cancel_requested_at", "failure_code",
                             "failure_reason"}) {
    EXPECT_EQ(member_text(*payout, absent), "<null>") << absent;
  }
  EXPECT_EQ(events_of(*payout),
            std::vector<std::string>{"<null>>created/system/Payout created"});
  EXPECT_EQ(wallet_text(merchant.id), "898.50/101.50");

  HttpResponse fetched = call(tokens.access, "GET", "/api/v1/payouts/" + id);
  ASSERT_EQ(fetched.status, 200) << fetched.body;
  EXPECT_EQ(fetched.body, created.body);  // nothing changed in between

  HttpResponse cancelled = call(tokens.access, "POST", "/api/v1/payouts/" + id + "/cancel");
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  std::optional<json::Value> after = parse_json(cancelled.body);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(member_text(*after, "status"), "cancelled");
  EXPECT_TRUE(is_rfc3339_seconds(member_text(*after, "cancelled_at")));
  EXPECT_NE(cancelled.body.find("\"total_amount\":101.50,"), std::string::npos);
  EXPECT_EQ(events_of(*after),
            (std::vector<std::string>{"<null>>created/system/Payout created",
                                      "created>cancelled/client/Payout cancelled by client"}));
  EXPECT_EQ(wallet_text(merchant.id), "1000.00/0.00");  // back to the starting balance

  // The refund: one PAYOUT_REFUND credit of 101.50 whose reference_id is the payout id.
  HttpResponse refunds = call(tokens.access, "GET",
                              "/api/v1/transactions?wallet_id=" +
                                  std::to_string(merchant.usd_wallet_id) +
                                  "&type=refund&reference=" + id);
  ASSERT_EQ(refunds.status, 200) << refunds.body;
  std::optional<json::Value> list = parse_json(refunds.body);
  ASSERT_TRUE(list && list->is_array() && list->items().size() == 1) << refunds.body;
  const json::Value& refund = list->items()[0];
  EXPECT_EQ(member_text(refund, "type"), "PAYOUT_REFUND");
  EXPECT_EQ(member_text(refund, "transaction_type"), "CREDIT");
  EXPECT_EQ(member_text(refund, "reference_id"), id);
  EXPECT_EQ(member_text(refund, "amount"), "101.50");
  EXPECT_EQ(member_text(refund, "balance_after"), "1000.00");
  EXPECT_EQ(header_or(refunds, "x-total-count"), "1");

  // A second cancel is refused and refunds nothing.
  const std::string before = sandbox_.snapshot();
  EXPECT_TRUE(is_v1_error(call(tokens.access, "POST", "/api/v1/payouts/" + id + "/cancel"), 400,
                          "BadRequest", "payout cannot be cancelled in current status"));
  EXPECT_EQ(sandbox_.snapshot(), before);
  EXPECT_EQ(wallet_text(merchant.id), "1000.00/0.00");
}

TEST_F(V1ApiTest, CancelRulesForEveryStatus) {
  const V1Merchant merchant = add_merchant("rules", "100000.00", "1.50");
  const std::string token = login(merchant).access;
  struct Case {
    std::vector<std::string> path;  // operator transitions from created
    int status;                     // expected HTTP status of the cancel
    std::string message;            // expected error message ("" = success)
    std::string from;               // expected v1 from_status of the cancel event
  };
  const std::vector<Case> cases = {
      {{}, 200, "", "created"},
      {{"queued"}, 200, "", "queued"},
      {{"on_hold"}, 200, "", "action_required"},  // on_hold shows as action_required in v1
      {{"queued", "processing", "action_required"}, 200, "", "action_required"},
      // processing: no connector exists yet to confirm a cancel, so the table refuses it.
      {{"queued", "processing"}, 400, "payout cannot be cancelled in current status", ""},
      {{"queued", "processing", "settling"}, 400, "payout cannot be cancelled in current status",
       ""},
      {{"queued", "processing", "completed"}, 400, "payout has already been completed", ""},
      {{"queued", "processing", "failed"}, 400, "payout cannot be cancelled in current status", ""},
      {{"queued", "processing", "action_required", "expired"}, 400,
       "payout cannot be cancelled in current status", ""},
      {{"cancelled"}, 400, "payout cannot be cancelled in current status", ""},
  };
  int serial = 0;
  for (const Case& test : cases) {
    const std::string reference = "RULE-" + std::to_string(serial++);
    SCOPED_TRACE(reference);
    const std::string id = create_payout(token, merchant.usd_wallet_id, reference);
    ASSERT_FALSE(id.empty());
    for (const std::string& to : test.path) ASSERT_TRUE(operator_set_status(id, to));
    const std::string before = sandbox_.snapshot();
    HttpResponse response = call(token, "POST", "/api/v1/payouts/" + id + "/cancel");
    if (test.status == 200) {
      ASSERT_EQ(response.status, 200) << response.body;
      std::optional<json::Value> body = parse_json(response.body);
      ASSERT_TRUE(body.has_value());
      EXPECT_EQ(member_text(*body, "status"), "cancelled");
      const std::vector<std::string> events = events_of(*body);
      ASSERT_FALSE(events.empty());
      EXPECT_EQ(events.back(), test.from + ">cancelled/client/Payout cancelled by client");
      EXPECT_NE(sandbox_.snapshot(), before);
    } else {
      EXPECT_TRUE(is_v1_error(response, test.status, "BadRequest", test.message));
      EXPECT_EQ(sandbox_.snapshot(), before);  // a refusal leaves no trace
    }
  }
  // Nothing is held any more except the payouts that are still in flight (processing,
  // settling): two payouts of 101.50.
  EXPECT_EQ(wallet_text(merchant.id).substr(wallet_text(merchant.id).find('/') + 1), "203.00");

  const std::string before = sandbox_.snapshot();
  EXPECT_TRUE(is_v1_error(call(token, "POST", "/api/v1/payouts//cancel"), 400, "BadRequest",
                          "Payout ID is required"));
  EXPECT_TRUE(is_v1_error(call(token, "POST", "/api/v1/payouts/%20/cancel"), 400, "BadRequest",
                          "Payout ID is required"));
  EXPECT_TRUE(is_v1_error(call(token, "POST", "/api/v1/payouts/pyt_0000000000000000/cancel"), 404,
                          "NotFound", "Payout not found"));
  EXPECT_TRUE(is_v1_error(call(token, "POST", "/api/v1/payouts/pyt_xyz789abc/cancel"), 404,
                          "NotFound", "Payout not found"));
  EXPECT_TRUE(is_v1_error(call(token, "GET", "/api/v1/payouts/pyt_0000000000000000"), 404,
                          "NotFound", "Payout not found"));
  EXPECT_TRUE(is_v1_error(send("POST", "/api/v1/payouts/pyt_0000000000000000/cancel"), 401,
                          "UnauthorizedAccess", "Authentication required"));
  EXPECT_EQ(sandbox_.snapshot(), before);
}

TEST_F(V1ApiTest, CrossDialectCreateViaV3CancelViaV1AndTheReverse) {
  const V1Merchant merchant = add_merchant("cross", "1000.00");
  ASSERT_TRUE(sandbox_.fund_wallet(merchant.id, "BRL", "500.00"));
  const std::string token = login(merchant).access;
  auto v3 = [&](const std::string& method, const std::string& target, const std::string& body) {
    return send(method, target, body,
                {{"Payload-Signature", sign_hex(merchant.v3_secret_key, body)}});
  };

  // Created in v3 (cashouts-v3.md), cancelled in v1.
  const std::string create = v3_body(
      merchant, {{"external_id", "\"V3-ORDER-1\""}, {"country", "\"BR\""}, {"currency", "\"BRL\""},
                 {"amount", "100.00"}, {"document_id", "\"84868168029\""},
                 {"document_type", "\"CPF\""}, {"beneficiary_name", "\"Maria\""},
                 {"beneficiary_lastname", "\"Silva\""}, {"email", "\"maria@example.com\""},
                 {"notification_url", "\"https://merchant.example/notify\""}});
  HttpResponse created = v3("POST", "/v3/cashout", create);
  ASSERT_EQ(created.status, 200) << created.body;
  std::optional<json::Value> created_body = parse_json(created.body);
  ASSERT_TRUE(created_body.has_value());
  const std::string cashout_id = member_text(*created_body, "cashout_id");

  HttpResponse listed = call(token, "GET", "/api/v1/payouts?reference_id=V3-ORDER-1");
  ASSERT_EQ(listed.status, 200) << listed.body;
  const std::vector<std::string> ids = ids_of(listed);
  ASSERT_EQ(ids.size(), 1u) << listed.body;
  HttpResponse v1_view = call(token, "GET", "/api/v1/payouts/" + ids[0]);
  ASSERT_EQ(v1_view.status, 200);
  std::optional<json::Value> view = parse_json(v1_view.body);
  ASSERT_TRUE(view.has_value());
  EXPECT_EQ(member_text(*view, "cashout_id"), cashout_id);
  EXPECT_EQ(member_text(*view, "status"), "created");
  EXPECT_EQ(member_text(*view, "amount"), "100.00");
  EXPECT_EQ(member_text(*view, "currency"), "BRL");
  EXPECT_EQ(member_text(*path(*view, "beneficiary"), "first_name"), "Maria");
  EXPECT_EQ(wallet_text(merchant.id, "BRL"), "400.00/100.00");

  HttpResponse cancelled = call(token, "POST", "/api/v1/payouts/" + ids[0] + "/cancel");
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  HttpResponse v3_status =
      v3("POST", "/v3/cashout/status", v3_body(merchant, {{"cashout_id", cashout_id}}));
  ASSERT_EQ(v3_status.status, 200) << v3_status.body;
  std::optional<json::Value> v3_view = parse_json(v3_status.body);
  ASSERT_TRUE(v3_view.has_value());
  EXPECT_EQ(member_text(*v3_view, "cashout_status"), "2");
  EXPECT_EQ(member_text(*v3_view, "cashout_status_description"), "Canceled");
  // A second cancel, in the other dialect, is refused there too.
  HttpResponse v3_cancel = v3(
      "DELETE", "/v3/cashout/cancel",
      v3_body(merchant, {{"cashout_id", cashout_id}, {"external_id", "\"V3-ORDER-1\""}}));
  EXPECT_EQ(v3_cancel.status, 412) << v3_cancel.body;
  EXPECT_NE(v3_cancel.body.find("510"), std::string::npos) << v3_cancel.body;
  EXPECT_EQ(wallet_text(merchant.id, "BRL"), "500.00/0.00");

  // Created in v1, cancelled in v3.
  const std::string id = create_payout(token, merchant.usd_wallet_id, "V1-ORDER-1");
  ASSERT_FALSE(id.empty());
  std::optional<json::Value> v1_payout = parse_json(call(token, "GET", "/api/v1/payouts/" + id).body);
  ASSERT_TRUE(v1_payout.has_value());
  const std::string v1_cashout_id = member_text(*v1_payout, "cashout_id");
  HttpResponse v3_status_created =
      v3("POST", "/v3/cashout/status", v3_body(merchant, {{"cashout_id", v1_cashout_id}}));
  ASSERT_EQ(v3_status_created.status, 200) << v3_status_created.body;
  EXPECT_NE(v3_status_created.body.find("\"cashout_status\":0"), std::string::npos);
  HttpResponse v3_cancelled = v3(
      "DELETE", "/v3/cashout/cancel",
      v3_body(merchant, {{"cashout_id", v1_cashout_id}, {"external_id", "\"V1-ORDER-1\""}}));
  ASSERT_EQ(v3_cancelled.status, 200) << v3_cancelled.body;
  HttpResponse after = call(token, "GET", "/api/v1/payouts/" + id);
  std::optional<json::Value> after_view = parse_json(after.body);
  ASSERT_TRUE(after_view.has_value());
  EXPECT_EQ(member_text(*after_view, "status"), "cancelled");
  EXPECT_EQ(events_of(*after_view).back(), "created>cancelled/client/Payout cancelled by client");
  EXPECT_TRUE(is_v1_error(call(token, "POST", "/api/v1/payouts/" + id + "/cancel"), 400,
                          "BadRequest", "payout cannot be cancelled in current status"));
  EXPECT_EQ(wallet_text(merchant.id), "1000.00/0.00");

  // Exactly one refund per payout, whichever dialect cancelled it.
  for (const auto& [wallet_currency, payout_id] :
       std::vector<std::pair<std::string, std::string>>{{"BRL", ids[0]}, {"USD", id}}) {
    HttpResponse refunds =
        call(token, "GET", "/api/v1/transactions?type=PAYOUT_REFUND&reference_id=" + payout_id);
    ASSERT_EQ(refunds.status, 200);
    EXPECT_EQ(ids_of(refunds).size(), 1u) << wallet_currency << ": " << refunds.body;
  }
  EXPECT_EQ(sandbox_.sql("SELECT count(*) FROM journal_transactions WHERE kind = 'payout_refund';"), "2\n");
}

TEST_F(V1ApiTest, TenantIsolation) {
  const V1Merchant a = add_merchant("tenant_a", "1000.00");
  const V1Merchant b = add_merchant("tenant_b", "1000.00");
  const std::string token_a = login(a).access;
  const std::string token_b = login(b).access;
  const std::string a_payout = create_payout(token_a, a.usd_wallet_id, "SAME-REF");
  const std::string b_first = create_payout(token_b, b.usd_wallet_id, "SAME-REF");  // own scope
  const std::string b_second = create_payout(token_b, b.usd_wallet_id, "B-ONLY");
  ASSERT_FALSE(a_payout.empty() || b_first.empty() || b_second.empty());

  const std::string before = sandbox_.snapshot();
  const std::string a_wallet = std::to_string(a.usd_wallet_id);
  EXPECT_TRUE(is_v1_error(call(token_b, "GET", "/api/v1/payouts/" + a_payout), 404, "NotFound",
                          "Payout not found"));
  EXPECT_TRUE(is_v1_error(call(token_b, "POST", "/api/v1/payouts/" + a_payout + "/cancel"), 404,
                          "NotFound", "Payout not found"));
  EXPECT_TRUE(is_v1_error(call(token_b, "GET", "/api/v1/wallets/" + a_wallet), 404, "NotFound",
                          "Wallet not found"));
  EXPECT_TRUE(is_v1_error(call(token_b, "GET", "/api/v1/wallets/" + a_wallet + "/transactions"),
                          404, "NotFound", "Wallet not found"));
  EXPECT_TRUE(is_v1_error(call(token_b, "GET", "/api/v1/transactions?wallet_id=" + a_wallet), 404,
                          "NotFound", "Wallet not found"));
  // Creating on A's wallet is as if it did not exist.
  EXPECT_TRUE(is_v1_error(call(token_b, "POST", "/api/v1/payouts",
                               seed_create_body("STEAL", a.usd_wallet_id)),
                          404, "NotFound", "Wallet not found"));
  HttpResponse bulk = call(token_b, "POST", "/api/v1/payouts/cancel",
                           "{\"ids\":[\"" + a_payout + "\"]}");
  ASSERT_EQ(bulk.status, 200);
  EXPECT_EQ(bulk.body, "{\"cancelled\":[],\"failed\":[{\"id\":\"" + a_payout +
                           "\",\"error\":\"NotFound\",\"message\":\"Payout not found\"}]}");
  EXPECT_EQ(sandbox_.snapshot(), before);

  // B's lists never show A's objects.
  HttpResponse b_list = call(token_b, "GET", "/api/v1/payouts?limit=100");
  ASSERT_EQ(b_list.status, 200);
  EXPECT_EQ(ids_of(b_list), (std::vector<std::string>{b_second, b_first}));
  EXPECT_EQ(header_or(b_list, "x-total-count"), "2");
  HttpResponse b_search = call(token_b, "GET", "/api/v1/payouts?search=SAME-REF");
  EXPECT_EQ(ids_of(b_search), std::vector<std::string>{b_first});
  HttpResponse b_as_a = call(token_b, "GET", "/api/v1/payouts?client_id=" + std::to_string(a.id));
  ASSERT_EQ(b_as_a.status, 200);
  EXPECT_EQ(b_as_a.body, "[]");
  EXPECT_EQ(header_or(b_as_a, "x-total-count"), "0");
  HttpResponse b_self = call(token_b, "GET", "/api/v1/payouts?client_id=" + std::to_string(b.id));
  EXPECT_EQ(ids_of(b_self).size(), 2u);
  HttpResponse b_wallets = call(token_b, "GET", "/api/v1/wallets");
  EXPECT_EQ(ids_of(b_wallets), std::vector<std::string>{std::to_string(b.usd_wallet_id)});
  HttpResponse b_transactions = call(token_b, "GET", "/api/v1/transactions?limit=100");
  ASSERT_EQ(b_transactions.status, 200);
  std::optional<json::Value> transactions = parse_json(b_transactions.body);
  ASSERT_TRUE(transactions && transactions->is_array());
  for (const json::Value& transaction : transactions->items()) {
    EXPECT_EQ(member_text(transaction, "wallet_id"), std::to_string(b.usd_wallet_id));
  }
  EXPECT_EQ(transactions->items().size(), 3u);  // deposit + two payouts
  // A still sees its payout untouched.
  std::optional<json::Value> a_view = parse_json(call(token_a, "GET", "/api/v1/payouts/" + a_payout).body);
  ASSERT_TRUE(a_view.has_value());
  EXPECT_EQ(member_text(*a_view, "status"), "created");
}

TEST_F(V1ApiTest, TokensRefreshRotationReuseDetectionAndLogout) {
  const V1Merchant merchant = add_merchant("tokens", "10.00");
  const Tokens first = login(merchant);
  ASSERT_FALSE(first.access.empty());
  EXPECT_EQ(first.access.size(), 48u);
  EXPECT_EQ(call(first.access, "GET", "/api/v1/wallets").status, 200);

  // Every way of not presenting a live access token is the same 401.
  for (const Headers& headers : std::vector<Headers>{
           {},
           {{"Authorization", "Basic dXNlcjpwYXNz"}},
           {{"Authorization", "Bearer"}},
           {{"Authorization", "Bearer "}},
           {{"Authorization", "Bearer not-a-token"}},
           {{"Authorization", "Bearer " + std::string(48, 'A')}},
           {{"Authorization", "Bearer " + first.refresh}},  // a refresh token is not an access token
           {{"Authorization", first.access}},                // no scheme
       }) {
    EXPECT_TRUE(is_v1_error(send("GET", "/api/v1/wallets", "", headers), 401,
                            "UnauthorizedAccess", "Authentication required"));
  }
  // The scheme is case-insensitive.
  EXPECT_EQ(send("GET", "/api/v1/wallets", "", {{"Authorization", "bearer " + first.access}}).status,
            200);

  const Tokens other_session = login(merchant);

  // Refresh rotates: a new pair, the old refresh token stops working.
  HttpResponse refreshed =
      send("POST", "/auth/refresh", "{\"refresh_token\":\"" + first.refresh + "\"}");
  ASSERT_EQ(refreshed.status, 200) << refreshed.body;
  EXPECT_EQ(header_or(refreshed, "cache-control"), "no-store");
  std::optional<json::Value> pair = parse_json(refreshed.body);
  ASSERT_TRUE(pair.has_value());
  const Tokens second{member_text(*pair, "access_token"), member_text(*pair, "refresh_token")};
  EXPECT_NE(second.access, first.access);
  EXPECT_NE(second.refresh, first.refresh);
  EXPECT_EQ(member_text(*pair, "client_id"), std::to_string(merchant.id));
  EXPECT_TRUE(is_rfc3339_seconds(member_text(*pair, "access_expires_at")));
  EXPECT_TRUE(is_rfc3339_seconds(member_text(*pair, "refresh_expires_at")));
  EXPECT_EQ(call(second.access, "GET", "/api/v1/wallets").status, 200);

  // Reuse of the rotated-out refresh token: refused, and the whole family is revoked.
  EXPECT_TRUE(is_v1_error(
      send("POST", "/auth/refresh", "{\"refresh_token\":\"" + first.refresh + "\"}"), 401,
      "unauthorized", "Invalid refresh token"));
  EXPECT_EQ(call(second.access, "GET", "/api/v1/wallets").status, 401);
  EXPECT_EQ(call(first.access, "GET", "/api/v1/wallets").status, 401);
  EXPECT_TRUE(is_v1_error(
      send("POST", "/auth/refresh", "{\"refresh_token\":\"" + second.refresh + "\"}"), 401,
      "unauthorized", "Invalid refresh token"));
  // Another login's family is not affected.
  EXPECT_EQ(call(other_session.access, "GET", "/api/v1/wallets").status, 200);

  EXPECT_TRUE(is_v1_error(send("POST", "/auth/refresh", "{}"), 400, "validation_error",
                          "Refresh token is required"));
  EXPECT_TRUE(is_v1_error(send("POST", "/auth/refresh", "{\"refresh_token\":\"nope\"}"), 401,
                          "unauthorized", "Invalid refresh token"));

  // Logout revokes every token of the merchant.
  const Tokens third = login(merchant);
  EXPECT_TRUE(is_v1_error(send("POST", "/auth/logout"), 401, "UnauthorizedAccess",
                          "Authentication required"));
  HttpResponse logout = call(other_session.access, "POST", "/auth/logout");
  ASSERT_EQ(logout.status, 200) << logout.body;
  EXPECT_EQ(logout.body, "{\"message\":\"Successfully logged out\"}");
  EXPECT_EQ(call(other_session.access, "GET", "/api/v1/wallets").status, 401);
  EXPECT_EQ(call(third.access, "GET", "/api/v1/wallets").status, 401);
  EXPECT_TRUE(is_v1_error(
      send("POST", "/auth/refresh", "{\"refresh_token\":\"" + third.refresh + "\"}"), 401,
      "unauthorized", "Invalid refresh token"));
  // And a new login works again.
  EXPECT_EQ(call(login(merchant).access, "GET", "/api/v1/wallets").status, 200);

  // Tokens are stored only as SHA-256 hashes.
  const std::string stored = sandbox_.sql("SELECT " + sandbox_.hex_sql("token_hash") +
                                          " FROM api_tokens;");
  EXPECT_EQ(stored.find(first.access), std::string::npos);
  EXPECT_EQ(sandbox_.sql("SELECT count(*) FROM api_tokens WHERE length(token_hash) <> 32;"), "0\n");
}

TEST_F(V1ApiTest, LoginValidationAndThrottling) {
  const V1Merchant merchant = add_merchant("login", "");
  const V1Merchant other = add_merchant("login_other", "");
  const std::string body_ok = "{\"username\":\"" + merchant.username + "\",\"password\":\"" +
                              merchant.password + "\"}";
  const std::string body_wrong =
      "{\"username\":\"" + merchant.username + "\",\"password\":\"wrong-password\"}";
  for (const std::string& missing :
       {std::string("{}"), std::string("{\"username\":\"x\"}"), std::string("{\"password\":\"x\"}"),
        std::string("{\"username\":\"\",\"password\":\"x\"}"),
        std::string("{\"username\":1,\"password\":\"x\"}"), std::string("not json"),
        std::string("[]")}) {
    EXPECT_TRUE(is_v1_error(send("POST", "/auth/login", missing), 400, "validation_error",
                            "Username and password are required"))
        << missing;
  }
  EXPECT_TRUE(is_v1_error(send("POST", "/auth/login",
                               "{\"username\":\"nobody\",\"password\":\"x\"}"),
                          401, "unauthorized", "Invalid credentials"));

  // Ten failures for one username (one more was the unknown user above, another username).
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(is_v1_error(send("POST", "/auth/login", body_wrong), 401, "unauthorized",
                            "Invalid credentials"));
  }
  // Now even the right password is refused for that username, with Retry-After.
  HttpResponse throttled = send("POST", "/auth/login", body_ok);
  EXPECT_TRUE(is_v1_error(throttled, 429, "too_many_requests", "Too many login attempts"));
  const int retry_after = std::stoi(header_or(throttled, "retry-after"));
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 15 * 60);
  // Another username from the same address still logs in (11 failures < 50 per address).
  EXPECT_FALSE(login(other).access.empty());
  // Fifty failures from one address block every username from it.
  for (int i = 0; i < 39; ++i) {
    EXPECT_EQ(send("POST", "/auth/login",
                   "{\"username\":\"guess" + std::to_string(i) + "\",\"password\":\"x\"}")
                  .status,
              401);
  }
  HttpResponse address_throttled = send(
      "POST", "/auth/login",
      "{\"username\":\"" + other.username + "\",\"password\":\"" + other.password + "\"}");
  EXPECT_TRUE(is_v1_error(address_throttled, 429, "too_many_requests", "Too many login attempts"));
}

TEST_F(V1ApiTest, DisabledMerchantIsForbidden) {
  const V1Merchant merchant = add_merchant("disabled", "100.00");
  const std::string token = login(merchant).access;
  ProcessResult disabled = sandbox_.cli({"merchant", "disable", std::to_string(merchant.id)});
  ASSERT_EQ(disabled.exit_code, 0) << disabled.out << disabled.err;
  EXPECT_TRUE(is_v1_error(call(token, "GET", "/api/v1/wallets"), 403, "Forbidden"));
  EXPECT_TRUE(is_v1_error(
      send("POST", "/auth/login",
           "{\"username\":\"" + merchant.username + "\",\"password\":\"" + merchant.password + "\"}"),
      403, "forbidden", "Account is disabled"));
}

TEST_F(V1ApiTest, ReferenceReplayAndIdempotencyKey) {
  const V1Merchant merchant = add_merchant("idem", "10000.00", "1.50");
  const std::string token = login(merchant).access;
  const std::string body = seed_create_body("IDEM-1", merchant.usd_wallet_id);

  HttpResponse first = call(token, "POST", "/api/v1/payouts", body, {{"Idempotency-Key", "key-0001"}});
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(first.header("idempotency-replayed"), std::nullopt);
  // Same key, same body: the stored first response, byte for byte, marked as replayed.
  HttpResponse replay = call(token, "POST", "/api/v1/payouts", body, {{"Idempotency-Key", "key-0001"}});
  ASSERT_EQ(replay.status, 201) << replay.body;
  EXPECT_EQ(header_or(replay, "idempotency-replayed"), "true");
  EXPECT_EQ(replay.body, first.body);
  // Same meaning, other spelling (amount "100" and members reordered): still the same request.
  const std::string respelled =
      "{\"description\":\"Bonus Payment\",\"currency\":\"USD\",\"amount\":\"100\","
      "\"wallet_id\":" + std::to_string(merchant.usd_wallet_id) +
      ",\"reference_id\":\"IDEM-1\",\"beneficiary\":{\"country\":\"US\",\"last_name\":\"Doe\","
      "\"first_name\":\"John\",\"email\":\"john.doe@example.com\"}}";
  HttpResponse respelled_replay =
      call(token, "POST", "/api/v1/payouts", respelled, {{"Idempotency-Key", "key-0001"}});
  EXPECT_EQ(respelled_replay.status, 201);
  EXPECT_EQ(respelled_replay.body, first.body);
  // Same key, different body: 409, nothing written.
  const std::string before = sandbox_.snapshot();
  EXPECT_TRUE(is_v1_error(call(token, "POST", "/api/v1/payouts",
                               seed_create_body("IDEM-1", merchant.usd_wallet_id, "99.00"),
                               {{"Idempotency-Key", "key-0001"}}),
                          409, "Conflict", "Idempotency-Key already used with a different request"));
  EXPECT_EQ(sandbox_.snapshot(), before);

  // Without a key: same reference and body -> 200 with the original payout; other body -> 409.
  HttpResponse reference_replay = call(token, "POST", "/api/v1/payouts", body);
  ASSERT_EQ(reference_replay.status, 200) << reference_replay.body;
  EXPECT_EQ(reference_replay.body, first.body);
  EXPECT_TRUE(is_v1_error(call(token, "POST", "/api/v1/payouts",
                               seed_create_body("IDEM-1", merchant.usd_wallet_id, "99.00")),
                          409, "Conflict", "reference_id already used with a different request"));
  EXPECT_EQ(sandbox_.snapshot(), before);
  // Another key with the same body: a reference replay (200), stored under the new key.
  HttpResponse new_key = call(token, "POST", "/api/v1/payouts", body, {{"Idempotency-Key", "key-0002"}});
  EXPECT_EQ(new_key.status, 200);
  HttpResponse new_key_replay =
      call(token, "POST", "/api/v1/payouts", body, {{"Idempotency-Key", "key-0002"}});
  EXPECT_EQ(new_key_replay.status, 200);
  EXPECT_EQ(header_or(new_key_replay, "idempotency-replayed"), "true");
  EXPECT_EQ(new_key_replay.body, new_key.body);

  // Keys are per merchant: another merchant may use the same key for its own payout.
  const V1Merchant other = add_merchant("idem_other", "1000.00");
  const std::string other_token = login(other).access;
  HttpResponse other_first = call(other_token, "POST", "/api/v1/payouts",
                                  seed_create_body("IDEM-1", other.usd_wallet_id),
                                  {{"Idempotency-Key", "key-0001"}});
  EXPECT_EQ(other_first.status, 201) << other_first.body;
  EXPECT_NE(other_first.body, first.body);

  // Invalid keys are validation errors.
  for (const std::string& bad : {std::string("short"), std::string(257, 'k'),
                                 std::string("has space in it")}) {
    HttpResponse refused = call(token, "POST", "/api/v1/payouts",
                                seed_create_body("IDEM-BAD", merchant.usd_wallet_id),
                                {{"Idempotency-Key", bad}});
    EXPECT_TRUE(is_v1_error(refused, 400, "BadRequest", "Validation failed", true)) << bad;
    EXPECT_NE(refused.body.find("Idempotency-Key"), std::string::npos);
  }
  EXPECT_EQ(sandbox_.sql("SELECT count(*) FROM payouts;"), "2\n");
}

// Sends `count` identical requests at once, each on its own connection, released together.
std::vector<HttpResponse> parallel_posts(int port, int count, const std::string& request_bytes) {
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int i = 0; i < count; ++i) {
    clients.push_back(std::make_unique<HttpClient>(port));
    EXPECT_TRUE(clients.back()->connect());
  }
  // Everything but the last byte first, then the last bytes back to back: the server sees the
  // requests complete within microseconds of each other.
  const std::string head = request_bytes.substr(0, request_bytes.size() - 1);
  const std::string tail = request_bytes.substr(request_bytes.size() - 1);
  for (auto& client : clients) EXPECT_TRUE(client->write_only(head));
  // Before the last bytes: the server has accepted every connection (its open-connection gauge
  // counts them, and the connection that reads it), so each request completes with its last byte.
  HttpClient metrics(port);
  int64_t open = -1;
  eventually([&] {
    std::optional<HttpResponse> page = metrics.request("GET", "/metrics", "");
    if (page && page->status == 200) open = metric_value(page->body, "payoutd_http_connections_open");
    return open >= count + 1;
  });
  EXPECT_GE(open, count + 1) << "the server did not accept the " << count << " connections";
  for (auto& client : clients) EXPECT_TRUE(client->write_only(tail));
  std::vector<HttpResponse> responses;
  for (auto& client : clients) responses.push_back(client->read_response().value_or(HttpResponse{}));
  return responses;
}

TEST_F(V1ApiTest, ThirtyTwoParallelIdenticalCreatesMakeOnePayout) {
  const V1Merchant merchant = add_merchant("parallel", "100000.00");
  const std::string token = login(merchant).access;
  constexpr int kRequests = 32;

  // With one Idempotency-Key: one 201; the others get the stored bytes (replayed) or, while the
  // first is still running, 409.
  const std::string keyed = HttpClient::build_request(
      "POST", "/api/v1/payouts", seed_create_body("PAR-KEY", merchant.usd_wallet_id),
      {{"Authorization", "Bearer " + token}, {"Idempotency-Key", "parallel-key-1"}}, false);
  std::vector<HttpResponse> responses = parallel_posts(server_->port(), kRequests, keyed);
  int fresh = 0;
  int replayed = 0;
  int in_progress = 0;
  std::string created_body;
  for (const HttpResponse& response : responses) {
    if (response.status == 201 && !response.header("idempotency-replayed")) {
      ++fresh;
      created_body = response.body;
    } else if (response.status == 201) {
      ++replayed;
    } else if (is_v1_error(response, 409, "Conflict",
                           "A request with this Idempotency-Key is still in progress")) {
      ++in_progress;
    } else {
      ADD_FAILURE() << response.status << " " << response.body;
    }
  }
  EXPECT_EQ(fresh, 1);
  EXPECT_EQ(fresh + replayed + in_progress, kRequests);
  for (const HttpResponse& response : responses) {
    if (response.status == 201) {
      EXPECT_EQ(response.body, created_body);
    }
  }
  EXPECT_EQ(sandbox_.sql("SELECT count(*) FROM payouts WHERE external_id = 'PAR-KEY';"), "1\n");

  // Without a key, the reference id alone: one 201, every other answer is 200 with that payout.
  const std::string unkeyed = HttpClient::build_request(
      "POST", "/api/v1/payouts", seed_create_body("PAR-REF", merchant.usd_wallet_id),
      {{"Authorization", "Bearer " + token}}, false);
  responses = parallel_posts(server_->port(), kRequests, unkeyed);
  std::set<std::string> ids;
  int created = 0;
  for (const HttpResponse& response : responses) {
    ASSERT_TRUE(response.status == 201 || response.status == 200) << response.body;
    created += response.status == 201 ? 1 : 0;
    std::optional<json::Value> body = parse_json(response.body);
    ASSERT_TRUE(body.has_value());
    ids.insert(member_text(*body, "id"));
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(sandbox_.sql("SELECT count(*) FROM payouts WHERE external_id = 'PAR-REF';"), "1\n");
  EXPECT_EQ(wallet_text(merchant.id), "99800.00/200.00");
}

TEST_F(V1ApiTest, ListFiltersSortsAndPagingHeaders) {
  const V1Merchant merchant = add_merchant("lists", "100000.00");
  ASSERT_TRUE(sandbox_.fund_wallet(merchant.id, "EUR", "1000.00"));
  const std::string token = login(merchant).access;
  std::optional<json::Value> eur_wallets =
      parse_json(call(token, "GET", "/api/v1/wallets?currency=EUR").body);
  ASSERT_TRUE(eur_wallets && eur_wallets->is_array() && eur_wallets->items().size() == 1);
  const std::string eur_wallet = member_text(eur_wallets->items()[0], "id");

  // Seven USD payouts with amounts 10..70, two cancelled, one queued; one EUR payout with its own
  // beneficiary e-mail.
  std::vector<std::string> usd;
  for (int i = 1; i <= 7; ++i) {
    usd.push_back(create_payout(token, merchant.usd_wallet_id, "L-" + std::to_string(i),
                                std::to_string(i * 10) + ".00"));
    ASSERT_FALSE(usd.back().empty());
  }
  ASSERT_EQ(call(token, "POST", "/api/v1/payouts/" + usd[1] + "/cancel").status, 200);
  ASSERT_EQ(call(token, "POST", "/api/v1/payouts/" + usd[4] + "/cancel").status, 200);
  ASSERT_TRUE(operator_set_status(usd[2], "queued"));
  const std::string eur_body =
      "{\"reference_id\":\"L-EUR\",\"wallet_id\":" + eur_wallet +
      ",\"amount\":5,\"currency\":\"EUR\",\"beneficiary_email\":\"anna@example.de\","
      "\"beneficiary_first_name\":\"Anna\",\"beneficiary_last_name\":\"Schmidt\","
      "\"beneficiary_country\":\"DE\"}";
  HttpResponse eur = call(token, "POST", "/api/v1/payouts", eur_body);
  ASSERT_EQ(eur.status, 201) << eur.body;
  const std::string eur_id = member_text(*parse_json(eur.body), "id");

  auto list = [&](const std::string& query) {
    HttpResponse response = call(token, "GET", "/api/v1/payouts" + query);
    EXPECT_EQ(response.status, 200) << query << ": " << response.body;
    return response;
  };
  // Default: newest first, 20 per page.
  HttpResponse all = list("");
  EXPECT_EQ(ids_of(all), (std::vector<std::string>{eur_id, usd[6], usd[5], usd[4], usd[3], usd[2],
                                                   usd[1], usd[0]}));
  EXPECT_EQ(header_or(all, "x-page"), "1");
  EXPECT_EQ(header_or(all, "x-per-page"), "20");
  EXPECT_EQ(header_or(all, "x-total-count"), "8");
  EXPECT_EQ(header_or(all, "x-total-pages"), "1");
  EXPECT_EQ(all.body.find("\"events\""), std::string::npos);  // lists omit events

  EXPECT_EQ(ids_of(list("?status=cancelled")), (std::vector<std::string>{usd[4], usd[1]}));
  EXPECT_EQ(ids_of(list("?status=queued")), std::vector<std::string>{usd[2]});
  EXPECT_EQ(ids_of(list("?status=completed")), std::vector<std::string>{});
  EXPECT_EQ(ids_of(list("?currency=EUR")), std::vector<std::string>{eur_id});
  EXPECT_EQ(ids_of(list("?reference_id=L-4")), std::vector<std::string>{usd[3]});
  EXPECT_EQ(ids_of(list("?search=L-5")), std::vector<std::string>{usd[4]});
  EXPECT_EQ(ids_of(list("?search=anna%40example.de")), std::vector<std::string>{eur_id});
  EXPECT_EQ(ids_of(list("?search=john.doe@example.com&status=created&sort_order=ASC")),
            (std::vector<std::string>{usd[0], usd[3], usd[5], usd[6]}));
  EXPECT_EQ(ids_of(list("?sort_by=amount&sort_order=ASC&currency=USD")), usd);
  EXPECT_EQ(ids_of(list("?sort_by=amount&sort_order=desc&currency=USD&limit=2")),
            (std::vector<std::string>{usd[6], usd[5]}));
  // sort_by=status groups statuses (cancelled < created < queued by name, ascending).
  std::vector<std::string> by_status = ids_of(list("?sort_by=status&sort_order=ASC&currency=USD"));
  ASSERT_EQ(by_status.size(), 7u);
  EXPECT_EQ(std::set<std::string>(by_status.begin(), by_status.begin() + 2),
            (std::set<std::string>{usd[1], usd[4]}));
  EXPECT_EQ(by_status.back(), usd[2]);

  // Paging: 3 per page over 8 -> 3 pages, disjoint, in order.
  std::vector<std::string> paged;
  for (int page = 1; page <= 3; ++page) {
    HttpResponse response = list("?limit=3&page=" + std::to_string(page));
    EXPECT_EQ(header_or(response, "x-page"), std::to_string(page));
    EXPECT_EQ(header_or(response, "x-per-page"), "3");
    EXPECT_EQ(header_or(response, "x-total-count"), "8");
    EXPECT_EQ(header_or(response, "x-total-pages"), "3");
    for (const std::string& id : ids_of(response)) paged.push_back(id);
  }
  EXPECT_EQ(paged, ids_of(all));
  EXPECT_EQ(list("?limit=3&page=4").body, "[]");

  // Time window: everything was created in the last minutes; nothing before 2020 or in 2100.
  EXPECT_EQ(ids_of(list("?created_from=2020-01-01T00:00:00Z")).size(), 8u);
  EXPECT_EQ(ids_of(list("?created_to=2020-01-01T00:00:00Z")).size(), 0u);
  EXPECT_EQ(ids_of(list("?created_from=2100-01-01T00:00:00Z")).size(), 0u);
  EXPECT_EQ(ids_of(list("?created_from=2020-01-01T00:00:00%2B02:00&created_to=2100-01-01T00:00:00Z"))
                .size(),
            8u);
  // Empty values are no filter; unknown parameters are ignored.
  EXPECT_EQ(ids_of(list("?status=&unknown=1")).size(), 8u);
}

TEST_F(V1ApiTest, BulkCancelByIdsAndByStatus) {
  const V1Merchant merchant = add_merchant("bulk", "10000.00", "1.50");
  const std::string token = login(merchant).access;
  const std::string a = create_payout(token, merchant.usd_wallet_id, "BULK-A");
  const std::string b = create_payout(token, merchant.usd_wallet_id, "BULK-B", "20.00");
  const std::string done = create_payout(token, merchant.usd_wallet_id, "BULK-DONE");
  for (const char* to : {"queued", "processing", "completed"}) {
    ASSERT_TRUE(operator_set_status(done, to));
  }
  HttpResponse response = call(
      token, "POST", "/api/v1/payouts/cancel",
      "{\"ids\":[\"" + a + "\",\"" + done + "\",\"pyt_0000000000000000\",\"" + b + "\",\"" + a +
          "\"]}");
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.body,
            "{\"cancelled\":[{\"id\":\"" + a + "\",\"refund\":101.50},{\"id\":\"" + b +
                "\",\"refund\":21.50}],\"failed\":[{\"id\":\"" + done +
                "\",\"error\":\"BadRequest\",\"message\":\"payout has already been completed\"},"
                "{\"id\":\"pyt_0000000000000000\",\"error\":\"NotFound\",\"message\":\"Payout not "
                "found\"},{\"id\":\"" + a +
                "\",\"error\":\"BadRequest\",\"message\":\"payout cannot be cancelled in current "
                "status\"}]}");

  // By status: every created payout of the caller, and only those.
  std::vector<std::string> created;
  for (int i = 0; i < 5; ++i) {
    created.push_back(create_payout(token, merchant.usd_wallet_id, "BULK-S" + std::to_string(i)));
  }
  ASSERT_TRUE(operator_set_status(created[4], "queued"));
  const V1Merchant other = add_merchant("bulk_other", "1000.00");
  const std::string other_token = login(other).access;
  const std::string foreign = create_payout(other_token, other.usd_wallet_id, "BULK-OTHER");
  HttpResponse by_status =
      call(token, "POST", "/api/v1/payouts/cancel", "{\"status\":\"created\"}");
  ASSERT_EQ(by_status.status, 200) << by_status.body;
  std::optional<json::Value> body = parse_json(by_status.body);
  ASSERT_TRUE(body.has_value());
  std::vector<std::string> cancelled;
  for (const json::Value& item : body->find("cancelled")->items()) {
    cancelled.push_back(member_text(item, "id"));
  }
  EXPECT_EQ(cancelled, (std::vector<std::string>{created[0], created[1], created[2], created[3]}));
  EXPECT_TRUE(body->find("failed")->items().empty());
  HttpResponse nothing_left =
      call(token, "POST", "/api/v1/payouts/cancel", "{\"status\":\"created\"}");
  EXPECT_EQ(nothing_left.body, "{\"cancelled\":[],\"failed\":[]}");
  EXPECT_EQ(member_text(*parse_json(call(other_token, "GET", "/api/v1/payouts/" + foreign).body),
                        "status"),
            "created");
  // The queued one can still be cancelled by status too.
  HttpResponse queued = call(token, "POST", "/api/v1/payouts/cancel", "{\"status\":\"queued\"}");
  EXPECT_NE(queued.body.find(created[4]), std::string::npos) << queued.body;

  const std::string before = sandbox_.snapshot();
  std::string many = "{\"ids\":[";
  for (int i = 0; i < 101; ++i) many += std::string(i ? "," : "") + "\"pyt_0000000000000000\"";
  many += "]}";
  for (const std::string& bad :
       {std::string("{}"), std::string("{\"ids\":[]}"), many, std::string("{\"ids\":\"x\"}"),
        std::string("{\"ids\":[1]}"), std::string("{\"status\":\"nope\"}"),
        std::string("{\"ids\":[\"" + a + "\"],\"status\":\"created\"}")}) {
    EXPECT_TRUE(is_v1_error(call(token, "POST", "/api/v1/payouts/cancel", bad), 400, "BadRequest",
                            "Validation failed", true))
        << bad.substr(0, 80);
  }
  EXPECT_TRUE(is_v1_error(call(token, "POST", "/api/v1/payouts/cancel", "nope"), 400, "BadRequest"));
  EXPECT_EQ(sandbox_.snapshot(), before);
  // Nothing is held: every payout is cancelled except the completed one (posted, not held).
  EXPECT_EQ(wallet_text(merchant.id).substr(wallet_text(merchant.id).find('/') + 1), "0.00");
}

TEST_F(V1ApiTest, WalletsAndTransactions) {
  const V1Merchant merchant = add_merchant("wallets", "250.00", "0.50");
  ASSERT_TRUE(sandbox_.fund_wallet(merchant.id, "EUR", "10.00"));
  ASSERT_TRUE(sandbox_.fund_wallet(merchant.id, "JPY", "5000"));
  const std::string token = login(merchant).access;

  HttpResponse wallets = call(token, "GET", "/api/v1/wallets");
  ASSERT_EQ(wallets.status, 200) << wallets.body;
  EXPECT_EQ(header_or(wallets, "x-total-count"), "3");
  std::optional<json::Value> list = parse_json(wallets.body);
  ASSERT_TRUE(list && list->is_array() && list->items().size() == 3);
  const json::Value& usd = list->items()[0];
  EXPECT_EQ(member_text(usd, "id"), std::to_string(merchant.usd_wallet_id));
  EXPECT_EQ(member_text(usd, "currency"), "USD");
  EXPECT_EQ(member_text(usd, "currency_id"), "840");
  EXPECT_EQ(member_text(usd, "amount"), "250.00");
  EXPECT_EQ(member_text(usd, "held_amount"), "0.00");
  EXPECT_EQ(member_text(usd, "type"), "PREPAID");
  EXPECT_EQ(member_text(usd, "is_active"), "true");
  EXPECT_TRUE(is_rfc3339_seconds(member_text(usd, "created_at")));
  EXPECT_TRUE(is_rfc3339_seconds(member_text(usd, "updated_at")));
  EXPECT_NE(wallets.body.find("\"amount\":5000,"), std::string::npos);  // JPY: no decimals

  HttpResponse jpy = call(token, "GET", "/api/v1/wallets?currency=JPY");
  ASSERT_EQ(ids_of(jpy).size(), 1u);
  HttpResponse paged = call(token, "GET", "/api/v1/wallets?limit=2&page=2");
  EXPECT_EQ(ids_of(paged).size(), 1u);
  EXPECT_EQ(header_or(paged, "x-total-pages"), "2");
  HttpResponse one = call(token, "GET", "/api/v1/wallets/" + std::to_string(merchant.usd_wallet_id));
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(one.body, wallets.body.substr(1, one.body.size()));
  EXPECT_TRUE(is_v1_error(call(token, "GET", "/api/v1/wallets/999999"), 404, "NotFound",
                          "Wallet not found"));
  EXPECT_TRUE(is_v1_error(call(token, "GET", "/api/v1/wallets/abc"), 404, "NotFound",
                          "Wallet not found"));

  const std::string first = create_payout(token, merchant.usd_wallet_id, "W-1", "10.00");
  const std::string second = create_payout(token, merchant.usd_wallet_id, "W-2", "20.00");
  ASSERT_EQ(call(token, "POST", "/api/v1/payouts/" + first + "/cancel").status, 200);
  const std::string wallet_path =
      "/api/v1/wallets/" + std::to_string(merchant.usd_wallet_id) + "/transactions";
  HttpResponse transactions = call(token, "GET", wallet_path);
  ASSERT_EQ(transactions.status, 200) << transactions.body;
  std::optional<json::Value> items = parse_json(transactions.body);
  ASSERT_TRUE(items && items->is_array() && items->items().size() == 4) << transactions.body;
  // Newest first: refund of W-1, debit of W-2, debit of W-1, deposit.
  const std::vector<std::string> expected = {"PAYOUT_REFUND/CREDIT/10.50/" + first + "/229.50",
                                             "PAYOUT/DEBIT/20.50/" + second + "/219.00",
                                             "PAYOUT/DEBIT/10.50/" + first + "/239.50",
                                             "DEPOSIT/CREDIT/250.00/<null>/250.00"};
  for (size_t i = 0; i < expected.size(); ++i) {
    const json::Value& item = items->items()[i];
    EXPECT_EQ(member_text(item, "type") + "/" + member_text(item, "transaction_type") + "/" +
                  member_text(item, "amount") + "/" + member_text(item, "reference_id") + "/" +
                  member_text(item, "balance_after"),
              expected[i]);
    EXPECT_EQ(member_text(item, "wallet_id"), std::to_string(merchant.usd_wallet_id));
    EXPECT_EQ(member_text(item, "currency"), "USD");
  }
  EXPECT_EQ(ids_of(call(token, "GET", wallet_path + "?type=PAYOUT")).size(), 2u);
  EXPECT_EQ(ids_of(call(token, "GET", wallet_path + "?type=refund")).size(), 1u);
  EXPECT_EQ(ids_of(call(token, "GET", wallet_path + "?transaction_type=CREDIT")).size(), 2u);
  EXPECT_EQ(ids_of(call(token, "GET", wallet_path + "?reference_id=" + first)).size(), 2u);
  EXPECT_EQ(ids_of(call(token, "GET", wallet_path + "?reference=" + first + "&type=PAYOUT")).size(),
            1u);
  EXPECT_EQ(ids_of(call(token, "GET", wallet_path + "?limit=1&page=4")).size(), 1u);
  HttpResponse everywhere = call(token, "GET", "/api/v1/transactions");
  EXPECT_EQ(header_or(everywhere, "x-total-count"), "6");  // + EUR and JPY deposits
  HttpResponse by_wallet = call(
      token, "GET", "/api/v1/transactions?wallet_id=" + std::to_string(merchant.usd_wallet_id));
  EXPECT_EQ(by_wallet.body, transactions.body);
}

// ---- The seed's own client code, run with Node ----

// From PAYOUTD_SOURCE_DIR (CTest sets it): __FILE__ is relative to the build directory when ccache
// rewrites paths under its base_dir (CMakeLists.txt), so it names no file from the test's own
// working directory.
std::string seed_client_dir() {
  if (const char* source = std::getenv("PAYOUTD_SOURCE_DIR"); source != nullptr && *source) {
    return std::string(source) + "/test/integration/seed_client";
  }
  std::string file = __FILE__;
  return file.substr(0, file.rfind('/')) + "/seed_client";
}

std::string read_file(const std::string& path_name) {
  std::ifstream file(path_name, std::ios::binary);
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

TEST(V1SeedClientFilesTest, SeedFunctionsAreVerbatimCopiesOfTheSeed) {
  const std::string seed = read_file(shared_dir() + "/seeds/003_4b5bebe53feb9580.txt");
  const std::string functions = read_file(seed_client_dir() + "/seed_functions.js");
  ASSERT_FALSE(seed.empty());
  ASSERT_FALSE(functions.empty());
  // Everything after the leading comment block is the seed's text, function by function.
  size_t start = functions.find("\nasync function ");
  ASSERT_NE(start, std::string::npos);
  int found = 0;
  while (start != std::string::npos) {
    const size_t begin = start + 1;
    const size_t next = functions.find("\n\nasync function ", begin);
    std::string function = functions.substr(
        begin, next == std::string::npos ? std::string::npos : next - begin);
    while (!function.empty() && function.back() == '\n') function.pop_back();
    EXPECT_NE(seed.find(function), std::string::npos)
        << "not verbatim from the seed:\n" << function.substr(0, 200);
    ++found;
    start = next == std::string::npos ? next : next + 1;
  }
  EXPECT_EQ(found, 7);
  for (const char* name : {"safeCancelPayout", "cancelMultiplePayouts", "verifyCancellationRefund",
                           "handleCancellation", "emergencyCancel", "cancelPayoutWithConfirmation",
                           "handleDuplicatePayout"}) {
    EXPECT_NE(functions.find(std::string("async function ") + name + "("), std::string::npos)
        << name;
  }
}

class V1SeedClientTest : public V1Test {
 protected:
  // Runs the seed client's runner with `steps`; one parsed JSON line per step.
  std::vector<json::Value> run_seed_client(const V1Merchant& merchant,
                                           const std::vector<std::string>& steps) {
    std::vector<std::string> argv = {"/usr/bin/env", "node", seed_client_dir() + "/runner.mjs",
                                     "http://127.0.0.1:" + std::to_string(server_->port()),
                                     merchant.username, merchant.password};
    argv.insert(argv.end(), steps.begin(), steps.end());
    ProcessResult result = run_process(argv, 60000);
    EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
    std::vector<json::Value> lines;
    std::istringstream stream(result.out);
    for (std::string line; std::getline(stream, line);) {
      std::optional<json::Value> parsed = parse_json(line);
      EXPECT_TRUE(parsed.has_value()) << line;
      if (parsed) lines.push_back(std::move(*parsed));
    }
    EXPECT_EQ(lines.size(), steps.size()) << result.out << result.err;
    return lines;
  }
};

TEST_F(V1SeedClientTest, SeedClientCodeRunsUnchanged) {
  const V1Merchant merchant = add_merchant("seed_client", "10000.00", "1.50");
  const std::string token = login(merchant).access;
  const std::string created = create_payout(token, merchant.usd_wallet_id, "PAY_2024_001");
  const std::string queued = create_payout(token, merchant.usd_wallet_id, "PAY_2024_002");
  const std::string processing = create_payout(token, merchant.usd_wallet_id, "PAY_2024_003");
  const std::string completed = create_payout(token, merchant.usd_wallet_id, "PAY_2024_004");
  const std::string for_handle = create_payout(token, merchant.usd_wallet_id, "PAY_2024_005");
  const std::string for_confirm = create_payout(token, merchant.usd_wallet_id, "PAY_2024_006");
  const std::string duplicate = create_payout(token, merchant.usd_wallet_id, "PAY_2024_007");
  ASSERT_TRUE(operator_set_status(queued, "queued"));
  for (const char* to : {"queued", "processing"}) ASSERT_TRUE(operator_set_status(processing, to));
  for (const char* to : {"queued", "processing", "completed"}) {
    ASSERT_TRUE(operator_set_status(completed, to));
  }
  const std::string missing = "pyt_0000000000000000";

  const std::vector<json::Value> results = run_seed_client(
      merchant, {"safe:" + created, "batch:" + queued + "," + processing + "," + completed + "," +
                                        missing,
                 "verify:" + created, "verify:" + queued, "handle:" + for_handle,
                 "handle:" + for_handle, "handle:" + completed, "handle:" + missing,
                 "handle-bad-token:" + for_confirm, "confirm:" + for_confirm,
                 "duplicate:PAY_2024_007_RETRY," + duplicate, "verify:" + processing});
  ASSERT_EQ(results.size(), 12u);

  // safeCancelPayout: the cancelled payout, seed figures.
  const json::Value& safe = results[0];
  EXPECT_EQ(member_text(safe, "ok"), "true") << member_text(safe, "error");
  EXPECT_EQ(member_text(*safe.find("result"), "status"), "cancelled");
  EXPECT_EQ(member_text(*safe.find("result"), "total_amount"), "101.5");  // as JSON.stringify prints
  EXPECT_EQ(member_text(*safe.find("result"), "currency"), "USD");

  // cancelMultiplePayouts: queued cancelled; processing (warned, refused), completed and missing
  // failed with the seed's reasons.
  const json::Value* batch = results[1].find("result");
  ASSERT_NE(batch, nullptr);
  ASSERT_EQ(batch->find("cancelled")->items().size(), 1u);
  EXPECT_EQ(member_text(batch->find("cancelled")->items()[0], "id"), queued);
  EXPECT_EQ(member_text(batch->find("cancelled")->items()[0], "refund"), "101.5");
  const std::vector<json::Value>& failed = batch->find("failed")->items();
  ASSERT_EQ(failed.size(), 3u);
  EXPECT_EQ(member_text(failed[0], "id"), processing);
  EXPECT_EQ(member_text(failed[0], "reason"), "payout cannot be cancelled in current status");
  EXPECT_EQ(member_text(failed[1], "id"), completed);
  EXPECT_EQ(member_text(failed[1], "reason"), "Payout cannot be cancelled - status is completed");
  EXPECT_EQ(member_text(failed[2], "id"), missing);
  EXPECT_EQ(member_text(failed[2], "reason"), "Payout cannot be cancelled - status is undefined");
  const std::string batch_logs = results[1].find("logs")->items().empty()
                                     ? ""
                                     : results[1].find("logs")->items()[0].as_string();
  EXPECT_EQ(batch_logs, "warn: Payout is processing - cancellation may not succeed");

  // verifyCancellationRefund finds the PAYOUT_REFUND whose reference_id is the payout id.
  for (size_t index : {size_t{2}, size_t{3}}) {
    const json::Value& verify = results[index];
    ASSERT_EQ(member_text(verify, "ok"), "true") << member_text(verify, "error");
    const json::Value* refund = verify.find("result");
    ASSERT_TRUE(refund != nullptr && refund->is_object());
    EXPECT_EQ(member_text(*refund, "type"), "PAYOUT_REFUND");
    EXPECT_EQ(member_text(*refund, "reference_id"), index == 2 ? created : queued);
    EXPECT_EQ(member_text(*refund, "amount"), "101.5");
  }

  // handleCancellation: success, then CANNOT_CANCEL (already cancelled, completed), then
  // PAYOUT_NOT_FOUND, and UNAUTHORIZED with a bad token.
  EXPECT_EQ(member_text(*results[4].find("result"), "success"), "true");
  EXPECT_EQ(member_text(*path(*results[4].find("result"), "payout"), "status"), "cancelled");
  EXPECT_EQ(member_text(*results[5].find("result"), "error"), "CANNOT_CANCEL");
  EXPECT_EQ(member_text(*results[6].find("result"), "error"), "CANNOT_CANCEL");
  EXPECT_EQ(member_text(*results[7].find("result"), "error"), "PAYOUT_NOT_FOUND");
  EXPECT_EQ(member_text(*results[8].find("result"), "error"), "UNAUTHORIZED");

  // The confirmation flow shows the payout's figures, cancels it and notifies the refund.
  const json::Value* confirm = results[9].find("result");
  ASSERT_NE(confirm, nullptr) << member_text(results[9], "error");
  EXPECT_EQ(member_text(*path(*confirm, "payout"), "status"), "cancelled");
  const json::Value& dialog = confirm->find("dialogs")->items().at(0);
  EXPECT_EQ(dialog.find("details")->items().at(0).as_string(), "Amount: 100 USD");
  EXPECT_EQ(dialog.find("details")->items().at(1).as_string(), "Beneficiary: John Doe");
  EXPECT_EQ(dialog.find("details")->items().at(2).as_string(), "Reference: PAY_2024_006");
  EXPECT_EQ(member_text(confirm->find("notifications")->items().at(0), "message"),
            "Payout cancelled. 101.5 USD refunded to wallet.");

  // handleDuplicatePayout cancels the created duplicate.
  EXPECT_EQ(member_text(results[10], "ok"), "true") << member_text(results[10], "error");
  EXPECT_EQ(member_text(*parse_json(call(token, "GET", "/api/v1/payouts/" + duplicate).body),
                        "status"),
            "cancelled");
  // A processing payout was not cancelled: verifyCancellationRefund says so.
  EXPECT_EQ(member_text(results[11], "ok"), "false");
  EXPECT_EQ(member_text(results[11], "error"), "Payout was not cancelled");

  // emergencyCancel(clientId): lists `created` payouts and cancels every one of them.
  std::vector<std::string> pending;
  for (int i = 0; i < 4; ++i) {
    pending.push_back(
        create_payout(token, merchant.usd_wallet_id, "EMERGENCY-" + std::to_string(i)));
  }
  const std::vector<json::Value> emergency =
      run_seed_client(merchant, {"emergency:" + std::to_string(merchant.id)});
  ASSERT_EQ(emergency.size(), 1u);
  const json::Value* outcome = emergency[0].find("result");
  ASSERT_NE(outcome, nullptr) << member_text(emergency[0], "error");
  std::set<std::string> cancelled_ids;
  for (const json::Value& item : outcome->find("cancelled")->items()) {
    cancelled_ids.insert(member_text(item, "id"));
  }
  EXPECT_EQ(cancelled_ids, std::set<std::string>(pending.begin(), pending.end()));
  EXPECT_TRUE(outcome->find("failed")->items().empty());
  EXPECT_EQ(call(token, "GET", "/api/v1/payouts?status=created").body, "[]");
  const std::string logs = emergency[0].find("logs")->items().at(0).as_string();
  EXPECT_NE(logs.find("Cancelled: 4"), std::string::npos) << logs;
  EXPECT_NE(logs.find("Failed: 0"), std::string::npos) << logs;

  // What is still held: the processing payout only.
  EXPECT_EQ(wallet_text(merchant.id).substr(wallet_text(merchant.id).find('/') + 1), "101.50");
}

// ---- Short-lived access tokens ----

class V1ShortTokenTest : public V1Test {
 protected:
  std::vector<std::string> server_arguments() const override {
    return {"--v1-access-token-ttl-seconds", "1"};
  }
};

TEST_F(V1ShortTokenTest, ExpiredAccessTokenIsRefusedAndRefreshRecovers) {
  const V1Merchant merchant = add_merchant("short", "10.00");
  // Token lifetimes run on the sandbox's test clock: the login happens at `issued_at`.
  const int64_t issued_at = sandbox_.clock_micros();
  const Tokens tokens = login(merchant);
  ASSERT_FALSE(tokens.access.empty());
  // Valid for exactly one second: still accepted one microsecond before its end, refused at it.
  sandbox_.set_clock_micros(issued_at + 1'000'000 - 1);
  EXPECT_EQ(call(tokens.access, "GET", "/api/v1/wallets").status, 200);
  sandbox_.set_clock_micros(issued_at + 1'000'000);
  EXPECT_TRUE(is_v1_error(call(tokens.access, "GET", "/api/v1/wallets"), 401,
                          "UnauthorizedAccess", "Authentication required"));
  HttpResponse refreshed =
      send("POST", "/auth/refresh", "{\"refresh_token\":\"" + tokens.refresh + "\"}");
  ASSERT_EQ(refreshed.status, 200) << refreshed.body;
  const std::string fresh = member_text(*parse_json(refreshed.body), "access_token");
  EXPECT_EQ(call(fresh, "GET", "/api/v1/wallets").status, 200);
  // The fresh token has its own second, from the refresh.
  sandbox_.set_clock_micros(issued_at + 2'000'000 - 1);
  EXPECT_EQ(call(fresh, "GET", "/api/v1/wallets").status, 200);
  sandbox_.set_clock_micros(issued_at + 2'000'000);
  EXPECT_TRUE(is_v1_error(call(fresh, "GET", "/api/v1/wallets"), 401, "UnauthorizedAccess",
                          "Authentication required"));
}

}  // namespace
}  // namespace payoutd::testing::v1
