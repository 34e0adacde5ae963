// Cashouts API v3 end to end: the real payoutd server, real HTTP, a real database.
// Success paths of every endpoint, the seed's examples replayed verbatim, the signature vectors,
// the on-hold lifecycle, what may and may not be cancelled, tenant isolation, IP allow-list,
// disabled merchants, the rate limit, and unavailable storage (702/703).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "integration/v3_support.h"

namespace payoutd::testing::v3 {
namespace {

constexpr const char* kPending = R"({"cashout_status":0,"cashout_status_description":"Pending"})";
constexpr const char* kOnHold = R"({"cashout_status":5,"cashout_status_description":"On hold"})";
constexpr const char* kCanceled = R"({"cashout_status":2,"cashout_status_description":"Canceled"})";
constexpr const char* kDelivered =
    R"({"cashout_status":4,"cashout_status_description":"Delivered"})";

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

std::string upper_case(std::string text) {
  for (char& c : text) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return text;
}

// The shared file whose name starts with `prefix` in `directory` ("" when none).
std::filesystem::path find_shared_file(const std::string& directory, const std::string& prefix) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(shared_dir() + "/" + directory, error)) {
    if (entry.path().filename().string().rfind(prefix, 0) == 0) return entry.path();
  }
  return {};
}

// The seed 002 (LimePay's cancel endpoint page): its request example and response examples.
struct SeedCancelExample {
  std::string body;       // exactly as published, whitespace included
  std::string signature;  // the published Payload-Signature (keyed with LimePay's secret)
  std::string cancelled;  // "Cashout cancelled successfully"
  std::string not_found;  // "Cashout not found"
  std::string invalid_transition;
};

// Text from the line after the first `marker` line up to the first line that is exactly "}".
std::string json_block_after(const std::string& text, const std::string& marker) {
  size_t at = text.find(marker);
  if (at == std::string::npos) return "";
  at = text.find('{', at);
  if (at == std::string::npos) return "";
  const size_t end = text.find("\n}", at);
  if (end == std::string::npos) return "";
  return text.substr(at, end + 2 - at);
}

SeedCancelExample load_seed_cancel_example() {
  SeedCancelExample example;
  const std::filesystem::path path = find_shared_file("seeds", "002_");
  const std::string text = read_text_file(path);
  example.body = json_block_after(text, "// BODY");
  const std::string header = "Payload-Signature: ";
  const size_t at = text.find(header);
  if (at != std::string::npos) {
    const size_t start = at + header.size();
    const size_t end = text.find_first_of(" \r\n", start);
    example.signature = text.substr(start, end - start);
  }
  const size_t responses = text.find("### Response Example");
  const std::string tail = responses == std::string::npos ? "" : text.substr(responses);
  example.cancelled = json_block_after(tail, "// Cashout cancelled successfully");
  example.not_found = json_block_after(tail, "// Cashout not found");
  example.invalid_transition = json_block_after(tail, "// The cashout can't be cancelled");
  return example;
}

// ---- Success paths ----

TEST_F(V3Test, CreateStatusCancelRoundTrip) {
  ASSERT_EQ(wallet_text(), "10000.00/0.00");
  HttpResponse created = create(create_body("round-trip-1"));
  ASSERT_EQ(created.status, 200) << created.body;
  EXPECT_EQ(created.header("content-type"), "application/json");
  std::optional<json::Value> parsed = parse_body(created.body);
  ASSERT_TRUE(parsed && parsed->is_object() && parsed->members().size() == 1) << created.body;
  const json::Value* id_value = parsed->find("cashout_id");
  ASSERT_TRUE(id_value != nullptr && id_value->is_string()) << "cashout_id must be a string";
  const std::string id = id_value->as_string();
  EXPECT_EQ(created.body, "{\"cashout_id\":\"" + id + "\"}");
  EXPECT_EQ(wallet_text(), "9900.00/100.00");
  EXPECT_EQ(internal_status(id), "created");

  // Status by number, by numeric string, by external id, and by both.
  EXPECT_TRUE(is_ok_json(status(status_body(id)), kPending));
  EXPECT_TRUE(is_ok_json(status(status_body(json_string(id))), kPending));
  Body by_external = credentials_body();
  by_external.set_string("external_id", "round-trip-1");
  EXPECT_TRUE(is_ok_json(status(by_external), kPending));
  EXPECT_TRUE(is_ok_json(status(status_body(id).set_string("external_id", "round-trip-1")), kPending));

  HttpResponse cancelled = cancel(cancel_body(id, "round-trip-1"));
  EXPECT_TRUE(is_ok_json(cancelled, kCanceled));
  EXPECT_EQ(cancelled.body, kCanceled);
  EXPECT_EQ(wallet_text(), "10000.00/0.00");
  EXPECT_EQ(internal_status(id), "cancelled");
  EXPECT_TRUE(is_ok_json(status(status_body(id)), kCanceled));
}

