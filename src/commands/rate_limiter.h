// Per-merchant request rate limit: one token bucket per merchant, in memory.
//
// Each bucket holds at most `burst` tokens and refills at `per_second` tokens per second; a request
// takes one token or is refused with the number of seconds after which one will be there
// (Retry-After). In memory on purpose: it protects this process from one merchant's flood and needs
// no coordination; with several processes each enforces the limit on its own share of the traffic.
//
// Integer arithmetic only: tokens are counted in millionths, time in microseconds of a monotonic
// clock. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>

#include "core/status.h"

namespace payoutd::commands {

struct RateLimit {
  int64_t per_second = 1000;  // 0 = no limit
  int64_t burst = 2000;       // bucket size (the largest burst after a quiet period)
};

inline constexpr int64_t kMaxRateLimitPerSecond = 1'000'000;
inline constexpr int64_t kMaxRateLimitBurst = 1'000'000;

// Ok when 0 <= per_second <= 10^6 and (per_second == 0 or 1 <= burst <= 10^6).
Status validate_rate_limit(const RateLimit& limit);

class RateLimiter {
 public:
  // Microseconds of a monotonic clock. The default is std::chrono::steady_clock.
  using MonotonicClock = std::function<int64_t()>;

  // More merchants than this are never tracked at once: past it, buckets that are full again are
  // forgotten (a full bucket is the same as no bucket), and if that is not enough all are.
  static constexpr size_t kMaxTrackedMerchants = 100'000;

  struct Decision {
    bool allowed = true;
    int64_t retry_after_seconds = 0;  // >= 1 when refused
  };

  // REQUIRES: validate_rate_limit(limit) is ok.
  explicit RateLimiter(RateLimit limit, MonotonicClock clock = {});
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Takes one token from `merchant_id`'s bucket.
  Decision acquire(int64_t merchant_id);

  const RateLimit& limit() const { return limit_; }

 private:
  struct Bucket {
    int64_t tokens_millionths = 0;
    int64_t updated_micros = 0;
  };

  // Adds what accrued since the bucket's last update (capped at the bucket size).
  void refill(Bucket& bucket, int64_t now_micros) const;
  void forget_full_buckets(int64_t now_micros);

  const RateLimit limit_;
  const MonotonicClock clock_;
  const int64_t capacity_millionths_;
  std::mutex mutex_;
  std::unordered_map<int64_t, Bucket> buckets_;  // guarded by mutex_
};

}  // namespace payoutd::commands
