// Unit tests of the Cashouts API v3 dialect's pure parts: field validation, wire bodies, the rate
// limiter. The end-to-end behaviour is in test/integration/cashouts_v3_*_test.cc.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "commands/rate_limiter.h"
#include "api/cashouts_v3/validation.h"
#include "api/cashouts_v3/wire.h"
#include "json/value.h"

namespace payoutd::api::cashouts_v3 {
namespace {

using commands::RateLimit;
using commands::RateLimiter;
using commands::validate_rate_limit;
using commands::kMaxRateLimitPerSecond;
using commands::kMaxRateLimitBurst;

json::Value parse_object(std::string_view text) {
  Result<json::Value> parsed = json::parse(text);
  PAYOUTD_ASSERT(parsed.is_ok() && parsed->is_object());
  return std::move(parsed).value();
}

constexpr const char* kValidCreate =
    R"({"login":"l","pass":"p","external_id":"e-1","country":"BR","amount":100.10,)"
    R"("document_id":"123","beneficiary_name":"José","email":"a@b.co",)"
    R"("notification_url":"https://x.example/n"})";

// Replaces `"key":<old>` in kValidCreate by appending the member (the parser would refuse a
// duplicate key, so tests build bodies from this template with the member removed first).
std::string create_with(const std::string& member) {
  std::string body = kValidCreate;
  body.pop_back();
  return body + "," + member + "}";
}

TEST(CashoutsV3Validation, CountsCodePointsNotBytes) {
  EXPECT_EQ(count_characters(""), 0u);
  EXPECT_EQ(count_characters("abc"), 3u);
  EXPECT_EQ(count_characters("José Ñúñez"), 10u);
  EXPECT_EQ(count_characters("ключ"), 4u);
  EXPECT_EQ(count_characters("\xF0\x9F\x98\x80"), 1u);  // one emoji, four bytes
}

TEST(CashoutsV3Validation, ControlCharacters) {
  EXPECT_FALSE(has_control_characters("Rua Augusta 1000, São Paulo"));
  EXPECT_TRUE(has_control_characters(std::string("a\0b", 3)));
  EXPECT_TRUE(has_control_characters("a\tb"));
  EXPECT_TRUE(has_control_characters("a\x7f"));
  EXPECT_TRUE(has_control_characters("a\xC2\x85"));   // U+0085 NEXT LINE (C1)
  EXPECT_FALSE(has_control_characters("a\xC2\xA0"));  // U+00A0 NO-BREAK SPACE is not a control
}

TEST(CashoutsV3Validation, Emails) {
  const std::pair<const char*, bool> cases[] = {
      {"maria@example.com", true},     {"maria.silva+tag@mail.example.co", true},
      {"a@b.co", true},                {"o'neil@example.ie", true},
      {"maria@example", false},        {"@example.com", false},
      {"maria@", false},               {"maria@@example.com", false},
      {"ma@ria@example.com", false},   {"maria silva@example.com", false},
      {".maria@example.com", false},   {"maria.@example.com", false},
      {"ma..ria@example.com", false},  {"maria@-example.com", false},
      {"maria@example-.com", false},   {"maria@example..com", false},
      {"maria@exa_mple.com", false},   {"", false},
  };
  for (const auto& [email, valid] : cases) EXPECT_EQ(is_valid_email(email), valid) << email;
}

TEST(CashoutsV3Validation, Phones) {
  EXPECT_TRUE(is_valid_phone("+55 11 99999-9999"));
  EXPECT_TRUE(is_valid_phone("(011) 4444.5555"));
  EXPECT_TRUE(is_valid_phone("5"));
  EXPECT_FALSE(is_valid_phone("+-() ."));
  EXPECT_FALSE(is_valid_phone("call me"));
  EXPECT_FALSE(is_valid_phone("123x"));
}

TEST(CashoutsV3Validation, Birthdates) {
  const std::pair<const char*, bool> cases[] = {
      {"1990-05-17", true},  {"2000-02-29", true},  {"2024-02-29", true},
      {"1999-12-31", true},  {"1900-01-01", true},  {"1900-02-29", false},
      {"2023-02-29", false}, {"2001-02-30", false}, {"2001-04-31", false},
      {"2001-13-01", false}, {"2001-00-10", false}, {"2001-01-00", false},
      {"1899-12-31", false}, {"17/05/1990", false}, {"1990-5-17", false},
      {"1990-05-17T00:00", false}, {"199a-05-17", false}, {"", false},
  };
  for (const auto& [date, valid] : cases) EXPECT_EQ(is_valid_birthdate(date), valid) << date;
}

TEST(CashoutsV3Validation, Credentials) {
  EXPECT_TRUE(read_credentials(parse_object(R"({"login":"a","pass":"b"})")).has_value());
  const std::string login32(32, 'l');
  EXPECT_TRUE(read_credentials(parse_object("{\"login\":\"" + login32 + "\",\"pass\":\"p\"}")));
  const char* refused[] = {
      R"({"pass":"b"})",
      R"({"login":"a"})",
      R"({"login":1,"pass":"b"})",
      R"({"login":"a","pass":null})",
      R"({"login":"","pass":"b"})",
      R"({"login":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","pass":"b"})",  // 33
  };
  for (const char* body : refused) EXPECT_FALSE(read_credentials(parse_object(body))) << body;
}