TEST_F(V3Test, CreateStoresEveryFieldAndHoldsTheTotal) {
  const std::string id = create_cashout("stored-fields-1", "\"250.10\"");
  ASSERT_FALSE(id.empty());
  ProcessResult shown = sandbox_.cli({"payout", "show", "--json", id});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  std::optional<json::Value> payout = parse_body(shown.out);
  ASSERT_TRUE(payout.has_value()) << shown.out;
  EXPECT_EQ(payout->find("amount")->number_text(), "250.10");
  EXPECT_EQ(payout->find("currency")->as_string(), "BRL");
  EXPECT_EQ(payout->find("country")->as_string(), "BR");
  EXPECT_EQ(payout->find("external_id")->as_string(), "stored-fields-1");
  EXPECT_EQ(payout->find("description")->as_string(), "integration test");
  EXPECT_EQ(payout->find("notification_url")->as_string(), kNotificationUrl);
  const json::Value* beneficiary = payout->find("beneficiary");
  ASSERT_NE(beneficiary, nullptr);
  const std::pair<const char*, const char*> expected[] = {
      {"first_name", "Maria"},         {"last_name", "Silva"},
      {"email", "maria.silva@example.com"}, {"phone", "+55 11 99999-9999"},
      {"country", "BR"},               {"document_id", "84868168029"},
      {"document_type", "CPF"},        {"bank_code", "001"},
      {"bank_account", "123456789"},   {"bank_branch", "0001"},
      {"account_type", "C"},           {"address", "Rua Augusta 1000"},
      {"city", "São Paulo"},           {"postal_code", "01305-100"},
      {"birthdate", "1990-05-17"},
  };
  for (const auto& [key, value] : expected) {
    const json::Value* field = beneficiary->find(key);
    ASSERT_TRUE(field != nullptr && field->is_string()) << key;
    EXPECT_EQ(field->as_string(), value) << key;
  }
  EXPECT_EQ(wallet_text(), "9749.90/250.10");
}

TEST_F(V3Test, CancelRefundsAmountPlusFeesInOneMovement) {
  ProcessResult fees = sandbox_.cli({"merchant", "fees", std::to_string(merchant_id_), "--currency",
                                     "BRL", "--fixed", "1.50", "--percent-bps", "100"});
  ASSERT_EQ(fees.exit_code, 0) << fees.err;
  const std::string id = create_cashout("fees-1", "200.00");
  ASSERT_FALSE(id.empty());
  // fees = 1.50 + 1% of 200.00 = 3.50; total 203.50 held.
  EXPECT_EQ(wallet_text(), "9796.50/203.50");
  EXPECT_TRUE(is_ok_json(cancel(cancel_body(id, "fees-1")), kCanceled));
  EXPECT_EQ(wallet_text(), "10000.00/0.00");
  EXPECT_EQ(sandbox_.sql("SELECT count(*), sum(amount) FROM wallet_transactions WHERE type = "
                         "'PAYOUT_REFUND';"),
            "1|20350\n");
  EXPECT_EQ(sandbox_.sql("SELECT count(*) FROM journal_transactions WHERE cashout_id = " + id +
                         " AND kind = 'payout_refund';"),
            "1\n");
}

TEST_F(V3Test, DefaultsAndLiberalInputs) {
  // Currency omitted: the country's payout currency. Amount as a string, as 1e2, cashout id as a
  // string, unknown members (even nested) ignored, empty optional strings ignored, `type` ignored.
  Body body = create_body("liberal-1");
  body.remove("currency")
      .set("amount", "\"100.10\"")
      .set("unknown_member", R"({"nested":[1,2,{"x":null}]})")
      .set_string("bank_code", "")
      .set("bank_account", "null")
      .set("type", "42");
  ASSERT_EQ(create(body).status, 200);
  EXPECT_EQ(wallet_text(), "9899.90/100.10");
  Body exponent = create_body("liberal-2");
  exponent.set("amount", "1e2").set("bank_code", "237");
  ASSERT_EQ(create(exponent).status, 200);
  EXPECT_EQ(wallet_text(), "9799.90/200.10");
  // Phone alone is enough, email alone is enough.
  ASSERT_EQ(create(create_body("liberal-3").remove("email")).status, 200);
  ASSERT_EQ(create(create_body("liberal-4").remove("phone")).status, 200);

  // A currency with 3 decimals is still limited to 2 in this dialect.
  ASSERT_TRUE(sandbox_.fund_wallet(merchant_id_, "KWD", "100.000"));
  Body kuwait = create_body("liberal-kw");
  kuwait.set_string("country", "KW").remove("currency").set("amount", "1.23");
  EXPECT_EQ(create(kuwait).status, 200);
  kuwait.set_string("external_id", "liberal-kw-2").set("amount", "1.234");
  EXPECT_TRUE(is_v3_error(create(kuwait), 412, 300));
  EXPECT_EQ(wallet_text("KWD"), "98.770/1.230");
}

