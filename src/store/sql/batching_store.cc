#include "store/sql/batching_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <future>
#include <random>
#include <utility>

#include "store/sql/deferred_tx.h"
#include "store/sql/transactions.h"

namespace payoutd::sql {
namespace {

constexpr int kMaxReadConnections = 64;

// Commit failures are transient (busy, locked, disk full, a conflict) or internal; nothing else.
Status commit_failure(Status status) {
  if (status.kind() == ErrorKind::kUnavailable) return status;
  return Status::internal(status.message());
}

Status apply_guarded(WriteOp& op, WriteTx& tx) {
  // Exceptions are not part of the contract; one escaping an op must not kill the writer.
  try {
    return op.apply(tx);
  } catch (const std::exception& error) {
    return Status::internal(std::string("write op threw: ") + error.what());
  } catch (...) {
    return Status::internal("write op threw a non-standard exception");
  }
}

void complete_guarded(WriteOp& op, Status status) {
  try {
    op.complete(std::move(status));
  } catch (const std::exception& error) {
    spdlog::error("store: a write op's complete() threw: {}", error.what());
  } catch (...) {
    spdlog::error("store: a write op's complete() threw a non-standard exception");
  }
}

// A single statement's first value, for the test hooks.
class QueryOp final : public WriteOp {
 public:
  explicit QueryOp(std::string sql) : sql_(std::move(sql)) {}
  std::future<Result<std::string>> future() { return promise_.get_future(); }

  Status apply(WriteTx& tx) override {
    auto& sql_tx = static_cast<SqlWriteTx&>(tx);
    PAYOUTD_ASSIGN_OR_RETURN(std::string value, sql_tx.connection().query_text(sql_));
    value_ = std::move(value);
    return Status::ok();
  }
  void complete(Status status) override {
    if (status.is_ok()) {
      promise_.set_value(value_);
    } else {
      promise_.set_value(std::move(status));
    }
  }

