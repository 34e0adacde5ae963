#include "store/sqlite/connection.h"

#include <sqlite3.h>

#include <algorithm>
#include <charconv>
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

DatabaseError error_of(sqlite3* database, int result_code) {
  // sqlite3_errmsg describes the most recent failure on this connection, which is this one.
  return database_error(result_code,
                        database != nullptr ? sqlite3_errmsg(database) : sqlite3_errstr(result_code));
}

// The constraint a failure names. SQLite's diagnostic has a fixed shape (sqlite3.c,
// sqlite3UniqueConstraint and sqlite3HaltConstraint): "UNIQUE constraint failed: " followed by the
// `table.column` list or "index 'name'", and "CHECK constraint failed: " followed by the
// constraint's name. The rest is compared whole with the listed keys (store/sql/constraints.h).
sql::Constraint constraint_named_by(std::string_view message) {
  constexpr std::string_view kShapes[] = {"UNIQUE constraint failed: ",
                                          "CHECK constraint failed: "};
  for (std::string_view shape : kShapes) {
    if (message.starts_with(shape)) return sql::constraint_of_sqlite_key(message.substr(shape.size()));
  }
  return sql::Constraint::kUnlisted;
}

}  // namespace

DatabaseError database_error(int extended_code, std::string message) {
  DatabaseError error;
  error.code = extended_code;
  error.message = std::move(message);
  switch (extended_code) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      error.kind = sql::FailureKind::kUnique;
      break;
    case SQLITE_CONSTRAINT_CHECK:
      error.kind = sql::FailureKind::kCheck;
      break;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      error.kind = sql::FailureKind::kForeignKey;
      break;
    case SQLITE_CONSTRAINT_NOTNULL:
      error.kind = sql::FailureKind::kNotNull;
      break;
    case SQLITE_CONSTRAINT_TRIGGER:
      error.kind = sql::FailureKind::kTrigger;
      break;
    default:
      // Other constraint codes (rowid, datatype, ...) are still constraints: answers, not breakage.
      error.kind = primary_code(extended_code) == SQLITE_CONSTRAINT ? sql::FailureKind::kCheck
                                                                    : sql::FailureKind::kOther;
      break;
  }
  if (error.is_constraint()) error.constraint = constraint_named_by(error.message);
  switch (primary_code(extended_code)) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      error.status_kind = ErrorKind::kUnavailable;
      error.message = "database is busy; " + error.message;
      break;
    case SQLITE_FULL:
      error.status_kind = ErrorKind::kUnavailable;
      error.message = "database or disk is full; " + error.message;
      break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      error.status_kind = ErrorKind::kCorruption;
      break;
    default:
      error.status_kind = ErrorKind::kInternal;
      break;
  }
  return error;
}

// ---- Statement ----

SqliteStatement::SqliteStatement(SqliteConnection& connection, sqlite3_stmt* statement)
    : connection_(connection), statement_(statement) {
  // SQLite numbers the parameters of a text in the order they first appear; the texts name them
  // `$N` (store/sql/connection.h): map each number to its slot once.
  const int count = sqlite3_bind_parameter_count(statement_);
  for (int slot = 1; slot <= count; ++slot) {
    const char* name = sqlite3_bind_parameter_name(statement_, slot);
    // Every parameter of our texts is `$N`: anything else is a programming error.
    PAYOUTD_ASSERT(name != nullptr && name[0] == '$');
    const std::string_view digits(name + 1);
    int number = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
    PAYOUTD_ASSERT(error == std::errc() && end == digits.data() + digits.size());
    PAYOUTD_ASSERT(number >= 1 && number <= kMaxParameterNumber);
    if (static_cast<size_t>(number) >= slot_of_number_.size()) {
      slot_of_number_.resize(static_cast<size_t>(number) + 1, 0);
    }
    slot_of_number_[static_cast<size_t>(number)] = slot;
  }
  bound_.assign(static_cast<size_t>(count) + 1, false);
}

