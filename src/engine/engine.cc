#include "engine/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <utility>
#include <vector>

#include "engine/rail_plan.h"

namespace payoutd::engine {
namespace {

// Cancels of processing payouts waiting for the request worker; beyond this, kUnavailable.
constexpr size_t kMaxQueuedRequests = 256;
// Request workers (merchants' cancels of processing payouts, connector callbacks). A processing
// cancel waits on three commits and a connector call in turn, so one worker made every cancel
// queued behind it wait for all of those: under a burst of v1 cancels on a loaded machine the
// last ones in the queue neared the 30 s handler timeout (MultinodeTest, 2026-12-08). They are
// waits, not CPU, so a few workers serve a burst side by side; requests about the same payout
// stay safe together as they are across nodes: the cancel takes the payout's engine lease in
// the database first, and a request that finds it held only records itself.
constexpr int kRequestWorkers = 4;
constexpr int64_t kMicrosPerMilli = 1000;

using Transitions = std::vector<std::pair<std::optional<PayoutStatus>, PayoutStatus>>;

// A write op whose outcome lands in a shared slot; the engine submits a batch of them at once so
// the store's writer merges them into one transaction and one fsync (each keeps its own savepoint
// and its own outcome).
struct OpOutcome {
  Status status = Status::ok();
  Transitions transitions;
};

class BatchLatch {
 public:
  explicit BatchLatch(size_t count) : outcomes_(count), remaining_(count) {}
  void done(size_t index, Status status) {
    std::lock_guard<std::mutex> lock(mutex_);
    outcomes_[index].status = std::move(status);
    if (--remaining_ == 0) finished_.notify_all();
  }
  std::vector<OpOutcome>& wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, [this] { return remaining_ == 0; });
    return outcomes_;
  }
  OpOutcome& slot(size_t index) { return outcomes_[index]; }

 private:
  std::mutex mutex_;
  std::condition_variable finished_;
  std::vector<OpOutcome> outcomes_;
  size_t remaining_;
};

using OpBody = std::function<Status(WriteTx& tx, Transitions& transitions)>;

class LatchedOp final : public WriteOp {
 public:
  LatchedOp(OpBody body, std::shared_ptr<BatchLatch> latch, size_t index)
      : body_(std::move(body)), latch_(std::move(latch)), index_(index) {}
  Status apply(WriteTx& tx) override {
    transitions_.clear();  // a retried batch runs apply again
    return body_(tx, transitions_);
  }
  void complete(Status status) override {
    if (status.is_ok()) latch_->slot(index_).transitions = std::move(transitions_);
    latch_->done(index_, std::move(status));
  }

 private:
  OpBody body_;
  std::shared_ptr<BatchLatch> latch_;
  size_t index_;
  Transitions transitions_;
};

// Runs every body as its own op and waits for all of their durable outcomes.
// REQUIRES: not on the store's writer thread.
std::vector<OpOutcome> write_all(Store& store, std::vector<OpBody> bodies) {
  if (bodies.empty()) return {};
  auto latch = std::make_shared<BatchLatch>(bodies.size());
  for (size_t i = 0; i < bodies.size(); ++i) {
    store.submit(std::make_unique<LatchedOp>(std::move(bodies[i]), latch, i));
  }
  return std::move(latch->wait());
}

ConnectorPayout connector_payout(const Payout& payout) {
  ConnectorPayout out;
  out.cashout_id = payout.cashout_id;
  out.key = payout.public_id;
  out.amount_minor = payout.amount_minor;
  out.currency = payout.currency;
  out.country = payout.country;
  out.beneficiary = payout.beneficiary;
  out.cancel_requested_at = payout.cancel_requested_at;
  return out;
}

// A refusal that only means "someone else got there first": another engine, the merchant, an
// operator. Counted, never logged as an error.
bool is_lost_race(const Status& status) {
  return status.kind() == ErrorKind::kConflict || status.kind() == ErrorKind::kInvalidTransition;
}

// One transition inside an engine op, recorded for the metrics callback.
// `after`, when given, receives the payout as the transition left it.
Status transition_in(const commands::Commands& commands, WriteTx& tx,
                     const commands::TransitionInput& input, int64_t at, Transitions& transitions,
                     Payout* after = nullptr) {
  PAYOUTD_ASSIGN_OR_RETURN(commands::PayoutWithEvents result,
                           commands.apply_transition_in(tx, input, at));
  PAYOUTD_ASSERT(result.payout.status == input.to);
  PAYOUTD_ASSERT(input.expected_from.has_value());
  transitions.emplace_back(*input.expected_from, input.to);
  if (after != nullptr) *after = std::move(result.payout);
  return Status::ok();
}

commands::TransitionInput engine_transition(int64_t cashout_id, PayoutStatus from,
                                            PayoutStatus to, Actor actor) {
  commands::TransitionInput input;
  input.merchant_id = 0;
  input.ref = PayoutRef::by_cashout_id(cashout_id);
  input.expected_from = from;
  input.to = to;
  input.actor = actor;
  input.read_back = false;
  return input;
}


