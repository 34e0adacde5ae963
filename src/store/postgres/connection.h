// The PostgreSQL implementation of the shared SQL layer (store/sql/connection.h) over libpq.
// Nothing here throws; every failure is a Status.
//
// - SQL texts are PostgreSQL's own: numbered parameters `$1`, `$2`, ..., sent to the server as
//   written (SQLite reads `$N` as a named parameter, store/sqlite/connection.cc).
// - Statements are prepared on the server lazily, at their first step(), typed from the values
//   bound: int64 -> int8 (sent as decimal text), text -> text, blob -> bytea (sent in binary), a
//   NULL as the type its binder names (sql::SqlType). The server-side statements are cached per
//   (text, types) and bounded (least recently used ones are DEALLOCATEd).
// - Statement savepoints only where they buy something: inside a transaction, a statement
//   prepared with FailureScope::kStatement (a data-changing text: asserted) runs under a statement
//   savepoint, so its failure (a unique violation the op answers) undoes only that statement and
//   the transaction stays usable, as on SQLite; so does any statement not yet prepared on the
//   server (its first execution with these parameter types on this connection), since a parse
//   error would otherwise abort the transaction. The savepoint, the parse, the statement and the
//   release travel in one libpq pipeline: one round trip. Any other failing statement (kOp,
//   already prepared: a constraint, division by zero, a conflict) costs no subtransaction and
//   aborts the transaction as PostgreSQL does: its op fails, and the writer's per-op savepoint
//   (ROLLBACK TO op) recovers the transaction, or a rollback ends it.
// - Failures map by SQLSTATE to sql::DatabaseError, a constraint failure with the identity of
//   the constraint the server names (PG_DIAG_CONSTRAINT_NAME, store/sql/constraints.h), its
//   message the primary one only (DETAIL repeats key values), and to a Status (conflicts,
//   timeouts, lack of resources and lost connections are kUnavailable).
// - The connection string is never logged nor put in a message: it may carry a password.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "store/sql/connection.h"

struct pg_conn;
struct pg_result;

namespace payoutd::postgres {

struct PgConnectionOptions {
  int connect_timeout_ms = 5000;
  int statement_timeout_ms = 30000;
  int lock_timeout_ms = 10000;
  bool read_only = false;  // default_transaction_read_only (pooled read connections)
  // Non-zero: begin_write() also takes this transaction-level advisory lock, so that the write
  // transactions of every process using the same key run one at a time (PgStore's writers).
  int64_t writer_lock_key = 0;
};

// INSERT / UPDATE / DELETE / MERGE as the first keyword, or WITH and one of them later as a
// word (a data-modifying CTE): what FailureScope::kStatement requires (PgConnection::prepare
// asserts). The texts are ours (no leading comment, no keyword inside a literal). Exposed for tests.
bool changes_data(std::string_view sql);

// Decodes PostgreSQL's hex bytea text form ("\x00ff..."); false when malformed.
bool decode_bytea_hex(std::string_view text, std::string* out);

class PgConnection;

// A statement prepared on the server: one per (text, parameter types).
struct PgPrepared {
  std::string name;
  uint64_t last_used = 0;
  bool on_server = false;  // PQprepare succeeded (until then only reserved)
};

class PgStatement final : public sql::Statement {
 public:
  PgStatement(PgConnection& connection, std::string_view sql);
  ~PgStatement() override;
  PgStatement(const PgStatement&) = delete;
  PgStatement& operator=(const PgStatement&) = delete;

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

  const sql::DatabaseError& last_error() const override { return last_error_; }
  int64_t changes() const override { return changes_; }
  void reset() override;

 private:
  friend class PgConnection;

  // The character is the parameter's letter in a prepared statement's signature.
  enum class ParamType : char { kUnbound = 'u', kInt = 'i', kText = 't', kBlob = 'b' };
  struct Param {
    ParamType type = ParamType::kUnbound;
    bool null = false;  // a NULL of `type`
    std::string value;
  };

  // nullptr (and a remembered bind error) when outside 1..65535; grows the parameters to `index`.
  Param* param(int index);
  bool has_row() const { return result_ != nullptr && row_ >= 0 && row_ < row_count_; }
  // The value of column `column` of the current row; nullptr for NULL or no row.
  const char* value(int column, int* length) const;
  bool column_is_bytea(int column) const;