TEST_F(V3Test, MerchantDefaultNotificationUrlMakesItOptional) {
  std::string output;
  std::vector<std::string> flags = imported_credentials("default_url_login", "pass2", "key2");
  flags.push_back("--notification-url");
  flags.push_back("https://default.example.com/hook");
  std::optional<int64_t> other = sandbox_.create_merchant("With default URL", flags, &output);
  ASSERT_TRUE(other.has_value()) << output;
  ASSERT_TRUE(sandbox_.fund_wallet(*other, "BRL", "500.00"));
  Body body = create_body("default-url-1");
  body.set_string("login", "default_url_login").set_string("pass", "pass2").remove("notification_url");
  HttpResponse response = send("POST", "/v3/cashout", body.text(), Signing::kValid, "key2");
  EXPECT_EQ(response.status, 200) << response.body;
  // The reference merchant has none: the same body is refused for it.
  Body without = create_body("default-url-2");
  without.remove("notification_url");
  EXPECT_TRUE(is_v3_error(create(without), 412, 300));
}

// ---- The seed's examples (002: the cancel endpoint as LimePay publishes it) ----

TEST_F(V3Test, SeedCancelExampleReplayedVerbatim) {
  const SeedCancelExample seed = load_seed_cancel_example();
  ASSERT_FALSE(seed.body.empty()) << "seed 002 not found under " << shared_dir();
  ASSERT_NE(seed.body.find("\"cashout_id\": 11954"), std::string::npos) << seed.body;
  ASSERT_FALSE(seed.cancelled.empty());
  ASSERT_FALSE(seed.not_found.empty());
  ASSERT_FALSE(seed.invalid_transition.empty());

  // The cashout the example names: cashout_id 11954, external_id "cashoutID2134".
  ASSERT_TRUE(sandbox_.set_next_id("payouts", 11954));
  HttpResponse created = create(create_body("cashoutID2134"));
  ASSERT_EQ(created.status, 200) << created.body;
  ASSERT_EQ(created.body, R"({"cashout_id":"11954"})");

  // The published signature was computed with LimePay's secret for that account, which nobody
  // else has: the exact published request is refused as an invalid control string, and changes
  // nothing.
  const std::string before = sandbox_.snapshot();
  std::optional<HttpResponse> published = http_request(
      server_->port(), "DELETE", "/v3/cashout/cancel", seed.body,
      {{"Content-Type", "application/json"}, {"Payload-Signature", seed.signature}});
  ASSERT_TRUE(published.has_value());
  EXPECT_TRUE(is_v3_error(*published, 401, 302, "Invalid control string"));
  EXPECT_EQ(sandbox_.snapshot(), before);

  // The same bytes signed with this merchant's key: the documented success response, exactly.
  HttpResponse cancelled = send("DELETE", "/v3/cashout/cancel", seed.body);
  EXPECT_TRUE(is_ok_json(cancelled, seed.cancelled));
  EXPECT_EQ(cancelled.body, R"({"cashout_status":2,"cashout_status_description":"Canceled"})");
  EXPECT_EQ(wallet_text(), "10000.00/0.00");

  // Again: "can't be cancelled because its status is not Pending".
  const std::string after_cancel = sandbox_.snapshot();
  HttpResponse again = send("DELETE", "/v3/cashout/cancel", seed.body);
  EXPECT_TRUE(is_v3_error(again, 412, 510, "Invalid status transition"));
  EXPECT_EQ(again.body, compact(*parse_body(seed.invalid_transition)));
  EXPECT_EQ(again.body, R"({"code":510,"message":"Invalid status transition"})");

  // Unknown id: "Cashout not found".
  std::string unknown = seed.body;
  unknown.replace(unknown.find("11954"), 5, "11955");
  HttpResponse not_found = send("DELETE", "/v3/cashout/cancel", unknown);
  EXPECT_TRUE(is_v3_error(not_found, 412, 509, "Cashout not found with this ID"));
  EXPECT_EQ(not_found.body, compact(*parse_body(seed.not_found)));
  EXPECT_EQ(sandbox_.snapshot(), after_cancel);

  // Mismatched external_id on a pending cashout: 509 and nothing written.
  const std::string other = create_cashout("cashoutID2135");
  ASSERT_EQ(other, "11955");
  const std::string pending = sandbox_.snapshot();
  std::string mismatched = unknown;
  mismatched.replace(mismatched.find("cashoutID2134"), 13, "cashoutID9999");
  EXPECT_TRUE(is_v3_error(send("DELETE", "/v3/cashout/cancel", mismatched), 412, 509));
  // The other cashout's id with the first one's external id: also a mismatch.
  EXPECT_TRUE(is_v3_error(send("DELETE", "/v3/cashout/cancel", unknown), 412, 509));
  EXPECT_EQ(sandbox_.snapshot(), pending);
  EXPECT_EQ(internal_status("11955"), "created");
}

// ---- Signature vectors (shared/vectors/signatures.json) ----

