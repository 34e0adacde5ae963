#include "commands/v1_login_gate.h"

#include <utility>

namespace payoutd::commands {

V1LoginGate::V1LoginGate(Commands& commands, LoginThrottleOptions options)
    : commands_(commands), throttle_(commands.clock(), options) {}

Result<V1LoginAdmission> V1LoginGate::admit(const V1LoginRequest& request) {
  const LoginThrottle::Decision decision = throttle_.check(request.remote_address, request.username);
  if (!decision.allowed) {
    PAYOUTD_ASSERT(decision.retry_after_seconds >= 1);
    return V1LoginAdmission::refused(V1LoginRefusal::kThrottled, decision.retry_after_seconds);
  }
  if (request.username.size() > kMaxCredentialChars ||
      request.password.size() > kMaxCredentialChars) {
    throttle_.record_failure(request.remote_address, request.username);
    return V1LoginAdmission::refused(V1LoginRefusal::kInvalidCredentials);
  }
  Result<Merchant> merchant = commands_.authenticate_v1(request.username, request.password);
  if (!merchant.is_ok()) {
    if (merchant.status().kind() != ErrorKind::kUnauthenticated) return std::move(merchant).status();
    throttle_.record_failure(request.remote_address, request.username);
    return V1LoginAdmission::refused(V1LoginRefusal::kInvalidCredentials);
  }
  // The right password of a disabled merchant is not a guess: it counts as no failure, and
  // clears nothing either.
  if (merchant->status != MerchantStatus::kActive) {
    return V1LoginAdmission::refused(V1LoginRefusal::kMerchantDisabled);
  }
  throttle_.record_success(request.username);
  V1LoginAdmission admission;
  admission.merchant = std::move(merchant).value();
  return admission;
}

}  // namespace payoutd::commands
