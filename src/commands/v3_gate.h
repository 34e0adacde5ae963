// The admission of a Cashouts API v3 request: one call that checks, in the spec's order,
// credentials (401), the Payload-Signature over the raw body (302), the caller's address in the
// merchant's allow-list (402), the merchant enabled (519) and its rate limit (429), and answers
// either the principal or the first refusal. The dialect reads login/pass out of the body and
// maps a refusal to its wire code; nothing of the decision is left to it, so a request goes down
// once and comes back once.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "commands/commands.h"
#include "commands/rate_limiter.h"
#include "core/status.h"

namespace payoutd::commands {

// What the gate needs of a request; every view must outlive the call.
struct V3Request {
  std::string_view login;
  std::string_view pass;
  std::string_view body;                      // the raw bytes received, as signed
  std::optional<std::string_view> signature;  // the Payload-Signature header, when present
  std::string_view remote_address;            // the client's address
};

// In the order the checks run.
enum class V3Refusal : uint8_t {
  kNone = 0,            // admitted
  kInvalidCredentials,  // unknown login or wrong pass
  kInvalidSignature,    // missing, or not the HMAC-SHA256 of the body with the merchant's key
  kUnregisteredIp,      // the address is outside a non-empty allow-list
  kMerchantDisabled,
  kRateLimited,         // retry_after_seconds >= 1
};

struct V3Admission {
  V3Refusal refusal = V3Refusal::kNone;
  int64_t retry_after_seconds = 0;
  std::optional<V3Principal> principal;  // exactly when admitted

  bool admitted() const { return refusal == V3Refusal::kNone; }
  static V3Admission refused(V3Refusal why, int64_t retry_after = 0) {
    V3Admission admission;
    admission.refusal = why;
    admission.retry_after_seconds = retry_after;
    return admission;
  }
};

class V3Gate {
 public:
  // REQUIRES: validate_rate_limit(limit) is ok. `commands` outlives the gate.
  V3Gate(Commands& commands, RateLimit limit, RateLimiter::MonotonicClock clock = {});
  V3Gate(const V3Gate&) = delete;
  V3Gate& operator=(const V3Gate&) = delete;

  // A refusal is a value; an error Status only for what is no answer to this request (the store
  // unavailable, no master key).
  Result<V3Admission> admit(const V3Request& request);

 private:
  Commands& commands_;
  RateLimiter limiter_;
};

}  // namespace payoutd::commands
