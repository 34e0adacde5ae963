#include "store/postgres/connection.h"

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <limits>
#include <utility>

#include "core/text.h"

namespace payoutd::postgres {
namespace {

static_assert(std::is_same_v<Oid, unsigned int>, "Oid is kept as unsigned int in the header");

constexpr Oid kInt8Oid = 20;
constexpr Oid kTextOid = 25;
constexpr Oid kByteaOid = 17;
constexpr Oid kBoolOid = 16;
constexpr int kMaxParameters = 65535;  // the protocol's limit
constexpr size_t kMaxMessageBytes = 1000;      // error messages kept in statuses
constexpr const char* kStatementSavepoint = "SAVEPOINT payoutd_statement";
constexpr const char* kStatementRelease = "RELEASE SAVEPOINT payoutd_statement";
constexpr const char* kStatementUndo =
    "ROLLBACK TO SAVEPOINT payoutd_statement; RELEASE SAVEPOINT payoutd_statement";

// `prefix'sql'` for error contexts (first 60 bytes of the text).
std::string describe(std::string_view prefix, std::string_view sql) {
  std::string out;
  out.append(prefix);
  out.push_back('\'');
  out.append(sql.substr(0, 60));
  if (sql.size() > 60) out.append("...");
  out.push_back('\'');
  return out;
}

bool is_identifier_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}

bool is_data_changing_keyword(std::string_view word) {
  return equals_ignoring_ascii_case(word, "insert") || equals_ignoring_ascii_case(word, "update") ||
         equals_ignoring_ascii_case(word, "delete") || equals_ignoring_ascii_case(word, "merge");
}

// Trims the trailing newline libpq leaves on its messages and bounds the length.
std::string tidy(std::string message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  if (message.size() > kMaxMessageBytes) {
    message.resize(kMaxMessageBytes);
    message.append("...");
  }
  return message;
}

// Replaces every "quoted" part of a libpq connection-string error: it may quote a password.
std::string without_quoted_parts(std::string_view message) {
  std::string out;
  bool quoted = false;
  for (char c : message) {
    if (c == '"') {
      out.push_back('"');
      if (!quoted) out.append("...");
      quoted = !quoted;
      continue;
    }
    if (!quoted) out.push_back(c);
  }
  return tidy(std::move(out));
}

void ignore_notice(void* /*arg*/, const char* /*message*/) {}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

bool result_ok(const PGresult* result) {
  if (result == nullptr) return false;
  ExecStatusType status = PQresultStatus(result);
  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

int64_t parse_changes(const PGresult* result) {
  const char* text = PQcmdTuples(const_cast<PGresult*>(result));
  if (text == nullptr || *text == '\0') return 0;
  int64_t value = 0;
  auto [end, error] = std::from_chars(text, text + std::strlen(text), value);
  (void)end;
  return error == std::errc() ? value : 0;
}

}  // namespace

// ---- free helpers ----

bool changes_data(std::string_view sql) {
  // The texts are ours: no leading comment, keywords separated by spaces.
  auto word_at = [&sql](size_t at) {
    size_t end = at;
    while (end < sql.size() && is_identifier_char(sql[end])) ++end;
    return sql.substr(at, end - at);
  };
  const size_t first = sql.find_first_not_of(" \n\t(");
  if (first == std::string_view::npos) return false;
  const std::string_view first_word = word_at(first);
  if (is_data_changing_keyword(first_word)) return true;
  if (!equals_ignoring_ascii_case(first_word, "with")) return false;
  // A data-modifying CTE: one of the keywords as a whole word later in the text.
  for (size_t i = first + first_word.size(); i < sql.size(); ++i) {
    if (!is_identifier_char(sql[i])) continue;
    const std::string_view word = word_at(i);
    if (is_data_changing_keyword(word) && sql[i - 1] != '_') return true;
    i += word.size();
  }
  return false;
}

bool decode_bytea_hex(std::string_view text, std::string* out) {
  out->clear();
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0) return false;
  out->reserve((text.size() - 2) / 2);
  for (size_t i = 2; i < text.size(); i += 2) {
    const int high = hex_value(text[i]);
    const int low = hex_value(text[i + 1]);
    if (high < 0 || low < 0) {
      out->clear();
      return false;
    }
    out->push_back(static_cast<char>((high << 4) | low));
  }
  return true;
}