// Counts a batch's outcomes: ok ones into `counter` (and their transitions reported), lost races
// into conflicts, anything else logged.
template <typename Ids>
int tally(const std::vector<OpOutcome>& outcomes, const Ids& ids, std::string_view what,
          const EngineOptions& options, PassStats& stats) {
  int done = 0;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    if (outcomes[i].status.is_ok()) {
      ++done;
      stats.transitions += static_cast<int>(outcomes[i].transitions.size());
      for (const auto& [from, to] : outcomes[i].transitions) {
        if (options.on_transition_committed) options.on_transition_committed(from, to);
      }
    } else if (is_lost_race(outcomes[i].status)) {
      stats.conflicts += 1;
    } else {
      spdlog::error("engine: {} payout {}: {}", what, ids[i], outcomes[i].status.to_string());
    }
  }
  return done;
}

// Due work of one kind; empty (and logged) when the read fails.
std::vector<EngineTask> read_due(Store& store, const EngineDueQuery& query, std::string_view what) {
  std::vector<EngineTask> tasks;
  Status read = store.read([&](ReadTx& tx) {
    PAYOUTD_ASSIGN_OR_RETURN(std::vector<EngineTask> due, tx.engine_due(query));
    tasks = std::move(due);
    return Status::ok();
  });
  if (!read.is_ok()) {
    spdlog::error("engine: reading payouts to {}: {}", what, read.to_string());
    return {};
  }
  return tasks;
}

}  // namespace

// A payout this instance holds the lease on, with what the connector must be told.
struct Engine::Claimed {
  Payout payout;
  EngineTask task;
  int64_t lease_until = 0;
  // False for a plain follow-up (a query, no side effect at the rail): no lease is taken; its
  // answer is recorded only if the payout is still as `task` saw it (compare-and-set).
  bool leased = true;
};

Engine::Engine(Store& store, commands::Commands& commands, Connector& connector,
               Screening& screening, Clock& clock, EngineOptions options,
               FaultInjector fault_injector)
    : store_(store),
      commands_(commands),
      connector_(connector),
      screening_(screening),
      clock_(clock),
      options_(std::move(options)),
      fault_injector_(std::move(fault_injector)) {
  PAYOUTD_ASSERT(!options_.instance_id.empty());
  PAYOUTD_ASSERT(options_.batch_limit >= 1 && options_.batch_limit <= kMaxPageSize);
  PAYOUTD_ASSERT(options_.lease_ms > options_.lease_margin_ms && options_.lease_margin_ms >= 0);
  PAYOUTD_ASSERT(options_.poll_interval_ms > 0 && options_.follow_up_max_ms > 0);
  PAYOUTD_ASSERT(options_.reconcile_initial_ms > 0 &&
                 options_.reconcile_max_ms >= options_.reconcile_initial_ms);
  PAYOUTD_ASSERT(options_.cancel_recheck_ms > 0);
  PAYOUTD_ASSERT(options_.on_hold_expiry_ms > 0 && options_.action_required_expiry_ms > 0);
  request_threads_.reserve(kRequestWorkers);
  for (int i = 0; i < kRequestWorkers; ++i) {
    request_threads_.emplace_back([this] { worker_loop(); });
  }
}

Engine::~Engine() {
  stop();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& worker : request_threads_) {
    if (worker.joinable()) worker.join();
  }
}

bool Engine::crash_at(FaultPoint point, int64_t cashout_id, PassStats& stats) {
  if (!fault_injector_ || !fault_injector_(point, cashout_id)) return false;
  stats.crashed = true;
  return true;
}

PassStats Engine::run_once() {
  PassStats stats;
  const int64_t now = clock_.now_micros();
  stats.started_at = now;
  screen(now, stats);
  if (!stats.crashed) expire(now, stats);
  if (!stats.crashed && connector_.submits_automatically()) submit(clock_.now_micros(), stats);
  if (!stats.crashed) follow(clock_.now_micros(), stats);
  return stats;
}

int Engine::screen(int64_t now, PassStats& stats) {
  std::vector<EngineTask> tasks =
      read_due(store_, {EngineWork::kScreen, now, 0, 0, options_.batch_limit}, "screen");
  std::vector<OpBody> bodies;
  std::vector<char> rejected(tasks.size(), 0);
  for (size_t i = 0; i < tasks.size(); ++i) {
    const int64_t cashout_id = tasks[i].cashout_id;
    bodies.push_back([this, cashout_id, now, &rejected, i](WriteTx& tx, Transitions& transitions) {
      PAYOUTD_ASSIGN_OR_RETURN(Payout payout,
                               tx.find_payout(0, PayoutRef::by_cashout_id(cashout_id)));
      if (payout.status != PayoutStatus::kCreated) {
        return Status::error(ErrorKind::kConflict, "payout is no longer created");
      }
      const ScreeningDecision decision = screening_.screen(payout);
      commands::TransitionInput input = engine_transition(
          cashout_id, PayoutStatus::kCreated,
          decision.allowed ? PayoutStatus::kQueued : PayoutStatus::kFailed, Actor::kSystem);
      if (!decision.allowed) {
        input.failure_code = decision.rejection_code;
        input.message = decision.message;
        rejected[i] = 1;
      } else {
        rejected[i] = 0;
      }
      return transition_in(commands_, tx, input, now, transitions);
    });
  }
  std::vector<OpOutcome> outcomes = write_all(store_, std::move(bodies));
  std::vector<int64_t> ids;
  for (const EngineTask& task : tasks) ids.push_back(task.cashout_id);
  const int done = tally(outcomes, ids, "screening", options_, stats);
  for (size_t i = 0; i < outcomes.size(); ++i) {
    if (outcomes[i].status.is_ok()) stats.rejected += rejected[i];
  }
  stats.screened += done;
  return done;
}

