// The admission of a Payouts API v1 login (POST /auth/login): one call that checks, in order, the
// login throttle (429), the credentials (401; an over-long one counts as a failure without a
// lookup) and the merchant enabled (403), records the attempt with the throttle, and answers the
// merchant or the refusal. The dialect reads username/password out of the body and maps the
// refusal to its wire form.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "commands/commands.h"
#include "commands/login_throttle.h"
#include "core/status.h"

namespace payoutd::commands {

struct V1LoginRequest {
  std::string_view username;
  std::string_view password;
  std::string_view remote_address;  // the client's address
};

// In the order the checks run.
enum class V1LoginRefusal : uint8_t {
  kNone = 0,            // admitted
  kThrottled,           // retry_after_seconds >= 1
  kInvalidCredentials,  // unknown username, wrong or over-long password
  kMerchantDisabled,
};

struct V1LoginAdmission {
  V1LoginRefusal refusal = V1LoginRefusal::kNone;
  int64_t retry_after_seconds = 0;
  std::optional<Merchant> merchant;  // exactly when admitted

  bool admitted() const { return refusal == V1LoginRefusal::kNone; }
  static V1LoginAdmission refused(V1LoginRefusal why, int64_t retry_after = 0) {
    V1LoginAdmission admission;
    admission.refusal = why;
    admission.retry_after_seconds = retry_after;
    return admission;
  }
};

class V1LoginGate {
 public:
  static constexpr size_t kMaxCredentialChars = 256;

  // `commands` outlives the gate; the throttle runs on its clock.
  V1LoginGate(Commands& commands, LoginThrottleOptions options);
  V1LoginGate(const V1LoginGate&) = delete;
  V1LoginGate& operator=(const V1LoginGate&) = delete;

  // A refusal is a value; an error Status only for what is no answer (the store unavailable).
  Result<V1LoginAdmission> admit(const V1LoginRequest& request);

 private:
  Commands& commands_;
  LoginThrottle throttle_;
};

}  // namespace payoutd::commands
