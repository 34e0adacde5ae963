// The Store both backends share: one writer thread owning the only write connection of this
// process (group commit, LevelDB's BuildBatchGroup: every op waiting joins the next transaction,
// each in its own savepoint), and a bounded pool of read connections. The backend supplies the
// connections (ConnectionFactory); everything above the connection is the same for SQLite and
// PostgreSQL.
//
// PostgreSQL only: several processes' writers run at once on one database. A transaction that
// loses a serialization failure or deadlock (FailureKind::kConflict) is rolled back as a whole
// and run again, ops and all, a bounded number of times; no op learns an outcome before its
// transaction commits, so a retried op is simply applied again.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/sql/connection.h"
#include "store/sql/transactions.h"
#include "store/store.h"

namespace payoutd::sql {

// What a backend supplies: its connections and its migrations.
class ConnectionFactory {
 public:
  virtual ~ConnectionFactory() = default;
  virtual Result<std::unique_ptr<Connection>> open_writer() = 0;
  virtual Result<std::unique_ptr<Connection>> open_reader() = 0;
  // Applies pending migrations on a connection of its own.
  virtual Status migrate() = 0;
  // Called before a transaction starts on `connection` (writer or reader): a backend whose
  // connections can drop (PostgreSQL) reconnects here. Bounded; never called inside a transaction.
  virtual Status before_transaction(Connection& connection) {
    (void)connection;
    return Status::ok();
  }
  // Called when starting a transaction failed: true when the connection had been lost (a server
  // restart, a failover, an idle connection cut) and is connected again, so starting once more
  // may succeed. Nothing has happened in the database yet, so trying again is safe.
  virtual bool reconnected_after_loss(Connection& connection) {
    (void)connection;
    return false;
  }
};

// Bound on whole-transaction retries after conflicts (PostgreSQL serialization failures and
// deadlocks). After the last one the ops fail with kUnavailable (the client may retry).
inline constexpr int kMaxConflictAttempts = 8;

class BatchingStore : public Store {
 public:
  ~BatchingStore() override;
  BatchingStore(const BatchingStore&) = delete;
  BatchingStore& operator=(const BatchingStore&) = delete;

  Status migrate() override;
  Status read(const std::function<Status(ReadTx&)>& body) override;
  Status read_single(const std::function<Status(ReadTx&)>& body) override;
  void submit(std::unique_ptr<WriteOp> op) override;
  Status read_own_tables(const std::function<Status(Connection&)>& body) override;
  Status write_own_tables(std::function<Status(Connection&)> body) override;
  void close() override;
  WriterStats writer_stats() const override;

  uint64_t batches_committed() const { return batches_committed_.load(); }
  uint64_t ops_committed() const { return ops_committed_.load(); }
  // Whole transactions rolled back and run again after a conflict.
  uint64_t conflict_retries() const { return conflict_retries_.load(); }
  // PostgreSQL write groups (StoreOptions::group_deferred_writes): written set-wise, and rolled
  // back to run op by op.
  uint64_t deferred_groups_written() const { return deferred_groups_written_.load(); }
  uint64_t deferred_groups_fallen_back() const { return deferred_groups_fallen_back_.load(); }
  // Readers blocked in read()/read_single() because every pooled read connection is out, for
  // tests to wait on instead of sleeping. Counted under the pool's lock, which the waiting reader
  // releases only once it has found no free connection: a reader that gets one at once is never
  // seen here.
  int waiting_readers() const;

  // Test hooks: the first column of the first row of `sql`, run on the writer's connection (inside
  // a write op) or on a pooled read connection (inside a read transaction).
  Result<std::string> query_on_writer_for_testing(const std::string& sql);
  Result<std::string> query_on_reader_for_testing(const std::string& sql);

 protected:
  // Opens the writer and `options.read_connections` readers from `factory` and starts the writer.
  // The caller checks init_status() after construction.
  BatchingStore(std::unique_ptr<ConnectionFactory> factory, const StoreOptions& options);
  const Status& init_status() const { return init_status_; }
  const StoreOptions& options() const { return options_; }