int Engine::expire(int64_t now, PassStats& stats) {
  const int64_t on_hold_cutoff = now - options_.on_hold_expiry_ms * kMicrosPerMilli;
  const int64_t action_required_cutoff =
      now - options_.action_required_expiry_ms * kMicrosPerMilli;
  std::vector<EngineTask> tasks = read_due(
      store_,
      {EngineWork::kExpire, now, on_hold_cutoff, action_required_cutoff, options_.batch_limit},
      "expire");
  std::vector<OpBody> bodies;
  for (const EngineTask& due : tasks) {
    const int64_t cashout_id = due.cashout_id;
    bodies.push_back([=, this](WriteTx& tx, Transitions& transitions) {
      // Re-checked inside the transaction: the payout may have been released and held again.
      PAYOUTD_ASSIGN_OR_RETURN(EngineTask task, tx.engine_task(cashout_id));
      const int64_t cutoff =
          task.status == PayoutStatus::kOnHold ? on_hold_cutoff : action_required_cutoff;
      if ((task.status != PayoutStatus::kOnHold && task.status != PayoutStatus::kActionRequired) ||
          task.updated_at > cutoff) {
        return Status::error(ErrorKind::kConflict, "payout is no longer past its deadline");
      }
      return transition_in(
          commands_, tx,
          engine_transition(cashout_id, task.status, PayoutStatus::kExpired, Actor::kSystem), now,
          transitions);
    });
  }
  std::vector<OpOutcome> outcomes = write_all(store_, std::move(bodies));
  std::vector<int64_t> ids;
  for (const EngineTask& task : tasks) ids.push_back(task.cashout_id);
  const int done = tally(outcomes, ids, "expiring", options_, stats);
  stats.expired += done;
  return done;
}