// ---- PgStatement ----

PgStatement::PgStatement(PgConnection& connection, std::string_view sql)
    : connection_(connection), sql_(sql), changes_data_(changes_data(sql)) {}

PgStatement::~PgStatement() { PQclear(result_); }

PgStatement::Param* PgStatement::param(int index) {
  // The statement's parameters are the ones bound: the server checks the text's `$N` against them
  // when it prepares it (a reference past them is its error).
  if (index >= 1 && index <= kMaxParameters) {
    const size_t count = static_cast<size_t>(index);
    if (count > params_.size()) params_.resize(count);
    param_count_ = std::max(param_count_, count);
    return &params_[count - 1];
  }
  if (!bind_error_.failed()) {
    bind_error_.kind = sql::FailureKind::kOther;
    bind_error_.message = "bind index " + std::to_string(index) + " out of range (1 to " +
                          std::to_string(kMaxParameters) + ")";
  }
  return nullptr;
}

void PgStatement::bind(int index, int64_t value) {
  Param* p = param(index);
  if (p == nullptr) return;
  std::array<char, 24> buffer{};
  auto [end, error] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  PAYOUTD_ASSERT(error == std::errc());
  p->type = ParamType::kInt;
  p->null = false;
  p->value.assign(buffer.data(), end);
}

void PgStatement::bind(int index, std::string_view text) {
  Param* p = param(index);
  if (p == nullptr) return;
  // Text parameters travel NUL-terminated; PostgreSQL text cannot hold NUL anyway.
  if (text.find('\0') != std::string_view::npos) {
    if (!bind_error_.failed()) {
      bind_error_.kind = sql::FailureKind::kOther;
      bind_error_.message = "text parameter " + std::to_string(index) + " contains a NUL byte";
    }
    return;
  }
  p->type = ParamType::kText;
  p->null = false;
  p->value.assign(text);
}

void PgStatement::bind_blob(int index, std::string_view bytes) {
  Param* p = param(index);
  if (p == nullptr) return;
  p->type = ParamType::kBlob;
  p->null = false;
  p->value.assign(bytes);
}

void PgStatement::bind_null(int index, sql::SqlType type) {
  Param* p = param(index);
  if (p == nullptr) return;
  switch (type) {
    case sql::SqlType::kInt:
      p->type = ParamType::kInt;
      break;
    case sql::SqlType::kText:
      p->type = ParamType::kText;
      break;
    case sql::SqlType::kBlob:
      p->type = ParamType::kBlob;
      break;
  }
  p->null = true;
  p->value.clear();
}

Result<bool> PgStatement::step() {
  if (executed_) {
    if (result_ == nullptr) return false;
    if (row_ < row_count_) ++row_;
    return row_ < row_count_;
  }
  executed_ = true;
  changes_ = 0;
  if (bind_error_.failed()) {
    last_error_ = bind_error_;
    Status status = Status::internal("bind: " + last_error_.message);
    connection_.note_error(last_error_, status);
    return status;
  }
  return connection_.execute_statement(*this);
}

const char* PgStatement::value(int column, int* length) const {
  *length = 0;
  if (!has_row()) return nullptr;
  PAYOUTD_ASSERT(column >= 0 && column < PQnfields(result_));
  if (PQgetisnull(result_, row_, column) != 0) return nullptr;
  *length = PQgetlength(result_, row_, column);
  return PQgetvalue(result_, row_, column);
}

bool PgStatement::column_is_bytea(int column) const { return PQftype(result_, column) == kByteaOid; }

bool PgStatement::column_is_null(int column) const {
  int length = 0;
  return value(column, &length) == nullptr;
}

int64_t PgStatement::column_int64(int column) const {
  int length = 0;
  const char* text = value(column, &length);
  if (text == nullptr || length <= 0) return 0;
  const char* end = text + length;
  int64_t parsed = 0;
  auto [stop, error] = std::from_chars(text, end, parsed);
  if (error == std::errc() && stop == end) return parsed;
  if (length == 1 && (*text == 't' || *text == 'f')) return *text == 't' ? 1 : 0;
  // A numeric or double with a fraction (avg(), ...): truncated toward zero, like SQLite.
  double real = 0;
  auto [real_stop, real_error] = std::from_chars(text, end, real);
  if (real_error == std::errc() && real_stop == end) {
    if (real >= 9.2233720368547758e18) return std::numeric_limits<int64_t>::max();
    if (real <= -9.2233720368547758e18) return std::numeric_limits<int64_t>::min();
    return static_cast<int64_t>(real);
  }
  return 0;
}