TEST(CashoutsV3Validation, ValidCreateBecomesACompleteCommandInput) {
  Result<commands::CreatePayoutInput> input =
      parse_create_request(parse_object(kValidCreate), 7, false);
  ASSERT_TRUE(input.is_ok()) << input.status().to_string();
  EXPECT_EQ(input->merchant_id, 7);
  EXPECT_EQ(input->external_id, "e-1");
  EXPECT_EQ(input->country, "BR");
  EXPECT_EQ(input->currency, "BRL");  // the country's currency when none is given
  EXPECT_EQ(input->amount_minor, 10010);
  EXPECT_EQ(input->beneficiary.first_name, "José");
  EXPECT_EQ(input->beneficiary.country, "BR");
  EXPECT_EQ(input->beneficiary.email, "a@b.co");
  EXPECT_FALSE(input->beneficiary.phone.has_value());
  EXPECT_EQ(input->notification_url, "https://x.example/n");
  EXPECT_FALSE(input->on_hold);
  EXPECT_EQ(input->actor, Actor::kClient);
}

struct CreateCase {
  const char* name;
  std::string body;
  int code;
  const char* field;  // "" = any
};

TEST(CashoutsV3Validation, CreateRefusalsCarryTheirV3Code) {
  const std::string base = kValidCreate;
  const CreateCase cases[] = {
      {"unknown country", R"({"external_id":"e","country":"XX"})", 518, "country"},
      {"no payout currency", R"({"external_id":"e","country":"GS"})", 518, "country"},
      {"lower-case country", R"({"external_id":"e","country":"br"})", 300, "country"},
      {"unknown currency", R"({"external_id":"e","country":"BR","currency":"ZZZ"})", 526,
       "currency"},
      {"malformed currency", R"({"external_id":"e","country":"BR","currency":"R$"})", 300,
       "currency"},
      {"no email, no phone",
       R"({"external_id":"e","country":"BR","amount":1,"document_id":"1","beneficiary_name":"n"})",
       540, "email"},
      {"bank code too long", create_with(R"("phone":"1","bank_code":"ABCDEFG")"), 303,
       "bank_code"},
      {"bank code exponent", create_with(R"("bank_code":1e3)"), 303, "bank_code"},
      {"bank code object", create_with(R"("bank_code":{})"), 300, "bank_code"},
      {"on_hold string", create_with(R"("on_hold":"yes")"), 300, "on_hold"},
      {"amount 3 decimals in KWD",
       R"({"external_id":"e","country":"KW","amount":"1.005","document_id":"1",)"
       R"("beneficiary_name":"n","email":"a@b.co","notification_url":"http://h/"})",
       300, "amount"},
      {"amount 1 decimal in CLP",
       R"({"external_id":"e","country":"CL","amount":"10.5","document_id":"1",)"
       R"("beneficiary_name":"n","email":"a@b.co","notification_url":"http://h/"})",
       300, "amount"},
      // The first failing field in the documented order wins.
      {"first failure wins", R"({"external_id":7,"country":"br","amount":0})", 300,
       "external_id"},
  };
  for (const CreateCase& c : cases) {
    Result<commands::CreatePayoutInput> input =
        parse_create_request(parse_object(c.body), 1, false);
    ASSERT_FALSE(input.is_ok()) << c.name;
    EXPECT_EQ(input.status().kind(), ErrorKind::kInvalidArgument) << c.name;
    EXPECT_EQ(input.status().detail_code().value_or(300), c.code) << c.name;
    if (*c.field != '\0') {
      EXPECT_EQ(input.status().field(), c.field) << c.name;
    }
  }
}

TEST(CashoutsV3Validation, NotificationUrlMayBeOmittedOnlyWithAMerchantDefault) {
  const char* body =
      R"({"external_id":"e","country":"BR","amount":"5","document_id":"1",)"
      R"("beneficiary_name":"n","phone":"123"})";
  EXPECT_FALSE(parse_create_request(parse_object(body), 1, false).is_ok());
  Result<commands::CreatePayoutInput> with_default =
      parse_create_request(parse_object(body), 1, true);
  ASSERT_TRUE(with_default.is_ok()) << with_default.status().to_string();
  EXPECT_FALSE(with_default->notification_url.has_value());
  EXPECT_EQ(with_default->amount_minor, 500);
}