int SqliteStatement::slot(int number) {
  if (number >= 1 && static_cast<size_t>(number) < slot_of_number_.size() &&
      slot_of_number_[static_cast<size_t>(number)] != 0) {
    const int at = slot_of_number_[static_cast<size_t>(number)];
    bound_[static_cast<size_t>(at)] = true;
    return at;
  }
  // A number the text does not use is accepted and ignored, as PostgreSQL does with a typed
  // parameter its text does not use (queries bind one parameter set for several texts).
  if ((number < 1 || number > kMaxParameterNumber) && !bind_error_.failed()) {
    bind_error_ = database_error(SQLITE_RANGE, "bind index " + std::to_string(number) +
                                                   " out of range (1 to " +
                                                   std::to_string(kMaxParameterNumber) + ")");
  }
  return 0;
}

SqliteStatement::~SqliteStatement() { sqlite3_finalize(statement_); }

void SqliteStatement::bind(int index, int64_t value) {
  const int at = slot(index);
  if (at == 0) return;
  int rc = sqlite3_bind_int64(statement_, at, value);
  if (rc != SQLITE_OK && !bind_error_.failed()) {
    bind_error_ = error_of(sqlite3_db_handle(statement_), rc);
  }
}

void SqliteStatement::bind(int index, std::string_view text) {
  // data() of an empty string_view may be null, which SQLite would read as NULL: use "".
  const char* data = text.empty() ? "" : text.data();
  const int at = slot(index);
  if (at == 0) return;
  int rc = sqlite3_bind_text64(statement_, at, data, text.size(), transient_destructor(),
                               SQLITE_UTF8);
  if (rc != SQLITE_OK && !bind_error_.failed()) {
    bind_error_ = error_of(sqlite3_db_handle(statement_), rc);
  }
}

void SqliteStatement::bind_blob(int index, std::string_view bytes) {
  // A null pointer would bind NULL; an empty blob must stay an (empty) blob.
  const char* data = bytes.empty() ? "" : bytes.data();
  const int at = slot(index);
  if (at == 0) return;
  int rc = sqlite3_bind_blob64(statement_, at, data, bytes.size(), transient_destructor());
  if (rc != SQLITE_OK && !bind_error_.failed()) {
    bind_error_ = error_of(sqlite3_db_handle(statement_), rc);
  }
}

void SqliteStatement::bind_null(int index, sql::SqlType /*type: SQLite's values carry their own*/) {
  const int at = slot(index);
  if (at == 0) return;
  int rc = sqlite3_bind_null(statement_, at);
  if (rc != SQLITE_OK && !bind_error_.failed()) {
    bind_error_ = error_of(sqlite3_db_handle(statement_), rc);
  }
}