std::string PgStatement::column_text(int column) const {
  int length = 0;
  const char* text = value(column, &length);
  if (text == nullptr) return std::string();
  std::string_view raw(text, static_cast<size_t>(length));
  // Booleans read as SQLite's comparison results do: "1" / "0".
  if (PQftype(result_, column) == kBoolOid && length == 1) return *text == 't' ? "1" : "0";
  if (column_is_bytea(column)) {
    std::string decoded;
    if (decode_bytea_hex(raw, &decoded)) return decoded;
  }
  return std::string(raw);
}

std::string PgStatement::column_blob(int column) const { return column_text(column); }

void PgStatement::reset() {
  PQclear(result_);
  result_ = nullptr;
  row_ = -1;
  row_count_ = 0;
  executed_ = false;
  for (size_t k = 0; k < param_count_; ++k) {
    params_[k].type = ParamType::kUnbound;
    params_[k].null = false;
    params_[k].value.clear();
  }
  param_count_ = 0;
  bind_error_ = sql::DatabaseError{};
  last_error_ = sql::DatabaseError{};
}

// ---- PgConnection ----

PgConnection::PgConnection(pg_conn* connection, PgConnectionOptions options, std::string password)
    : connection_(connection), options_(options), password_(std::move(password)) {}

PgConnection::~PgConnection() {
  statements_.clear();
  PQfinish(connection_);
}

Result<std::unique_ptr<PgConnection>> PgConnection::open(const std::string& conninfo,
                                                         const PgConnectionOptions& options) {
  // Parsed first only to learn the password (to scrub it from any message) and to refuse a
  // malformed string without echoing it.
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &parse_error);
  if (parsed == nullptr) {
    std::string reason = parse_error != nullptr ? without_quoted_parts(parse_error) : "out of memory";
    PQfreemem(parse_error);
    return Status::invalid_argument(
        "database", "invalid PostgreSQL connection string (not shown): " + reason);
  }
  std::string password;
  for (PQconninfoOption* option = parsed; option->keyword != nullptr; ++option) {
    if (std::strcmp(option->keyword, "password") == 0 && option->val != nullptr) {
      password = option->val;
    }
  }
  PQconninfoFree(parsed);

  const int timeout_ms = std::max(1, options.connect_timeout_ms);
  const std::string connect_timeout = std::to_string((timeout_ms + 999) / 1000);
  // Later keywords override the ones of the expanded connection string. TCP keepalives bound the
  // wait for a peer that vanished without closing (a blocking libpq call would wait forever).
  const std::array<const char*, 9> keywords = {"dbname",         "application_name",
                                               "client_encoding", "connect_timeout",
                                               "keepalives",     "keepalives_idle",
                                               "keepalives_interval", "keepalives_count",
                                               nullptr};
  const std::array<const char*, 9> values = {conninfo.c_str(), "payoutd", "UTF8",
                                             connect_timeout.c_str(), "1", "30", "10", "3",
                                             nullptr};
  pg_conn* raw = PQconnectdbParams(keywords.data(), values.data(), /*expand_dbname=*/1);
  if (raw == nullptr) return Status::unavailable("cannot connect to PostgreSQL: out of memory");
  std::unique_ptr<PgConnection> connection(new PgConnection(raw, options, std::move(password)));
  PQsetNoticeProcessor(raw, ignore_notice, nullptr);
  if (PQstatus(raw) != CONNECTION_OK) {
    return Status::unavailable("cannot connect to PostgreSQL: " +
                               connection->redact(PQerrorMessage(raw)));
  }
  PAYOUTD_RETURN_IF_ERROR(connection->configure());
  return connection;
}

Status PgConnection::configure() {
  std::string setup;
  setup.append("SET statement_timeout = ")
      .append(std::to_string(std::max(0, options_.statement_timeout_ms)))
      .append("; SET lock_timeout = ")
      .append(std::to_string(std::max(0, options_.lock_timeout_ms)))
      .append(
          "; SET idle_in_transaction_session_timeout = 60000"
          "; SET synchronous_commit = on"
          "; SET client_encoding = 'UTF8'"
          "; SET bytea_output = 'hex'"
          "; SET standard_conforming_strings = on"
          "; SET client_min_messages = warning"
          "; SET default_transaction_read_only = ")
      .append(options_.read_only ? "on" : "off");
  ResultPtr result(exec(setup.c_str()));
  if (!result_ok(result.get())) {
    Status status = fail(result.get(), "configuring the connection", nullptr);
    (void)take_hard_error();
    return status;
  }
  return Status::ok();
}

