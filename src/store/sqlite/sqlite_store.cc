#include "store/sqlite/sqlite_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <future>
#include <utility>

#include "store/sqlite/schema.h"
#include "store/sqlite/transactions.h"

namespace payoutd::sqlite {
namespace {

constexpr int kMaxReadConnections = 64;

int64_t wall_clock_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Commit failures are transient (busy, locked, disk full) or internal; nothing else.
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
    auto& sqlite_tx = static_cast<SqliteWriteTx&>(tx);
    Result<std::string> value = sqlite_tx.connection().query_text(sql_);
    if (!value.is_ok()) return std::move(value).status();
    value_ = std::move(value).value();
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

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                       const StoreOptions& options) {
  if (options.read_connections < 1 || options.read_connections > kMaxReadConnections) {
    return Status::invalid_argument("read_connections", "read_connections must be 1 to 64");
  }
  if (options.max_batch_ops < 1) {
    return Status::invalid_argument("max_batch_ops", "max_batch_ops must be at least 1");
  }
  if (options.max_queued_ops < 1) {
    return Status::invalid_argument("max_queued_ops", "max_queued_ops must be at least 1");
  }
  if (options.busy_timeout_ms < 0) {
    return Status::invalid_argument("busy_timeout_ms", "busy_timeout_ms must not be negative");
  }
  // The writer connection first: it creates the file and switches it to WAL.
  Result<std::unique_ptr<Connection>> writer =
      Connection::open(path, ConnectionOptions{options.busy_timeout_ms, false});
  if (!writer.is_ok()) return std::move(writer).status();
  std::vector<std::unique_ptr<Connection>> readers;
  for (int i = 0; i < options.read_connections; ++i) {
    Result<std::unique_ptr<Connection>> reader =
        Connection::open(path, ConnectionOptions{options.busy_timeout_ms, true});
    if (!reader.is_ok()) return std::move(reader).status();
    readers.push_back(std::move(reader).value());
  }
  return std::unique_ptr<SqliteStore>(
      new SqliteStore(path, options, std::move(writer).value(), std::move(readers)));
}

SqliteStore::SqliteStore(std::string path, const StoreOptions& options,
                         std::unique_ptr<Connection> writer_connection,
                         std::vector<std::unique_ptr<Connection>> readers)
    : path_(std::move(path)),
      options_(options),
      writer_connection_(std::move(writer_connection)),
      idle_readers_(std::move(readers)) {
  writer_thread_ = std::thread([this] { writer_loop(); });
}

SqliteStore::~SqliteStore() { close(); }

Status SqliteStore::migrate() {
  // A connection of its own: migrations may run while this store's writer is busy, and DDL
  // should not leave statements cached on a connection that outlives it.
  Result<std::unique_ptr<Connection>> connection =
      Connection::open(path_, ConnectionOptions{options_.busy_timeout_ms, false});
  if (!connection.is_ok()) return std::move(connection).status();
  return apply_migrations(**connection, wall_clock_micros());
}

// ---- Reads ----

std::unique_ptr<Connection> SqliteStore::borrow_reader(Status& status) {
  const auto wait = std::chrono::milliseconds(std::max(options_.busy_timeout_ms, 1000));
  std::unique_lock lock(pool_mutex_);
  bool ready = pool_available_.wait_for(lock, wait,
                                        [this] { return pool_closed_ || !idle_readers_.empty(); });
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

void SqliteStore::return_reader(std::unique_ptr<Connection> connection) {
  {
    std::lock_guard lock(pool_mutex_);
    idle_readers_.push_back(std::move(connection));
    --readers_out_;
  }
  // notify_all: close() waits for readers_out_ == 0 beside readers waiting for a connection.
  pool_available_.notify_all();
}

Status SqliteStore::read(const std::function<Status(ReadTx&)>& body) {
  Status borrowed;
  std::unique_ptr<Connection> connection = borrow_reader(borrowed);
  if (!connection) return borrowed;

  // Gives the connection back even if `body` throws, never inside a transaction.
  struct Return {
    SqliteStore* store;
    std::unique_ptr<Connection>& connection;
    ~Return() {
      if (connection->in_transaction()) (void)connection->execute_script("ROLLBACK");
      (void)connection->take_hard_error();
      store->return_reader(std::move(connection));
    }
  } give_back{this, connection};

  PAYOUTD_RETURN_IF_ERROR(connection->execute_script("BEGIN"));
  SqliteReadTx tx(*connection);
  Status status = body(tx);
  Status ended = connection->execute_script("COMMIT");
  if (!ended.is_ok() && status.is_ok()) return ended;
  return status;
}

Result<std::string> SqliteStore::query_on_reader_for_testing(const std::string& sql) {
  std::string value;
  Status status = read([&](ReadTx& tx) -> Status {
    Result<std::string> result = static_cast<SqliteReadTx&>(tx).connection().query_text(sql);
    if (!result.is_ok()) return std::move(result).status();
    value = std::move(result).value();
    return Status::ok();
  });
  if (!status.is_ok()) return status;
  return value;
}

Result<std::string> SqliteStore::query_on_writer_for_testing(const std::string& sql) {
  auto op = std::make_unique<QueryOp>(sql);
  std::future<Result<std::string>> future = op->future();
  submit(std::move(op));
  return future.get();
}

// ---- Writes ----

void SqliteStore::submit(std::unique_ptr<WriteOp> op) {
  PAYOUTD_ASSERT(op != nullptr);
  Status refused;
  {
    std::lock_guard lock(queue_mutex_);
    if (stopping_) {
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

void SqliteStore::writer_loop() {
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

void SqliteStore::complete_failed(std::vector<std::unique_ptr<WriteOp>>& ops, size_t first,
                                  size_t end, const Status& status) {
  ops_failed_.fetch_add(end - first);
  for (size_t i = first; i < end; ++i) complete_guarded(*ops[i], status);
}

size_t SqliteStore::run_transaction(std::vector<std::unique_ptr<WriteOp>>& ops, size_t first) {
  Connection& connection = *writer_connection_;
  Status begun = connection.begin_immediate();
  (void)connection.take_hard_error();
  if (!begun.is_ok()) {
    batches_failed_.fetch_add(1);
    complete_failed(ops, first, ops.size(), commit_failure(begun));
    return ops.size();
  }

  SqliteWriteTx tx(connection);
  std::vector<Status> results;
  results.reserve(ops.size() - first);
  Status aborted;  // the whole transaction is lost; ops[first, end) fail with it
  size_t end = first;
  for (; end < ops.size(); ++end) {
    Status savepoint = connection.execute_cached("SAVEPOINT op");
    if (!savepoint.is_ok()) {
      aborted = savepoint;
      ++end;
      break;
    }
    (void)connection.take_hard_error();
    Status result = apply_guarded(*ops[end], tx);
    Status hard = connection.take_hard_error();
    if (!connection.in_transaction()) {
      // SQLite rolled the whole transaction back (I/O error, disk full, ...): every op applied
      // so far in it is gone too.
      aborted = hard.is_ok() ? Status::internal("the database rolled the transaction back") : hard;
      ++end;
      break;
    }
    // An op that ignored a hard database error must not commit its half-done work.
    if (result.is_ok() && !hard.is_ok()) result = hard;
    if (!result.is_ok()) {
      Status rolled_back = connection.execute_cached("ROLLBACK TO op");
      if (!rolled_back.is_ok()) {
        aborted = rolled_back;
        ++end;
        break;
      }
    }
    Status released = connection.execute_cached("RELEASE op");
    if (!released.is_ok()) {
      aborted = released;
      ++end;
      break;
    }
    results.push_back(std::move(result));
  }

  if (aborted.is_ok()) {
    Status committed = connection.execute_script("COMMIT");
    if (!committed.is_ok()) aborted = commit_failure(committed);
  }
  if (!aborted.is_ok()) {
    if (connection.in_transaction()) (void)connection.execute_script("ROLLBACK");
    (void)connection.take_hard_error();
    batches_failed_.fetch_add(1);
    complete_failed(ops, first, end, aborted);
    return end;
  }

  size_t refused = 0;
  for (const Status& result : results) refused += result.is_ok() ? 0 : 1;
  record_committed_batch(results.size(), refused);
  // Durable now: only from here may a caller learn the outcome.
  for (size_t i = 0; i < results.size(); ++i) {
    complete_guarded(*ops[first + i], std::move(results[i]));
  }
  return end;
}

void SqliteStore::record_committed_batch(size_t ops, size_t refused) {
  batches_committed_.fetch_add(1);
  ops_committed_.fetch_add(ops);
  ops_refused_.fetch_add(refused);
  size_t bucket = 0;
  while (bucket < kBatchSizeBucketBounds.size() && ops > kBatchSizeBucketBounds[bucket]) ++bucket;
  batch_size_buckets_[bucket].fetch_add(1);
}

WriterStats SqliteStore::writer_stats() const {
  WriterStats stats;
  stats.batches_committed = batches_committed_.load();
  stats.ops_committed = ops_committed_.load();
  stats.ops_refused = ops_refused_.load();
  stats.batches_failed = batches_failed_.load();
  stats.ops_failed = ops_failed_.load();
  for (size_t i = 0; i < stats.batch_size_buckets.size(); ++i) {
    stats.batch_size_buckets[i] = batch_size_buckets_[i].load();
  }
  return stats;
}

void SqliteStore::close() {
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

}  // namespace payoutd::sqlite
