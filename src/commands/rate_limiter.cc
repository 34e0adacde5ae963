#include "commands/rate_limiter.h"

#include <chrono>
#include <utility>

namespace payoutd::commands {
namespace {

constexpr int64_t kMillionths = 1'000'000;

int64_t steady_now_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Status validate_rate_limit(const RateLimit& limit) {
  if (limit.per_second < 0 || limit.per_second > kMaxRateLimitPerSecond) {
    return Status::invalid_argument("v3_rate_limit_per_second",
                                    "the v3 rate limit must be between 0 (no limit) and 1000000 "
                                    "requests per second");
  }
  if (limit.per_second > 0 && (limit.burst < 1 || limit.burst > kMaxRateLimitBurst)) {
    return Status::invalid_argument("v3_rate_limit_burst",
                                    "the v3 rate limit burst must be between 1 and 1000000");
  }
  return Status::ok();
}

RateLimiter::RateLimiter(RateLimit limit, MonotonicClock clock)
    : limit_(limit),
      clock_(clock ? std::move(clock) : MonotonicClock(steady_now_micros)),
      capacity_millionths_(limit.burst * kMillionths) {
  PAYOUTD_ASSERT(validate_rate_limit(limit).is_ok());
}

void RateLimiter::refill(Bucket& bucket, int64_t now_micros) const {
  int64_t elapsed = now_micros - bucket.updated_micros;
  if (elapsed <= 0) return;  // a clock that did not move (or, defensively, moved back)
  // per_second tokens per second == per_second millionths per microsecond. Capping the elapsed
  // time at what fills an empty bucket keeps the product far from overflow (<= ~10^12).
  const int64_t fill_micros = capacity_millionths_ / limit_.per_second + 1;
  if (elapsed > fill_micros) elapsed = fill_micros;
  bucket.tokens_millionths += elapsed * limit_.per_second;
  if (bucket.tokens_millionths > capacity_millionths_) {
    bucket.tokens_millionths = capacity_millionths_;
  }
  bucket.updated_micros = now_micros;
}

void RateLimiter::forget_full_buckets(int64_t now_micros) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    refill(it->second, now_micros);
    if (it->second.tokens_millionths >= capacity_millionths_) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
  if (buckets_.size() >= kMaxTrackedMerchants) buckets_.clear();
}

RateLimiter::Decision RateLimiter::acquire(int64_t merchant_id) {
  if (limit_.per_second == 0) return Decision{};
  const int64_t now = clock_();
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = buckets_.find(merchant_id);
  if (it == buckets_.end()) {
    if (buckets_.size() >= kMaxTrackedMerchants) forget_full_buckets(now);
    it = buckets_.emplace(merchant_id, Bucket{capacity_millionths_, now}).first;
  }
  Bucket& bucket = it->second;
  refill(bucket, now);
  if (bucket.tokens_millionths >= kMillionths) {
    bucket.tokens_millionths -= kMillionths;
    return Decision{};
  }
  const int64_t missing = kMillionths - bucket.tokens_millionths;
  const int64_t per_second_millionths = limit_.per_second * kMillionths;
  Decision refused;
  refused.allowed = false;
  refused.retry_after_seconds = (missing + per_second_millionths - 1) / per_second_millionths;
  if (refused.retry_after_seconds < 1) refused.retry_after_seconds = 1;
  return refused;
}

}  // namespace payoutd::commands