bool PgConnection::usable() const { return !broken_ && PQstatus(connection_) == CONNECTION_OK; }

bool PgConnection::connection_ok() const { return usable(); }

int PgConnection::backend_pid() const { return PQbackendPID(connection_); }

std::string PgConnection::redact(std::string message) const {
  if (!password_.empty()) {
    for (size_t at = message.find(password_); at != std::string::npos;
         at = message.find(password_, at + 3)) {
      message.replace(at, password_.size(), "***");
    }
  }
  return tidy(std::move(message));
}

pg_result* PgConnection::exec(const char* sql) {
  ++round_trips_;
  if (deferred_.empty()) return PQexec(connection_, sql);
  deferred_script_.clear();
  for (const std::string& command : deferred_) {
    deferred_script_ += command;
    deferred_script_ += "; ";
  }
  deferred_script_ += sql;
  deferred_.clear();
  return PQexec(connection_, deferred_script_.c_str());
}

Status PgConnection::connection_lost(std::string_view context, sql::DatabaseError* error_out) {
  sql::DatabaseError error;
  error.kind = sql::FailureKind::kOther;
  error.message = broken_ ? "the connection to PostgreSQL is in an unknown state"
                          : "the connection to PostgreSQL is lost: " +
                                redact(PQerrorMessage(connection_));
  error.status_kind = ErrorKind::kUnavailable;
  Status status = Status::unavailable(std::string(context) + ": " + error.message);
  note_error(error, status);
  if (error_out != nullptr) *error_out = error;
  return status;
}

Status PgConnection::fail(pg_result* result, std::string_view context,
                          sql::DatabaseError* error_out) {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  if (state == nullptr || PQstatus(connection_) != CONNECTION_OK) {
    // No SQLSTATE: libpq's own failure (a lost connection, out of memory, ...).
    if (PQstatus(connection_) != CONNECTION_OK || result == nullptr) {
      return connection_lost(context, error_out);
    }
    sql::DatabaseError error;
    error.kind = sql::FailureKind::kOther;
    error.message = redact(PQresultErrorMessage(result));
    if (error.message.empty()) error.message = redact(PQerrorMessage(connection_));
    Status status = Status::internal(std::string(context) + ": " + error.message);
    note_error(error, status);
    if (error_out != nullptr) *error_out = error;
    return status;
  }
  const std::string_view sqlstate(state);
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  sql::DatabaseError error;
  error.kind = sql::FailureKind::kOther;
  // Only the primary message: DETAIL lines repeat key values and rows, which may be secrets.
  error.message = redact(primary != nullptr ? primary : "unknown error");
  if (sqlstate == "23505") {
    error.kind = sql::FailureKind::kUnique;
  } else if (sqlstate == "23514") {
    error.kind = sql::FailureKind::kCheck;
  } else if (sqlstate == "23503") {
    error.kind = sql::FailureKind::kForeignKey;
  } else if (sqlstate == "23502") {
    error.kind = sql::FailureKind::kNotNull;
  } else if (sqlstate == "P0001") {
    error.kind = sql::FailureKind::kTrigger;
  } else if (sqlstate == "40001" || sqlstate == "40P01") {
    error.kind = sql::FailureKind::kConflict;
  }
  if (error.is_constraint()) {
    // The server names the violated constraint in its own field (a trigger's RAISE names none).
    const char* constraint = PQresultErrorField(result, PG_DIAG_CONSTRAINT_NAME);
    error.constraint = constraint != nullptr ? sql::constraint_of_postgres_name(constraint)
                                             : sql::Constraint::kUnlisted;
  }
  if (sqlstate == "26000") {
    // A prepared statement vanished behind our back (DISCARD ALL?): prepare again next time.
    prepared_.clear();
    ++epoch_;
  }
  std::string message = std::string(context) + ": " + error.message + " (SQLSTATE " +
                        std::string(sqlstate) + ")";
  const bool transient = error.kind == sql::FailureKind::kConflict || sqlstate == "55P03" ||
                         sqlstate == "57014" || sqlstate.starts_with("53") ||
                         sqlstate.starts_with("08") || sqlstate.starts_with("57P");
  error.status_kind = transient ? ErrorKind::kUnavailable : ErrorKind::kInternal;
  Status status = Status::error(error.status_kind, std::move(message));
  note_error(error, status);
  if (error_out != nullptr) *error_out = error;
  return status;
}