TEST_F(V3Test, SignatureVectorsVerifiedEndToEnd) {
  const std::string text = read_text_file(shared_dir() + "/vectors/signatures.json");
  std::optional<json::Value> vectors = parse_body(text);
  ASSERT_TRUE(vectors.has_value()) << "vectors not found under " << shared_dir();
  const json::Value* list = vectors->find("payload_signature");
  ASSERT_TRUE(list != nullptr && list->is_array() && list->items().size() >= 5);

  ASSERT_TRUE(sandbox_.set_next_id("payouts", 11954));
  ASSERT_EQ(create_cashout("cashoutID2134"), "11954");

  int end_to_end = 0;
  const json::Value* cancel_vector = nullptr;
  for (const json::Value& vector : list->items()) {
    const std::string& key = vector.find("key")->as_string();
    const std::string& body = vector.find("body")->as_string();
    const std::string& signature = vector.find("signature")->as_string();
    // The harness's signer agrees with every vector, whatever the key.
    EXPECT_EQ(sign_hex(key, body), signature) << body;
    if (key != kSecretKey) {
      // "s3cr3t-ñ-ключ": not importable as a v3 secret key (printable ASCII only), so it is
      // verified by the signer alone (and by crypto_test).
      continue;
    }
    if (body.empty()) {
      // An empty body signs the empty string, but is not a JSON object: refused before the
      // signature is looked at.
      std::optional<HttpResponse> response = http_request(
          server_->port(), "POST", "/v3/cashout/status", body, {{"Payload-Signature", signature}});
      ASSERT_TRUE(response.has_value());
      EXPECT_TRUE(is_v3_error(*response, 400, 502));
      ++end_to_end;
      continue;
    }
    if (body.find("external_id") != std::string::npos) {
      cancel_vector = &vector;  // last: it cancels the cashout the others look at
      continue;
    }
    for (const std::string& header : {signature, upper_case(signature)}) {
      std::optional<HttpResponse> response = http_request(
          server_->port(), "POST", "/v3/cashout/status", body, {{"Payload-Signature", header}});
      ASSERT_TRUE(response.has_value());
      EXPECT_TRUE(is_ok_json(*response, kPending)) << body;
    }
    // One flipped hex digit: refused.
    std::string tampered = signature;
    tampered[10] = tampered[10] == '0' ? '1' : '0';
    std::optional<HttpResponse> refused = http_request(
        server_->port(), "POST", "/v3/cashout/status", body, {{"Payload-Signature", tampered}});
    ASSERT_TRUE(refused.has_value());
    EXPECT_TRUE(is_v3_error(*refused, 401, 302));
    ++end_to_end;
  }
  ASSERT_NE(cancel_vector, nullptr);
  std::optional<HttpResponse> cancelled = http_request(
      server_->port(), "DELETE", "/v3/cashout/cancel", cancel_vector->find("body")->as_string(),
      {{"Payload-Signature", cancel_vector->find("signature")->as_string()}});
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_TRUE(is_ok_json(*cancelled, kCanceled));
  ++end_to_end;
  EXPECT_EQ(end_to_end, 4);
}

TEST_F(V3Test, UpperCaseSignatureIsAccepted) {
  HttpResponse response = create(create_body("upper-1"), Signing::kUpperCase);
  EXPECT_EQ(response.status, 200) << response.body;
}

// ---- On hold ----

TEST_F(V3Test, OnHoldLifecycle) {
  const std::string id = create_cashout("hold-1", "100.00", /*on_hold=*/true);
  ASSERT_FALSE(id.empty());
  EXPECT_TRUE(is_ok_json(status(status_body(id)), kOnHold));
  EXPECT_EQ(internal_status(id), "on_hold");
  EXPECT_EQ(wallet_text(), "9900.00/100.00");

  // The same status again is a no-op success that writes nothing.
  std::string before = sandbox_.snapshot();
  EXPECT_TRUE(is_ok_json(update_status(update_status_body(id, "ON_HOLD")), kOnHold));
  EXPECT_EQ(sandbox_.snapshot(), before);

  // PENDING releases it (on_hold -> queued).
  EXPECT_TRUE(is_ok_json(update_status(update_status_body(id, "PENDING")), kPending));
  EXPECT_EQ(internal_status(id), "queued");
  before = sandbox_.snapshot();
  EXPECT_TRUE(is_ok_json(update_status(update_status_body(json_string(id), "PENDING")), kPending));
  EXPECT_EQ(sandbox_.snapshot(), before);

  // ON_HOLD again (queued -> on_hold), then cancel from 5.
  EXPECT_TRUE(is_ok_json(update_status(update_status_body(id, "ON_HOLD")), kOnHold));
  EXPECT_EQ(internal_status(id), "on_hold");
  EXPECT_TRUE(is_ok_json(cancel(cancel_body(id, "hold-1")), kCanceled));
  EXPECT_EQ(wallet_text(), "10000.00/0.00");

  // Nothing moves a cancelled cashout: 400 / 510.
  before = sandbox_.snapshot();
  EXPECT_TRUE(is_v3_error(update_status(update_status_body(id, "PENDING")), 400, 510,
                          "Invalid status transition"));
  EXPECT_TRUE(is_v3_error(update_status(update_status_body(id, "ON_HOLD")), 400, 510));
  EXPECT_EQ(sandbox_.snapshot(), before);

  // A created (never queued) cashout can be put on hold too.
  const std::string second = create_cashout("hold-2");
  EXPECT_TRUE(is_ok_json(update_status(update_status_body(second, "ON_HOLD")), kOnHold));
  EXPECT_EQ(internal_status(second), "on_hold");
}

