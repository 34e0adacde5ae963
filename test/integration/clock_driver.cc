#include "integration/clock_driver.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace payoutd::testing {
namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// How often the idle metrics are read while waiting: a poll of a condition, not a wait for time.
constexpr int kIdlePollMs = 3;

}  // namespace

int64_t metric_value(const std::string& page, const std::string& name) {
  const std::string prefix = "\n" + name + " ";
  const size_t at = ("\n" + page).find(prefix);
  if (at == std::string::npos) return -1;
  return std::stoll(page.substr(at + prefix.size() - 1));
}

int64_t scrape_metric(int port, const std::string& name) {
  std::optional<HttpResponse> response = http_request(port, "GET", "/metrics", "");
  if (!response || response->status != 200) return -1;
  return metric_value(response->body, name);
}

ClockDriver::ClockDriver(const Sandbox& sandbox, ClockDriverOptions options)
    : sandbox_(sandbox), options_(std::move(options)) {}

bool ClockDriver::wait_idle() {
  // One loop (a server's engine or dispatcher) and the number of its looks started before now:
  // it is idle once a look started after that one found nothing to do.
  struct Watched {
    int port;
    const char* started_metric;
    const char* idle_metric;
    int64_t started_before = 0;
  };
  std::vector<Watched> watched;
  for (int port : options_.engine_ports) {
    watched.push_back({port, "payoutd_engine_passes_total", "payoutd_engine_last_idle_pass"});
  }
  for (int port : options_.dispatcher_ports) {
    watched.push_back({port, "payoutd_notification_dispatcher_claims_total",
                       "payoutd_notification_dispatcher_last_idle_claim"});
  }
  for (Watched& loop : watched) {
    loop.started_before = scrape_metric(loop.port, loop.started_metric);
    if (loop.started_before < 0) {
      ADD_FAILURE() << "no " << loop.started_metric << " on port " << loop.port;
      return false;
    }
  }
  const int64_t deadline = steady_ms() + options_.idle_deadline_ms;
  for (Watched& loop : watched) {
    const int left_ms = static_cast<int>(std::max<int64_t>(0, deadline - steady_ms()));
    if (!eventually([&] { return scrape_metric(loop.port, loop.idle_metric) > loop.started_before; },
                    left_ms, kIdlePollMs)) {
      ADD_FAILURE() << loop.idle_metric << " on port " << loop.port << " did not pass look "
                    << loop.started_before << " within " << options_.idle_deadline_ms
                    << " ms (clock " << sandbox_.clock_micros() << ")";
      return false;
    }
  }
  return true;
}

std::optional<int64_t> ClockDriver::next_event_micros() const {
  const std::string now = std::to_string(sandbox_.clock_micros());
  std::string events =
      "SELECT engine_next_at AS t FROM payouts WHERE engine_next_at > " + now +
      " UNION ALL SELECT engine_lease_until FROM payouts WHERE engine_lease_until > " + now +
      " UNION ALL SELECT updated_at + " + std::to_string(options_.on_hold_expiry_ms * 1000) +
      " FROM payouts WHERE status = 'on_hold'"
      " UNION ALL SELECT updated_at + " +
      std::to_string(options_.action_required_expiry_ms * 1000) +
      " FROM payouts WHERE status = 'action_required'";
  if (!options_.dispatcher_ports.empty()) {
    events += " UNION ALL SELECT next_attempt_at FROM outbox WHERE status = 'pending'"
              " UNION ALL SELECT lease_until FROM outbox WHERE status = 'pending' AND "
              "lease_until IS NOT NULL";
  }
  std::string row = sandbox_.sql("SELECT min(t) FROM (" + events + ") AS events WHERE t > " +
                                 now + ";");
  while (!row.empty() && (row.back() == '\n' || row.back() == '\r')) row.pop_back();
  if (row.empty()) return std::nullopt;
  if (row.find_first_not_of("0123456789") != std::string::npos) {
    ADD_FAILURE() << "next event query: " << row;
    return std::nullopt;
  }
  return std::stoll(row);
}

bool ClockDriver::step() {
  if (!wait_idle()) return false;
  const std::optional<int64_t> next = next_event_micros();
  if (!next) return false;
  PAYOUTD_ASSERT(*next > sandbox_.clock_micros());
  sandbox_.set_clock_micros(*next);
  ++steps_;
  return true;
}

bool ClockDriver::run_until(const std::function<bool()>& done, int deadline_ms, int max_steps) {
  const int64_t deadline = steady_ms() + deadline_ms;
  for (int taken = 0;; ++taken) {
    if (!wait_idle()) return false;
    if (done()) return true;
    if (taken >= max_steps || steady_ms() >= deadline) {
      ADD_FAILURE() << "not done after " << taken << " clock steps";
      return false;
    }
    const std::optional<int64_t> next = next_event_micros();
    if (!next) {
      ADD_FAILURE() << "not done, and nothing is scheduled any more (clock "
                    << sandbox_.clock_micros() << ")";
      return false;
    }
    sandbox_.set_clock_micros(*next);
    ++steps_;
  }
}

}  // namespace payoutd::testing