  PgConnection& connection_;
  const std::string sql_;
  const bool changes_data_;
  sql::FailureScope scope_ = sql::FailureScope::kOp;  // as last given to prepare()
  std::vector<Param> params_;  // [0, param_count_) in use; kept allocated across uses
  size_t param_count_ = 0;     // the highest index bound since the last reset
  sql::DatabaseError bind_error_;
  sql::DatabaseError last_error_;
  pg_result* result_ = nullptr;
  int row_ = -1;
  int row_count_ = 0;
  bool executed_ = false;
  int64_t changes_ = 0;
  // The server-side statement used last (valid while epoch matches the connection's).
  std::string prepared_signature_;
  PgPrepared* prepared_entry_ = nullptr;
  uint64_t prepared_epoch_ = 0;
};

class PgConnection final : public sql::Connection {
 public:
  // conninfo: a libpq connection URI (postgresql://user@host:port/db?...) or key=value string.
  static Result<std::unique_ptr<PgConnection>> open(const std::string& conninfo,
                                                    const PgConnectionOptions& options);
  ~PgConnection() override;
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  sql::Dialect dialect() const override { return sql::Dialect::kPostgresql; }
  // Inside a transaction a statement runs under a statement savepoint when `scope` is
  // kStatement, and on its first execution (a parse error must not abort the transaction);
  // otherwise a failure aborts the transaction until the writer's ROLLBACK TO the op. kStatement
  // is for data-changing texts only (changes_data()): asserted.
  Result<sql::StatementLease> prepare(std::string_view sql,
                                      sql::FailureScope scope = sql::FailureScope::kOp) override;
  Status execute_script(std::string_view sql) override;
  Status execute_cached(std::string_view sql) override;
  Result<std::string> query_text(std::string_view sql) override;
  Status begin_write() override;
  Status begin_read() override;
  Status commit() override;
  void rollback() override;
  bool in_transaction() const override;

  // Reconnects (PQreset) when the connection is bad and no transaction is open, and then clears
  // the statement caches (the server forgot its prepared statements). Used by the store before a
  // transaction. kUnavailable when the server cannot be reached.
  Status ensure_connected();

  // For tests and metrics.
  size_t prepared_statement_count() const { return prepared_.size(); }
  size_t cached_statement_count() const { return statements_.size(); }
  uint64_t round_trips() const { return round_trips_; }
  int backend_pid() const;
  bool connection_ok() const;

  static constexpr size_t kMaxCachedStatements = 256;  // client-side statement objects
  static constexpr size_t kMaxPreparedStatements = 256;  // server-side prepared statements

 private:
  friend class PgStatement;

  PgConnection(pg_conn* connection, PgConnectionOptions options, std::string password);
  Status configure();
  Result<bool> execute_statement(PgStatement& statement);
  // The server-side statement for (text, signature), reserved in the map (not yet on the server)
  // when missing.
  PgPrepared* prepared_entry(PgStatement& statement, const std::string& signature);
  void evict_prepared_if_full();
  void flush_deallocations();
  void clear_statement_caches();
  // Runs a parameterless command with PQexec, after the deferred commands (one simple-protocol
  // message; the result is the last command's, or the first error); nullptr on connection loss.
  pg_result* exec(const char* sql);
  // SAVEPOINT / RELEASE commands that execute_cached deferred: sent in front of the next
  // statement's pipeline or the next exec(). Bounded: past kMaxDeferredCommands they are flushed.
  static constexpr size_t kMaxDeferredCommands = 16;
  std::vector<std::string> deferred_;
  std::string deferred_script_;  // scratch for exec()
  // Builds the DatabaseError and Status of a failed result (nullptr: the connection failed), notes
  // them, and returns the Status.
  Status fail(pg_result* result, std::string_view context, sql::DatabaseError* error_out);
  Status connection_lost(std::string_view context, sql::DatabaseError* error_out);
  std::string redact(std::string message) const;
  bool usable() const;

  pg_conn* connection_;
  PgConnectionOptions options_;
  std::string password_;  // only to scrub it from messages; never written anywhere
  bool broken_ = false;   // the protocol state is unknown (a pipeline could not be finished)
  uint64_t round_trips_ = 0;
  uint64_t use_tick_ = 0;
  uint64_t epoch_ = 1;  // bumped whenever a PgPrepared is removed
  uint64_t next_statement_name_ = 1;
  std::unordered_map<std::string, std::unique_ptr<PgStatement>> statements_;
  std::unordered_map<std::string, PgPrepared> prepared_;  // key: signature '\1' text
  std::vector<std::string> pending_deallocations_;  // evicted; DEALLOCATEd when idle
  // Scratch space of execute_statement (no allocation per step once warm).
  std::string signature_;
  std::vector<unsigned int> types_;
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

}  // namespace payoutd::postgres
