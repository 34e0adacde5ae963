// Bad input, table-driven: every case gets its documented v3 code and HTTP status, and leaves the
// database exactly as it was (row counts of every table, sequences, balances, statuses).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "integration/v3_support.h"

namespace payoutd::testing::v3 {
namespace {

struct BadCase {
  std::string name;
  std::string method;
  std::string path;
  std::string body;  // raw bytes
  Signing signing = Signing::kValid;
  int http_status = 412;
  int code = 300;
  // Expected message prefix ("" = only the code is checked).
  std::string message_prefix;
};

constexpr const char* kInvalidBody =
    "Invalid request body - Please check that the JSON is well formatted";

std::string repeat(char c, size_t count) { return std::string(count, c); }

class V3BadInputTest : public V3Test {
 protected:
  void SetUp() override {
    V3Test::SetUp();
    if (HasFatalFailure()) return;
    existing_id_ = create_cashout("existing-1");
    cancelled_id_ = create_cashout("cancelled-1");
    ASSERT_FALSE(existing_id_.empty());
    ASSERT_FALSE(cancelled_id_.empty());
    ASSERT_EQ(cancel(cancel_body(cancelled_id_, "cancelled-1")).status, 200);
  }

  std::vector<BadCase> cases() const;

  std::string existing_id_;
  std::string cancelled_id_;
};

std::vector<BadCase> V3BadInputTest::cases() const {
  std::vector<BadCase> cases;
  const std::string create_path = "/v3/cashout";
  const std::string status_path = "/v3/cashout/status";
  const std::string cancel_path = "/v3/cashout/cancel";
  auto add = [&](std::string name, std::string method, std::string path, std::string body,
                 int http_status, int code, std::string message_prefix = "",
                 Signing signing = Signing::kValid) {
    cases.push_back(BadCase{std::move(name), std::move(method), std::move(path), std::move(body),
                            signing, http_status, code, std::move(message_prefix)});
  };
  // A create body with one member replaced (or removed when raw is empty).
  auto create_with = [](const std::string& key, const std::string& raw) {
    Body body = create_body("bad-input");
    if (raw.empty()) {
      body.remove(key);
    } else {
      body.set(key, raw);
    }
    return body.text();
  };
  auto invalid = [&](std::string name, const std::string& key, const std::string& raw) {
    add(std::move(name), "POST", create_path, create_with(key, raw), 412, 300,
        "Invalid params " + key + ": ");
  };
  const std::string valid = create_body("bad-input").text();

  // ---- The body is not a JSON object: 400 / 502 ----
  add("not JSON", "POST", create_path, "hello", 400, 502, kInvalidBody);
  add("empty body", "POST", create_path, "", 400, 502, kInvalidBody);
  add("JSON array", "POST", create_path, "[" + valid + "]", 400, 502, kInvalidBody);
  add("JSON string", "POST", create_path, "\"login\"", 400, 502);
  add("JSON number", "POST", status_path, "11954", 400, 502);
  add("JSON null", "DELETE", cancel_path, "null", 400, 502);
  add("truncated", "POST", create_path, valid.substr(0, valid.size() / 2), 400, 502);
  add("truncated by one byte", "DELETE", cancel_path,
      cancel_body(existing_id_, "existing-1").text().substr(0, 40), 400, 502);
  add("trailing garbage", "POST", create_path, valid + " x", 400, 502);
  add("two objects", "POST", status_path, status_body(existing_id_).text() + "{}", 400, 502);
  add("duplicate key login", "POST", status_path,
      R"({"login":"cashout_login","login":"other","pass":"cashout_pass","cashout_id":1})", 400,
      502);
  add("duplicate key amount", "POST", create_path,
      valid.substr(0, valid.size() - 1) + R"(,"amount":1})", 400, 502);
  add("deep nesting", "POST", create_path, create_with("extra", repeat('[', 40) + repeat(']', 40)),
      400, 502);
  add("raw NUL in a string", "POST", create_path,
      create_with("beneficiary_name", std::string("\"Ma\0ria\"", 8)), 400, 502);
  add("escaped NUL in a string", "POST", create_path,
      create_with("beneficiary_name", R"("Ma\u0000ria")"), 400, 502);
  add("invalid UTF-8 in a string", "POST", create_path,
      create_with("beneficiary_name", "\"Jos\xff\""), 400, 502);
  add("overlong UTF-8 encoding", "POST", create_path,
      create_with("city", "\"\xc0\xaf\""), 400, 502);
  add("lone surrogate escape", "POST", create_path, create_with("city", R"("\uD800")"), 400, 502);
  add("raw newline in a string", "POST", create_path, create_with("address", "\"a\nb\""), 400,
      502);
  add("single quotes", "POST", status_path, "{'login':'cashout_login'}", 400, 502);
  add("NaN amount", "POST", create_path, create_with("amount", "NaN"), 400, 502);
  add("leading zero number", "POST", create_path, create_with("amount", "0100"), 400, 502);

  // ---- Credentials: 401 / 401 ----
  const std::string credentials_message = "Invalid credentials";
  add("login missing", "POST", create_path, create_with("login", ""), 401, 401,
      credentials_message);
  add("pass missing", "POST", create_path, create_with("pass", ""), 401, 401);
  add("login 33 characters", "POST", create_path, create_with("login", json_string(repeat('a', 33))),
      401, 401);
  add("pass 33 characters", "POST", create_path, create_with("pass", json_string(repeat('p', 33))), 401,
      401);
  add("login is a number", "POST", create_path, create_with("login", "12345"), 401, 401);
  add("pass is an object", "POST", create_path, create_with("pass", "{}"), 401, 401);
  add("login is empty", "POST", create_path, create_with("login", "\"\""), 401, 401);
  add("login unknown", "POST", create_path, create_with("login", "\"someone_else\""), 401, 401);
  add("pass wrong", "POST", create_path, create_with("pass", "\"cashout_pasS\""), 401, 401);
  add("login with different case", "DELETE", cancel_path,
      cancel_body(existing_id_, "existing-1").set_string("login", "CASHOUT_LOGIN").text(), 401,
      401);

  // ---- Signature: 401 / 302 ----
  const std::string signature_message = "Invalid control string";
  add("missing signature", "POST", create_path, valid, 401, 302, signature_message,
      Signing::kNone);
  add("empty signature", "POST", create_path, valid, 401, 302, "", Signing::kEmptyValue);
  add("signature of another body", "POST", create_path, valid, 401, 302, "", Signing::kOtherBody);
  add("signature with another key", "DELETE", cancel_path,
      cancel_body(existing_id_, "existing-1").text(), 401, 302, "", Signing::kWrongKey);
  add("signature in Base64", "POST", create_path, valid, 401, 302, "", Signing::kBase64);
  add("signature truncated", "PUT", status_path,
      update_status_body(existing_id_, "ON_HOLD").text(), 401, 302, "", Signing::kTruncated);

  // ---- create: types, lengths, formats (412 / 300 unless noted) ----
  invalid("external_id missing", "external_id", "");
  invalid("external_id is a number", "external_id", "12345");
  invalid("external_id empty", "external_id", "\"\"");
  invalid("external_id 101 characters", "external_id", json_string(repeat('e', 101)));
  invalid("external_id with a control character", "external_id", R"("ext\u0001")");
  invalid("country missing", "country", "");
  invalid("country lower case", "country", "\"br\"");
  invalid("country 3 letters", "country", "\"BRA\"");
  invalid("country is a number", "country", "76");
  add("country unassigned", "POST", create_path, create_with("country", "\"XX\""), 412, 518,
      "Country not available");
  add("country without payout currency", "POST", create_path, create_with("country", "\"AQ\""),
      412, 518);
  invalid("currency 2 letters", "currency", "\"BR\"");
  invalid("currency lower case", "currency", "\"brl\"");
  invalid("currency is a number", "currency", "986");
  invalid("currency 4 letters", "currency", "\"BRLL\"");
  add("currency unknown", "POST", create_path, create_with("currency", "\"ABC\""), 412, 526,
      "Invalid currency");
  add("currency without a wallet", "POST", create_path, create_with("currency", "\"EUR\""), 412,
      526, "Invalid currency");
  invalid("amount missing", "amount", "");
  invalid("amount zero", "amount", "0");
  invalid("amount zero with decimals", "amount", "\"0.00\"");
  invalid("amount negative", "amount", "-5");
  invalid("amount negative string", "amount", "\"-5.00\"");
  invalid("amount 3 decimals", "amount", "1.005");
  invalid("amount 1e400", "amount", "1e400");
  invalid("amount 1e-400", "amount", "1e-400");
  invalid("amount abc", "amount", "\"abc\"");
  invalid("amount empty string", "amount", "\"\"");
  invalid("amount with spaces", "amount", "\" 100\"");
  invalid("amount with a comma", "amount", "\"100,00\"");
  invalid("amount boolean", "amount", "true");
  invalid("amount array", "amount", "[100]");
  invalid("amount object", "amount", R"({"value":100})");
  invalid("amount above the maximum", "amount", "100000000000000");
  invalid("amount 65 digits", "amount", json_string(repeat('9', 65)));
  invalid("document_id missing", "document_id", "");
  invalid("document_id is a number", "document_id", "84868168029");
  invalid("document_id 41 characters", "document_id", json_string(repeat('1', 41)));
  invalid("document_type 16 characters", "document_type", json_string(repeat('C', 16)));
  invalid("document_type is a number", "document_type", "1");
  invalid("beneficiary_name missing", "beneficiary_name", "");
  invalid("beneficiary_name 101 characters", "beneficiary_name", json_string(repeat('n', 101)));
  invalid("beneficiary_name 101 multibyte characters", "beneficiary_name",
          json_string([] {
            std::string text;
            for (int i = 0; i < 101; ++i) text += "ñ";
            return text;
          }()));
  invalid("beneficiary_name is an object", "beneficiary_name", R"({"first":"Maria"})");
  invalid("beneficiary_name with a tab", "beneficiary_name", R"("Ma\tria")");
  invalid("beneficiary_name with a C1 control", "beneficiary_name", R"("Ma\u0085ria")");
  invalid("beneficiary_name with DEL", "beneficiary_name", R"("Ma\u007fria")");
  invalid("beneficiary_lastname 101 characters", "beneficiary_lastname", json_string(repeat('l', 101)));
  invalid("beneficiary_lastname is a boolean", "beneficiary_lastname", "false");
  invalid("beneficiary_id is an object", "beneficiary_id", "{}");
  invalid("beneficiary_id 101 characters", "beneficiary_id", json_string(repeat('b', 101)));
  invalid("email without @", "email", "\"maria.example.com\"");
  invalid("email without a domain dot", "email", "\"maria@example\"");
  invalid("email with two @", "email", "\"ma@ria@example.com\"");
  invalid("email with a space", "email", "\"maria silva@example.com\"");
  invalid("email 101 characters", "email", json_string(repeat('m', 89) + "@example.com"));
  invalid("email is a number", "email", "42");
  invalid("phone 21 characters", "phone", json_string(repeat('1', 21)));
  invalid("phone with letters", "phone", "\"call me\"");
  invalid("phone is a number", "phone", "5511999999999");
  add("neither email nor phone", "POST", create_path,
      create_body("bad-input").remove("email").remove("phone").text(), 412, 540,
      "Beneficiary email or phone is required");
  add("email and phone empty", "POST", create_path,
      create_body("bad-input").set("email", "\"\"").set("phone", "null").text(), 412, 540);
  add("bank_code 7 characters", "POST", create_path, create_with("bank_code", "\"1234567\""), 412,
      303, "Invalid bank code");
  add("bank_code with a dash", "POST", create_path, create_with("bank_code", "\"12-4\""), 412, 303);
  add("bank_code decimal number", "POST", create_path, create_with("bank_code", "1.5"), 412, 303);
  add("bank_code negative number", "POST", create_path, create_with("bank_code", "-1"), 412, 303);
  add("bank_code 7 digit number", "POST", create_path, create_with("bank_code", "1234567"), 412,
      303);
  invalid("bank_code is a boolean", "bank_code", "true");
  invalid("bank_code is an array", "bank_code", "[1]");
  invalid("bank_account 31 characters", "bank_account", json_string(repeat('1', 31)));
  invalid("bank_account is a number", "bank_account", "123456789");
  invalid("bank_branch 16 characters", "bank_branch", json_string(repeat('1', 16)));
  invalid("account_type 2 characters", "account_type", "\"CC\"");
  invalid("account_type is a number", "account_type", "1");
  invalid("address 256 characters", "address", json_string(repeat('a', 256)));
  invalid("address with a newline escape", "address", R"("Rua A\n1000")");
  invalid("city 101 characters", "city", json_string(repeat('c', 101)));
  invalid("postal_code 21 characters", "postal_code", json_string(repeat('9', 21)));
  invalid("beneficiary_birthdate 30 February", "beneficiary_birthdate", "\"2001-02-30\"");
  invalid("beneficiary_birthdate 29 February of a common year", "beneficiary_birthdate",
          "\"2023-02-29\"");
  invalid("beneficiary_birthdate other format", "beneficiary_birthdate", "\"17/05/1990\"");
  invalid("beneficiary_birthdate month 13", "beneficiary_birthdate", "\"1990-13-01\"");
  invalid("beneficiary_birthdate is a number", "beneficiary_birthdate", "19900517");
  invalid("comments 201 characters", "comments", json_string(repeat('c', 201)));
  invalid("notification_url ftp", "notification_url", "\"ftp://merchant.example.com/n\"");
  invalid("notification_url relative", "notification_url", "\"/notify\"");
  invalid("notification_url without host", "notification_url", "\"https:///notify\"");
  invalid("notification_url 301 characters", "notification_url",
          json_string("https://merchant.example.com/" + repeat('n', 272)));
  invalid("notification_url is a number", "notification_url", "1");
  invalid("notification_url missing without a merchant default", "notification_url", "");
  invalid("on_hold is a string", "on_hold", "\"true\"");
  invalid("on_hold is a number", "on_hold", "1");

  // ---- create: business refusals that write nothing ----
  add("external_id already used", "POST", create_path,
      create_body("existing-1").text(), 412, 511, "External ID already used");
  add("insufficient funds", "POST", create_path,
      create_body("bad-input").set_string("currency", "USD").set("amount", "1000.00").text(), 412,
      514, "Insufficient funds");
  add("below the minimum amount", "POST", create_path, create_with("amount", "0.50"), 412, 533,
      "Invalid Amount. The minimum amount is BRL 1.00");
  add("above the transaction limit", "POST", create_path, create_with("amount", "6000"), 412, 508,
      "Limit exceeded: TRANSACTION");

  // ---- status ----
  add("status without any id", "POST", status_path, credentials_body().text(), 412, 300,
      "Invalid params cashout_id: ");
  add("status cashout_id abc", "POST", status_path, status_body("\"abc\"").text(), 412, 300);
  add("status cashout_id negative", "POST", status_path, status_body("-1").text(), 412, 300);
  add("status cashout_id zero", "POST", status_path, status_body("0").text(), 412, 300);
  add("status cashout_id decimal", "POST", status_path, status_body("1.5").text(), 412, 300);
  add("status cashout_id exponent", "POST", status_path, status_body("1e3").text(), 412, 300);
  add("status cashout_id leading zeros", "POST", status_path, status_body("\"0012\"").text(), 412,
      300);
  add("status cashout_id overflow", "POST", status_path,
      status_body("99999999999999999999").text(), 412, 300);
  add("status cashout_id boolean", "POST", status_path, status_body("true").text(), 412, 300);
  add("status external_id 101 characters", "POST", status_path,
      credentials_body().set("external_id", json_string(repeat('e', 101))).text(), 412, 300);
  add("status unknown cashout_id", "POST", status_path, status_body("987654").text(), 412, 509,
      "Cashout not found with this ID");
  add("status unknown external_id", "POST", status_path,
      credentials_body().set_string("external_id", "never-created").text(), 412, 509);
  add("status ids naming different cashouts", "POST", status_path,
      status_body(existing_id_).set_string("external_id", "cancelled-1").text(), 412, 509);

  // ---- PUT status ----
  add("PUT status missing", "PUT", status_path,
      status_body(existing_id_).text(), 412, 300, "Invalid params status: ");
  add("PUT status unknown value", "PUT", status_path,
      update_status_body(existing_id_, "CANCELED").text(), 412, 300);
  add("PUT status lower case", "PUT", status_path,
      update_status_body(existing_id_, "on_hold").text(), 412, 300);
  add("PUT status is a number", "PUT", status_path,
      status_body(existing_id_).set("status", "5").text(), 412, 300);
  add("PUT cashout_id missing", "PUT", status_path,
      credentials_body().set_string("status", "ON_HOLD").text(), 412, 300);
  add("PUT unknown cashout", "PUT", status_path, update_status_body("987654", "ON_HOLD").text(),
      412, 509);
  add("PUT on a cancelled cashout", "PUT", status_path,
      update_status_body(cancelled_id_, "ON_HOLD").text(), 400, 510, "Invalid status transition");

  // ---- cancel ----
  add("cancel external_id missing", "DELETE", cancel_path, status_body(existing_id_).text(), 412,
      300, "Invalid params external_id: ");
  add("cancel cashout_id missing", "DELETE", cancel_path,
      credentials_body().set_string("external_id", "existing-1").text(), 412, 300,
      "Invalid params cashout_id: ");
  add("cancel external_id is a number", "DELETE", cancel_path,
      status_body(existing_id_).set("external_id", "1").text(), 412, 300);
  add("cancel unknown cashout", "DELETE", cancel_path, cancel_body("987654", "existing-1").text(),
      412, 509, "Cashout not found with this ID");
  add("cancel mismatched external_id", "DELETE", cancel_path,
      cancel_body(existing_id_, "cancelled-1").text(), 412, 509);
  add("cancel already cancelled", "DELETE", cancel_path,
      cancel_body(cancelled_id_, "cancelled-1").text(), 412, 510, "Invalid status transition");

  // ---- Size ----
  add("65 KiB body", "POST", create_path,
      create_body("bad-input").set("padding", json_string(repeat('x', 65 * 1024))).text(), 413, 502,
      kInvalidBody);
  return cases;
}

TEST_F(V3BadInputTest, EveryCaseGetsItsCodeAndChangesNothing) {
  const std::vector<BadCase> table = cases();
  ASSERT_GE(table.size(), 80u);
  const std::string before = sandbox_.snapshot();
  ASSERT_NE(before.find("payouts|2"), std::string::npos) << before;
  for (const BadCase& bad : table) {
    SCOPED_TRACE(bad.name);
    HttpResponse response = send(bad.method, bad.path, bad.body, bad.signing);
    EXPECT_TRUE(is_v3_error(response, bad.http_status, bad.code));
    if (!bad.message_prefix.empty()) {
      std::optional<json::Value> body = parse_body(response.body);
      const json::Value* message = body ? body->find("message") : nullptr;
      ASSERT_TRUE(message != nullptr && message->is_string()) << response.body;
      EXPECT_EQ(message->as_string().rfind(bad.message_prefix, 0), 0u)
          << "message '" << message->as_string() << "' does not start with '"
          << bad.message_prefix << "'";
    }
    EXPECT_EQ(sandbox_.snapshot(), before) << "the database changed";
  }
  // And the server is still fine.
  EXPECT_TRUE(is_ok_json(status(status_body(existing_id_)),
                         R"({"cashout_status":0,"cashout_status_description":"Pending"})"));
}

}  // namespace
}  // namespace payoutd::testing::v3
