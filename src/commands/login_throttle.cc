#include "commands/login_throttle.h"

#include <algorithm>

#include "core/status.h"

namespace payoutd::commands {
namespace {

constexpr int64_t kMicrosPerSecond = 1'000'000;
// Usernames longer than this are not ours; they are tracked by their first bytes only, so a
// client cannot make the table hold megabytes of key text.
constexpr size_t kMaxKeyBytes = 128;

std::string_view bounded(std::string_view key) { return key.substr(0, kMaxKeyBytes); }

}  // namespace

LoginThrottle::LoginThrottle(Clock& clock, LoginThrottleOptions options)
    : clock_(clock), options_(options) {
  PAYOUTD_ASSERT(options_.max_failures_per_username >= 1);
  PAYOUTD_ASSERT(options_.max_failures_per_address >= 1);
  PAYOUTD_ASSERT(options_.window_micros >= kMicrosPerSecond);
  PAYOUTD_ASSERT(options_.max_tracked_keys >= 1);
}

int LoginThrottle::blocked_for_seconds(const Failures& failures, int limit, int64_t now) const {
  if (failures.size() < static_cast<size_t>(limit)) return 0;
  // The deque keeps the last `limit` failures: blocked while the oldest of them is in the window.
  const int64_t leaves_window_at = failures.front() + options_.window_micros;
  if (leaves_window_at <= now) return 0;
  const int64_t seconds = (leaves_window_at - now + kMicrosPerSecond - 1) / kMicrosPerSecond;
  return static_cast<int>(std::max<int64_t>(seconds, 1));
}

LoginThrottle::Decision LoginThrottle::check(std::string_view address, std::string_view username) {
  const int64_t now = clock_.now_micros();
  std::lock_guard lock(mutex_);
  int seconds = 0;
  if (auto found = by_address_.find(std::string(bounded(address))); found != by_address_.end()) {
    seconds = std::max(seconds,
                       blocked_for_seconds(found->second, options_.max_failures_per_address, now));
  }
  if (auto found = by_username_.find(std::string(bounded(username)));
      found != by_username_.end()) {
    seconds = std::max(seconds,
                       blocked_for_seconds(found->second, options_.max_failures_per_username, now));
  }
  return Decision{seconds == 0, seconds};
}

void LoginThrottle::record_failure(std::string_view address, std::string_view username) {
  const int64_t now = clock_.now_micros();
  std::lock_guard lock(mutex_);
  add(by_address_, address, options_.max_failures_per_address, now);
  add(by_username_, username, options_.max_failures_per_username, now);
}

void LoginThrottle::record_success(std::string_view username) {
  std::lock_guard lock(mutex_);
  by_username_.erase(std::string(bounded(username)));
}

void LoginThrottle::add(Table& table, std::string_view key, int limit, int64_t now) {
  std::string bounded_key(bounded(key));
  auto found = table.find(bounded_key);
  if (found == table.end()) {
    if (table.size() >= options_.max_tracked_keys) prune(table, now);
    // Still full of keys with recent failures: this key goes untracked. The per-address limit
    // still applies to whoever is filling the table.
    if (table.size() >= options_.max_tracked_keys) return;
    found = table.emplace(std::move(bounded_key), Failures{}).first;
  }
  Failures& failures = found->second;
  failures.push_back(now);
  while (failures.size() > static_cast<size_t>(limit)) failures.pop_front();
}

void LoginThrottle::prune(Table& table, int64_t now) {
  for (auto it = table.begin(); it != table.end();) {
    const bool stale = it->second.empty() || it->second.back() + options_.window_micros <= now;
    it = stale ? table.erase(it) : std::next(it);
  }
}

}  // namespace payoutd::commands