 private:
  std::string sql_;
  std::string value_;
  std::promise<Result<std::string>> promise_;
};

}  // namespace

// One attempt at a transaction over ops[first, end).
struct BatchingStore::TransactionRun {
  size_t end = 0;
  std::vector<Status> results;  // per op in [first, end) when committed
  Status aborted;               // ok = committed
  bool conflict = false;        // aborted by a conflict: worth running again
};

BatchingStore::BatchingStore(std::unique_ptr<ConnectionFactory> factory,
                             const StoreOptions& options)
    : factory_(std::move(factory)), options_(options) {
  PAYOUTD_ASSERT(factory_ != nullptr);
  if (options.read_connections < 1 || options.read_connections > kMaxReadConnections) {
    init_status_ = Status::invalid_argument("read_connections", "read_connections must be 1 to 64");
    return;
  }
  if (options.max_batch_ops < 1) {
    init_status_ = Status::invalid_argument("max_batch_ops", "max_batch_ops must be at least 1");
    return;
  }
  if (options.max_queued_ops < 1) {
    init_status_ = Status::invalid_argument("max_queued_ops", "max_queued_ops must be at least 1");
    return;
  }
  if (options.busy_timeout_ms < 0) {
    init_status_ =
        Status::invalid_argument("busy_timeout_ms", "busy_timeout_ms must not be negative");
    return;
  }
  // The writer connection first: with SQLite it creates the file and switches it to WAL.
  Result<std::unique_ptr<Connection>> writer = factory_->open_writer();
  if (!writer.is_ok()) {
    init_status_ = std::move(writer).status();
    return;
  }
  std::vector<std::unique_ptr<Connection>> readers;
  for (int i = 0; i < options.read_connections; ++i) {
    Result<std::unique_ptr<Connection>> reader = factory_->open_reader();
    if (!reader.is_ok()) {
      init_status_ = std::move(reader).status();
      return;
    }
    readers.push_back(std::move(reader).value());
  }
  writer_connection_ = std::move(writer).value();
  idle_readers_ = std::move(readers);
  writer_thread_ = std::thread([this] { writer_loop(); });
}

BatchingStore::~BatchingStore() { close(); }

Status BatchingStore::begin(Connection& connection, bool write) {
  Status status = factory_->before_transaction(connection);
  if (status.is_ok()) status = write ? connection.begin_write() : connection.begin_read();
  // A connection can die between transactions without anyone noticing until it is used: the
  // BEGIN finds out. Reconnect and begin once more (nothing has happened yet).
  if (!status.is_ok() && factory_->reconnected_after_loss(connection)) {
    (void)connection.take_hard_error();
    status = write ? connection.begin_write() : connection.begin_read();
  }
  return status;
}

Status BatchingStore::migrate() { return factory_->migrate(); }

// ---- Reads ----

std::unique_ptr<Connection> BatchingStore::borrow_reader(Status& status) {
  const auto wait = std::chrono::milliseconds(std::max(options_.busy_timeout_ms, 1000));
  std::unique_lock lock(pool_mutex_);
  ++readers_waiting_;
  bool ready = pool_available_.wait_for(lock, wait,
                                        [this] { return pool_closed_ || !idle_readers_.empty(); });
  --readers_waiting_;
  if (pool_closed_) {
    status = Status::unavailable("store is closed");
    return nullptr;
  }
  if (!ready) {
    status = Status::unavailable("no free read connection; the database is overloaded");
    return nullptr;
  }
  std::unique_ptr<Connection> connection = std::move(idle_readers_.back());
  idle_readers_.pop_back();
  ++readers_out_;
  return connection;
}

int BatchingStore::waiting_readers() const {
  std::lock_guard lock(pool_mutex_);
  return readers_waiting_;
}

void BatchingStore::return_reader(std::unique_ptr<Connection> connection) {
  {
    std::lock_guard lock(pool_mutex_);
    idle_readers_.push_back(std::move(connection));
    --readers_out_;
  }
  // notify_all: close() waits for readers_out_ == 0 beside readers waiting for a connection.
  pool_available_.notify_all();
}

BatchingStore::BorrowedReader::BorrowedReader(BatchingStore& store)
    : store_(store), connection_(store.borrow_reader(status_)) {}

BatchingStore::BorrowedReader::~BorrowedReader() {
  if (!connection_) return;
  connection_->rollback();
  (void)connection_->take_hard_error();
  (void)connection_->take_conflict();
  store_.return_reader(std::move(connection_));
}

Status BatchingStore::read(const std::function<Status(ReadTx&)>& body) {
  BorrowedReader borrowed(*this);
  Connection* connection = borrowed.connection();
  if (connection == nullptr) return borrowed.status();
  PAYOUTD_RETURN_IF_ERROR(begin(*connection, /*write=*/false));
  SqlReadTx tx(*connection);
  Status status = body(tx);
  Status ended = connection->commit();
  if (!ended.is_ok() && status.is_ok()) return ended;
  return status;
}

Status BatchingStore::read_single(const std::function<Status(ReadTx&)>& body) {
  BorrowedReader borrowed(*this);
  Connection* connection = borrowed.connection();
  if (connection == nullptr) return borrowed.status();
  PAYOUTD_RETURN_IF_ERROR(factory_->before_transaction(*connection));
  PAYOUTD_ASSERT(!connection->in_transaction());
  auto attempt = [&]() {
    const uint64_t prepared_before = connection->statements_prepared();
    SqlReadTx tx(*connection);
    Status status = body(tx);
    // A second statement would see another snapshot than the first: a caller's bug (use read()).
    PAYOUTD_ASSERT(connection->statements_prepared() - prepared_before <= 1);
    PAYOUTD_ASSERT(!connection->in_transaction());
    return status;
  };
  Status status = attempt();
  // A connection can die between uses without anyone noticing until it is used; read() learns it
  // from its BEGIN, this read from its one statement. Reconnect and read once more (a read).
  if (!status.is_ok() && factory_->reconnected_after_loss(*connection)) {
    (void)connection->take_hard_error();
    status = attempt();
  }
  return status;
}

Status BatchingStore::read_own_tables(const std::function<Status(Connection&)>& body) {
  return read([&](ReadTx& tx) { return body(static_cast<SqlReadTx&>(tx).connection()); });
}

Status BatchingStore::write_own_tables(std::function<Status(Connection&)> body) {
  // Store::write's op never defers its writes, so its tx is always the writer's SqlWriteTx.
  return write([body = std::move(body)](WriteTx& tx) {
    auto* sql_tx = dynamic_cast<SqlWriteTx*>(&tx);
    PAYOUTD_ASSERT(sql_tx != nullptr);
    return body(sql_tx->connection());
  });
}

Result<std::string> BatchingStore::query_on_reader_for_testing(const std::string& sql) {
  std::string value;
  Status status = read([&](ReadTx& tx) -> Status {
    PAYOUTD_ASSIGN_OR_RETURN(std::string result,
                             static_cast<SqlReadTx&>(tx).connection().query_text(sql));
    value = std::move(result);
    return Status::ok();
  });
  if (!status.is_ok()) return status;
  return value;
}

Result<std::string> BatchingStore::query_on_writer_for_testing(const std::string& sql) {
  auto op = std::make_unique<QueryOp>(sql);
  std::future<Result<std::string>> future = op->future();
  submit(std::move(op));
  return future.get();
}

// ---- Writes ----

void BatchingStore::submit(std::unique_ptr<WriteOp> op) {
  PAYOUTD_ASSERT(op != nullptr);
  Status refused;
  {
    std::lock_guard lock(queue_mutex_);
    if (stopping_ || !writer_thread_.joinable()) {
      refused = Status::unavailable("store is closed");
    } else if (queue_.size() >= static_cast<size_t>(options_.max_queued_ops)) {
      refused = Status::unavailable("write queue is full; retry later");
    } else {
      queue_.push_back(std::move(op));
    }
  }
  if (!refused.is_ok()) {
    ops_failed_.fetch_add(1);
    complete_guarded(*op, std::move(refused));
    return;
  }
  queue_ready_.notify_one();
}

void BatchingStore::writer_loop() {
  std::vector<std::unique_ptr<WriteOp>> batch;
  batch.reserve(static_cast<size_t>(options_.max_batch_ops));
  while (true) {
    {
      std::unique_lock lock(queue_mutex_);
      queue_ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued has been drained
      // Everything waiting, up to the bound, joins this batch (LevelDB's BuildBatchGroup).
      const size_t take = std::min(queue_.size(), static_cast<size_t>(options_.max_batch_ops));
      for (size_t i = 0; i < take; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    size_t next = 0;
    while (next < batch.size()) {
      const size_t consumed_until = run_transaction(batch, next);
      PAYOUTD_ASSERT(consumed_until > next);  // every round consumes at least one op
      next = consumed_until;
    }
    batch.clear();  // destroys the completed ops on this thread
  }
}

void BatchingStore::complete_failed(std::vector<std::unique_ptr<WriteOp>>& ops, size_t first,
                                    size_t end, const Status& status) {
  ops_failed_.fetch_add(end - first);
  for (size_t i = first; i < end; ++i) complete_guarded(*ops[i], status);
}

bool BatchingStore::apply_one(Connection& connection, SqlWriteTx& tx, WriteOp& op,
                              TransactionRun& run) {
  Status savepoint = connection.execute_cached("SAVEPOINT op");
  if (!savepoint.is_ok()) {
    run.aborted = savepoint;
    return false;
  }
  (void)connection.take_hard_error();
  Status result = apply_guarded(op, tx);
  Status hard = connection.take_hard_error();
  if (connection.take_conflict()) {
    // A serialization failure or deadlock: the database may keep locks of earlier ops of this
    // transaction that the other side waits for, so only a whole new transaction helps.
    run.conflict = true;
    run.aborted = Status::unavailable("the database reported a conflict with another writer: " +
                                      (hard.is_ok() ? result.message() : hard.message()));
    return false;
  }
  if (!connection.in_transaction()) {
    // The database rolled the whole transaction back (I/O error, disk full, ...): every op
    // applied so far in it is gone too.
    run.aborted = hard.is_ok() ? Status::internal("the database rolled the transaction back") : hard;
    return false;
  }
  // An op that ignored a hard database error must not commit its half-done work.
  if (result.is_ok() && !hard.is_ok()) result = hard;
  if (!result.is_ok()) {
    Status rolled_back = connection.execute_cached("ROLLBACK TO op");
    if (!rolled_back.is_ok()) {
      run.aborted = rolled_back;
      return false;
    }
  }
  Status released = connection.execute_cached("RELEASE op");
  if (!released.is_ok()) {
    run.aborted = released;
    return false;
  }
  run.results.push_back(std::move(result));
  return true;
}

BatchingStore::GroupOutcome BatchingStore::try_group(Connection& connection,
                                                     std::vector<std::unique_ptr<WriteOp>>& ops,
                                                     size_t begin, size_t end,
                                                     TransactionRun& run) {
  PAYOUTD_ASSERT(end > begin + 1);
  Status savepoint = connection.execute_cached("SAVEPOINT op_group");
  if (!savepoint.is_ok()) {
    run.aborted = savepoint;
    return GroupOutcome::kAborted;
  }
  (void)connection.take_hard_error();
  DeferredWriteTx deferred(connection, end - begin);
  std::vector<Status> results;
  results.reserve(end - begin);
  bool usable = true;
  bool conflict = false;
  std::vector<int64_t> payouts;
  for (size_t i = begin; i < end; ++i) {
    if (std::optional<int64_t> payout = ops[i]->deferred_payout()) payouts.push_back(*payout);
  }
  if (!deferred.prefetch_payouts(std::move(payouts)).is_ok()) usable = false;
  // Every statement of a group treats a conflict alike: the whole transaction is retried.
  if (connection.take_conflict()) {
    conflict = true;
    usable = false;
  }
  for (size_t i = begin; i < end && usable; ++i) {
    deferred.begin_op();
    Status result = apply_guarded(*ops[i], deferred);
    Status hard = connection.take_hard_error();
    if (connection.take_conflict()) conflict = true;
    if (conflict || deferred.refused() || !hard.is_ok() || !connection.in_transaction()) {
      usable = false;
      break;
    }
    if (!result.is_ok()) deferred.discard_op();  // as its savepoint's rollback would
    results.push_back(std::move(result));
  }
  if (usable) {
    Status flushed = deferred.flush();
    (void)connection.take_hard_error();
    if (connection.take_conflict()) conflict = true;
    if (!flushed.is_ok()) {
      usable = false;
      spdlog::debug("store: write group of {} ops falls back: {}", end - begin,
                    flushed.to_string());
    }
  }
  if (conflict) {
    run.conflict = true;
    run.aborted = Status::unavailable("the database reported a conflict with another writer");
    return GroupOutcome::kAborted;
  }
  if (!connection.in_transaction()) {
    run.aborted = Status::internal("the database rolled the transaction back");
    return GroupOutcome::kAborted;
  }
  if (usable) {
    Status released = connection.execute_cached("RELEASE op_group");
    if (!released.is_ok()) {
      run.aborted = released;
      return GroupOutcome::kAborted;
    }
    for (Status& result : results) run.results.push_back(std::move(result));
    deferred_groups_written_.fetch_add(1);
    return GroupOutcome::kWritten;
  }
  Status rolled_back = connection.execute_cached("ROLLBACK TO op_group");
  if (rolled_back.is_ok()) rolled_back = connection.execute_cached("RELEASE op_group");
  (void)connection.take_hard_error();
  (void)connection.take_conflict();
  if (!rolled_back.is_ok()) {
    run.aborted = rolled_back;
    return GroupOutcome::kAborted;
  }
  deferred_groups_fallen_back_.fetch_add(1);
  return GroupOutcome::kFellBack;
}

void BatchingStore::try_transaction(std::vector<std::unique_ptr<WriteOp>>& ops, size_t first,
                                    TransactionRun& run) {
  Connection& connection = *writer_connection_;
  run.results.clear();
  run.results.reserve(ops.size() - first);
  run.aborted = Status::ok();
  run.conflict = false;
  run.end = first;

  Status begun = begin(connection, /*write=*/true);
  (void)connection.take_hard_error();
  if (!begun.is_ok()) {
    run.conflict = connection.take_conflict();
    run.aborted = commit_failure(begun);
    run.end = ops.size();
    connection.rollback();
    return;
  }
  (void)connection.take_conflict();

  SqlWriteTx tx(connection);
  const bool grouping = options_.group_deferred_writes &&
                        connection.dialect() == Dialect::kPostgresql;
  size_t end = first;
  bool aborted = false;
  while (end < ops.size() && !aborted) {
    if (grouping && ops[end]->defers_writes()) {
      size_t group_end = end + 1;
      while (group_end < ops.size() && ops[group_end]->defers_writes()) ++group_end;
      if (group_end - end >= 2) {
        const GroupOutcome grouped = try_group(connection, ops, end, group_end, run);
        if (grouped == GroupOutcome::kWritten) {
          end = group_end;
          continue;
        }
        if (grouped == GroupOutcome::kAborted) {
          end = group_end;
          break;
        }
        // Fell back: the same ops one by one, each in its own savepoint, as any other op.
        for (; end < group_end; ++end) {
          if (!apply_one(connection, tx, *ops[end], run)) {
            ++end;
            aborted = true;
            break;
          }
        }
        continue;
      }
    }
    if (!apply_one(connection, tx, *ops[end], run)) aborted = true;
    ++end;
  }
  run.end = end;

  if (run.aborted.is_ok()) {
    Status committed = connection.commit();
    if (!committed.is_ok()) {
      run.conflict = connection.take_conflict();
      run.aborted = commit_failure(committed);
    }
  }
  if (!run.aborted.is_ok()) {
    connection.rollback();
    (void)connection.take_hard_error();
    (void)connection.take_conflict();
  }
}

size_t BatchingStore::run_transaction(std::vector<std::unique_ptr<WriteOp>>& ops, size_t first) {
  TransactionRun run;
  std::minstd_rand jitter(static_cast<uint32_t>(first + ops.size()));
  for (int attempt = 1;; ++attempt) {
    try_transaction(ops, first, run);
    if (run.aborted.is_ok() || !run.conflict || attempt == kMaxConflictAttempts) break;
    // The whole transaction again, every op of it re-applied from the start. A short random pause
    // lets the other writer commit first, so the two do not meet again in the same order.
    conflict_retries_.fetch_add(1);
    const int pause_ms = 1 + static_cast<int>(jitter() % static_cast<uint32_t>(2 << attempt));
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
  }

  if (!run.aborted.is_ok()) {
    batches_failed_.fetch_add(1);
    complete_failed(ops, first, run.end, run.aborted);
    return run.end;
  }
  size_t refused = 0;
  for (const Status& result : run.results) refused += result.is_ok() ? 0 : 1;
  record_committed_batch(run.results.size(), refused);
  // Durable now: only from here may a caller learn the outcome.
  for (size_t i = 0; i < run.results.size(); ++i) {
    complete_guarded(*ops[first + i], std::move(run.results[i]));
  }
  return run.end;
}

void BatchingStore::record_committed_batch(size_t ops, size_t refused) {
  batches_committed_.fetch_add(1);
  ops_committed_.fetch_add(ops);
  ops_refused_.fetch_add(refused);
  size_t bucket = 0;
  while (bucket < kBatchSizeBucketBounds.size() && ops > kBatchSizeBucketBounds[bucket]) ++bucket;
  batch_size_buckets_[bucket].fetch_add(1);
}

WriterStats BatchingStore::writer_stats() const {
  WriterStats stats;
  stats.batches_committed = batches_committed_.load();
  stats.ops_committed = ops_committed_.load();
  stats.ops_refused = ops_refused_.load();
  stats.write_groups = deferred_groups_written_.load();
  stats.write_groups_fallen_back = deferred_groups_fallen_back_.load();
  stats.batches_failed = batches_failed_.load();
  stats.ops_failed = ops_failed_.load();
  for (size_t i = 0; i < stats.batch_size_buckets.size(); ++i) {
    stats.batch_size_buckets[i] = batch_size_buckets_[i].load();
  }
  return stats;
}

void BatchingStore::close() {
  std::lock_guard close_lock(close_mutex_);
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_ready_.notify_all();
  if (writer_thread_.joinable()) {
    // Closing from inside an op would wait for itself.
    PAYOUTD_ASSERT(std::this_thread::get_id() != writer_thread_.get_id());
    writer_thread_.join();
  }
  writer_connection_.reset();

  std::unique_lock lock(pool_mutex_);
  pool_closed_ = true;
  pool_available_.notify_all();
  // Reads in flight finish on their own; their connections are closed when they come back.
  pool_available_.wait(lock, [this] { return readers_out_ == 0; });
  idle_readers_.clear();
}

}  // namespace payoutd::sql
