// The SQLite implementation of Store: one writer thread owning the only write connection
// (group commit), and a bounded pool of read connections. WAL mode lets reads run beside the
// writer; several processes may open the same file (the write lock is taken with BEGIN IMMEDIATE
// and waited for up to busy_timeout_ms).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store/sqlite/connection.h"
#include "store/store.h"

namespace payoutd::sqlite {

class SqliteStore final : public Store {
 public:
  // `path` is a filesystem path (absolute, or relative to the current directory). The file is
  // created if missing; its parent directory must exist. Does not migrate.
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path,
                                                   const StoreOptions& options);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Status migrate() override;
  Status read(const std::function<Status(ReadTx&)>& body) override;
  void submit(std::unique_ptr<WriteOp> op) override;
  void close() override;
  WriterStats writer_stats() const override;

  uint64_t batches_committed() const { return batches_committed_.load(); }
  uint64_t ops_committed() const { return ops_committed_.load(); }
  const std::string& path() const { return path_; }

  // Test hooks: the first column of the first row of `sql`, run on the writer's connection (inside
  // a write op) or on a pooled read connection (inside a read transaction).
  Result<std::string> query_on_writer_for_testing(const std::string& sql);
  Result<std::string> query_on_reader_for_testing(const std::string& sql);

 private:
  SqliteStore(std::string path, const StoreOptions& options,
              std::unique_ptr<Connection> writer_connection,
              std::vector<std::unique_ptr<Connection>> readers);

  void writer_loop();
  // Runs ops[first..] in one transaction until done or the transaction aborts; completes every
  // op it consumed and returns the index of the first op it did not consume.
  size_t run_transaction(std::vector<std::unique_ptr<WriteOp>>& ops, size_t first);
  void complete_failed(std::vector<std::unique_ptr<WriteOp>>& ops, size_t first, size_t end,
                       const Status& status);
  void record_committed_batch(size_t ops, size_t refused);

  std::unique_ptr<Connection> borrow_reader(Status& status);
  void return_reader(std::unique_ptr<Connection> connection);

  const std::string path_;
  const StoreOptions options_;

  // Writer. The connection is touched only by the writer thread once it runs.
  std::unique_ptr<Connection> writer_connection_;
  std::mutex queue_mutex_;
  std::condition_variable queue_ready_;
  std::deque<std::unique_ptr<WriteOp>> queue_;  // guarded by queue_mutex_
  bool stopping_ = false;                       // guarded by queue_mutex_
  std::mutex close_mutex_;                      // serializes close()
  std::thread writer_thread_;

  // Read pool.
  std::mutex pool_mutex_;
  std::condition_variable pool_available_;
  std::vector<std::unique_ptr<Connection>> idle_readers_;  // guarded by pool_mutex_
  int readers_out_ = 0;                                    // guarded by pool_mutex_
  bool pool_closed_ = false;                               // guarded by pool_mutex_

  // Stats.
  std::atomic<uint64_t> batches_committed_{0};
  std::atomic<uint64_t> ops_committed_{0};
  std::atomic<uint64_t> ops_refused_{0};
  std::atomic<uint64_t> batches_failed_{0};
  std::atomic<uint64_t> ops_failed_{0};
  std::array<std::atomic<uint64_t>, kBatchSizeBucketBounds.size() + 1> batch_size_buckets_{};
};

}  // namespace payoutd::sqlite
