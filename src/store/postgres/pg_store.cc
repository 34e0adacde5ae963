#include "store/postgres/pg_store.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "store/postgres/connection.h"
#include "store/postgres/schema.h"

namespace payoutd::postgres {
namespace {

int64_t wall_clock_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Every node's write transaction takes this advisory lock first: the nodes' group commits run one
// at a time, as SQLite's BEGIN IMMEDIATE makes them on one file. Why: each batch touches the
// same hot rows in whatever order its ops came (a merchant's wallet accounts, the platform's
// settlement account, the payouts being cancelled on two nodes at once), so concurrent batches
// deadlock on each other continually (the three-node test saw hundreds of deadlocks a minute,
// each costing deadlock_timeout and a retry of the whole batch). Taken in turn, nothing waits
// on a row lock, nothing deadlocks, and the nodes still share everything else: HTTP, reads
// (pooled, in parallel), connector calls and notification sends. The key differs from the
// migrations' lock (schema.h).
constexpr int64_t kWriterLockKey = 0x7061796f75746402;  // "payoutd\2"

class PgConnectionFactory final : public sql::ConnectionFactory {
 public:
  PgConnectionFactory(std::string conninfo, const StoreOptions& options)
      : conninfo_(std::move(conninfo)) {
    // A lock held by another node's batch is normally released within a commit; waiting longer
    // than the busy timeout means something is stuck, and the op fails as unavailable.
    options_.lock_timeout_ms = std::max(options.busy_timeout_ms, 1000);
    options_.writer_lock_key = kWriterLockKey;
  }

  Result<std::unique_ptr<sql::Connection>> open_writer() override { return open(false); }
  Result<std::unique_ptr<sql::Connection>> open_reader() override { return open(true); }

  Status migrate() override {
    PgConnectionOptions options = options_;
    options.read_only = false;
    // Migrations may wait for another process's migration (the advisory lock) and run DDL.
    options.statement_timeout_ms = 300000;
    options.lock_timeout_ms = 300000;
    PAYOUTD_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> connection,
                             PgConnection::open(conninfo_, options));
    return apply_migrations(*connection, wall_clock_micros());
  }

  Status before_transaction(sql::Connection& connection) override {
    return static_cast<PgConnection&>(connection).ensure_connected();
  }

  bool reconnected_after_loss(sql::Connection& connection) override {
    auto& pg = static_cast<PgConnection&>(connection);
    if (pg.connection_ok()) return false;  // connected: the failure was something else
    return pg.ensure_connected().is_ok();
  }

 private:
  Result<std::unique_ptr<sql::Connection>> open(bool read_only) {
    PgConnectionOptions options = options_;
    options.read_only = read_only;
    PAYOUTD_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> connection,
                             PgConnection::open(conninfo_, options));
    return std::unique_ptr<sql::Connection>(std::move(connection));
  }

  const std::string conninfo_;
  PgConnectionOptions options_;
};

}  // namespace

PgStore::PgStore(const std::string& conninfo, const StoreOptions& options)
    : sql::BatchingStore(std::make_unique<PgConnectionFactory>(conninfo, options), options) {}

Result<std::unique_ptr<PgStore>> PgStore::open(const std::string& conninfo,
                                               const StoreOptions& options) {
  std::unique_ptr<PgStore> store(new PgStore(conninfo, options));
  if (!store->init_status().is_ok()) return store->init_status();
  return store;
}

}  // namespace payoutd::postgres