Result<bool> SqliteStatement::step() {
  // Checked at the first step only: the later ones read further rows of the same execution.
  for (size_t at = 1; !stepped_ && at < bound_.size() && !bind_error_.failed(); ++at) {
    if (bound_[at]) continue;
    // Every parameter is bound, a NULL too (with its type), as PostgreSQL requires: a missing
    // one is a caller's mistake, not a NULL.
    const char* name = sqlite3_bind_parameter_name(statement_, static_cast<int>(at));
    bind_error_ = database_error(SQLITE_RANGE, std::string("parameter ") + name + " is not bound");
  }
  if (bind_error_.failed()) {
    last_error_ = bind_error_;
    Status status = sql::status_of(last_error_, "bind");
    connection_.note_error(last_error_, status);
    return status;
  }
  stepped_ = true;
  int rc = sqlite3_step(statement_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // sqlite3_errmsg may already describe a later call; prefer the statement's own code.
  last_error_ = database_error(sqlite3_extended_errcode(sqlite3_db_handle(statement_)),
                               sqlite3_errmsg(sqlite3_db_handle(statement_)));
  Status status = sql::status_of(last_error_, "query failed");
  connection_.note_error(last_error_, status);
  return status;
}

bool SqliteStatement::column_is_null(int column) const {
  return sqlite3_column_type(statement_, column) == SQLITE_NULL;
}

int64_t SqliteStatement::column_int64(int column) const {
  return sqlite3_column_int64(statement_, column);
}

std::string SqliteStatement::column_text(int column) const {
  const unsigned char* text = sqlite3_column_text(statement_, column);
  if (text == nullptr) return std::string();
  int size = sqlite3_column_bytes(statement_, column);
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

std::string SqliteStatement::column_blob(int column) const {
  const void* blob = sqlite3_column_blob(statement_, column);
  if (blob == nullptr) return std::string();
  int size = sqlite3_column_bytes(statement_, column);
  return std::string(static_cast<const char*>(blob), static_cast<size_t>(size));
}

int64_t SqliteStatement::changes() const { return sqlite3_changes64(sqlite3_db_handle(statement_)); }

void SqliteStatement::reset() {
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
  std::fill(bound_.begin(), bound_.end(), false);
  stepped_ = false;
  bind_error_ = DatabaseError{};
  last_error_ = DatabaseError{};
}

// ---- Connection ----

SqliteConnection::SqliteConnection(sqlite3* database, ConnectionOptions options)
    : database_(database), options_(options) {}

SqliteConnection::~SqliteConnection() {
  statements_.clear();  // finalize before closing
  sqlite3_close(database_);
}

Result<std::unique_ptr<SqliteConnection>> SqliteConnection::open(const std::string& path,
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
    DatabaseError error = error_of(database, rc);
    sqlite3_close(database);  // sqlite3_open_v2 may allocate a handle even on failure
    return sql::status_of(error, describe("cannot open database ", path));
  }
  std::unique_ptr<SqliteConnection> connection(new SqliteConnection(database, options));
  PAYOUTD_RETURN_IF_ERROR(connection->configure());
  return connection;
}

Status SqliteConnection::configure() {
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
  (void)take_hard_error();
  return Status::ok();
}

Result<StatementLease> SqliteConnection::prepare(std::string_view sql, sql::FailureScope scope) {
  (void)scope;
  note_prepare();
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
    DatabaseError error = error_of(database_, rc);
    Status status = sql::status_of(error, "prepare failed (is the schema migrated?)");
    note_error(error, status);
    return status;
  }
  PAYOUTD_ASSERT(raw != nullptr);  // the SQL texts are ours and never empty
  // Exactly one statement per text: trailing statements would be silently ignored.
  PAYOUTD_ASSERT(tail == sql.data() + sql.size() ||
                 std::string_view(tail).find_first_not_of(" \n\t;") == std::string_view::npos);
  auto statement = std::make_unique<SqliteStatement>(*this, raw);
  SqliteStatement* pointer = statement.get();
  statements_.emplace(std::string(sql), std::move(statement));
  pointer->set_in_use(true);
  return StatementLease(pointer);
}

Status SqliteConnection::execute_script(std::string_view sql) {
  std::string text(sql);
  int rc = sqlite3_exec(database_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) return Status::ok();
  DatabaseError error = current_error();
  Status status = sql::status_of(error, describe("executing ", text.substr(0, 60)));
  note_error(error, status);
  return status;
}

Status SqliteConnection::execute_cached(std::string_view sql) {
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, prepare(sql));
  return statement->execute();
}

Result<std::string> SqliteConnection::query_text(std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(database_, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
  if (rc != SQLITE_OK) {
    return sql::status_of(error_of(database_, rc), describe("prepare ", sql));
  }
  rc = sqlite3_step(raw);
  std::string value;
  if (rc == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(raw, 0);
    if (text != nullptr) value = reinterpret_cast<const char*>(text);
  } else if (rc != SQLITE_DONE) {
    DatabaseError error = error_of(database_, rc);
    sqlite3_finalize(raw);
    return sql::status_of(error, describe("", sql));
  }
  sqlite3_finalize(raw);
  return value;
}

Status SqliteConnection::begin_write() {
  // SQLite's busy handler already waits up to busy_timeout for the write lock; this loop covers the
  // cases where SQLITE_BUSY comes back without waiting (e.g. another process recovering the WAL).
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.busy_timeout_ms);
  for (int attempt = 1;; ++attempt) {
    int rc = sqlite3_exec(database_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) return Status::ok();
    DatabaseError error = current_error();
    if (primary_code(error.code) == SQLITE_BUSY &&
        std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(attempt, 20)));
      continue;
    }
    return sql::status_of(error, "BEGIN IMMEDIATE");
  }
}

bool SqliteConnection::in_transaction() const { return sqlite3_get_autocommit(database_) == 0; }

DatabaseError SqliteConnection::current_error() const {
  return database_error(sqlite3_extended_errcode(database_), sqlite3_errmsg(database_));
}

void SqliteConnection::rollback() {
  if (!in_transaction()) return;
  (void)execute_script("ROLLBACK");
}

}  // namespace payoutd::sqlite
