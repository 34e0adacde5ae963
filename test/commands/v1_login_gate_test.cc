// The v1 login gate (commands/v1_login_gate.h): the refusals in their order, and what each
// records with the throttle.
#include "commands/v1_login_gate.h"

#include "commands_fixture.h"

namespace payoutd::testing {
namespace {

using commands::V1LoginAdmission;
using commands::V1LoginGate;
using commands::V1LoginRefusal;
using commands::V1LoginRequest;

class V1LoginGateTest : public CommandsFixture {
 protected:
  void SetUp() override {
    CommandsFixture::SetUp();
    if (HasFatalFailure()) return;
    commands::CreateMerchantInput input;
    input.name = "Login";
    auto created = commands_->create_merchant(input);
    ASSERT_TRUE(created.is_ok()) << created.status().to_string();
    merchant_id_ = created->merchant.id;
    username_ = created->credentials.api_username;
    password_ = created->credentials.api_password;
    commands::LoginThrottleOptions options;
    options.max_failures_per_username = 3;
    options.max_failures_per_address = 5;
    options.window_micros = 60'000'000;
    gate_ = std::make_unique<V1LoginGate>(*commands_, options);
  }

  V1LoginAdmission admit(std::string_view username, std::string_view password,
                         std::string_view address = "192.0.2.1") {
    Result<V1LoginAdmission> admission =
        gate_->admit(V1LoginRequest{username, password, address});
    EXPECT_TRUE(admission.is_ok()) << admission.status().to_string();
    return admission.is_ok() ? *admission : V1LoginAdmission{};
  }

  int64_t merchant_id_ = 0;
  std::string username_;
  std::string password_;
  std::unique_ptr<V1LoginGate> gate_;
};

TEST_F(V1LoginGateTest, AdmitsWithTheMerchant) {
  V1LoginAdmission admission = admit(username_, password_);
  ASSERT_TRUE(admission.admitted());
  ASSERT_TRUE(admission.merchant.has_value());
  EXPECT_EQ(admission.merchant->id, merchant_id_);
}

TEST_F(V1LoginGateTest, FailuresThrottleTheUsernameAndTheRightPasswordWaitsToo) {
  EXPECT_EQ(admit(username_, "wrong").refusal, V1LoginRefusal::kInvalidCredentials);
  EXPECT_EQ(admit(username_, std::string(V1LoginGate::kMaxCredentialChars + 1, 'x')).refusal,
            V1LoginRefusal::kInvalidCredentials);  // over-long: a failure, no lookup
  EXPECT_EQ(admit(username_, "wrong", "192.0.2.2").refusal, V1LoginRefusal::kInvalidCredentials);
  // Three failures for the username: refused before the credentials are looked at.
  V1LoginAdmission throttled = admit(username_, password_, "198.51.100.7");
  EXPECT_EQ(throttled.refusal, V1LoginRefusal::kThrottled);
  EXPECT_GE(throttled.retry_after_seconds, 1);
  EXPECT_LE(throttled.retry_after_seconds, 60);
  EXPECT_FALSE(throttled.merchant.has_value());
  // Once the window has passed, the right password is admitted and clears the username.
  clock_.advance_micros(60'000'001);
  EXPECT_TRUE(admit(username_, password_).admitted());
  EXPECT_EQ(admit(username_, "wrong").refusal, V1LoginRefusal::kInvalidCredentials);
  EXPECT_TRUE(admit(username_, password_).admitted());
}

TEST_F(V1LoginGateTest, ADisabledMerchantIsRefusedAfterItsCredentials) {
  ASSERT_TRUE(commands_->set_merchant_status(merchant_id_, MerchantStatus::kDisabled).is_ok());
  EXPECT_EQ(admit(username_, "wrong").refusal, V1LoginRefusal::kInvalidCredentials);
  EXPECT_EQ(admit(username_, password_).refusal, V1LoginRefusal::kMerchantDisabled);
  EXPECT_EQ(admit("nobody", password_).refusal, V1LoginRefusal::kInvalidCredentials);
}

}  // namespace
}  // namespace payoutd::testing