namespace {

// Writes what the connector said about a payout whose lease `owner` holds: the bookkeeping
// (reference, unknown-outcome backoff, cancel request state, when to look again) and the status
// transitions that follow from it. All in the caller's op, so all or nothing.
struct RecordInput {
  int64_t cashout_id = 0;
  RailStatus rail;
  std::optional<CancelAnswer> cancel_answer;
  int64_t now = 0;
  // Set for an unleased follow-up: the payout's engine state when it was read.
  std::optional<EngineTask> expected;
};

Status record_rail_status(const commands::Commands& commands, WriteTx& tx,
                          const RecordInput& input, const EngineOptions& options,
                          std::string_view connector_name, Transitions& transitions) {
  PAYOUTD_ASSIGN_OR_RETURN(EngineTask task, tx.engine_task(input.cashout_id));
  const int64_t now = input.now;
  if (input.expected) {
    // Unleased: whoever records first wins; a payout that changed or got leased meanwhile is
    // left to its next look.
    const EngineTask& expected = *input.expected;
    const bool leased_by_someone = task.claimed_by && task.lease_until && *task.lease_until > now;
    if (task.status != expected.status || task.event_seq != expected.event_seq ||
        task.next_at != expected.next_at || task.cancel_state != expected.cancel_state ||
        task.connector_state != expected.connector_state || leased_by_someone) {
      return Status::error(ErrorKind::kConflict, "payout changed before its follow-up was recorded");
    }
  } else if (!task.claimed_by || *task.claimed_by != options.instance_id) {
    return Status::error(ErrorKind::kConflict, "engine lease lost before recording");
  }

  EngineTaskUpdate update;
  update.cashout_id = input.cashout_id;
  update.owner = input.expected ? std::string() : options.instance_id;
  update.now = now;
  update.connector_state = task.connector_state;
  update.cancel_state = task.cancel_state;
  update.attempts = task.attempts;
  update.release = true;
  update.connector = std::string(connector_name);  // kept when already set (coalesce)

  const RailState state = input.rail.state;
  if (state == RailState::kUnknown || state == RailState::kNotFound) {
    // No answer (or a rail that lost a payout it had): ask again on a backoff; never guess.
    if (state == RailState::kNotFound) {
      spdlog::error("engine: connector {} has no record of payout {}; asking again later",
                    connector_name, input.cashout_id);
    }
    update.attempts = task.attempts + 1;
    if (update.connector_state == ConnectorState::kSubmitting) {
      update.connector_state = ConnectorState::kUnknown;
    }
    update.next_at = now + reconcile_delay_ms(update.attempts, options.reconcile_initial_ms,
                                              options.reconcile_max_ms) *
                               kMicrosPerMilli;
    return tx.update_engine_task(update);
  }

  update.attempts = 0;
  update.connector_state = ConnectorState::kAccepted;
  if (input.rail.reference) update.connector_reference = input.rail.reference;
  if (input.cancel_answer == CancelAnswer::kTooLate) {
    update.cancel_state = CancelRequestState::kRefused;
  }
  const bool live = state == RailState::kProcessing || state == RailState::kSettling ||
                    state == RailState::kActionRequired;
  std::optional<int64_t> next_at;
  const int64_t longest = now + options.follow_up_max_ms * kMicrosPerMilli;
  if (input.rail.recheck_at) {
    next_at = *input.rail.recheck_at < longest ? *input.rail.recheck_at : longest;
    if (*next_at < now) next_at = now;
  } else if (live) {
    next_at = longest;
  }
  if (update.cancel_state == CancelRequestState::kPending &&
      task.status == PayoutStatus::kProcessing) {
    const int64_t recheck = now + options.cancel_recheck_ms * kMicrosPerMilli;
    if (!next_at || *next_at > recheck) next_at = recheck;
  }
  update.next_at = next_at;
  PAYOUTD_RETURN_IF_ERROR(tx.update_engine_task(update));

  RailState effective = state;
  if (input.cancel_answer == CancelAnswer::kCancelled) effective = RailState::kCancelled;
  if (effective == RailState::kCancelled && task.cancel_state != CancelRequestState::kPending) {
    spdlog::error("engine: connector {} reports payout {} cancelled, but no cancel was asked",
                  connector_name, input.cashout_id);
    return Status::ok();
  }
  const std::vector<PayoutStatus> path = transitions_for_rail_state(task.status, effective);
  if (path.empty() &&
      (effective == RailState::kCompleted || effective == RailState::kFailed ||
       effective == RailState::kCancelled || effective == RailState::kReversed) &&
      task.status != PayoutStatus::kCompleted && !status_is_terminal(task.status)) {
    spdlog::warn("engine: connector {} reports payout {} {} while it is {}; left as it is",
                 connector_name, input.cashout_id, rail_state_name(effective),
                 status_name(task.status));
  }
  PayoutStatus current = task.status;
  for (PayoutStatus to : path) {
    commands::TransitionInput transition =
        engine_transition(input.cashout_id, current, to, Actor::kProvider);
    if (to == PayoutStatus::kFailed) {
      transition.failure_code = current == PayoutStatus::kCompleted
                                    ? kRejectionWithdrawalReversed
                                    : input.rail.rejection_code.value_or(808);
    }
    if (to == PayoutStatus::kCompleted) transition.bank_reference_id = input.rail.bank_reference;
    if (to == PayoutStatus::kCancelled) {
      // The merchant asked; the connector's answer is the confirmation the table requires.
      transition.actor = Actor::kClient;
      transition.context.connector_confirmed_cancel = true;
      transition.message = "Payout cancelled by client (confirmed by " +
                           std::string(connector_name) + ")";
    } else if (!input.rail.message.empty()) {
      transition.message = input.rail.message;
    }
    PAYOUTD_RETURN_IF_ERROR(transition_in(commands, tx, transition, now, transitions));
    current = to;
  }
  return Status::ok();
}

// Records the connector's answers in one batch. `crashes(cashout_id)` is the fault injector: the
// first payout it kills cuts the batch there, as a process dying mid-way would.
template <typename Crashes>
void record_batch(Store& store, const commands::Commands& commands, const EngineOptions& options,
                  std::string_view connector_name,
                  const std::vector<RecordInput>& records, Crashes crashes, std::string_view what,
                  PassStats& stats) {
  size_t recorded = records.size();
  for (size_t i = 0; i < records.size(); ++i) {
    if (crashes(records[i].cashout_id)) {
      recorded = i;
      break;
    }
  }
  std::vector<OpBody> writes;
  std::vector<int64_t> ids;
  for (size_t i = 0; i < recorded; ++i) {
    ids.push_back(records[i].cashout_id);
    writes.push_back([&commands, &options, connector_name, input = records[i]](WriteTx& tx,
                                                                   Transitions& transitions) {
      return record_rail_status(commands, tx, input, options, connector_name, transitions);
    });
  }
  tally(write_all(store, std::move(writes)), ids, what, options, stats);
}

// The connector's answers to submissions: a submission is accepted or in doubt, never "not found".
void append_submissions(const std::vector<ConnectorPayout>& payouts,
                        std::vector<RailStatus> answers, int64_t at,
                        std::vector<RecordInput>& records) {
  PAYOUTD_ASSERT(answers.size() == payouts.size());
  for (size_t i = 0; i < payouts.size(); ++i) {
    if (answers[i].state == RailState::kNotFound) answers[i].state = RailState::kUnknown;
    records.push_back({payouts[i].cashout_id, std::move(answers[i]), std::nullopt, at, std::nullopt});
  }
}

}  // namespace

