#include "commands/v3_gate.h"

#include <utility>

#include "crypto/hash.h"

namespace payoutd::commands {

V3Gate::V3Gate(Commands& commands, RateLimit limit, RateLimiter::MonotonicClock clock)
    : commands_(commands), limiter_(limit, std::move(clock)) {}

Result<V3Admission> V3Gate::admit(const V3Request& request) {
  Result<V3Principal> principal = commands_.authenticate_v3(request.login, request.pass);
  if (!principal.is_ok()) {
    if (principal.status().kind() == ErrorKind::kUnauthenticated) {
      return V3Admission::refused(V3Refusal::kInvalidCredentials);
    }
    return std::move(principal).status();
  }
  // Over the exact raw bytes received, whatever their formatting; upper-case hex is accepted too.
  if (!request.signature ||
      !crypto::verify_hmac_sha256_hex(principal->secret_key, request.body, *request.signature)) {
    return V3Admission::refused(V3Refusal::kInvalidSignature);
  }
  const Merchant& merchant = principal->merchant;
  if (!ip_allowed(request.remote_address, merchant.ip_allow)) {
    return V3Admission::refused(V3Refusal::kUnregisteredIp);
  }
  if (merchant.status != MerchantStatus::kActive) {
    return V3Admission::refused(V3Refusal::kMerchantDisabled);
  }
  // Last: a refused request of another kind takes no token from the merchant's bucket.
  const RateLimiter::Decision decision = limiter_.acquire(merchant.id);
  if (!decision.allowed) {
    PAYOUTD_ASSERT(decision.retry_after_seconds >= 1);
    return V3Admission::refused(V3Refusal::kRateLimited, decision.retry_after_seconds);
  }
  V3Admission admission;
  admission.principal = std::move(principal).value();
  return admission;
}

}  // namespace payoutd::commands
