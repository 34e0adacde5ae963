// The v3 admission gate (commands/v3_gate.h): each refusal, and the order the checks run in —
// a request failing two checks is refused for the earlier one, and only an admitted or
// rate-limited request takes a token.
#include "commands/v3_gate.h"

#include "commands_fixture.h"
#include "crypto/hash.h"

namespace payoutd::testing {
namespace {

using commands::V3Admission;
using commands::V3Gate;
using commands::V3Refusal;
using commands::V3Request;

class V3GateTest : public CommandsFixture {
 protected:
  void SetUp() override {
    CommandsFixture::SetUp();
    if (HasFatalFailure()) return;
    commands::CreateMerchantInput input;
    input.name = "Gate";
    input.ip_allow = {"10.0.0.0/8"};
    input.v3_login = "gate-login";
    input.v3_pass = "gate-pass";
    input.v3_secret_key = "gate-secret";
    auto created = commands_->create_merchant(input);
    ASSERT_TRUE(created.is_ok()) << created.status().to_string();
    merchant_id_ = created->merchant.id;
    // Two tokens, refilled one per second on a clock of this test.
    gate_ = std::make_unique<V3Gate>(*commands_, commands::RateLimit{1, 2},
                                     [this] { return monotonic_micros_; });
  }

  V3Admission admit(std::string_view pass, std::string_view signature,
                    std::string_view address = "10.1.2.3") {
    const V3Request request{"gate-login", pass, body_, signature, address};
    Result<V3Admission> admission = gate_->admit(request);
    EXPECT_TRUE(admission.is_ok()) << admission.status().to_string();
    return admission.is_ok() ? *admission : V3Admission{};
  }

  const std::string body_ = R"({"login":"gate-login","pass":"gate-pass","external_id":"x"})";
  const std::string good_ = crypto::hex_lower(crypto::hmac_sha256("gate-secret", body_));
  int64_t merchant_id_ = 0;
  int64_t monotonic_micros_ = 1'000'000;
  std::unique_ptr<V3Gate> gate_;
};

TEST_F(V3GateTest, AdmitsWithThePrincipalAndItsKey) {
  V3Admission admission = admit("gate-pass", good_);
  ASSERT_TRUE(admission.admitted());
  ASSERT_TRUE(admission.principal.has_value());
  EXPECT_EQ(admission.principal->merchant.id, merchant_id_);
  EXPECT_EQ(admission.principal->secret_key, "gate-secret");
  // Upper-case hex is the same signature.
  EXPECT_TRUE(admit("gate-pass", crypto::hex_upper(crypto::hmac_sha256("gate-secret", body_))).admitted());
}

TEST_F(V3GateTest, EachCheckRefusesInTheSpecsOrder) {
  // Wrong pass and a bad signature and a foreign address: the credentials are checked first.
  EXPECT_EQ(admit("wrong", "00", "192.0.2.1").refusal, V3Refusal::kInvalidCredentials);
  EXPECT_EQ(admit("gate-pass", "00", "192.0.2.1").refusal, V3Refusal::kInvalidSignature);
  EXPECT_EQ(admit("gate-pass", "", "192.0.2.1").refusal, V3Refusal::kInvalidSignature);
  {
    const V3Request unsigned_request{"gate-login", "gate-pass", body_, std::nullopt, "10.1.2.3"};
    Result<V3Admission> admission = gate_->admit(unsigned_request);
    ASSERT_TRUE(admission.is_ok());
    EXPECT_EQ(admission->refusal, V3Refusal::kInvalidSignature);
  }
  EXPECT_EQ(admit("gate-pass", good_, "192.0.2.1").refusal, V3Refusal::kUnregisteredIp);
  EXPECT_EQ(admit("gate-pass", good_, "not an address").refusal, V3Refusal::kUnregisteredIp);
  ASSERT_TRUE(commands_->set_merchant_status(merchant_id_, MerchantStatus::kDisabled).is_ok());
  EXPECT_EQ(admit("gate-pass", good_, "192.0.2.1").refusal, V3Refusal::kUnregisteredIp);
  EXPECT_EQ(admit("gate-pass", good_).refusal, V3Refusal::kMerchantDisabled);
  EXPECT_FALSE(admit("gate-pass", good_).principal.has_value());
  // None of the refusals above took a token: both are still there.
  ASSERT_TRUE(commands_->set_merchant_status(merchant_id_, MerchantStatus::kActive).is_ok());
  EXPECT_TRUE(admit("gate-pass", good_).admitted());
  EXPECT_TRUE(admit("gate-pass", good_).admitted());
  V3Admission limited = admit("gate-pass", good_);
  EXPECT_EQ(limited.refusal, V3Refusal::kRateLimited);
  EXPECT_EQ(limited.retry_after_seconds, 1);
  EXPECT_FALSE(limited.principal.has_value());
  // A refused login spends no token either; a second later one is back.
  EXPECT_EQ(admit("wrong", good_).refusal, V3Refusal::kInvalidCredentials);
  monotonic_micros_ += 1'000'000;
  EXPECT_TRUE(admit("gate-pass", good_).admitted());
  EXPECT_EQ(admit("gate-pass", good_).refusal, V3Refusal::kRateLimited);
}

TEST_F(V3GateTest, AnUnknownLoginIsInvalidCredentials) {
  const V3Request request{"nobody", "gate-pass", body_, std::string_view(good_), "10.1.2.3"};
  Result<V3Admission> admission = gate_->admit(request);
  ASSERT_TRUE(admission.is_ok());
  EXPECT_EQ(admission->refusal, V3Refusal::kInvalidCredentials);
}

}  // namespace
}  // namespace payoutd::testing