int Engine::submit(int64_t now, PassStats& stats) {
  std::vector<EngineTask> tasks =
      read_due(store_, {EngineWork::kSubmit, now, 0, 0, options_.batch_limit}, "submit");
  if (tasks.empty()) return 0;

  // 1. Claim: queued -> processing with this instance's lease, one transaction. From here on the
  //    merchant can no longer cancel without the connector, so the rail never pays a payout that
  //    was refunded.
  const int64_t lease_until = now + options_.lease_ms * kMicrosPerMilli;
  std::vector<Claimed> claimed(tasks.size());
  std::vector<OpBody> bodies;
  const std::string connector_name(connector_.name());
  for (size_t i = 0; i < tasks.size(); ++i) {
    const int64_t cashout_id = tasks[i].cashout_id;
    bodies.push_back([this, cashout_id, now, lease_until, &claimed, i, connector_name](
                         WriteTx& tx, Transitions& transitions) -> Status {
      PAYOUTD_ASSIGN_OR_RETURN(EngineTask task, tx.engine_task(cashout_id));
      if (task.status != PayoutStatus::kQueued) {
        return Status::error(ErrorKind::kConflict, "payout is no longer queued");
      }
      PAYOUTD_RETURN_IF_ERROR(tx.claim_engine_lease(cashout_id, PayoutStatus::kQueued,
                                                    options_.instance_id, now, lease_until));
      commands::TransitionInput input = engine_transition(
          cashout_id, PayoutStatus::kQueued, PayoutStatus::kProcessing, Actor::kSystem);
      input.message = "Payout submitted to " + connector_name;
      Payout payout;
      PAYOUTD_RETURN_IF_ERROR(transition_in(commands_, tx, input, now, transitions, &payout));
      EngineTaskUpdate update;
      update.cashout_id = cashout_id;
      update.owner = options_.instance_id;
      update.now = now;
      // A payout that reached a connector before (action_required -> queued) is asked about
      // before it is sent again.
      update.connector_state = task.connector_state == ConnectorState::kNone
                                   ? ConnectorState::kSubmitting
                                   : ConnectorState::kUnknown;
      update.cancel_state = CancelRequestState::kNone;
      update.next_at = lease_until;  // if this instance dies, the follow-up takes over then
      update.attempts = 0;
      update.release = false;
      update.lease_until = lease_until;
      update.connector = connector_name;
      PAYOUTD_RETURN_IF_ERROR(tx.update_engine_task(update));
      // What this op just wrote, without reading it back: the payout as the transition left it
      // (the connector needs only its key, amount and beneficiary) and the bookkeeping above.
      EngineTask after = std::move(task);
      after.status = PayoutStatus::kProcessing;
      after.event_seq = payout.event_seq;
      after.connector_state = update.connector_state;
      after.cancel_state = update.cancel_state;
      after.next_at = update.next_at;
      after.claimed_by = options_.instance_id;
      after.lease_until = lease_until;
      after.attempts = 0;
      claimed[i] = Claimed{std::move(payout), std::move(after), lease_until};
      return Status::ok();
    });
  }
  std::vector<OpOutcome> outcomes = write_all(store_, std::move(bodies));
  std::vector<int64_t> ids;
  for (const EngineTask& task : tasks) ids.push_back(task.cashout_id);
  tally(outcomes, ids, "claiming for submission", options_, stats);
  std::vector<Claimed> mine;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    if (outcomes[i].status.is_ok()) mine.push_back(std::move(claimed[i]));
  }
  if (mine.empty()) return 0;
  for (const Claimed& claim : mine) {
    if (crash_at(FaultPoint::kAfterSubmitClaim, claim.payout.cashout_id, stats)) return 0;
  }

  // 2. The connector, outside any transaction, only while the lease has time left.
  const int64_t call_at = clock_.now_micros();
  if (call_at >= lease_until - options_.lease_margin_ms * kMicrosPerMilli) {
    spdlog::warn("engine: lease too short to submit {} payouts; another pass takes over",
                 mine.size());
    return 0;
  }
  std::vector<ConnectorPayout> fresh;
  std::vector<RecordInput> records;
  for (const Claimed& claim : mine) {
    if (claim.task.connector_state == ConnectorState::kSubmitting) {
      fresh.push_back(connector_payout(claim.payout));
      continue;
    }
    const ConnectorPayout payout = connector_payout(claim.payout);
    RailStatus known = connector_.query(std::span<const ConnectorPayout>(&payout, 1), call_at)[0];
    if (known.state == RailState::kNotFound) {
      fresh.push_back(payout);
    } else {
      records.push_back({claim.payout.cashout_id, std::move(known), std::nullopt, call_at, std::nullopt});
    }
  }
  if (!fresh.empty()) append_submissions(fresh, connector_.submit(fresh, call_at), call_at, records);
  stats.submitted += static_cast<int>(fresh.size());

  // 3. Record the answers (a crash before this is what the follow-up's query repairs).
  record_batch(
      store_, commands_, options_, connector_.name(), records,
      [&](int64_t id) { return crash_at(FaultPoint::kAfterSubmitCall, id, stats); },
      "recording submission of", stats);
  return static_cast<int>(mine.size());
}