// ---- What may not be cancelled ----

TEST_F(V3Test, ProcessingIsNeverCancelledOrHeld) {
  const std::string id = create_cashout("processing-1");
  ASSERT_TRUE(operator_set_status(id, "queued"));
  ASSERT_TRUE(operator_set_status(id, "processing"));
  EXPECT_TRUE(is_ok_json(status(status_body(id)), kDelivered));
  const std::string before = sandbox_.snapshot();
  EXPECT_TRUE(is_v3_error(cancel(cancel_body(id, "processing-1")), 412, 510));
  EXPECT_TRUE(is_v3_error(update_status(update_status_body(id, "ON_HOLD")), 400, 510));
  EXPECT_TRUE(is_v3_error(update_status(update_status_body(id, "PENDING")), 400, 510));
  EXPECT_EQ(sandbox_.snapshot(), before);
  EXPECT_EQ(internal_status(id), "processing");
  EXPECT_EQ(wallet_text(), "9900.00/100.00");

  ASSERT_TRUE(operator_set_status(id, "completed", {"--bank-reference", "BANK-REF-77"}));
  EXPECT_TRUE(is_ok_json(
      status(status_body(id)),
      R"({"cashout_status":1,"cashout_status_description":"Completed","bank_reference_id":"BANK-REF-77"})"));
  EXPECT_TRUE(is_v3_error(cancel(cancel_body(id, "processing-1")), 412, 510));
  EXPECT_EQ(wallet_text(), "9900.00/0.00");

  // An action_required cashout is v3 "On hold": cancellable.
  const std::string action = create_cashout("action-1");
  ASSERT_TRUE(operator_set_status(action, "queued"));
  ASSERT_TRUE(operator_set_status(action, "processing"));
  ASSERT_TRUE(operator_set_status(action, "action_required"));
  EXPECT_TRUE(is_ok_json(status(status_body(action)), kOnHold));
  // ON_HOLD is already its v3 status (no-op); PENDING is not a merchant's move from there.
  EXPECT_TRUE(is_ok_json(update_status(update_status_body(action, "ON_HOLD")), kOnHold));
  EXPECT_TRUE(is_v3_error(update_status(update_status_body(action, "PENDING")), 400, 510));
  EXPECT_TRUE(is_ok_json(cancel(cancel_body(action, "action-1")), kCanceled));
}

TEST_F(V3Test, RejectedAndExpiredShowRejectionCodes) {
  const std::string failed = create_cashout("rejected-1");
  ASSERT_TRUE(operator_set_status(failed, "queued"));
  ASSERT_TRUE(operator_set_status(failed, "processing"));
  ASSERT_TRUE(operator_set_status(failed, "failed", {"--reason-code", "800"}));
  EXPECT_TRUE(is_ok_json(
      status(status_body(failed)),
      R"({"cashout_status":3,"cashout_status_description":"Rejected","rejection_code":800,"rejection_reason":"ERROR_ACCOUNT_INCORRECT"})"));
  EXPECT_TRUE(is_v3_error(cancel(cancel_body(failed, "rejected-1")), 412, 510));

  // Completed, then reversed by the bank: Rejected with 826, the bank reference kept.
  const std::string reversed = create_cashout("reversed-1");
  ASSERT_TRUE(operator_set_status(reversed, "queued"));
  ASSERT_TRUE(operator_set_status(reversed, "processing"));
  ASSERT_TRUE(operator_set_status(reversed, "completed", {"--bank-reference", "E2E-1"}));
  ASSERT_TRUE(operator_set_status(reversed, "failed"));
  EXPECT_TRUE(is_ok_json(
      status(status_body(reversed)),
      R"({"cashout_status":3,"cashout_status_description":"Rejected","rejection_code":826,"rejection_reason":"WITHDRAWAL_REVERSED","bank_reference_id":"E2E-1"})"));

  const std::string expired = create_cashout("expired-1", "100.00", /*on_hold=*/true);
  ASSERT_TRUE(operator_set_status(expired, "expired"));
  EXPECT_TRUE(is_ok_json(
      status(status_body(expired)),
      R"({"cashout_status":3,"cashout_status_description":"Rejected","rejection_code":809,"rejection_reason":"WITHDRAWAL_EXPIRED"})"));
  // Refunded: 10000 - 100 (rejected-1, refunded) ... all three refunded.
  EXPECT_EQ(wallet_text(), "10000.00/0.00");
}

