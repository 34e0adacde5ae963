// The SQLite implementation of the shared SQL layer (store/sql/connection.h): thin RAII wrappers
// over the sqlite3 C API. Nothing here throws; every failure is a Status.
//
// A connection is used by one thread at a time (the writer thread, or whichever reader borrowed it
// from the pool), so connections are opened without SQLite's own mutex (SQLITE_OPEN_NOMUTEX).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "store/sql/connection.h"

struct sqlite3;
struct sqlite3_stmt;

namespace payoutd::sqlite {

using sql::DatabaseError;
using sql::Statement;
using sql::StatementLease;

// A failed sqlite3 call as a DatabaseError (constraint kinds from the extended code; busy, locked
// and full are kUnavailable, corrupt and notadb kCorruption).
DatabaseError database_error(int extended_code, std::string message);

class SqliteConnection;

class SqliteStatement final : public sql::Statement {
 public:
  SqliteStatement(SqliteConnection& connection, sqlite3_stmt* statement);
  ~SqliteStatement() override;
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  using sql::Statement::bind;
  void bind(int index, int64_t value) override;
  void bind(int index, std::string_view text) override;
  void bind_blob(int index, std::string_view bytes) override;
  void bind_null(int index, sql::SqlType type) override;
  Result<bool> step() override;

  bool column_is_null(int column) const override;
  int64_t column_int64(int column) const override;
  std::string column_text(int column) const override;
  std::string column_blob(int column) const override;

  const DatabaseError& last_error() const override { return last_error_; }
  int64_t changes() const override;
  void reset() override;

 private:
  void note_bind(int result_code);
  // The slot of parameter `$number`; 0 when the text has none (a remembered bind error when the
  // number is out of range).
  int slot(int number);

  static constexpr int kMaxParameterNumber = 32766;  // SQLite's default SQLITE_MAX_VARIABLE_NUMBER

  SqliteConnection& connection_;
  sqlite3_stmt* statement_;
  std::vector<int> slot_of_number_;  // [N]: the slot of `$N`, 0 when the text has no `$N`
  std::vector<bool> bound_;          // [slot]: bound since the last reset
  bool stepped_ = false;             // step() ran since the last reset
  DatabaseError bind_error_;
  DatabaseError last_error_;
};

struct ConnectionOptions {
  int busy_timeout_ms = 5000;
  bool read_only_queries = false;  // PRAGMA query_only=ON (pooled read connections)
};

class SqliteConnection final : public sql::Connection {
 public:
  // Opens (creating if missing) the database file and applies the per-connection settings:
  // journal_mode=WAL, synchronous=FULL, foreign_keys=ON, busy_timeout, trusted_schema=OFF.
  static Result<std::unique_ptr<SqliteConnection>> open(const std::string& path,
                                                        const ConnectionOptions& options);
  ~SqliteConnection() override;
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  sql::Dialect dialect() const override { return sql::Dialect::kSqlite; }
  // Every failing SQLite statement undoes only itself: `scope` changes nothing.
  Result<StatementLease> prepare(std::string_view sql,
                                 sql::FailureScope scope = sql::FailureScope::kOp) override;
  Status execute_script(std::string_view sql) override;
  Status execute_cached(std::string_view sql) override;
  Result<std::string> query_text(std::string_view sql) override;
  // BEGIN IMMEDIATE, retrying while another process holds the write lock, up to busy_timeout_ms.
  Status begin_write() override;
  Status begin_read() override { return execute_script("BEGIN"); }
  Status commit() override { return execute_script("COMMIT"); }
  void rollback() override;
  bool in_transaction() const override;

  DatabaseError current_error() const;
  sqlite3* handle() { return database_; }
  int busy_timeout_ms() const { return options_.busy_timeout_ms; }

 private:
  SqliteConnection(sqlite3* database, ConnectionOptions options);
  Status configure();

  // Bound on cached statements; dynamic list queries produce a bounded but large set of texts.
  static constexpr size_t kMaxCachedStatements = 256;

  sqlite3* database_;
  ConnectionOptions options_;
  std::unordered_map<std::string, std::unique_ptr<SqliteStatement>> statements_;
};

}  // namespace payoutd::sqlite