Result<sql::StatementLease> PgConnection::prepare(std::string_view sql, sql::FailureScope scope) {
  note_prepare();
  // kStatement buys a subtransaction per execution so that an op can carry on from a constraint
  // failure; only a data-changing statement meets one. On a read it is a programming error.
  auto check_scope = [scope](const PgStatement& statement) {
    PAYOUTD_ASSERT(scope != sql::FailureScope::kStatement || statement.changes_data_);
  };
  auto found = statements_.find(std::string(sql));
  if (found != statements_.end()) {
    // A statement is never used re-entrantly: that would reset a caller's half-read rows.
    PAYOUTD_ASSERT(!found->second->in_use());
    check_scope(*found->second);
    found->second->set_in_use(true);
    found->second->scope_ = scope;
    return sql::StatementLease(found->second.get());
  }
  if (statements_.size() >= kMaxCachedStatements) {
    for (auto it = statements_.begin(); it != statements_.end();) {
      it = it->second->in_use() ? std::next(it) : statements_.erase(it);
    }
  }
  auto statement = std::make_unique<PgStatement>(*this, sql);
  check_scope(*statement);
  statement->scope_ = scope;
  PgStatement* pointer = statement.get();
  statements_.emplace(std::string(sql), std::move(statement));
  pointer->set_in_use(true);
  return sql::StatementLease(pointer);
}

void PgConnection::evict_prepared_if_full() {
  while (prepared_.size() >= kMaxPreparedStatements) {
    // The least recently used; a linear scan, but only once per new (text, types) beyond the bound.
    uint64_t oldest_use = std::numeric_limits<uint64_t>::max();
    const std::string* oldest_key = nullptr;
    for (const auto& [key, entry] : prepared_) {
      if (entry.last_used <= oldest_use) {
        oldest_use = entry.last_used;
        oldest_key = &key;
      }
    }
    if (oldest_key == nullptr) return;
    auto oldest = prepared_.find(*oldest_key);
    if (oldest == prepared_.end()) return;
    if (oldest->second.on_server) pending_deallocations_.push_back(std::move(oldest->second.name));
    prepared_.erase(oldest);
    ++epoch_;
  }
}

void PgConnection::flush_deallocations() {
  // Only outside transactions: a failing DEALLOCATE would abort the caller's transaction.
  if (pending_deallocations_.empty() || !usable() ||
      PQtransactionStatus(connection_) != PQTRANS_IDLE) {
    return;
  }
  std::string script;
  for (const std::string& name : pending_deallocations_) {
    script.append("DEALLOCATE ").append(name).append(";");
  }
  pending_deallocations_.clear();
  ResultPtr result(exec(script.c_str()));
  // A failure (the statement already gone) is harmless and not the caller's error.
}

void PgConnection::clear_statement_caches() {
  prepared_.clear();
  pending_deallocations_.clear();
  ++epoch_;
  for (auto it = statements_.begin(); it != statements_.end();) {
    it = it->second->in_use() ? std::next(it) : statements_.erase(it);
  }
}

PgPrepared* PgConnection::prepared_entry(PgStatement& statement, const std::string& signature) {
  if (statement.prepared_entry_ != nullptr && statement.prepared_epoch_ == epoch_ &&
      statement.prepared_signature_ == signature) {
    return statement.prepared_entry_;
  }
  std::string key;
  key.reserve(signature.size() + 1 + statement.sql_.size());
  key.append(signature).push_back('\x01');
  key.append(statement.sql_);
  auto it = prepared_.find(key);
  if (it == prepared_.end()) {
    evict_prepared_if_full();
    PgPrepared entry;
    entry.name = "payoutd_" + std::to_string(next_statement_name_++);
    it = prepared_.emplace(std::move(key), std::move(entry)).first;
  }
  // Pointers to unordered_map elements survive rehashing; erasures bump epoch_.
  statement.prepared_entry_ = &it->second;
  statement.prepared_epoch_ = epoch_;
  statement.prepared_signature_ = signature;
  return &it->second;
}

