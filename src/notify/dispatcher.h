// The outbox dispatcher: delivers the notifications that status changes wrote into the outbox in
// their own transactions (notifications.md).
//
// One claiming thread and a fixed pool of delivery workers:
//   1. the claimer reads due rows (pending, due, no live lease, head of their payout-to-
//      destination sequence), picks those whose destination (scheme://host:port) is under its
//      in-flight limit, and takes each one's lease with a conditional UPDATE, all in one write;
//   2. a worker builds the request (v3: the form fields + the `control` HMAC with the merchant's
//      secret_key; v1: the stored event body + Payoutd-Signature with the endpoint's secret),
//      sends it through the HttpSender (timeouts, SSRF guard, no redirects, bounded response);
//   3. the worker records the attempt in the delivery log and moves the row on in one write:
//      delivered, pending again after a backoff with jitter, or failed (refused by the outbound
//      guard, endpoint deleted, or the retry window is over).
// Only as many rows are claimed as there are free workers, so a claim never waits in memory for
// long, and a dead destination holds at most its per-destination limit of workers.
//
// Everything is in the database: a restarted or second process takes over rows whose leases
// expired. A row whose send started may be sent again after a crash (at least once); receivers
// deduplicate by event id. Time and randomness are injected.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/random.h"
#include "core/status.h"
#include "core/types.h"
#include "crypto/master_key.h"
#include "notify/http_sender.h"
#include "store/store.h"

namespace payoutd::notify {

struct DispatcherOptions {
  std::string instance_id;  // lease owner name; unique per running instance
  int workers = 16;                 // deliveries in flight at most
  int per_destination_limit = 4;    // in flight to one scheme://host:port at most
  int64_t poll_interval_ms = 200;   // idle sleep of the claimer
  int64_t lease_ms = 60'000;        // must exceed the sender's total timeout
  int64_t backoff_initial_ms = 30'000;
  int64_t backoff_max_ms = 3'600'000;
  int backoff_jitter_percent = 25;  // 0..25: the jitter_unit passed to retry_delay_ms is scaled
                                    // by percent / 25; 0 draws no randomness at all
  int64_t retry_window_ms = 72LL * 3600 * 1000;
};

// The delay before the next attempt after `failed_attempts` failures (>= 1): `initial_ms`
// doubling up to `max_ms` (notifications.md: from 30 s, doubling, capped at 1 h), spread by
// `jitter_unit` in [0, 1) without leaving those bounds: below the cap the delay grows by up to a
// quarter (never shorter than the schedule), at the cap it shrinks by up to a fifth (never longer
// than the cap). Pure; exposed for tests.
int64_t retry_delay_ms(int32_t failed_attempts, int64_t initial_ms, int64_t max_ms,
                       double jitter_unit);

// Counters for /metrics and tests. Monotonic.
struct DispatcherStats {
  uint64_t claimed = 0;
  uint64_t delivered = 0;       // attempts answered 2xx
  uint64_t failed_attempts = 0; // attempts that will be retried or gave up
  uint64_t refused = 0;         // not sent and not retried: refused by the outbound guard, the
                                // endpoint was deleted, or the payload cannot be sent
  uint64_t given_up = 0;        // rows marked failed (window over, refused, endpoint deleted)
  uint64_t leases_lost = 0;     // results recorded after another owner took the row
  uint64_t errors = 0;          // store errors while claiming or recording
  // The claimer's looks for due rows, numbered from 1: how many have started, and the number of
  // the latest that found nothing due with no delivery in flight from its start to its end (0
  // before the first: a delivery finishing during the claim may make a follower due). A
  // look that started after an event and found the dispatcher idle shows that everything the
  // event made due was delivered and recorded: under a test clock, the sign that time may move on.
  uint64_t claims_started = 0;
  uint64_t last_idle_claim = 0;
};

class Dispatcher {
 public:
  // `master_key` opens merchants' secret keys and endpoints' secrets. All references must outlive
  // the dispatcher.
  Dispatcher(Store& store, Clock& clock, RandomSource& random, const crypto::MasterKey& master_key,
             HttpSender& sender, DispatcherOptions options);
  // Stops and joins (see stop()).
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Starts the claimer and the workers. REQUIRES: not started.
  void start();
  // Stops claiming, shuts the sender down so that attempts in progress end at once (each is
  // recorded as a failed attempt and retried later), and joins every thread. Claimed rows not yet
  // started keep their lease until it expires; then any instance takes them. Idempotent.
  void stop();

  // One synchronous pass on the caller's thread (tests with a manual clock): claims what is due
  // now (within the limits) and delivers each claimed row before returning. Returns the number of
  // rows attempted. REQUIRES: not started.
  Result<int> run_once();

  DispatcherStats stats() const;

 private:
  // A claimed row; its `destination` is the key of the per-destination limit.
  using Job = OutboxMessage;

  void claimer_loop();
  void worker_loop();
  // Reads due rows and claims those the limits allow (at most `capacity`).
  // REQUIRES: mutex_ not held.
  Result<std::vector<Job>> claim(int capacity, int64_t now);
  // Builds, sends and records one claimed row.
  void deliver(const Job& job);
  // The request for a row, or the reason it must not be sent (endpoint deleted: no retry).
  struct Prepared {
    Status status = Status::ok();   // non-ok: a failed attempt (retried) with status.message()
    bool give_up = false;           // with non-ok: fail the row now, nothing to retry
    OutboundRequest request;
  };
  Prepared prepare(const OutboxMessage& message);
  void record(const Job& job, const OutboundResult& result, bool give_up, int64_t started_at);
  double jitter_unit();
  double scaled_jitter_unit();  // jitter_unit() scaled by backoff_jitter_percent / 25
  void count(uint64_t DispatcherStats::*counter);

  Store& store_;
  Clock& clock_;
  RandomSource& random_;
  const crypto::MasterKey& master_key_;
  HttpSender& sender_;
  const DispatcherOptions options_;

  std::mutex mutex_;
  std::condition_variable work_ready_;     // workers wait for jobs
  std::condition_variable capacity_free_;  // the claimer waits for a free worker or a tick
  std::deque<Job> jobs_;                   // GUARDED_BY(mutex_); at most options_.workers
  int in_flight_ = 0;                      // GUARDED_BY(mutex_): queued + being delivered
  std::map<std::string, int> in_flight_by_destination_;  // GUARDED_BY(mutex_)
  bool stopping_ = false;                  // GUARDED_BY(mutex_)
  bool started_ = false;
  std::thread claimer_;
  std::vector<std::thread> workers_;

  std::mutex random_mutex_;  // RandomSource is not thread-safe

  mutable std::mutex stats_mutex_;
  DispatcherStats stats_;  // GUARDED_BY(stats_mutex_)
};

}  // namespace payoutd::notify
