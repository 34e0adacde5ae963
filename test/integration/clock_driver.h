// Drives a sandbox's test clock from one scheduled event to the next, like a discrete-event
// simulation run over real servers.
//
// The servers of an integration test read their time from the sandbox's clock (--test-clock), so
// nothing that depends on time happens until the test moves it. ClockDriver moves it the only
// deterministic way: it waits until every engine (and notification dispatcher) it watches has
// begun a pass after the last event (the clock's move, the test's last request) and found nothing
// to do (their /metrics `payoutd_engine_passes_total` / `payoutd_engine_last_idle_pass`, and the
// dispatcher's claims_total / last_idle_claim), then asks the database when the next thing becomes due - the earliest
// follow-up (`engine_next_at`), lease end, on-hold or action-required expiry, or outbox retry -
// and sets the clock exactly there. Every state between two events is stable, so a test sees each
// one, and each delay of the sandbox rail is exact.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "integration/harness.h"

namespace payoutd::testing {

// The value of the Prometheus sample `name` (no labels) in a /metrics page; -1 when absent.
int64_t metric_value(const std::string& page, const std::string& name);
// GET /metrics on `port`, then metric_value; -1 when the request failed or the sample is absent.
int64_t scrape_metric(int port, const std::string& name);

struct ClockDriverOptions {
  std::vector<int> engine_ports;      // servers whose engine runs (not killed)
  std::vector<int> dispatcher_ports;  // servers whose deliveries the test waits for
  // The servers' expiry settings (config keys on_hold_expiry_seconds and
  // action_required_expiry_seconds); their defaults are the config's.
  int64_t on_hold_expiry_ms = 30LL * 86'400 * 1000;
  int64_t action_required_expiry_ms = 72LL * 3'600 * 1000;
  // Real time allowed for the servers to become idle at one clock value.
  int idle_deadline_ms = 30'000;
};

class ClockDriver {
 public:
  ClockDriver(const Sandbox& sandbox, ClockDriverOptions options);

  // Waits until every watched engine and dispatcher has begun a pass after this call began and
  // found nothing due in it. False (a failure recorded) at the deadline.
  bool wait_idle();
  // The earliest clock time after now at which an engine or the dispatcher has work; nullopt when
  // nothing is scheduled.
  std::optional<int64_t> next_event_micros() const;
  // wait_idle(), then advances the clock to next_event_micros(). False when idle was not reached
  // or nothing is scheduled.
  bool step();
  // Until `done()` holds (checked after each wait_idle): step. False (a failure recorded) when
  // `deadline_ms` of real time passed, `max_steps` steps were taken, or nothing is scheduled
  // any more while done() still does not hold.
  bool run_until(const std::function<bool()>& done, int deadline_ms = 60'000,
                 int max_steps = 10'000);

  int steps() const { return steps_; }

 private:
  const Sandbox& sandbox_;
  ClockDriverOptions options_;
  int steps_ = 0;
};

}  // namespace payoutd::testing