Result<bool> PgConnection::execute_statement(PgStatement& statement) {
  if (!usable()) return connection_lost("query failed", &statement.last_error_);

  // Every parameter is typed by its binder (a NULL too: sql::SqlType), so the server never
  // infers one; the same text prepares once per parameter-type signature. A number below the
  // highest one bound that is not bound is one the text skips (queries bind one parameter set for
  // several texts): a NULL typed text. (A text using a parameter nobody bound is refused by the
  // SQLite statement, which knows its parameters, so the shared queries' tests catch it there;
  // past the highest one bound, the server refuses it.)
  const size_t count = statement.param_count_;
  signature_.assign(count, 'u');
  types_.assign(count, 0);
  values_.assign(count, nullptr);
  lengths_.assign(count, 0);
  formats_.assign(count, 0);
  for (size_t k = 0; k < count; ++k) {
    const PgStatement::Param& p = statement.params_[k];
    signature_[k] = static_cast<char>(p.type);
    switch (p.type) {
      case PgStatement::ParamType::kInt:
        types_[k] = kInt8Oid;
        break;
      case PgStatement::ParamType::kText:
        types_[k] = kTextOid;
        break;
      case PgStatement::ParamType::kBlob:
        types_[k] = kByteaOid;
        lengths_[k] = static_cast<int>(p.value.size());
        formats_[k] = 1;
        break;
      case PgStatement::ParamType::kUnbound:
        types_[k] = kTextOid;
        break;
    }
    if (p.type == PgStatement::ParamType::kUnbound || p.null) continue;
    values_[k] = p.type == PgStatement::ParamType::kBlob ? p.value.data()  // never null when empty
                                                          : p.value.c_str();
  }
  PgPrepared* entry = prepared_entry(statement, signature_);
  entry->last_used = ++use_tick_;
  flush_deallocations();  // evicted entries, now that no transaction would suffer from a failure
  const int n_params = static_cast<int>(count);

  auto finish = [&](PGresult* raw) -> Result<bool> {
    ResultPtr result(raw);
    if (!result_ok(result.get())) return fail(result.get(), "query failed", &statement.last_error_);
    statement.changes_ = parse_changes(result.get());
    statement.row_count_ = PQntuples(result.get());
    statement.row_ = 0;
    statement.result_ = result.release();
    return statement.row_count_ > 0;
  };

  const bool fresh = !entry->on_server;
  // Statements whose failure the caller carries on from, and statements still to be parsed (a
  // parse error would abort the transaction), run under the statement savepoint inside a
  // transaction.
  const bool wrap = (statement.scope_ == sql::FailureScope::kStatement || fresh) &&
                    PQtransactionStatus(connection_) == PQTRANS_INTRANS;
  const size_t deferred = deferred_.size();

  if (!wrap && !fresh && deferred == 0) {
    ++round_trips_;
    return finish(PQexecPrepared(connection_, entry->name.c_str(), n_params, values_.data(),
                                 lengths_.data(), formats_.data(), /*resultFormat=*/0));
  }

  // One pipeline, one round trip: [deferred commands] [SAVEPOINT] [Parse] Bind/Execute
  // [RELEASE] Sync.
  if (PQenterPipelineMode(connection_) != 1) {
    broken_ = true;
    return connection_lost("query failed", &statement.last_error_);
  }
  enum Step { kDeferred, kSavepoint, kPrepare, kExecute, kRelease };
  constexpr size_t kMaxSteps = kMaxDeferredCommands + 4;
  std::array<Step, kMaxSteps> steps{};
  size_t queued = 0;
  bool sent = true;
  PAYOUTD_ASSERT(deferred <= kMaxDeferredCommands);
  for (size_t k = 0; sent && k < deferred; ++k) {
    sent = PQsendQueryParams(connection_, deferred_[k].c_str(), 0, nullptr, nullptr, nullptr,
                             nullptr, 0) == 1;
    steps[queued++] = kDeferred;
  }
  deferred_.clear();  // sent (or the connection is lost and the transaction with it)
  if (sent && wrap) {
    sent = PQsendQueryParams(connection_, kStatementSavepoint, 0, nullptr, nullptr, nullptr,
                             nullptr, 0) == 1;
    steps[queued++] = kSavepoint;
  }
  if (sent && fresh) {
    sent = PQsendPrepare(connection_, entry->name.c_str(), statement.sql_.c_str(), n_params,
                         types_.data()) == 1;
    steps[queued++] = kPrepare;
  }
  if (sent) {
    sent = PQsendQueryPrepared(connection_, entry->name.c_str(), n_params, values_.data(),
                               lengths_.data(), formats_.data(), 0) == 1;
    steps[queued++] = kExecute;
  }
  if (sent && wrap) {
    sent = PQsendQueryParams(connection_, kStatementRelease, 0, nullptr, nullptr, nullptr,
                             nullptr, 0) == 1;
    steps[queued++] = kRelease;
  }
  if (sent) sent = PQpipelineSync(connection_) == 1;
  ++round_trips_;

  std::array<ResultPtr, kMaxSteps> results;
  bool complete = sent;
  for (size_t k = 0; complete && k < queued; ++k) {
    results[k].reset(PQgetResult(connection_));
    if (results[k] == nullptr) {
      complete = false;
      break;
    }
    // Each query's results end with a null; a single statement has exactly one result.
    int extra = 0;
    for (PGresult* more = PQgetResult(connection_); more != nullptr;
         more = PQgetResult(connection_)) {
      PQclear(more);
      if (++extra > 8 || PQstatus(connection_) != CONNECTION_OK) {
        complete = false;
        break;
      }
    }
  }
  if (complete) {
    ResultPtr sync(PQgetResult(connection_));
    complete = sync != nullptr && PQresultStatus(sync.get()) == PGRES_PIPELINE_SYNC;
  }
  PGresult* first_error = nullptr;
  for (size_t k = 0; k < queued; ++k) {
    if (results[k] != nullptr && PQresultStatus(results[k].get()) == PGRES_FATAL_ERROR) {
      first_error = results[k].get();
      break;
    }
  }
  if (!complete || PQexitPipelineMode(connection_) != 1) {
    // The protocol state is unknown: nothing more is sent on this connection until
    // ensure_connected() resets it (the transaction, if any, is lost).
    broken_ = true;
    if (first_error != nullptr && PQresultErrorField(first_error, PG_DIAG_SQLSTATE) != nullptr) {
      return fail(first_error, "query failed", &statement.last_error_);
    }
    return connection_lost("query failed", &statement.last_error_);
  }

  bool savepoint_open = false;
  size_t execute_index = queued;
  for (size_t k = 0; k < queued; ++k) {
    const ExecStatusType status = PQresultStatus(results[k].get());
    const bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    switch (steps[k]) {
      case kDeferred:
        break;  // an error of one is first_error: reported as this statement's failure
      case kSavepoint:
        savepoint_open = ok;
        break;
      case kPrepare:
        entry->on_server = ok;
        break;
      case kExecute:
        execute_index = k;
        break;
      case kRelease:
        if (ok) savepoint_open = false;
        break;
    }
  }
  if (first_error == nullptr) return finish(results[execute_index].release());

  auto undo_statement = [&]() {
    if (!savepoint_open || !usable()) return;
    // Undo only this statement; the transaction stays usable (SQLite's semantics).
    ResultPtr undo(exec(kStatementUndo));
    if (!result_ok(undo.get())) (void)fail(undo.get(), "undoing a failed statement", nullptr);
  };
  Status status = fail(first_error, "query failed", &statement.last_error_);
  undo_statement();
  return status;
}

