#include "store/sql/connection.h"

#include <utility>

namespace payoutd::sql {

Status status_of(const DatabaseError& error, std::string_view context) {
  std::string message(context);
  message += ": ";
  message += error.message;
  if (error.code != 0) message += " (code " + std::to_string(error.code) + ")";
  return Status::error(error.status_kind, std::move(message));
}

void Statement::bind(int index, const std::optional<std::string>& text) {
  if (text) {
    bind(index, std::string_view(*text));
  } else {
    bind_null(index, SqlType::kText);
  }
}

void Statement::bind(int index, const std::optional<int64_t>& value) {
  if (value) {
    bind(index, *value);
  } else {
    bind_null(index, SqlType::kInt);
  }
}

void Statement::bind(int index, const std::optional<int>& value) {
  if (value) {
    bind(index, static_cast<int64_t>(*value));
  } else {
    bind_null(index, SqlType::kInt);
  }
}

Status Statement::execute() {
  PAYOUTD_ASSIGN_OR_RETURN(bool stepped, step());
  PAYOUTD_ASSERT(!stepped);  // a statement run for its effect must not return rows
  return Status::ok();
}

std::optional<std::string> Statement::column_optional_text(int column) const {
  if (column_is_null(column)) return std::nullopt;
  return column_text(column);
}

std::optional<int64_t> Statement::column_optional_int64(int column) const {
  if (column_is_null(column)) return std::nullopt;
  return column_int64(column);
}

StatementLease::~StatementLease() {
  if (statement_ == nullptr) return;
  statement_->reset();
  statement_->set_in_use(false);
}

Status Connection::take_hard_error() {
  Status status = std::move(hard_error_);
  hard_error_ = Status::ok();
  return status;
}

bool Connection::take_conflict() {
  const bool conflict = conflict_;
  conflict_ = false;
  return conflict;
}

void Connection::note_error(const DatabaseError& error, const Status& status) {
  if (error.is_conflict()) conflict_ = true;
  // Constraint failures undo only their own statement; they are answers, not breakage.
  if (error.is_constraint()) return;
  if (hard_error_.is_ok()) hard_error_ = status;
}

Savepoint::Savepoint(Connection& connection, std::string name)
    : connection_(connection), name_(std::move(name)) {
  begin_status_ = connection_.execute_cached("SAVEPOINT " + name_);
  open_ = begin_status_.is_ok();
}

Savepoint::~Savepoint() {
  if (!open_) return;
  // If the database already rolled the whole transaction back, these fail harmlessly.
  (void)connection_.execute_script("ROLLBACK TO " + name_);
  (void)connection_.execute_cached("RELEASE " + name_);
}

Status Savepoint::commit() {
  PAYOUTD_ASSERT(open_);
  open_ = false;
  return connection_.execute_cached("RELEASE " + name_);
}

}  // namespace payoutd::sql