// ---- Who may see what ----

TEST_F(V3Test, AnotherMerchantsCashoutIsNotFound) {
  const std::string id = create_cashout("isolated-1");
  std::string output;
  std::optional<int64_t> other =
      sandbox_.create_merchant("Other merchant", imported_credentials("other_login", "other_pass",
                                                                      "other_key"),
                               &output);
  ASSERT_TRUE(other.has_value()) << output;
  ASSERT_TRUE(sandbox_.fund_wallet(*other, "BRL", "1000.00"));
  auto as_other = [&](const std::string& method, const std::string& path, Body body) {
    body.set_string("login", "other_login").set_string("pass", "other_pass");
    return send(method, path, body.text(), Signing::kValid, "other_key");
  };
  const std::string before = sandbox_.snapshot();
  EXPECT_TRUE(is_v3_error(as_other("POST", "/v3/cashout/status", status_body(id)), 412, 509));
  EXPECT_TRUE(is_v3_error(
      as_other("POST", "/v3/cashout/status",
               credentials_body().set_string("external_id", "isolated-1")),
      412, 509));
  EXPECT_TRUE(is_v3_error(
      as_other("PUT", "/v3/cashout/status", update_status_body(id, "ON_HOLD")), 412, 509));
  EXPECT_TRUE(is_v3_error(
      as_other("DELETE", "/v3/cashout/cancel", cancel_body(id, "isolated-1")), 412, 509));
  EXPECT_EQ(sandbox_.snapshot(), before);
  // The other merchant's credentials with the reference merchant's key: bad signature.
  Body body = status_body(id);
  body.set_string("login", "other_login").set_string("pass", "other_pass");
  EXPECT_TRUE(is_v3_error(send("POST", "/v3/cashout/status", body.text()), 401, 302));
  // External ids are unique per merchant, not globally.
  EXPECT_EQ(as_other("POST", "/v3/cashout", create_body("isolated-1")).status, 200);
  EXPECT_EQ(internal_status(id), "created");
}

TEST_F(V3Test, IpAllowListRefusesOtherAddresses) {
  std::string output;
  std::vector<std::string> flags = imported_credentials("ip_login", "ip_pass", "ip_key");
  flags.push_back("--ip-allow");
  flags.push_back("10.0.0.0/8");
  std::optional<int64_t> restricted = sandbox_.create_merchant("Restricted", flags, &output);
  ASSERT_TRUE(restricted.has_value()) << output;
  ASSERT_TRUE(sandbox_.fund_wallet(*restricted, "BRL", "1000.00"));
  Body body = create_body("ip-1");
  body.set_string("login", "ip_login").set_string("pass", "ip_pass");
  const std::string before = sandbox_.snapshot();
  // We connect from 127.0.0.1, outside 10.0.0.0/8.
  EXPECT_TRUE(is_v3_error(send("POST", "/v3/cashout", body.text(), Signing::kValid, "ip_key"), 401,
                          402, "Unregistered IP address"));
  EXPECT_EQ(sandbox_.snapshot(), before);
  // The signature is checked before the address: a bad one is still 302.
  EXPECT_TRUE(
      is_v3_error(send("POST", "/v3/cashout", body.text(), Signing::kWrongKey, "ip_key"), 401, 302));

  flags = imported_credentials("loopback_login", "loopback_pass", "loopback_key");
  flags.push_back("--ip-allow");
  flags.push_back("10.0.0.0/8,127.0.0.0/8");
  std::optional<int64_t> loopback = sandbox_.create_merchant("Loopback", flags, &output);
  ASSERT_TRUE(loopback.has_value()) << output;
  ASSERT_TRUE(sandbox_.fund_wallet(*loopback, "BRL", "1000.00"));
  body.set_string("login", "loopback_login").set_string("pass", "loopback_pass");
  EXPECT_EQ(send("POST", "/v3/cashout", body.text(), Signing::kValid, "loopback_key").status, 200);
}

TEST_F(V3Test, DisabledMerchantIs519UntilEnabled) {
  const std::string id = create_cashout("disabled-1");
  ASSERT_EQ(sandbox_.cli({"merchant", "disable", std::to_string(merchant_id_)}).exit_code, 0);
  const std::string before = sandbox_.snapshot();
  const std::string message = "Merchant not enabled. Contact your Account Manager";
  EXPECT_TRUE(is_v3_error(create(create_body("disabled-2")), 401, 519, message));
  EXPECT_TRUE(is_v3_error(status(status_body(id)), 401, 519, message));
  EXPECT_TRUE(is_v3_error(update_status(update_status_body(id, "ON_HOLD")), 401, 519));
  EXPECT_TRUE(is_v3_error(cancel(cancel_body(id, "disabled-1")), 401, 519));
  EXPECT_EQ(sandbox_.snapshot(), before);
  // Credentials and signature are still checked first.
  EXPECT_TRUE(is_v3_error(create(create_body("disabled-3"), Signing::kNone), 401, 302));
  ASSERT_EQ(sandbox_.cli({"merchant", "enable", std::to_string(merchant_id_)}).exit_code, 0);
  EXPECT_TRUE(is_ok_json(cancel(cancel_body(id, "disabled-1")), kCanceled));
}