 private:
  struct TransactionRun;

  // Starts a write or read transaction on `connection`, reconnecting once when it had been lost.
  Status begin(Connection& connection, bool write);
  void writer_loop();
  // Runs ops[first..] in one transaction until done or the transaction aborts (retrying it whole
  // after conflicts); completes every op it consumed and returns the index of the first op it
  // did not consume.
  size_t run_transaction(std::vector<std::unique_ptr<WriteOp>>& ops, size_t first);
  void try_transaction(std::vector<std::unique_ptr<WriteOp>>& ops, size_t first,
                       TransactionRun& run);
  // Applies one op in its own savepoint and appends its outcome to run.results. False when the
  // transaction can go no further (run.aborted set; run.conflict when worth running again).
  bool apply_one(Connection& connection, SqlWriteTx& tx, WriteOp& op, TransactionRun& run);
  // Runs ops[begin, end) (all defer their writes, at least two) as one write group inside a
  // savepoint (store/sql/deferred_tx.h). kWritten: their outcomes are appended to run.results;
  // kFellBack: nothing of the group is left, the caller applies the ops one by one; kAborted: as
  // apply_one's false.
  enum class GroupOutcome { kWritten, kFellBack, kAborted };
  GroupOutcome try_group(Connection& connection, std::vector<std::unique_ptr<WriteOp>>& ops,
                         size_t begin, size_t end, TransactionRun& run);
  void complete_failed(std::vector<std::unique_ptr<WriteOp>>& ops, size_t first, size_t end,
                       const Status& status);
  void record_committed_batch(size_t ops, size_t refused);

  std::unique_ptr<Connection> borrow_reader(Status& status);
  void return_reader(std::unique_ptr<Connection> connection);
  // A borrowed read connection, given back when this goes out of scope (also when a read's body
  // throws), never inside a transaction. connection() is null when none could be borrowed; the
  // reason is then in status().
  class BorrowedReader {
   public:
    explicit BorrowedReader(BatchingStore& store);
    ~BorrowedReader();
    BorrowedReader(const BorrowedReader&) = delete;
    BorrowedReader& operator=(const BorrowedReader&) = delete;
    Connection* connection() const { return connection_.get(); }
    const Status& status() const { return status_; }

   private:
    BatchingStore& store_;
    Status status_;
    std::unique_ptr<Connection> connection_;
  };

  const std::unique_ptr<ConnectionFactory> factory_;
  const StoreOptions options_;
  Status init_status_;

  // Writer. The connection is touched only by the writer thread once it runs.
  std::unique_ptr<Connection> writer_connection_;
  std::mutex queue_mutex_;
  std::condition_variable queue_ready_;
  std::deque<std::unique_ptr<WriteOp>> queue_;  // guarded by queue_mutex_
  bool stopping_ = false;                       // guarded by queue_mutex_
  std::mutex close_mutex_;                      // serializes close()
  std::thread writer_thread_;

  // Read pool.
  mutable std::mutex pool_mutex_;
  std::condition_variable pool_available_;
  std::vector<std::unique_ptr<Connection>> idle_readers_;  // guarded by pool_mutex_
  int readers_out_ = 0;                                    // guarded by pool_mutex_
  int readers_waiting_ = 0;                                // guarded by pool_mutex_
  bool pool_closed_ = false;                               // guarded by pool_mutex_

  // Stats.
  std::atomic<uint64_t> batches_committed_{0};
  std::atomic<uint64_t> ops_committed_{0};
  std::atomic<uint64_t> ops_refused_{0};
  std::atomic<uint64_t> batches_failed_{0};
  std::atomic<uint64_t> ops_failed_{0};
  std::atomic<uint64_t> conflict_retries_{0};
  std::atomic<uint64_t> deferred_groups_written_{0};
  std::atomic<uint64_t> deferred_groups_fallen_back_{0};
  std::array<std::atomic<uint64_t>, kBatchSizeBucketBounds.size() + 1> batch_size_buckets_{};
};

}  // namespace payoutd::sql