int Engine::follow(int64_t now, PassStats& stats) {
  if (!connector_.submits_automatically()) return 0;  // manual: operators move payouts
  std::vector<EngineTask> tasks =
      read_due(store_, {EngineWork::kFollow, now, 0, 0, options_.batch_limit}, "follow up");
  if (tasks.empty()) return 0;

  // Payouts in doubt (a submission not confirmed) or with a pending cancel get a lease: what
  // the engine does next has side effects at the rail. The rest only need a query.
  std::vector<EngineTask> plain;
  std::vector<EngineTask> to_lease;
  for (EngineTask& task : tasks) {
    const bool doubt = task.connector_state == ConnectorState::kSubmitting ||
                       task.connector_state == ConnectorState::kUnknown;
    const bool cancel_pending = task.cancel_state == CancelRequestState::kPending &&
                                task.status == PayoutStatus::kProcessing;
    (doubt || cancel_pending ? to_lease : plain).push_back(std::move(task));
  }
  std::vector<Claimed> mine;
  if (!plain.empty()) {
    Status loaded = store_.read([&](ReadTx& tx) -> Status {
      for (EngineTask& task : plain) {
        PAYOUTD_ASSIGN_OR_RETURN(Payout payout,
                                 tx.find_payout(0, PayoutRef::by_cashout_id(task.cashout_id)));
        mine.push_back(Claimed{std::move(payout), std::move(task), 0, false});
      }
      return Status::ok();
    });
    if (!loaded.is_ok()) {
      spdlog::error("engine: reading payouts to follow up: {}", loaded.to_string());
      return 0;
    }
  }
  tasks = std::move(to_lease);

  const int64_t lease_until = now + options_.lease_ms * kMicrosPerMilli;
  std::vector<Claimed> claimed(tasks.size());
  std::vector<OpBody> bodies;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const int64_t cashout_id = tasks[i].cashout_id;
    const PayoutStatus status = tasks[i].status;
    bodies.push_back([this, cashout_id, status, now, lease_until, &claimed, i](
                         WriteTx& tx, Transitions&) -> Status {
      PAYOUTD_RETURN_IF_ERROR(
          tx.claim_engine_lease(cashout_id, status, options_.instance_id, now, lease_until));
      PAYOUTD_ASSIGN_OR_RETURN(Payout payout,
                               tx.find_payout(0, PayoutRef::by_cashout_id(cashout_id)));
      PAYOUTD_ASSIGN_OR_RETURN(EngineTask task, tx.engine_task(cashout_id));
      claimed[i] = Claimed{std::move(payout), std::move(task), lease_until};
      return Status::ok();
    });
  }
  std::vector<OpOutcome> outcomes = write_all(store_, std::move(bodies));
  std::vector<int64_t> ids;
  for (const EngineTask& task : tasks) ids.push_back(task.cashout_id);
  tally(outcomes, ids, "claiming for follow-up", options_, stats);
  for (size_t i = 0; i < outcomes.size(); ++i) {
    if (!outcomes[i].status.is_ok()) continue;
    if (crash_at(FaultPoint::kAfterFollowClaim, claimed[i].payout.cashout_id, stats)) return 0;
    mine.push_back(std::move(claimed[i]));
  }
  if (mine.empty()) return 0;

  // Only while the leases have time left (all were taken at `now` for the same length).
  const int64_t call_at = clock_.now_micros();
  if (!tasks.empty() && call_at >= lease_until - options_.lease_margin_ms * kMicrosPerMilli) {
    spdlog::warn("engine: lease too short to follow up {} payouts; another pass takes over",
                 mine.size());
    return 0;
  }
  std::vector<RecordInput> records;
  // Most payouts need only a query: one batched call for all of them.
  std::vector<ConnectorPayout> to_query;
  std::vector<bool> in_doubt;
  std::vector<bool> query_leased;
  std::vector<EngineTask> query_tasks;
  for (const Claimed& claim : mine) {
    const ConnectorPayout payout = connector_payout(claim.payout);
    const bool doubt = claim.task.connector_state == ConnectorState::kSubmitting ||
                       claim.task.connector_state == ConnectorState::kUnknown;
    const bool cancel_pending = claim.task.cancel_state == CancelRequestState::kPending &&
                                claim.payout.status == PayoutStatus::kProcessing;
    if (cancel_pending && !doubt) {
      RecordInput record{claim.payout.cashout_id, {}, std::nullopt, call_at, std::nullopt};
      const CancelAnswer answer = connector_.try_cancel(payout, call_at);
      record.cancel_answer = answer;
      if (answer == CancelAnswer::kCancelled) {
        record.rail.state = RailState::kCancelled;
      } else {
        record.rail = connector_.query(std::span<const ConnectorPayout>(&payout, 1), call_at)[0];
      }
      records.push_back(std::move(record));
      continue;
    }
    to_query.push_back(payout);
    in_doubt.push_back(doubt);
    query_leased.push_back(claim.leased);
    query_tasks.push_back(claim.task);
  }
  std::vector<RailStatus> answers = connector_.query(to_query, call_at);
  PAYOUTD_ASSERT(answers.size() == to_query.size());
  std::vector<ConnectorPayout> to_submit;
  for (size_t i = 0; i < to_query.size(); ++i) {
    RecordInput record{to_query[i].cashout_id, std::move(answers[i]), std::nullopt, call_at, std::nullopt};
    if (!query_leased[i]) record.expected = query_tasks[i];
    if (in_doubt[i] && record.rail.state == RailState::kNotFound) {
      // After a crash before the submit: the rail never had it. We hold the lease, so either
      // the merchant's pending cancel needs nobody else's word, or we submit it now.
      const Claimed& claim = *std::find_if(mine.begin(), mine.end(), [&](const Claimed& c) {
        return c.payout.cashout_id == to_query[i].cashout_id;
      });
      if (claim.payout.status != PayoutStatus::kProcessing) {
        records.push_back(std::move(record));
      } else if (claim.task.cancel_state == CancelRequestState::kPending) {
        record.rail = RailStatus{};
        record.rail.state = RailState::kCancelled;
        record.cancel_answer = CancelAnswer::kCancelled;
        records.push_back(std::move(record));
      } else {
        to_submit.push_back(to_query[i]);
      }
      continue;
    }
    records.push_back(std::move(record));
  }
  if (!to_submit.empty()) {
    append_submissions(to_submit, connector_.submit(to_submit, call_at), call_at, records);
    stats.submitted += static_cast<int>(to_submit.size());
  }
  stats.followed += static_cast<int>(records.size());
  record_batch(
      store_, commands_, options_, connector_.name(), records,
      [&](int64_t id) { return crash_at(FaultPoint::kAfterFollowCall, id, stats); },
      "recording follow-up of", stats);
  return static_cast<int>(mine.size());
}

