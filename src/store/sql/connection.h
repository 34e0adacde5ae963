// The SQL layer both store backends share: an abstract connection and prepared statement over
// which every query of store/sql/ is written once. SQLite (store/sqlite/) and PostgreSQL
// (store/postgres/) implement them. Nothing here throws; every failure is a Status.
//
// SQL texts use numbered parameters `$1`, `$2`, ... (each number may appear several times):
// PostgreSQL's own style, sent to it as written, and to SQLite a named parameter whose name the
// SQLite statement maps to its number once, when it is prepared. Nothing rewrites a text. Where
// the dialects differ the query asks `connection.dialect()`.
//
// A Connection is used by one thread at a time (the writer thread, or whichever reader borrowed it
// from the pool). Prepared statements are cached per connection: prepared once, reset and unbound
// after each use by the StatementLease that hands them out.
//
// A failing statement fails its op. SQLite undoes only that statement; PostgreSQL, sparing a
// statement savepoint per statement, aborts the whole transaction (every later statement fails).
// So the op must not go on after the failure: it returns it (or the refusal it means), and the
// writer's per-op savepoint (ROLLBACK TO op) undoes the op on both backends before the
// transaction goes on. A data-changing statement whose failure the op carries on from (a unique
// violation answered by reading the existing row) is prepared with FailureScope::kStatement: on
// both backends its failure then undoes only itself and the transaction stays usable.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "store/sql/constraints.h"

namespace payoutd::sql {

enum class Dialect : uint8_t { kSqlite = 0, kPostgresql };

// The type of a bound value; a NULL is bound with the type its column or expression has, so that
// PostgreSQL never has to infer it (SQLite ignores it).
enum class SqlType : uint8_t { kInt = 0, kText, kBlob };

// What kind of failure a statement met, as far as the queries care.
enum class FailureKind : uint8_t {
  kNone = 0,
  kUnique,       // unique or primary key violation
  kCheck,        // CHECK constraint
  kForeignKey,
  kNotNull,
  kTrigger,      // a trigger refused the change (append-only tables, wallet match)
  kConflict,     // PostgreSQL: serialization failure or deadlock; the whole transaction must be
                 // retried (never SQLite)
  kOther,        // anything else (I/O, syntax, busy, ...)
};

// The outcome of a failed call, kept so that callers can map constraint failures to the precise
// domain error (duplicate external_id, second refund, negative balance, ...). A constraint failure
// carries the identity of the constraint (store/sql/constraints.h), set by the backend from what
// its engine reports; queries compare identities, never message text. `message` is for logs only.
struct DatabaseError {
  FailureKind kind = FailureKind::kNone;
  std::string message;
  int code = 0;  // the backend's own code (SQLite extended result code); 0 for PostgreSQL
  // How the failure reads as a Status (busy, full, serialization failure -> kUnavailable; corrupt
  // -> kCorruption; the rest kInternal). Set by the backend.
  ErrorKind status_kind = ErrorKind::kInternal;
  Constraint constraint = Constraint::kNone;  // kUnlisted for a constraint no query answers for

  bool failed() const { return kind != FailureKind::kNone; }
  bool is_constraint() const {
    return kind == FailureKind::kUnique || kind == FailureKind::kCheck ||
           kind == FailureKind::kForeignKey || kind == FailureKind::kNotNull ||
           kind == FailureKind::kTrigger;
  }
  bool is_unique() const { return kind == FailureKind::kUnique; }
  bool is_check() const { return kind == FailureKind::kCheck; }
  bool is_foreign_key() const { return kind == FailureKind::kForeignKey; }
  bool is_trigger() const { return kind == FailureKind::kTrigger; }
  bool is_conflict() const { return kind == FailureKind::kConflict; }
  // Whether this is a failure of that one constraint.
  bool violated(Constraint which) const { return is_constraint() && constraint == which; }
};

// The Status of a failed call: `context: message`, of the error's status kind.
Status status_of(const DatabaseError& error, std::string_view context);

class Statement {
 public:
  virtual ~Statement() = default;

  // Binders take 1-based parameter indexes. A bind failure is remembered and reported by the next
  // step(), so call sites stay linear and no error is lost.
  virtual void bind(int index, int64_t value) = 0;
  virtual void bind(int index, std::string_view text) = 0;
  virtual void bind_blob(int index, std::string_view bytes) = 0;
  virtual void bind_null(int index, SqlType type) = 0;
  void bind(int index, const char* text) { bind(index, std::string_view(text)); }
  void bind(int index, const std::string& text) { bind(index, std::string_view(text)); }
  void bind(int index, const std::optional<std::string>& text);
  void bind(int index, const std::optional<int64_t>& value);
  void bind(int index, const std::optional<int>& value);