Status PgConnection::execute_script(std::string_view sql) {
  if (!usable()) return connection_lost(describe("executing ", sql), nullptr);
  const std::string text(sql);
  ResultPtr result(exec(text.c_str()));
  if (result_ok(result.get())) return Status::ok();
  return fail(result.get(), describe("executing ", sql), nullptr);
}

Status PgConnection::execute_cached(std::string_view sql) {
  // SAVEPOINT and RELEASE inside a transaction are deferred: they travel with the next statement
  // (the writer's per-op savepoint and a primitive's savepoint cost no round trip of their own).
  // Anything else, and these outside a transaction, run now (the simple protocol is one round
  // trip, with nothing to cache).
  const bool deferrable = sql.starts_with("SAVEPOINT ") || sql.starts_with("RELEASE ");
  if (deferrable && usable() && PQtransactionStatus(connection_) == PQTRANS_INTRANS) {
    deferred_.emplace_back(sql);
    if (deferred_.size() < kMaxDeferredCommands) return Status::ok();
    // Bounded: a run of ops that touch nothing would otherwise grow the list without end.
    ResultPtr result(exec("SELECT 1"));
    if (result_ok(result.get())) return Status::ok();
    return fail(result.get(), "deferred savepoint commands", nullptr);
  }
  return execute_script(sql);
}