Result<ProcessingCancelResult> Engine::cancel_processing(int64_t merchant_id,
                                                         const PayoutRef& ref) {
  std::optional<Payout> payout;
  std::optional<EngineTask> task;
  Status read = store_.read([&](ReadTx& tx) -> Status {
    PAYOUTD_ASSIGN_OR_RETURN(Payout found, tx.find_payout(merchant_id, ref));
    PAYOUTD_ASSIGN_OR_RETURN(EngineTask engine_task, tx.engine_task(found.cashout_id));
    payout.emplace(std::move(found));
    task.emplace(std::move(engine_task));
    return Status::ok();
  });
  if (!read.is_ok()) return read;
  if (payout->status != PayoutStatus::kProcessing) {
    return Status::error(ErrorKind::kInvalidTransition, "payout is no longer processing")
        .with_detail_code(static_cast<int>(payout->status));
  }
  const int64_t cashout_id = payout->cashout_id;
  const int64_t now = clock_.now_micros();
  // The answer to a refused request: the payout as it stands.
  auto refused = [&]() -> Result<ProcessingCancelResult> {
    PAYOUTD_ASSIGN_OR_RETURN(commands::PayoutWithEvents unchanged,
                             commands_.get_payout(merchant_id, ref));
    return ProcessingCancelResult{ProcessingCancel::kRefused, std::move(unchanged)};
  };

  // Never handed to a connector by an engine (an operator moved it to processing, as with the
  // manual connector): no rail to ask, so it is refused; the operator resolves it with set-status.
  if (task->connector_state == ConnectorState::kNone) return refused();

  // At the rail: the request is made durable, with this instance's lease, before the connector is
  // asked. Asking first would leave a window in which the rail has cancelled the payout but the
  // database does not say a cancel was asked: another instance's follow-up would find the rail's
  // "cancelled" unexplained, and if this instance died before recording, the payout would stay
  // processing with its money held. With the request pending and leased, no other instance asks
  // the rail meanwhile, and after a death the engine's follow-up finishes the cancel once the
  // lease runs out (the rail answers the same again).
  bool asked = false;
  CancelAnswer answer = CancelAnswer::kLater;
  if (task->connector_state == ConnectorState::kAccepted) {
    const int64_t lease_until = now + options_.lease_ms * kMicrosPerMilli;
    Status begun = store_.write([&](WriteTx& tx) {
      return tx.begin_processing_cancel(cashout_id, options_.instance_id, now, lease_until);
    });
    if (begun.is_ok()) {
      asked = true;
      answer = connector_.try_cancel(connector_payout(*payout), now);
      if (fault_injector_ && fault_injector_(FaultPoint::kAfterCancelCall, cashout_id)) {
        return Status::unavailable("engine stopped after asking the connector to cancel");
      }
    } else if (begun.kind() != ErrorKind::kConflict) {
      return begun;
    }
    // kConflict: another instance holds the payout right now (or it moved on); the request is
    // recorded below and the engine resolves it on its next look.
  }

  Status written = Status::ok();
  Transitions transitions;
  if (asked && answer == CancelAnswer::kTooLate) {
    // Refused: nothing of the request stays (a refused cancel leaves no trace but the error).
    written = store_.write([&](WriteTx& tx) {
      return tx.withdraw_processing_cancel(cashout_id, options_.instance_id, task->cancel_state,
                                           payout->cancel_requested_at);
    });
    if (written.kind() == ErrorKind::kConflict) {
      // The lease ran out before the withdrawal: the request stays pending, and the engine's
      // follow-up, asking the rail again, records the refusal.
      spdlog::warn("engine: lease on payout {} ran out before its refused cancel was withdrawn",
                   cashout_id);
    } else if (!written.is_ok()) {
      return written;
    }
    return refused();
  }
  if (asked) {
    // Recorded as the engine's follow-up records a connector's answer under its lease: a
    // confirmation cancels and refunds the payout; otherwise the rail's state is recorded, the
    // lease released, and the request, pending, is shown (cancel_requested_at: v1's 202).
    RecordInput record{cashout_id, {}, answer, now, std::nullopt};
    if (answer == CancelAnswer::kCancelled) {
      record.rail.state = RailState::kCancelled;
    } else {
      const ConnectorPayout asked_payout = connector_payout(*payout);
      record.rail = connector_.query(std::span<const ConnectorPayout>(&asked_payout, 1), now)[0];
    }
    written = store_.write([&](WriteTx& tx) {
      transitions.clear();
      PAYOUTD_RETURN_IF_ERROR(
          record_rail_status(commands_, tx, record, options_, connector_.name(), transitions));
      if (answer == CancelAnswer::kCancelled) return Status::ok();
      Status requested = tx.request_cancel(cashout_id, now);
      // No longer processing: the rail's state, just recorded, decided it.
      return requested.kind() == ErrorKind::kConflict ? Status::ok() : requested;
    });
    if (written.kind() == ErrorKind::kConflict) {
      // The lease ran out before the answer was recorded: the request is pending, and the
      // engine's follow-up finishes it (the answer below says so: requested, not cancelled).
      spdlog::warn("engine: lease on payout {} ran out before its cancel was recorded: {}",
                   cashout_id, written.message());
      written = Status::ok();
      transitions.clear();
    }
  } else {
    // Not confirmed at the rail yet (being submitted, or in doubt), or held by another instance:
    // the engine resolves it on its next look, which the request makes due now.
    written = store_.write([&](WriteTx& tx) { return tx.request_cancel(cashout_id, now); });
    if (written.kind() == ErrorKind::kConflict) {
      written = Status::error(ErrorKind::kInvalidTransition, "payout is no longer processing")
                    .with_detail_code(static_cast<int>(PayoutStatus::kProcessing));
    }
  }
  if (!written.is_ok()) return written;
  for (const auto& [from, to] : transitions) {
    if (options_.on_transition_committed) options_.on_transition_committed(from, to);
  }
  PAYOUTD_ASSIGN_OR_RETURN(commands::PayoutWithEvents after,
                           commands_.get_payout(merchant_id, ref));
  // Cancelled only by this request's own write: a payout another request cancelled meanwhile
  // answers "requested" here, so that one cancel, not two, is told it cancelled the payout.
  const bool cancelled_here =
      std::any_of(transitions.begin(), transitions.end(),
                  [](const auto& step) { return step.second == PayoutStatus::kCancelled; });
  const ProcessingCancel outcome =
      cancelled_here ? ProcessingCancel::kCancelled : ProcessingCancel::kRequested;
  return ProcessingCancelResult{outcome, std::move(after)};
}

