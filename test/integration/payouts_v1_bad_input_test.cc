// Payouts API v1: bad input, table-driven. Every case gets its documented error (status, error
// name, message, and the field named in "details" for validation errors), and the database is
// byte-for-byte unchanged afterwards (snapshot of every table's row count, every balance, every
// payout's status).
#include <gtest/gtest.h>

#include "integration/v1_support.h"

namespace payoutd::testing::v1 {
namespace {

// A JSON object built from raw member texts, in order, so any member can hold anything.
class RawBody {
 public:
  RawBody& set(const std::string& key, std::string raw_json) {
    for (auto& member : members_) {
      if (member.first == key) {
        member.second = std::move(raw_json);
        return *this;
      }
    }
    members_.emplace_back(key, std::move(raw_json));
    return *this;
  }
  RawBody& remove(const std::string& key) {
    std::erase_if(members_, [&](const auto& member) { return member.first == key; });
    return *this;
  }
  std::string text() const {
    std::string out = "{";
    for (size_t i = 0; i < members_.size(); ++i) {
      if (i > 0) out += ",";
      out += "\"" + members_[i].first + "\":" + members_[i].second;
    }
    return out + "}";
  }

 private:
  std::vector<std::pair<std::string, std::string>> members_;
};

constexpr std::string_view kValidBeneficiary =
    R"({"email":"john.doe@example.com","first_name":"John","last_name":"Doe","country":"US"})";

RawBody valid_body(int64_t wallet_id) {
  RawBody body;
  body.set("reference_id", "\"BAD-INPUT-1\"")
      .set("wallet_id", std::to_string(wallet_id))
      .set("amount", "100.00")
      .set("currency", "\"USD\"")
      .set("beneficiary", std::string(kValidBeneficiary))
      .set("description", "\"Bonus Payment\"")
      .set("metadata", R"({"order":"A-1"})");
  return body;
}

std::string beneficiary_with(const std::string& key, const std::string& raw) {
  RawBody beneficiary;
  beneficiary.set("email", "\"john.doe@example.com\"")
      .set("first_name", "\"John\"")
      .set("last_name", "\"Doe\"")
      .set("country", "\"US\"");
  if (raw.empty()) {
    beneficiary.remove(key);
  } else {
    beneficiary.set(key, raw);
  }
  return beneficiary.text();
}

std::string quoted(const std::string& text) { return "\"" + text + "\""; }

struct Case {
  std::string name;
  std::string method;
  std::string target;
  std::string body;
  int status;
  std::string error;    // "error" member
  std::string message;  // exact message, or a prefix when it ends with '*'
  std::string field;    // a "details" entry with this field must exist ("" = no details)
  Headers headers = {};
  bool authenticated = true;
};

class V1BadInputTest : public V1Test {};

TEST_F(V1BadInputTest, EveryBadInputGetsItsDocumentedErrorAndChangesNothing) {
  const V1Merchant merchant = add_merchant("bad_input", "1000.00", "1.50");
  ASSERT_TRUE(sandbox_.fund_wallet(merchant.id, "EUR", "10.00"));
  const std::string token = login(merchant).access;
  const int64_t wallet = merchant.usd_wallet_id;
  // One existing payout so that listings and replays have something to look at.
  ASSERT_FALSE(create_payout(token, wallet, "EXISTING-1").empty());
  auto create = [&](const std::string& name, const std::string& body, const std::string& field,
                    const std::string& message = "Validation failed") {
    return Case{name, "POST", "/api/v1/payouts", body, 400, "BadRequest", message, field};
  };
  auto body_error = [&](const std::string& name, const std::string& body,
                        const std::string& message) {
    return Case{name, "POST", "/api/v1/payouts", body, 400, "BadRequest", message, ""};
  };
  auto with = [&](const std::string& key, const std::string& raw) {
    return valid_body(wallet).set(key, raw).text();
  };
  auto without = [&](const std::string& key) { return valid_body(wallet).remove(key).text(); };
  auto list = [&](const std::string& name, const std::string& query, const std::string& field) {
    return Case{name, "GET", "/api/v1/payouts?" + query, "", 400, "BadRequest",
                "Invalid query parameters", field};
  };
  const std::string valid = valid_body(wallet).text();
  std::string metadata_51 = "{";
  for (int i = 0; i < 51; ++i) metadata_51 += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":1";
  metadata_51 += "}";
  std::string deep = std::string(40, '[') + std::string(40, ']');
  const std::string flat_without_last_name =
      valid_body(wallet)
          .remove("beneficiary")
          .set("beneficiary_email", "\"a@b.co\"")
          .set("beneficiary_first_name", "\"A\"")
          .text();

  const std::vector<Case> cases = {
      // -- Not JSON, not an object --
      body_error("truncated JSON", "{\"reference_id\":", "Invalid JSON body*"),
      body_error("empty body", "", "Invalid JSON body*"),
      body_error("whitespace body", "   ", "Invalid JSON body*"),
      body_error("array body", "[]", "Request body must be a JSON object"),
      body_error("string body", "\"payout\"", "Request body must be a JSON object"),
      body_error("null body", "null", "Request body must be a JSON object"),
      body_error("trailing garbage", valid + " x", "Invalid JSON body*"),
      body_error("two documents", valid + valid, "Invalid JSON body*"),
      body_error("duplicate key", "{\"amount\":1," + valid.substr(1), "Invalid JSON body*"),
      body_error("invalid UTF-8 in a value", with("description", "\"caf\xC3\""),
                 "Invalid JSON body*"),
      body_error("invalid UTF-8 in a key", "{\"\xFF\":1," + valid.substr(1), "Invalid JSON body*"),
      body_error("overlong UTF-8", with("description", "\"\xC0\xAF\""), "Invalid JSON body*"),
      body_error("lone surrogate escape", with("description", "\"\\uD800\""),
                 "Invalid JSON body*"),
      body_error("NUL escape", with("description", "\"a\\u0000b\""), "Invalid JSON body*"),
      body_error("single quotes", "{'reference_id':'x'}", "Invalid JSON body*"),
      body_error("nesting too deep", with("metadata", deep), "Invalid JSON body*"),
      body_error("NaN amount", with("amount", "NaN"), "Invalid JSON body*"),
      // -- reference_id --
      create("reference_id missing", without("reference_id"), "reference_id"),
      create("reference_id null", with("reference_id", "null"), "reference_id"),
      create("reference_id number", with("reference_id", "123"), "reference_id"),
      create("reference_id empty", with("reference_id", "\"\""), "reference_id"),
      create("reference_id blank", with("reference_id", "\"   \""), "reference_id"),
      create("reference_id too long", with("reference_id", quoted(std::string(101, 'r'))),
             "reference_id"),
      create("reference_id control character", with("reference_id", "\"a\\nb\""), "reference_id"),
      // -- wallet_id --
      create("wallet_id missing", without("wallet_id"), "wallet_id"),
      create("wallet_id string", with("wallet_id", quoted(std::to_string(wallet))), "wallet_id"),
      create("wallet_id zero", with("wallet_id", "0"), "wallet_id"),
      create("wallet_id negative", with("wallet_id", "-1"), "wallet_id"),
      create("wallet_id fraction", with("wallet_id", "1.5"), "wallet_id"),
      create("wallet_id exponent", with("wallet_id", "1e2"), "wallet_id"),
      create("wallet_id overflow", with("wallet_id", "99999999999999999999"), "wallet_id"),
      create("wallet_id boolean", with("wallet_id", "true"), "wallet_id"),
      // -- amount --
      create("amount missing", without("amount"), "amount"),
      create("amount too precise", with("amount", "100.001"), "amount"),
      create("amount too precise as string", with("amount", "\"0.005\""), "amount"),
      create("amount zero", with("amount", "0"), "amount"),
      create("amount negative zero", with("amount", "-0.00"), "amount"),
      create("amount negative", with("amount", "-5.00"), "amount"),
      create("amount not a number", with("amount", "\"abc\""), "amount"),
      create("amount boolean", with("amount", "true"), "amount"),
      create("amount object", with("amount", "{}"), "amount"),
      create("amount huge exponent", with("amount", "1e400"), "amount"),
      create("amount tiny exponent", with("amount", "\"1e-3\""), "amount"),
      create("amount above the maximum", with("amount", "100000000000.01"), "amount"),
      create("amount with spaces", with("amount", "\" 100.00\""), "amount"),
      create("amount with plus sign", with("amount", "\"+5\""), "amount"),
      create("amount with comma", with("amount", "\"100,00\""), "amount"),
      // -- currency --
      create("currency missing", without("currency"), "currency"),
      create("currency lower case", with("currency", "\"usd\""), "currency"),
      create("currency unknown", with("currency", "\"XYZ\""), "currency"),
      create("currency numeric", with("currency", "840"), "currency"),
      create("currency differs from the wallet's", with("currency", "\"EUR\""), "currency"),
      // -- beneficiary --
      create("beneficiary missing", without("beneficiary"), "beneficiary_email"),
      create("beneficiary not an object", with("beneficiary", "\"John Doe\""), "beneficiary"),
      create("beneficiary array", with("beneficiary", "[]"), "beneficiary"),
      create("beneficiary email missing", with("beneficiary", beneficiary_with("email", "")),
             "beneficiary.email"),
      create("beneficiary email invalid",
             with("beneficiary", beneficiary_with("email", "\"not-an-email\"")),
             "beneficiary.email"),
      create("beneficiary email two @",
             with("beneficiary", beneficiary_with("email", "\"a@b@c.com\"")), "beneficiary.email"),
      create("beneficiary first_name missing",
             with("beneficiary", beneficiary_with("first_name", "")), "beneficiary.first_name"),
      create("beneficiary first_name blank",
             with("beneficiary", beneficiary_with("first_name", "\"   \"")),
             "beneficiary.first_name"),
      create("beneficiary last_name too long",
             with("beneficiary", beneficiary_with("last_name", quoted(std::string(101, 'x')))),
             "beneficiary.last_name"),
      create("beneficiary last_name number",
             with("beneficiary", beneficiary_with("last_name", "7")), "beneficiary.last_name"),
      create("beneficiary country three letters",
             with("beneficiary", beneficiary_with("country", "\"USA\"")), "beneficiary.country"),
      create("beneficiary country lower case",
             with("beneficiary", beneficiary_with("country", "\"us\"")), "beneficiary.country"),
      create("beneficiary country unknown",
             with("beneficiary", beneficiary_with("country", "\"ZZ\"")), "beneficiary.country"),
      create("beneficiary phone letters",
             with("beneficiary", beneficiary_with("phone", "\"call me\"")), "beneficiary.phone"),
      create("beneficiary object and flat fields", with("beneficiary_email", "\"a@b.co\""),
             "beneficiary"),
      create("flat beneficiary without last name", flat_without_last_name,
             "beneficiary_last_name"),
      create("identifiers not an object", with("beneficiary_identifiers", "[\"1\"]"),
             "beneficiary_identifiers"),
      create("identifiers unknown key", with("beneficiary_identifiers", R"({"iban":"X"})"),
             "beneficiary_identifiers.iban"),
      create("identifiers number value", with("beneficiary_identifiers", R"({"bank_code":1})"),
             "beneficiary_identifiers.bank_code"),
      // -- description, metadata --
      create("description too long", with("description", quoted(std::string(256, 'd'))),
             "description"),
      create("description number", with("description", "5"), "description"),
      create("metadata array", with("metadata", "[]"), "metadata"),
      create("metadata string", with("metadata", "\"x\""), "metadata"),
      create("metadata too many keys", with("metadata", metadata_51), "metadata"),
      create("metadata value too long",
             with("metadata", "{\"note\":" + quoted(std::string(501, 'm')) + "}"), "metadata.note"),
      create("metadata nested object", with("metadata", R"({"a":{"b":1}})"), "metadata.a"),
      create("metadata empty key", with("metadata", R"({"":1})"), "metadata"),
      // -- business refusals (documented errors, nothing written) --
      Case{"unknown wallet", "POST", "/api/v1/payouts", with("wallet_id", "999999"), 404,
           "NotFound", "Wallet not found", ""},
      Case{"insufficient balance", "POST", "/api/v1/payouts", with("amount", "2000.00"), 400,
           "BadRequest", "insufficient wallet balance", ""},
      Case{"reference reused with another body", "POST", "/api/v1/payouts",
           valid_body(wallet).set("reference_id", "\"EXISTING-1\"").text(), 409, "Conflict",
           "reference_id already used with a different request", ""},
      Case{"Idempotency-Key too short", "POST", "/api/v1/payouts", valid, 400, "BadRequest",
           "Validation failed", "Idempotency-Key", {{"Idempotency-Key", "1234567"}}},
      Case{"Idempotency-Key not ASCII", "POST", "/api/v1/payouts", valid, 400, "BadRequest",
           "Validation failed", "Idempotency-Key", {{"Idempotency-Key", "key-\xC3\xA9-12345"}}},
      Case{"body over 64 KiB", "POST", "/api/v1/payouts",
           with("description", quoted(std::string(70000, 'x'))), 413, "PayloadTooLarge",
           "Request body too large", ""},
      Case{"no token", "POST", "/api/v1/payouts", valid, 401, "UnauthorizedAccess",
           "Authentication required", "", {}, false},
      // -- list query parameters --
      list("page zero", "page=0", "page"),
      list("page negative", "page=-1", "page"),
      list("page not a number", "page=abc", "page"),
      list("page with leading zero", "page=01", "page"),
      list("limit zero", "limit=0", "limit"),
      list("limit 1000", "limit=1000", "limit"),
      list("limit 101", "limit=101", "limit"),
      list("unknown status filter", "status=pending", "status"),
      list("internal status name", "status=on_hold", "status"),
      list("sort_by unknown", "sort_by=name", "sort_by"),
      list("sort_order unknown", "sort_order=up", "sort_order"),
      list("created_from not a date", "created_from=yesterday", "created_from"),
      list("created_to invalid month", "created_to=2024-13-01T00:00:00Z", "created_to"),
      list("created_from after created_to",
           "created_from=2024-02-01T00:00:00Z&created_to=2024-01-01T00:00:00Z", "created_from"),
      list("currency unknown", "currency=XXX", "currency"),
      list("client_id not a number", "client_id=abc", "client_id"),
      list("page given twice", "page=1&page=2", "page"),
      list("search invalid UTF-8", "search=%FF%FE", "search"),
      list("reference_id control character", "reference_id=a%00b", "reference_id"),
      list("malformed percent-encoding", "search=%ZZ", "query"),
      Case{"transaction type unknown", "GET", "/api/v1/transactions?type=FEE", "", 400,
           "BadRequest", "Invalid query parameters", "type"},
      Case{"transaction_type unknown", "GET", "/api/v1/transactions?transaction_type=BOTH", "",
           400, "BadRequest", "Invalid query parameters", "transaction_type"},
      Case{"transactions wallet_id not a number", "GET", "/api/v1/transactions?wallet_id=x", "",
           400, "BadRequest", "Invalid query parameters", "wallet_id"},
      Case{"wallets limit zero", "GET", "/api/v1/wallets?limit=0", "", 400, "BadRequest",
           "Invalid query parameters", "limit"},
      // -- cancel and login --
      Case{"cancel with empty id", "POST", "/api/v1/payouts//cancel", "", 400, "BadRequest",
           "Payout ID is required", ""},
      Case{"get with empty id", "GET", "/api/v1/payouts/", "", 400, "BadRequest",
           "Payout ID is required", ""},
      Case{"login not JSON", "POST", "/auth/login", "username=a&password=b", 400,
           "validation_error", "Username and password are required", "", {}, false},
      Case{"login password number", "POST", "/auth/login",
           "{\"username\":\"" + merchant.username + "\",\"password\":123}", 400,
           "validation_error", "Username and password are required", "", {}, false},
      Case{"refresh without token", "POST", "/auth/refresh", "{\"refresh_token\":5}", 400,
           "validation_error", "Refresh token is required", "", {}, false},
  };
  ASSERT_GE(cases.size(), 60u);

  const std::string before = sandbox_.snapshot();
  for (const Case& test : cases) {
    SCOPED_TRACE(test.name);
    Headers headers = test.headers;
    if (test.authenticated) headers.emplace_back("Authorization", "Bearer " + token);
    HttpResponse response = send(test.method, test.target, test.body, headers);
    const bool prefix = !test.message.empty() && test.message.back() == '*';
    EXPECT_TRUE(is_v1_error(response, test.status, test.error,
                            prefix ? std::nullopt : std::optional<std::string_view>(test.message),
                            !test.field.empty()));
    std::optional<json::Value> body = parse_json(response.body);
    ASSERT_TRUE(body.has_value()) << response.body;
    if (prefix) {
      EXPECT_EQ(member_text(*body, "message").rfind(test.message.substr(0, test.message.size() - 1),
                                                    0),
                0u)
          << response.body;
    }
    if (!test.field.empty()) {
      const json::Value* details = body->find("details");
      ASSERT_TRUE(details != nullptr && details->is_array()) << response.body;
      bool found = false;
      for (const json::Value& detail : details->items()) {
        found = found || member_text(detail, "field") == test.field;
        EXPECT_NE(member_text(detail, "message"), "<absent>");
      }
      EXPECT_TRUE(found) << "no detail for " << test.field << ": " << response.body;
    }
    EXPECT_EQ(sandbox_.snapshot(), before) << "the database changed";
  }

  // All the errors of one body come back together.
  HttpResponse many = send("POST", "/api/v1/payouts",
                           "{\"reference_id\":\"\",\"wallet_id\":\"x\",\"amount\":0,"
                           "\"currency\":\"usd\"}",
                           {{"Authorization", "Bearer " + token}});
  std::optional<json::Value> many_body = parse_json(many.body);
  ASSERT_TRUE(many_body.has_value());
  EXPECT_GE(many_body->find("details")->items().size(), 5u) << many.body;

  // And the valid body, after all that, still creates exactly one payout.
  HttpResponse created = send("POST", "/api/v1/payouts", valid, {{"Authorization", "Bearer " + token}});
  EXPECT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(sandbox_.sql("SELECT count(*) FROM payouts;"), "2\n");
}

}  // namespace
}  // namespace payoutd::testing::v1
