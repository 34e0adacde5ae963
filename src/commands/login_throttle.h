// Login throttling for POST /auth/login: repeated failures from one address or for one username
// within a sliding window refuse further attempts (429 with Retry-After) until the oldest failure
// leaves the window.
//
// In memory, per node: a cluster of N nodes allows up to N times the limit. That is acceptable
// here because the v1 passwords are server-generated (~190 bits): throttling is about load and
// noise, not about making a guessable password safe. Bounded: at most max_tracked_keys addresses
// and usernames each, and at most the limit of timestamps per key.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/random.h"

namespace payoutd::commands {

struct LoginThrottleOptions {
  int max_failures_per_username = 10;
  int max_failures_per_address = 50;
  int64_t window_micros = 15LL * 60 * 1'000'000;  // 15 minutes
  size_t max_tracked_keys = 100'000;
};

class LoginThrottle {
 public:
  struct Decision {
    bool allowed = true;
    int retry_after_seconds = 0;  // when refused: >= 1
  };

  // `clock` must outlive the throttle.
  LoginThrottle(Clock& clock, LoginThrottleOptions options);

  // Whether an attempt for `username` from `address` may be checked at all. Records nothing.
  Decision check(std::string_view address, std::string_view username);
  // A failed attempt (wrong username or password).
  void record_failure(std::string_view address, std::string_view username);
  // A successful login clears the username's failures (not the address's).
  void record_success(std::string_view username);

 private:
  using Failures = std::deque<int64_t>;  // unix micros, oldest first, at most `limit` entries
  using Table = std::unordered_map<std::string, Failures>;

  // Seconds until `failures` has fewer than `limit` entries inside the window; 0 when it has.
  int blocked_for_seconds(const Failures& failures, int limit, int64_t now) const;
  void add(Table& table, std::string_view key, int limit, int64_t now);
  // Drops keys whose failures all left the window.
  void prune(Table& table, int64_t now);

  Clock& clock_;
  const LoginThrottleOptions options_;
  std::mutex mutex_;
  Table by_address_;   // guarded by mutex_
  Table by_username_;  // guarded by mutex_
};

}  // namespace payoutd::commands