// ---- Business refusals with their exact messages ----

TEST_F(V3Test, BusinessRefusals) {
  ASSERT_FALSE(create_cashout("business-1").empty());
  const std::string before = sandbox_.snapshot();
  EXPECT_TRUE(is_v3_error(create(create_body("business-1")), 412, 511, "External ID already used"));
  // Whatever the body: this dialect has no replay.
  EXPECT_TRUE(is_v3_error(create(create_body("business-1").set("amount", "5.00")), 412, 511));
  EXPECT_TRUE(is_v3_error(
      create(create_body("business-2").set_string("currency", "USD").set("amount", "100.01")), 412,
      514, "Insufficient funds"));
  EXPECT_TRUE(is_v3_error(create(create_body("business-3").set("amount", "0.99")), 412, 533,
                          "Invalid Amount. The minimum amount is BRL 1.00"));
  EXPECT_TRUE(is_v3_error(create(create_body("business-4").set("amount", "5000.01")), 412, 508,
                          "Limit exceeded: TRANSACTION"));
  EXPECT_TRUE(is_v3_error(create(create_body("business-5").set_string("currency", "EUR")), 412,
                          526, "Invalid currency"));
  EXPECT_TRUE(is_v3_error(create(create_body("business-6").set_string("country", "AQ")), 412, 518,
                          "Country not available"));
  EXPECT_TRUE(is_v3_error(create(create_body("business-7").remove("email").remove("phone")), 412,
                          540, "Beneficiary email or phone is required"));
  EXPECT_TRUE(is_v3_error(create(create_body("business-8").set_string("bank_code", "1234567")),
                          412, 303, "Invalid bank code"));
  EXPECT_EQ(sandbox_.snapshot(), before);
  // Exactly at the limits is fine; the USD wallet can be emptied exactly.
  EXPECT_EQ(create(create_body("business-9").set("amount", "1.00")).status, 200);
  EXPECT_EQ(create(create_body("business-10").set("amount", "5000.00")).status, 200);
  EXPECT_EQ(create(create_body("business-11").set_string("currency", "USD").set("amount", "100"))
                .status,
            200);
  EXPECT_EQ(wallet_text("USD"), "0.00/100.00");
}

// ---- HTTP-level behaviour of the dialect ----

TEST_F(V3Test, KeepAliveAndServerProducedErrorsInV3Shape) {
  const std::string id = create_cashout("http-1");
  HttpClient client(server_->port());
  const std::string body = status_body(id).text();
  for (int i = 0; i < 3; ++i) {
    std::optional<HttpResponse> response = client.request(
        "POST", "/v3/cashout/status", body, {{"Payload-Signature", sign_hex(kSecretKey, body)}});
    ASSERT_TRUE(response.has_value());
    EXPECT_TRUE(is_ok_json(*response, kPending));
    EXPECT_TRUE(client.connected()) << "keep-alive connection closed after request " << i;
  }
  // Unknown path and wrong method under /v3: the v3 error shape.
  std::optional<HttpResponse> unknown = client.request("POST", "/v3/cashout/unknown", body);
  ASSERT_TRUE(unknown.has_value());
  EXPECT_TRUE(is_v3_error(*unknown, 404, 404));
  std::optional<HttpResponse> wrong_method = client.request("GET", "/v3/cashout", "");
  ASSERT_TRUE(wrong_method.has_value());
  EXPECT_TRUE(is_v3_error(*wrong_method, 405, 405));
  std::optional<HttpResponse> post_cancel = client.request("POST", "/v3/cashout/cancel", body);
  ASSERT_TRUE(post_cancel.has_value());
  EXPECT_TRUE(is_v3_error(*post_cancel, 405, 405));
  // Outside /v3 the default shape applies.
  std::optional<HttpResponse> elsewhere = client.request("GET", "/nowhere", "");
  ASSERT_TRUE(elsewhere.has_value());
  EXPECT_EQ(elsewhere->status, 404);
  EXPECT_NE(elsewhere->body.find("\"error\""), std::string::npos) << elsewhere->body;
  // A body over 64 KiB: 413 with the v3 "invalid body" code.
  std::optional<HttpResponse> too_large = http_request(
      server_->port(), "POST", "/v3/cashout", std::string(70000, ' '), {});
  ASSERT_TRUE(too_large.has_value());
  EXPECT_TRUE(is_v3_error(*too_large, 413, 502,
                          "Invalid request body - Please check that the JSON is well formatted"));
  // Malformed HTTP on a /v3 path: 400 with code 502.
  HttpClient raw(server_->port());
  std::optional<HttpResponse> malformed =
      raw.send_raw("POST /v3/cashout HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n");
  ASSERT_TRUE(malformed.has_value());
  EXPECT_EQ(malformed->status, 400);
}

