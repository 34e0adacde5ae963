// The engine: drives payouts from `created` to an end state without anyone pushing them.
//
// One pass (run_once) does, at most `batch_limit` payouts of each kind:
//   1. screening    created -> queued, or -> failed (a screening rejection; refunded)
//   2. expiry       on_hold / action_required past their deadline -> expired (refunded)
//   3. submission   queued -> processing (claimed with a lease), then the connector's submit
//   4. follow-up    payouts whose engine_next_at is due: poll the connector and apply its state
//                   (settling, completed, failed + code, action_required, reversal), reconcile
//                   unknown outcomes on a backoff, ask again about pending cancels
//
// Every claim is a conditional write in the database (status + event_seq for transitions, a lease
// for connector calls), so several engine instances - threads, processes, later nodes - may run
// at once: a payout is submitted by exactly one of them, and a crashed instance's leases are
// taken over when they expire. Connector calls happen outside any transaction; before each one
// the engine checks its lease has time left, and connector timeouts are shorter than the lease.
//
// Time and randomness are injected (Clock, RandomSource), and `fault_injector` lets tests stop an
// instance dead at the points where a crash matters, so the simulation test can replay any run.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "commands/commands.h"
#include "core/random.h"
#include "core/status.h"
#include "engine/connectors/connector.h"
#include "engine/screening.h"
#include "store/store.h"

namespace payoutd::engine {

struct EngineOptions {
  std::string instance_id;  // lease owner name; unique per running instance
  int batch_limit = 256;    // payouts per kind per pass
  int64_t lease_ms = 30'000;
  // How long before a lease ends the engine stops starting connector calls under it.
  int64_t lease_margin_ms = 5'000;
  int64_t poll_interval_ms = 1'000;      // idle sleep of the background loop
  int64_t follow_up_max_ms = 60'000;     // longest wait between two polls of a live payout
  int64_t reconcile_initial_ms = 1'000;  // unknown outcome: first re-query after this...
  int64_t reconcile_max_ms = 300'000;    // ...doubling up to this
  int64_t cancel_recheck_ms = 1'000;     // a pending cancel is asked about again after this
  int64_t on_hold_expiry_ms = 30LL * 24 * 3600 * 1000;   // domain.md default: 30 days
  int64_t action_required_expiry_ms = 72LL * 3600 * 1000;  // domain.md default: 72 hours
  // Called after each committed transition the engine made (metrics).
  std::function<void(std::optional<PayoutStatus> from, PayoutStatus to)> on_transition_committed;
};

// Where a crash matters. The fault injector returns true to make the instance stop dead there, as
// if its process had been killed: nothing after that point runs, leases stay until they expire.
enum class FaultPoint : uint8_t {
  kAfterSubmitClaim = 0,  // processing + lease committed, connector not called
  kAfterSubmitCall,       // connector called, its answer not recorded
  kAfterFollowClaim,      // lease taken, connector not asked
  kAfterFollowCall,       // connector asked, answer not recorded
  kAfterCancelCall,       // a merchant's processing cancel: connector asked, answer not recorded
};
using FaultInjector = std::function<bool(FaultPoint point, int64_t cashout_id)>;

struct PassStats {
  int screened = 0;
  int rejected = 0;
  int expired = 0;
  int submitted = 0;
  int followed = 0;
  int transitions = 0;
  int conflicts = 0;  // claims lost to another actor (normal under concurrency)
  bool crashed = false;
  int64_t started_at = 0;  // the clock when the pass began (unix micros)
  int total_work() const { return screened + expired + submitted + followed; }
  // Nothing was due at started_at: no work done, no claim lost to another actor.
  bool idle() const { return total_work() == 0 && conflicts == 0 && !crashed; }
};

// The answer to a merchant's cancel of a processing payout: the domain's (commands.h).
using commands::ProcessingCancel;
using commands::ProcessingCancelResult;

class Engine final : public commands::ProcessingCanceller {
 public:
  Engine(Store& store, commands::Commands& commands, Connector& connector, Screening& screening,
         Clock& clock, EngineOptions options, FaultInjector fault_injector = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // One pass over every kind of due work. Not thread-safe with itself: one caller at a time
  // (the background loop, or a test).
  PassStats run_once();

  // Background loop on its own thread: run_once, then sleep poll_interval_ms unless the pass
  // found a full batch. stop() finishes the pass in progress and joins.
  void start();
  void stop();

  // A merchant's cancel of a payout that is `processing` (v1 POST .../cancel). Asks the connector;
  // blocking (connector call + commit): run it off the I/O threads (cancel_processing_async).
  // kInvalidTransition when the payout is not processing (any more).
  Result<ProcessingCancelResult> cancel_processing(int64_t merchant_id, const PayoutRef& ref);
  // Runs cancel_processing on one of the engine's request workers; `done` runs on that worker.
  // kUnavailable at once when the bounded queue is full. (commands::ProcessingCanceller)
  void cancel_processing_async(int64_t merchant_id, PayoutRef ref,
                               commands::Callback<ProcessingCancelResult> done) override;

  // A callback the connector's rail POSTed (POST /connectors/<name>/callback): authenticated and
  // parsed by the connector, then only a hint - the payout becomes due now and the engine asks the
  // rail. kUnauthenticated (bad signature), kInvalidArgument (bad body), kNotFound (no payout of
  // this connector in a state that can change). Blocking: use handle_callback_async.
  Status handle_callback(std::string_view body, std::string_view signature_header);
  void handle_callback_async(std::string body, std::string signature_header,
                             std::function<void(Status)> done);

  // The background loop's passes, numbered from 1: how many have started, and the number of the
  // latest one that found nothing due (0 before the first). A pass that started after an event
  // (a commit, a move of the test clock) and found nothing due shows that the engine has done
  // everything that event made due: under a test clock, the sign that time may move on.
  uint64_t passes_started() const { return passes_started_.load(std::memory_order_acquire); }
  uint64_t last_idle_pass() const { return last_idle_pass_.load(std::memory_order_acquire); }

  const EngineOptions& options() const { return options_; }
  Connector& connector() { return connector_; }

 private:
  struct Claimed;

  int screen(int64_t now, PassStats& stats);
  int expire(int64_t now, PassStats& stats);
  int submit(int64_t now, PassStats& stats);
  int follow(int64_t now, PassStats& stats);
  bool crash_at(FaultPoint point, int64_t cashout_id, PassStats& stats);
  void worker_loop();

  Store& store_;
  commands::Commands& commands_;
  Connector& connector_;
  Screening& screening_;
  Clock& clock_;
  EngineOptions options_;
  FaultInjector fault_injector_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // GUARDED_BY mutex_
  std::deque<std::function<void()>> requests_;  // GUARDED_BY mutex_; bounded by kMaxQueuedRequests
  std::vector<std::thread> request_threads_;  // kRequestWorkers of them (engine.cc)

  std::mutex loop_mutex_;
  std::condition_variable loop_wake_;
  std::atomic<bool> loop_running_{false};
  std::atomic<uint64_t> passes_started_{0};
  std::atomic<uint64_t> last_idle_pass_{0};
  std::thread loop_thread_;
};

}  // namespace payoutd::engine