void Engine::cancel_processing_async(int64_t merchant_id, PayoutRef ref,
                                     commands::Callback<ProcessingCancelResult> done) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_ && requests_.size() < kMaxQueuedRequests) {
      requests_.push_back([this, merchant_id, ref = std::move(ref), done]() {
        done(cancel_processing(merchant_id, ref));
      });
      wake_.notify_one();
      return;
    }
  }
  done(Status::unavailable("too many cancel requests in flight; retry"));
}

Status Engine::handle_callback(std::string_view body, std::string_view signature_header) {
  PAYOUTD_ASSIGN_OR_RETURN(RailCallback callback,
                           connector_.parse_callback(body, signature_header));
  const int64_t now = clock_.now_micros();
  return store_.write([&](WriteTx& tx) -> Status {
    PAYOUTD_ASSIGN_OR_RETURN(Payout payout,
                             tx.find_payout(0, PayoutRef::by_public_id(callback.key)));
    return tx.poke_engine_task(payout.cashout_id, now);
  });
}

void Engine::handle_callback_async(std::string body, std::string signature_header,
                                   std::function<void(Status)> done) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_ && requests_.size() < kMaxQueuedRequests) {
      requests_.push_back([this, body = std::move(body),
                           signature_header = std::move(signature_header), done]() {
        done(handle_callback(body, signature_header));
      });
      wake_.notify_one();
      return;
    }
  }
  done(Status::unavailable("too many requests in flight; retry"));
}

void Engine::worker_loop() {
  for (;;) {
    std::function<void()> request;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !requests_.empty(); });
      if (requests_.empty()) return;  // stopping, nothing left
      request = std::move(requests_.front());
      requests_.pop_front();
    }
    request();
  }
}

void Engine::start() {
  PAYOUTD_ASSERT(!loop_thread_.joinable());
  loop_running_.store(true);
  loop_thread_ = std::thread([this] {
    while (loop_running_.load()) {
      const uint64_t pass = passes_started_.fetch_add(1, std::memory_order_acq_rel) + 1;
      const PassStats stats = run_once();
      if (stats.idle()) last_idle_pass_.store(pass, std::memory_order_release);
      // A full batch of any kind means more is waiting: go again at once.
      const bool busy = stats.total_work() >= options_.batch_limit;
      if (busy) continue;
      std::unique_lock<std::mutex> lock(loop_mutex_);
      loop_wake_.wait_for(lock, std::chrono::milliseconds(options_.poll_interval_ms),
                          [this] { return !loop_running_.load(); });
    }
  });
}

void Engine::stop() {
  if (!loop_thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(loop_mutex_);
    loop_running_.store(false);
  }
  loop_wake_.notify_all();
  loop_thread_.join();
}

std::string_view rail_state_name(RailState state) {
  switch (state) {
    case RailState::kUnknown:
      return "unknown";
    case RailState::kNotFound:
      return "not_found";
    case RailState::kProcessing:
      return "processing";
    case RailState::kSettling:
      return "settling";
    case RailState::kActionRequired:
      return "action_required";
    case RailState::kCompleted:
      return "completed";
    case RailState::kFailed:
      return "failed";
    case RailState::kReversed:
      return "reversed";
    case RailState::kCancelled:
      return "cancelled";
  }
  return "?";
}

std::string_view cancel_answer_name(CancelAnswer answer) {
  switch (answer) {
    case CancelAnswer::kCancelled:
      return "cancelled";
    case CancelAnswer::kTooLate:
      return "too_late";
    case CancelAnswer::kLater:
      return "later";
    case CancelAnswer::kUnknown:
      return "unknown";
  }
  return "?";
}

}  // namespace payoutd::engine