TEST_F(V3Test, GarbageOnTheSocketNeverKillsTheServer) {
  const std::string attacks[] = {
      std::string("\x00\x01\x02\xff\xfe", 5),
      "DELETE /v3/cashout/cancel HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "zz\r\n{}\r\n0\r\n\r\n",
      "POST /v3/cashout HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{\"a\"",
      "POST /v3/cashout HTTP/1.1\r\nHost: x\r\n" + std::string(9000, 'X') + ": y\r\n\r\n",
      "PUT /v3/cashout/status HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]",
  };
  for (const std::string& attack : attacks) {
    HttpClient client(server_->port(), 1000);
    (void)client.send_raw(attack);  // any answer (or none) is fine; the server must survive
  }
  const std::string id = create_cashout("survivor-1");
  EXPECT_TRUE(is_ok_json(status(status_body(id)), kPending));
}

// ---- Rate limit ----

class V3RateLimitTest : public V3Test {
 protected:
  std::vector<std::string> server_arguments() const override {
    return {"--v3-rate-limit-per-second", "1", "--v3-rate-limit-burst", "2"};
  }
};

TEST_F(V3RateLimitTest, TooManyRequestsWithRetryAfter) {
  // The limiter runs on the sandbox's test clock: these requests all come at one time.
  const int64_t emptied_at = sandbox_.clock_micros();
  Body body = credentials_body().set_string("external_id", "nothing-yet");
  EXPECT_TRUE(is_v3_error(status(body), 412, 509));
  EXPECT_TRUE(is_v3_error(status(body), 412, 509));
  HttpResponse limited = status(body);
  EXPECT_TRUE(is_v3_error(limited, 429, 429, "Too many requests"));
  ASSERT_TRUE(limited.header("retry-after").has_value());
  EXPECT_EQ(*limited.header("retry-after"), "1");
  // Refused requests never reach the limiter: credentials and signature come first.
  EXPECT_TRUE(is_v3_error(send("POST", "/v3/cashout/status", body.text(), Signing::kNone), 401,
                          302));
  // Another merchant has its own bucket.
  std::string output;
  ASSERT_TRUE(sandbox_
                  .create_merchant("Second", imported_credentials("second_login", "p2", "k2"),
                                   &output)
                  .has_value())
      << output;
  Body second = body;
  second.set_string("login", "second_login").set_string("pass", "p2");
  EXPECT_TRUE(is_v3_error(send("POST", "/v3/cashout/status", second.text(), Signing::kValid, "k2"),
                          412, 509));
  // A token comes back exactly one second (1 per second) after the bucket emptied: one
  // microsecond before, the request is still refused, and told to come back in 1 s.
  sandbox_.set_clock_micros(emptied_at + 1'000'000 - 1);
  HttpResponse still_limited = status(body);
  EXPECT_TRUE(is_v3_error(still_limited, 429, 429, "Too many requests"));
  EXPECT_EQ(still_limited.header("retry-after").value_or("<none>"), "1");
  sandbox_.set_clock_micros(emptied_at + 1'000'000);
  EXPECT_TRUE(is_v3_error(status(body), 412, 509));
  // One token, and only one, came back.
  HttpResponse limited_again = status(body);
  EXPECT_TRUE(is_v3_error(limited_again, 429, 429, "Too many requests"));
  EXPECT_EQ(limited_again.header("retry-after").value_or("<none>"), "1");
}

// ---- Storage unavailable: 703 (create) and 702 (cancel) ----

TEST_F(V3Test, UnavailableStorageAnswers703And702) {
  const std::string id = create_cashout("locked-1");
  ASSERT_FALSE(id.empty());
  // Another process holds the database's write lock longer than the server's busy timeout (5 s).
  DatabaseLock lock(sandbox_);
  ASSERT_TRUE(lock.held()) << lock.output();

  auto create_future = std::async(std::launch::async, [&] {
    return send("POST", "/v3/cashout", create_body("locked-2").text());
  });
  auto cancel_future = std::async(std::launch::async, [&] {
    return send("DELETE", "/v3/cashout/cancel", cancel_body(id, "locked-1").text());
  });
  HttpResponse created = create_future.get();
  HttpResponse cancelled = cancel_future.get();
  EXPECT_EQ(lock.release(), 0) << lock.output();

  EXPECT_TRUE(is_v3_error(created, 500, 703, "Could not make the cashout"));
  EXPECT_TRUE(is_v3_error(cancelled, 500, 702, "Could not cancel cashout"));
  // Nothing happened; a retry succeeds.
  EXPECT_EQ(internal_status(id), "created");
  EXPECT_TRUE(is_ok_json(cancel(cancel_body(id, "locked-1")), kCanceled));
  EXPECT_EQ(create(create_body("locked-2")).status, 200);
}

}  // namespace
}  // namespace payoutd::testing::v3