TEST(CashoutsV3Validation, StatusUpdateAndCancelRequests) {
  Result<StatusRequest> by_id = parse_status_request(parse_object(R"({"cashout_id":"11954"})"));
  ASSERT_TRUE(by_id.is_ok());
  EXPECT_EQ(by_id->cashout_id, 11954);
  EXPECT_FALSE(by_id->external_id.has_value());
  Result<StatusRequest> by_external =
      parse_status_request(parse_object(R"({"cashout_id":"","external_id":"x"})"));
  ASSERT_TRUE(by_external.is_ok());
  EXPECT_FALSE(by_external->cashout_id.has_value());
  EXPECT_EQ(by_external->external_id, "x");
  EXPECT_FALSE(parse_status_request(parse_object("{}")).is_ok());
  for (const char* id : {"0", "-1", "1.0", "1e3", "\"01\"", "9223372036854775808", "true"}) {
    EXPECT_FALSE(
        parse_status_request(parse_object(std::string(R"({"cashout_id":)") + id + "}")).is_ok())
        << id;
  }
  EXPECT_TRUE(
      parse_status_request(parse_object(R"({"cashout_id":9223372036854775807})")).is_ok());

  Result<UpdateStatusRequest> hold =
      parse_update_status_request(parse_object(R"({"cashout_id":5,"status":"ON_HOLD"})"));
  ASSERT_TRUE(hold.is_ok());
  EXPECT_EQ(hold->status, RequestedStatus::kOnHold);
  EXPECT_EQ(requested_v3_code(hold->status), 5);
  Result<UpdateStatusRequest> release =
      parse_update_status_request(parse_object(R"({"cashout_id":5,"status":"PENDING"})"));
  ASSERT_TRUE(release.is_ok());
  EXPECT_EQ(requested_v3_code(release->status), 0);
  EXPECT_FALSE(
      parse_update_status_request(parse_object(R"({"cashout_id":5,"status":"pending"})")).is_ok());
  EXPECT_FALSE(parse_update_status_request(parse_object(R"({"status":"PENDING"})")).is_ok());

  Result<CancelRequest> cancel =
      parse_cancel_request(parse_object(R"({"cashout_id":11954,"external_id":"cashoutID2134"})"));
  ASSERT_TRUE(cancel.is_ok());
  EXPECT_EQ(cancel->cashout_id, 11954);
  EXPECT_EQ(cancel->external_id, "cashoutID2134");
  EXPECT_FALSE(parse_cancel_request(parse_object(R"({"cashout_id":11954})")).is_ok());
  EXPECT_FALSE(parse_cancel_request(parse_object(R"({"external_id":"x"})")).is_ok());
}

// ---- Wire ----

TEST(CashoutsV3Wire, ValidationErrorMessages) {
  Status status = Status::invalid_argument("bank_account", "must be at most 30 characters");
  WireError error = validation_error(status);
  EXPECT_EQ(error.http_status, 412);
  EXPECT_EQ(error.code, 300);
  EXPECT_EQ(error.message, "Invalid params bank_account: must be at most 30 characters");
  status.with_detail_code(kCodeCountryNotAvailable);
  EXPECT_EQ(validation_error(status).message, "Country not available");
  EXPECT_EQ(validation_error(status).code, 518);
}

TEST(CashoutsV3Wire, Bodies) {
  EXPECT_EQ(created_body(8405147), R"({"cashout_id":"8405147"})");
  EXPECT_EQ(error_response_for(not_found_error()).body,
            R"({"code":509,"message":"Cashout not found with this ID"})");
  Payout payout;
  payout.status = PayoutStatus::kQueued;
  EXPECT_EQ(status_body(payout), R"({"cashout_status":0,"cashout_status_description":"Pending"})");
  payout.status = PayoutStatus::kFailed;
  payout.failure_code = 814;
  payout.failure_reason = "INVALID_PIX_KEY";
  payout.bank_reference_id = "";
  EXPECT_EQ(status_body(payout),
            R"({"cashout_status":3,"cashout_status_description":"Rejected","rejection_code":814,)"
            R"("rejection_reason":"INVALID_PIX_KEY"})");
  payout.status = PayoutStatus::kSettling;
  payout.bank_reference_id = "E2E";
  EXPECT_EQ(status_body(payout),
            R"({"cashout_status":4,"cashout_status_description":"Delivered",)"
            R"("bank_reference_id":"E2E"})");
}