  // Steps once: true when a row is available, false when done. On failure the error is kept in
  // last_error(), the connection notes it (Connection::note_error) and the Status maps it.
  virtual Result<bool> step() = 0;
  // Steps a statement that must not produce rows (INSERT/UPDATE/DELETE without RETURNING).
  Status execute();

  virtual bool column_is_null(int column) const = 0;
  virtual int64_t column_int64(int column) const = 0;  // 0 for NULL
  virtual std::string column_text(int column) const = 0;  // "" for NULL
  virtual std::string column_blob(int column) const = 0;  // raw bytes; "" for NULL
  std::optional<std::string> column_optional_text(int column) const;
  std::optional<int64_t> column_optional_int64(int column) const;

  virtual const DatabaseError& last_error() const = 0;
  // Rows changed by this statement's last completed INSERT/UPDATE/DELETE.
  virtual int64_t changes() const = 0;

  // Used by StatementLease only: ends any step in progress, clears bindings and errors.
  virtual void reset() = 0;
  bool in_use() const { return in_use_; }
  void set_in_use(bool in_use) { in_use_ = in_use; }

 private:
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

// What a failing statement undoes. SQLite always undoes only the statement. PostgreSQL aborts the
// whole transaction on any error unless the statement ran under a savepoint of its own, which
// costs a subtransaction on the server; so statements are marked when the caller handles their
// failure and carries on in the same op (a unique violation answered by reading the existing row).
// Any other failing statement fails its op, and the writer's per-op savepoint undoes the op.
enum class FailureScope : uint8_t {
  kOp = 0,    // a failure fails the op (the default)
  kStatement  // a failure undoes only this statement; the op may go on
};

class Connection {
 public:
  virtual ~Connection() = default;

  virtual Dialect dialect() const = 0;

  // A cached prepared statement for exactly one SQL statement.
  virtual Result<StatementLease> prepare(std::string_view sql,
                                         FailureScope scope = FailureScope::kOp) = 0;
  // Runs one or more statements without parameters or results (DDL, BEGIN/COMMIT, SAVEPOINT).
  virtual Status execute_script(std::string_view sql) = 0;
  // Runs one statement that returns no rows through the statement cache (parsed once per
  // connection): the writer's per-op SAVEPOINT / RELEASE. A backend may defer SAVEPOINT and
  // RELEASE inside a transaction and send them with the next statement (PostgreSQL: one round
  // trip fewer each); an error of a deferred command is reported by that statement.
  virtual Status execute_cached(std::string_view sql) = 0;
  // Runs a statement returning a single value; the first column of the first row as text ("" when
  // there is no row or the value is NULL).
  virtual Result<std::string> query_text(std::string_view sql) = 0;

  // Starts the writer's transaction (SQLite: BEGIN IMMEDIATE, waiting for another process's write
  // lock up to the busy timeout; PostgreSQL: BEGIN, read committed).
  virtual Status begin_write() = 0;
  // Starts a read transaction over one consistent snapshot (SQLite: BEGIN; PostgreSQL: BEGIN
  // ISOLATION LEVEL REPEATABLE READ READ ONLY).
  virtual Status begin_read() = 0;
  // Ends the transaction: COMMIT. Not ok when the commit did not happen (the transaction is then
  // rolled back or still open; call rollback()). Durable when ok (synchronous commit).
  virtual Status commit() = 0;
  // Rolls back the open transaction, if any. Never fails in a way callers can act on.
  virtual void rollback() = 0;
  virtual bool in_transaction() const = 0;

  // The first hard error (not a constraint failure) seen since the last take_hard_error() (ok
  // when none). A hard error inside a write op forces that op's rollback even if the op ignored
  // the error.
  Status take_hard_error();
  // True once a conflict failure (FailureKind::kConflict) was seen since the last call: the
  // writer retries the whole transaction.
  bool take_conflict();
  // Called by the implementation on every failed call.
  void note_error(const DatabaseError& error, const Status& status);

  // How many statements prepare() has handed out on this connection (cached or not): lets a
  // caller check a REQUIRES on how many statements a body runs (Store::read_single).
  uint64_t statements_prepared() const { return statements_prepared_; }

 protected:
  // Called by the implementation at the start of every prepare().
  void note_prepare() { ++statements_prepared_; }

 private:
  Status hard_error_;
  bool conflict_ = false;
  uint64_t statements_prepared_ = 0;
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

}  // namespace payoutd::sql