Result<std::string> PgConnection::query_text(std::string_view sql) {
  if (!usable()) return connection_lost(describe("", sql), nullptr);
  const std::string text(sql);
  ResultPtr result(exec(text.c_str()));
  if (!result_ok(result.get())) return fail(result.get(), describe("", sql), nullptr);
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK || PQntuples(result.get()) == 0 ||
      PQnfields(result.get()) == 0 || PQgetisnull(result.get(), 0, 0) != 0) {
    return std::string();
  }
  return std::string(PQgetvalue(result.get(), 0, 0),
                     static_cast<size_t>(PQgetlength(result.get(), 0, 0)));
}

Status PgConnection::begin_write() {
  if (in_transaction()) {
    Status status = Status::internal("BEGIN inside an open transaction");
    note_error(sql::DatabaseError{sql::FailureKind::kOther, status.message(), 0}, status);
    return status;
  }
  flush_deallocations();
  if (options_.writer_lock_key == 0) return execute_script("BEGIN ISOLATION LEVEL READ COMMITTED");
  // One message, one round trip: the transaction and its place in the queue of writers.
  const std::string begin = "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(" +
                            std::to_string(options_.writer_lock_key) + ")";
  return execute_script(begin);
}

Status PgConnection::begin_read() {
  if (in_transaction()) {
    Status status = Status::internal("BEGIN inside an open transaction");
    note_error(sql::DatabaseError{sql::FailureKind::kOther, status.message(), 0}, status);
    return status;
  }
  flush_deallocations();
  return execute_script("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

Status PgConnection::commit() {
  if (!usable()) return connection_lost("COMMIT", nullptr);
  ResultPtr result(exec("COMMIT"));
  if (result == nullptr || PQstatus(connection_) != CONNECTION_OK) {
    sql::DatabaseError error{sql::FailureKind::kOther,
                             "the connection to PostgreSQL was lost during COMMIT: the outcome "
                             "is unknown",
                             0, ErrorKind::kUnavailable};
    Status status = Status::unavailable("COMMIT: " + error.message);
    note_error(error, status);
    return status;
  }
  if (!result_ok(result.get())) return fail(result.get(), "COMMIT", nullptr);
  // Committing an aborted transaction "succeeds" with the tag ROLLBACK.
  if (std::strcmp(PQcmdStatus(result.get()), "COMMIT") != 0) {
    sql::DatabaseError error{sql::FailureKind::kOther,
                             "the transaction was aborted by an earlier error and has been "
                             "rolled back",
                             0};
    Status status = Status::internal("COMMIT: " + error.message);
    note_error(error, status);
    return status;
  }
  return Status::ok();
}

void PgConnection::rollback() {
  deferred_.clear();  // savepoints of a transaction being thrown away
  if (!usable() || PQtransactionStatus(connection_) == PQTRANS_IDLE) return;
  ResultPtr result(exec("ROLLBACK"));
}

bool PgConnection::in_transaction() const {
  if (broken_) return false;
  const PGTransactionStatusType status = PQtransactionStatus(connection_);
  return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE;
}

Status PgConnection::ensure_connected() {
  if (usable()) return Status::ok();
  deferred_.clear();
  PQreset(connection_);
  broken_ = false;
  clear_statement_caches();
  if (PQpipelineStatus(connection_) != PQ_PIPELINE_OFF && PQexitPipelineMode(connection_) != 1) {
    broken_ = true;
    return Status::unavailable("cannot reconnect to PostgreSQL: the connection stays in pipeline mode");
  }
  if (PQstatus(connection_) != CONNECTION_OK) {
    return Status::unavailable("cannot reconnect to PostgreSQL: " +
                               redact(PQerrorMessage(connection_)));
  }
  PQsetNoticeProcessor(connection_, ignore_notice, nullptr);
  return configure();
}

}  // namespace payoutd::postgres