TEST(CashoutsV3Wire, ServerErrorsOnV3Paths) {
  http::Response too_large = error_response(413, "/v3/cashout", "LimePay");
  EXPECT_EQ(too_large.status, 413);
  EXPECT_EQ(too_large.body,
            R"({"code":502,"message":"Invalid request body - Please check that the JSON is well formatted"})");
  EXPECT_EQ(error_response(400, "/v3/cashout").status, 400);
  EXPECT_EQ(error_response(404, "/v3/x", "LimePay").body,
            R"({"code":404,"message":"Unknown LimePay CASHOUTS API endpoint"})");
  EXPECT_EQ(error_response(503, "/v3/x", "LimePay").body,
            R"({"code":503,"message":"LimePay is temporarily unavailable. Please retry later"})");
  EXPECT_EQ(error_response(500, "/v3/x").status, 500);
  EXPECT_TRUE(is_v3_path("/v3"));
  EXPECT_TRUE(is_v3_path("/v3/cashout"));
  EXPECT_FALSE(is_v3_path("/v30/cashout"));
  EXPECT_FALSE(is_v3_path("/api/v1/payouts"));
}

// ---- Rate limiter ----

class ManualMonotonicClock {
 public:
  RateLimiter::MonotonicClock function() {
    return [this] { return now_micros.load(); };
  }
  std::atomic<int64_t> now_micros{1'000'000};
};

TEST(CashoutsV3RateLimiter, BurstThenRefillAtTheRate) {
  ManualMonotonicClock clock;
  RateLimiter limiter(RateLimit{2, 3}, clock.function());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.acquire(1).allowed) << i;
  RateLimiter::Decision refused = limiter.acquire(1);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_seconds, 1);
  EXPECT_TRUE(limiter.acquire(2).allowed) << "buckets are per merchant";
  clock.now_micros += 499'999;  // 2/s: one token needs 500 ms
  EXPECT_FALSE(limiter.acquire(1).allowed);
  clock.now_micros += 1;
  EXPECT_TRUE(limiter.acquire(1).allowed);
  EXPECT_FALSE(limiter.acquire(1).allowed);
  // A long pause refills to the burst, not beyond.
  clock.now_micros += 3'600'000'000;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.acquire(1).allowed) << i;
  EXPECT_FALSE(limiter.acquire(1).allowed);
}

TEST(CashoutsV3RateLimiter, RetryAfterRoundsUp) {
  ManualMonotonicClock clock;
  RateLimiter limiter(RateLimit{1, 1}, clock.function());
  EXPECT_TRUE(limiter.acquire(9).allowed);
  EXPECT_EQ(limiter.acquire(9).retry_after_seconds, 1);
  clock.now_micros += 999'999;
  EXPECT_EQ(limiter.acquire(9).retry_after_seconds, 1);  // 1 millionth of a token missing
  clock.now_micros += 1;
  EXPECT_TRUE(limiter.acquire(9).allowed);
}

TEST(CashoutsV3RateLimiter, ZeroMeansNoLimitAndBoundsAreChecked) {
  ManualMonotonicClock clock;
  RateLimiter unlimited(RateLimit{0, 1}, clock.function());
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(unlimited.acquire(1).allowed);
  EXPECT_TRUE(validate_rate_limit(RateLimit{1000, 2000}).is_ok());
  EXPECT_TRUE(validate_rate_limit(RateLimit{0, 0}).is_ok());
  EXPECT_FALSE(validate_rate_limit(RateLimit{-1, 1}).is_ok());
  EXPECT_FALSE(validate_rate_limit(RateLimit{1, 0}).is_ok());
  EXPECT_FALSE(validate_rate_limit(RateLimit{kMaxRateLimitPerSecond + 1, 1}).is_ok());
  EXPECT_FALSE(validate_rate_limit(RateLimit{1, kMaxRateLimitBurst + 1}).is_ok());
  // The largest limits do not overflow after a very long pause.
  RateLimiter largest(RateLimit{kMaxRateLimitPerSecond, kMaxRateLimitBurst}, clock.function());
  EXPECT_TRUE(largest.acquire(1).allowed);
  clock.now_micros += int64_t{1} << 60;
  EXPECT_TRUE(largest.acquire(1).allowed);
}

TEST(CashoutsV3RateLimiter, TrackedMerchantsAreBounded) {
  ManualMonotonicClock clock;
  RateLimiter limiter(RateLimit{1, 1}, clock.function());
  const auto limit = static_cast<int64_t>(RateLimiter::kMaxTrackedMerchants);
  for (int64_t merchant = 1; merchant <= limit; ++merchant) {
    ASSERT_TRUE(limiter.acquire(merchant).allowed);
  }
  EXPECT_FALSE(limiter.acquire(1).allowed);
  // Past the bound, with every bucket refilled, the old buckets are forgotten (same as full).
  clock.now_micros += 2'000'000;
  EXPECT_TRUE(limiter.acquire(limit + 1).allowed);
  EXPECT_TRUE(limiter.acquire(1).allowed);
  EXPECT_FALSE(limiter.acquire(1).allowed);
}

}  // namespace
}  // namespace payoutd::api::cashouts_v3
