#include "store/sqlite/connection.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <cstdint>
#include <thread>
#include <utility>

namespace payoutd::sqlite {
namespace {

// SQLITE_TRANSIENT without the old-style cast in sqlite3.h's macro: SQLite copies the bytes
// before the bind call returns, so temporaries are safe to bind.
sqlite3_destructor_type transient_destructor() {
  return reinterpret_cast<sqlite3_destructor_type>(static_cast<intptr_t>(-1));
}

int primary_code(int extended_code) { return extended_code & 0xff; }

// `prefix'sql'` for error contexts. (Built by appending: GCC 12 at -O3 reports a false -Wrestrict
// on `"literal" + std::string(...)`.)
std::string describe(std::string_view prefix, std::string_view sql) {
  std::string out;
  out.reserve(prefix.size() + sql.size() + 2);
  out.append(prefix);
  out.push_back('\'');
  out.append(sql);
  out.push_back('\'');
  return out;
}

SqliteError error_of(sqlite3* database, int result_code) {
  SqliteError error;
  error.extended_code = result_code;
  if (database != nullptr) {
    // sqlite3_errmsg describes the most recent failure on this connection, which is this one.
    error.message = sqlite3_errmsg(database);
  } else {
    error.message = sqlite3_errstr(result_code);
  }
  return error;
}

}  // namespace

bool SqliteError::is_constraint() const {
  return primary_code(extended_code) == SQLITE_CONSTRAINT;
}
bool SqliteError::is_unique() const {
  return extended_code == SQLITE_CONSTRAINT_UNIQUE || extended_code == SQLITE_CONSTRAINT_PRIMARYKEY;
}
bool SqliteError::is_check() const { return extended_code == SQLITE_CONSTRAINT_CHECK; }
bool SqliteError::is_foreign_key() const { return extended_code == SQLITE_CONSTRAINT_FOREIGNKEY; }
bool SqliteError::is_trigger() const { return extended_code == SQLITE_CONSTRAINT_TRIGGER; }
bool SqliteError::message_contains(std::string_view needle) const {
  return std::string_view(message).find(needle) != std::string_view::npos;
}

Status status_from_sqlite(const SqliteError& error, std::string_view context) {
  std::string message = std::string(context) + ": " + error.message + " (sqlite code " +
                        std::to_string(error.extended_code) + ")";
  switch (primary_code(error.extended_code)) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::unavailable("database is busy; " + message);
    case SQLITE_FULL:
      return Status::unavailable("database or disk is full; " + message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::error(ErrorKind::kCorruption, std::move(message));
    default:
      return Status::internal(std::move(message));
  }
}

// ---- Statement ----

Statement::Statement(Connection& connection, sqlite3_stmt* statement)
    : connection_(connection), statement_(statement) {}

Statement::~Statement() { sqlite3_finalize(statement_); }

void Statement::bind(int index, int64_t value) {
  int rc = sqlite3_bind_int64(statement_, index, value);
  if (rc != SQLITE_OK && bind_error_.extended_code == 0) {
    bind_error_ = error_of(sqlite3_db_handle(statement_), rc);
  }
}

void Statement::bind(int index, std::string_view text) {
  // data() of an empty string_view may be null, which SQLite would read as NULL: use "".
  const char* data = text.empty() ? "" : text.data();
  int rc = sqlite3_bind_text64(statement_, index, data, text.size(), transient_destructor(),
                               SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_error_.extended_code == 0) {
    bind_error_ = error_of(sqlite3_db_handle(statement_), rc);
  }
}

void Statement::bind(int index, const std::optional<std::string>& text) {
  if (text) {
    bind(index, std::string_view(*text));
  } else {
    bind_null(index);
  }
}

void Statement::bind(int index, const std::optional<int64_t>& value) {
  if (value) {
    bind(index, *value);
  } else {
    bind_null(index);
  }
}

void Statement::bind(int index, const std::optional<int>& value) {
  if (value) {
    bind(index, static_cast<int64_t>(*value));
  } else {
    bind_null(index);
  }
}

void Statement::bind_blob(int index, std::string_view bytes) {
  // A null pointer would bind NULL; an empty blob must stay an (empty) blob.
  const char* data = bytes.empty() ? "" : bytes.data();
  int rc = sqlite3_bind_blob64(statement_, index, data, bytes.size(), transient_destructor());
  if (rc != SQLITE_OK && bind_error_.extended_code == 0) {
    bind_error_ = error_of(sqlite3_db_handle(statement_), rc);
  }
}

void Statement::bind_null(int index) {
  int rc = sqlite3_bind_null(statement_, index);
  if (rc != SQLITE_OK && bind_error_.extended_code == 0) {
    bind_error_ = error_of(sqlite3_db_handle(statement_), rc);
  }
}

Result<bool> Statement::step() {
  if (bind_error_.extended_code != 0) {
    last_error_ = bind_error_;
    Status status = status_from_sqlite(last_error_, "bind");
    connection_.note_error(last_error_, status);
    return status;
  }
  int rc = sqlite3_step(statement_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  last_error_ = error_of(sqlite3_db_handle(statement_), rc);
  // sqlite3_errmsg may already describe a later call; prefer the statement's own code.
  last_error_.extended_code = sqlite3_extended_errcode(sqlite3_db_handle(statement_));
  Status status = status_from_sqlite(last_error_, "query failed");
  connection_.note_error(last_error_, status);
  return status;
}

Status Statement::execute() {
  Result<bool> stepped = step();
  if (!stepped.is_ok()) return std::move(stepped).status();
  PAYOUTD_ASSERT(!*stepped);  // a statement run for its effect must not return rows
  return Status::ok();
}

bool Statement::column_is_null(int column) const {
  return sqlite3_column_type(statement_, column) == SQLITE_NULL;
}

int64_t Statement::column_int64(int column) const {
  return sqlite3_column_int64(statement_, column);
}

std::string Statement::column_text(int column) const {
  const unsigned char* text = sqlite3_column_text(statement_, column);
  if (text == nullptr) return std::string();
  int size = sqlite3_column_bytes(statement_, column);
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

std::string Statement::column_blob(int column) const {
  const void* blob = sqlite3_column_blob(statement_, column);
  if (blob == nullptr) return std::string();
  int size = sqlite3_column_bytes(statement_, column);
  return std::string(static_cast<const char*>(blob), static_cast<size_t>(size));
}

std::optional<std::string> Statement::column_optional_text(int column) const {
  if (column_is_null(column)) return std::nullopt;
  return column_text(column);
}

std::optional<int64_t> Statement::column_optional_int64(int column) const {
  if (column_is_null(column)) return std::nullopt;
  return column_int64(column);
}

int64_t Statement::changes() const { return sqlite3_changes64(sqlite3_db_handle(statement_)); }

void Statement::reset() {
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
  bind_error_ = SqliteError{};
  last_error_ = SqliteError{};
}

StatementLease::~StatementLease() {
  if (statement_ == nullptr) return;
  statement_->reset();
  statement_->set_in_use(false);
}

// ---- Connection ----

Connection::Connection(sqlite3* database, ConnectionOptions options)
    : database_(database), options_(options) {}

Connection::~Connection() {
  statements_.clear();  // finalize before closing
  sqlite3_close(database_);
}

Result<std::unique_ptr<Connection>> Connection::open(const std::string& path,
                                                     const ConnectionOptions& options) {
  // Memory statistics take one process-wide mutex around every SQLite allocation, which the
  // writer and the readers of the I/O threads then contend for; payoutd never reads them. Only
  // possible before SQLite initialises itself (the first open); later calls are refused, harmlessly.
  static std::once_flag configure_library_once;
  std::call_once(configure_library_once, [] { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  sqlite3* database = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &database, flags, nullptr);
  if (rc != SQLITE_OK) {
    SqliteError error = error_of(database, rc);
    sqlite3_close(database);  // sqlite3_open_v2 may allocate a handle even on failure
    return status_from_sqlite(error, describe("cannot open database ", path));
  }
  std::unique_ptr<Connection> connection(new Connection(database, options));
  PAYOUTD_RETURN_IF_ERROR(connection->configure());
  return connection;
}

Status Connection::configure() {
  sqlite3_extended_result_codes(database_, 1);
  // Set first: switching to WAL needs a lock another connection may hold for a moment.
  sqlite3_busy_timeout(database_, std::max(0, options_.busy_timeout_ms));
  // The application never needs to write the schema table or other internals directly.
  sqlite3_db_config(database_, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);

  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.busy_timeout_ms);
  Result<std::string> mode = query_text("PRAGMA journal_mode=WAL");
  while (!mode.is_ok() && mode.status().kind() == ErrorKind::kUnavailable &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    mode = query_text("PRAGMA journal_mode=WAL");
  }
  if (!mode.is_ok()) return std::move(mode).status();
  if (*mode != "wal") {
    return Status::internal("database refused WAL journal mode (got '" + *mode + "')");
  }
  // temp_store=MEMORY: the writer's per-op savepoints keep the original content of every page an
  // op changes in a sub-journal; in a temporary file that is a pwrite per page (a quarter of the
  // writer's time in the cancel profile), in memory it is a copy. The sub-journal lives only for
  // the transaction and is not needed for durability (the WAL is).
  PAYOUTD_RETURN_IF_ERROR(execute_script(
      "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA trusted_schema=OFF; "
      "PRAGMA temp_store=MEMORY;"));
  if (options_.read_only_queries) {
    PAYOUTD_RETURN_IF_ERROR(execute_script("PRAGMA query_only=ON;"));
  } else {
    // The writer's batches touch many pages; a larger cache keeps them from spilling to the WAL
    // before the commit. Bounded (16 MiB), and only the one writing connection has it.
    PAYOUTD_RETURN_IF_ERROR(execute_script("PRAGMA cache_size=-16384;"));
  }
  // Configuration errors are reported above; none of them is a hard error of a later op.
  hard_error_ = Status::ok();
  return Status::ok();
}

Result<StatementLease> Connection::prepare(std::string_view sql) {
  auto found = statements_.find(std::string(sql));
  if (found != statements_.end()) {
    // A statement is never used re-entrantly: that would reset a caller's half-read rows.
    PAYOUTD_ASSERT(!found->second->in_use());
    found->second->set_in_use(true);
    return StatementLease(found->second.get());
  }
  if (statements_.size() >= kMaxCachedStatements) {
    for (auto it = statements_.begin(); it != statements_.end();) {
      it = it->second->in_use() ? std::next(it) : statements_.erase(it);
    }
  }
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v3(database_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &raw, &tail);
  if (rc != SQLITE_OK) {
    SqliteError error = error_of(database_, rc);
    Status status = status_from_sqlite(error, "prepare failed (is the schema migrated?)");
    note_error(error, status);
    return status;
  }
  PAYOUTD_ASSERT(raw != nullptr);  // the SQL texts are ours and never empty
  // Exactly one statement per text: trailing statements would be silently ignored.
  PAYOUTD_ASSERT(tail == sql.data() + sql.size() ||
                 std::string_view(tail).find_first_not_of(" \n\t;") == std::string_view::npos);
  auto statement = std::make_unique<Statement>(*this, raw);
  Statement* pointer = statement.get();
  statements_.emplace(std::string(sql), std::move(statement));
  pointer->set_in_use(true);
  return StatementLease(pointer);
}

Status Connection::execute_script(std::string_view sql) {
  std::string text(sql);
  int rc = sqlite3_exec(database_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) return Status::ok();
  SqliteError error = current_error();
  error.extended_code = sqlite3_extended_errcode(database_);
  Status status = status_from_sqlite(error, describe("executing ", text.substr(0, 60)));
  note_error(error, status);
  return status;
}

Status Connection::execute_cached(std::string_view sql) {
  Result<StatementLease> statement = prepare(sql);
  if (!statement.is_ok()) return std::move(statement).status();
  return (*statement)->execute();
}

Result<std::string> Connection::query_text(std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(database_, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
  if (rc != SQLITE_OK) {
    return status_from_sqlite(error_of(database_, rc), describe("prepare ", sql));
  }
  rc = sqlite3_step(raw);
  std::string value;
  if (rc == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(raw, 0);
    if (text != nullptr) value = reinterpret_cast<const char*>(text);
  } else if (rc != SQLITE_DONE) {
    SqliteError error = error_of(database_, rc);
    sqlite3_finalize(raw);
    return status_from_sqlite(error, describe("", sql));
  }
  sqlite3_finalize(raw);
  return value;
}

Status Connection::begin_immediate() {
  // SQLite's busy handler already waits up to busy_timeout for the write lock; this loop covers the
  // cases where SQLITE_BUSY comes back without waiting (e.g. another process recovering the WAL).
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.busy_timeout_ms);
  for (int attempt = 1;; ++attempt) {
    int rc = sqlite3_exec(database_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) return Status::ok();
    SqliteError error = current_error();
    if (primary_code(error.extended_code) == SQLITE_BUSY &&
        std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(attempt, 20)));
      continue;
    }
    return status_from_sqlite(error, "BEGIN IMMEDIATE");
  }
}

bool Connection::in_transaction() const { return sqlite3_get_autocommit(database_) == 0; }

int64_t Connection::last_insert_rowid() const { return sqlite3_last_insert_rowid(database_); }

Status Connection::take_hard_error() {
  Status status = std::move(hard_error_);
  hard_error_ = Status::ok();
  return status;
}

void Connection::note_error(const SqliteError& error, const Status& status) {
  // Constraint failures roll back only their own statement; they are answers, not breakage.
  if (error.is_constraint()) return;
  if (hard_error_.is_ok()) hard_error_ = status;
}

SqliteError Connection::current_error() const {
  return SqliteError{sqlite3_extended_errcode(database_), sqlite3_errmsg(database_)};
}

// ---- Savepoint ----

Savepoint::Savepoint(Connection& connection, std::string name)
    : connection_(connection), name_(std::move(name)) {
  begin_status_ = connection_.execute_script("SAVEPOINT " + name_);
  open_ = begin_status_.is_ok();
}

Savepoint::~Savepoint() {
  if (!open_) return;
  // If SQLite already rolled the whole transaction back, these fail harmlessly.
  (void)connection_.execute_script("ROLLBACK TO " + name_);
  (void)connection_.execute_script("RELEASE " + name_);
}

Status Savepoint::commit() {
  PAYOUTD_ASSERT(open_);
  open_ = false;
  return connection_.execute_script("RELEASE " + name_);
}

}  // namespace payoutd::sqlite
