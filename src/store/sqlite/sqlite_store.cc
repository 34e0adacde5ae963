#include "store/sqlite/sqlite_store.h"

#include <chrono>
#include <utility>

#include "store/sqlite/connection.h"
#include "store/sqlite/schema.h"

namespace payoutd::sqlite {
namespace {

int64_t wall_clock_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class SqliteConnectionFactory final : public sql::ConnectionFactory {
 public:
  SqliteConnectionFactory(std::string path, int busy_timeout_ms)
      : path_(std::move(path)), busy_timeout_ms_(busy_timeout_ms) {}

  Result<std::unique_ptr<sql::Connection>> open_writer() override { return open(false); }
  Result<std::unique_ptr<sql::Connection>> open_reader() override { return open(true); }

  Status migrate() override {
    // A connection of its own: migrations may run while the store's writer is busy, and DDL
    // should not leave statements cached on a connection that outlives it.
    Result<std::unique_ptr<SqliteConnection>> connection =
        SqliteConnection::open(path_, ConnectionOptions{busy_timeout_ms_, false});
    if (!connection.is_ok()) return std::move(connection).status();
    return apply_migrations(**connection, wall_clock_micros());
  }

 private:
  Result<std::unique_ptr<sql::Connection>> open(bool read_only) {
    Result<std::unique_ptr<SqliteConnection>> connection =
        SqliteConnection::open(path_, ConnectionOptions{busy_timeout_ms_, read_only});
    if (!connection.is_ok()) return std::move(connection).status();
    return std::unique_ptr<sql::Connection>(std::move(connection).value());
  }

  const std::string path_;
  const int busy_timeout_ms_;
};

}  // namespace

SqliteStore::SqliteStore(std::string path, const StoreOptions& options)
    : sql::BatchingStore(std::make_unique<SqliteConnectionFactory>(path, options.busy_timeout_ms),
                         options),
      path_(std::move(path)) {}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                       const StoreOptions& options) {
  std::unique_ptr<SqliteStore> store(new SqliteStore(path, options));
  if (!store->init_status().is_ok()) return store->init_status();
  return store;
}

}  // namespace payoutd::sqlite
