// Thin RAII wrappers over the sqlite3 C API. Nothing here throws; every failure is a Status.
//
// A Connection is used by one thread at a time (the writer thread, or whichever reader borrowed it
// from the pool), so connections are opened without SQLite's own mutex (SQLITE_OPEN_NOMUTEX).
// Prepared statements are cached per connection: prepared once, reset and unbound after each use
// by the StatementLease that hands them out.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace payoutd::sqlite {

// The outcome of a failed sqlite3 call, kept so that callers can map constraint failures to the
// precise domain error (duplicate external_id, second refund, negative balance, ...).
struct SqliteError {
  int extended_code = 0;  // sqlite3_extended_errcode(); 0 = no error
  std::string message;    // sqlite3_errmsg()

  bool is_constraint() const;
  // True for the constraint kinds by extended code (SQLITE_CONSTRAINT_UNIQUE/PRIMARYKEY count as
  // unique).
  bool is_unique() const;
  bool is_check() const;
  bool is_foreign_key() const;
  bool is_trigger() const;
  bool message_contains(std::string_view needle) const;
};

// Default mapping of an sqlite3 result code to a Status kind: busy/locked/full -> kUnavailable,
// corrupt/notadb -> kCorruption, everything else (including unmapped constraints) -> kInternal.
Status status_from_sqlite(const SqliteError& error, std::string_view context);

class Connection;

class Statement {
 public:
  Statement(Connection& connection, sqlite3_stmt* statement);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binders take 1-based parameter indexes. A bind failure (out of range, too big) is remembered
  // and reported by the next step(), so call sites stay linear and no error is lost.
  void bind(int index, int64_t value);
  void bind(int index, std::string_view text);
  void bind(int index, const char* text) { bind(index, std::string_view(text)); }
  void bind(int index, const std::string& text) { bind(index, std::string_view(text)); }
  void bind(int index, const std::optional<std::string>& text);
  void bind(int index, const std::optional<int64_t>& value);
  void bind(int index, const std::optional<int>& value);
  void bind_blob(int index, std::string_view bytes);
  void bind_null(int index);

  // Steps once: true when a row is available, false when done. On failure the error is kept in
  // last_error() and the returned Status uses the default mapping (see status_from_sqlite).
  Result<bool> step();
  // Steps a statement that must not produce rows (INSERT/UPDATE/DELETE without RETURNING).
  Status execute();

  bool column_is_null(int column) const;
  int64_t column_int64(int column) const;
  std::string column_text(int column) const;  // "" for NULL
  std::string column_blob(int column) const;  // raw bytes; "" for NULL
  std::optional<std::string> column_optional_text(int column) const;
  std::optional<int64_t> column_optional_int64(int column) const;

  const SqliteError& last_error() const { return last_error_; }
  // Changes made by the last completed INSERT/UPDATE/DELETE on this connection.
  int64_t changes() const;

  // Used by StatementLease only.
  void reset();
  bool in_use() const { return in_use_; }
  void set_in_use(bool in_use) { in_use_ = in_use; }

 private:
  Connection& connection_;
  sqlite3_stmt* statement_;
  SqliteError bind_error_;
  SqliteError last_error_;
  bool in_use_ = false;
};

// Borrowed cached statement; resets it and clears its bindings when destroyed, so no statement is
// ever left mid-step holding a read snapshot open.
class StatementLease {
 public:
  explicit StatementLease(Statement* statement) : statement_(statement) {}
  ~StatementLease();
  StatementLease(StatementLease&& other) noexcept : statement_(other.statement_) {
    other.statement_ = nullptr;
  }
  StatementLease& operator=(StatementLease&&) = delete;
  StatementLease(const StatementLease&) = delete;
  StatementLease& operator=(const StatementLease&) = delete;

  Statement* operator->() const { return statement_; }
  Statement& operator*() const { return *statement_; }

 private:
  Statement* statement_;
};

struct ConnectionOptions {
  int busy_timeout_ms = 5000;
  bool read_only_queries = false;  // PRAGMA query_only=ON (pooled read connections)
};

class Connection {
 public:
  // Opens (creating if missing) the database file and applies the per-connection settings:
  // journal_mode=WAL, synchronous=FULL, foreign_keys=ON, busy_timeout, trusted_schema=OFF.
  static Result<std::unique_ptr<Connection>> open(const std::string& path,
                                                  const ConnectionOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // A cached prepared statement for exactly one SQL statement.
  Result<StatementLease> prepare(std::string_view sql);
  // Runs one or more statements without results (DDL, BEGIN/COMMIT, SAVEPOINT). On failure the
  // error is kept in last_error().
  Status execute_script(std::string_view sql);
  // Runs one statement that returns no rows through the statement cache (parsed once per
  // connection): the writer's per-op SAVEPOINT / RELEASE.
  Status execute_cached(std::string_view sql);
  // Runs a statement returning a single value (PRAGMA reads, COUNT(*)); the first column of the
  // first row as text.
  Result<std::string> query_text(std::string_view sql);

  // BEGIN IMMEDIATE, retrying while another process holds the write lock, up to busy_timeout_ms.
  Status begin_immediate();
  bool in_transaction() const;
  // Row id of the most recent successful INSERT on this connection.
  int64_t last_insert_rowid() const;

  // The first non-constraint error seen since the last take_hard_error() (ok when none). A hard
  // error inside a write op forces that op's rollback even if the op ignored the error.
  Status take_hard_error();
  void note_error(const SqliteError& error, const Status& status);

  SqliteError current_error() const;
  sqlite3* handle() { return database_; }
  int busy_timeout_ms() const { return options_.busy_timeout_ms; }

 private:
  Connection(sqlite3* database, ConnectionOptions options);
  Status configure();

  // Bound on cached statements; dynamic list queries produce a bounded but large set of texts.
  static constexpr size_t kMaxCachedStatements = 256;

  sqlite3* database_;
  ConnectionOptions options_;
  std::unordered_map<std::string, std::unique_ptr<Statement>> statements_;
  Status hard_error_;
};

// RAII savepoint for multi-statement primitives: released on commit(), rolled back otherwise.
class Savepoint {
 public:
  Savepoint(Connection& connection, std::string name);
  ~Savepoint();
  Savepoint(const Savepoint&) = delete;
  Savepoint& operator=(const Savepoint&) = delete;

  const Status& begin_status() const { return begin_status_; }
  Status commit();

 private:
  Connection& connection_;
  std::string name_;
  Status begin_status_;
  bool open_ = false;
};

}  // namespace payoutd::sqlite
