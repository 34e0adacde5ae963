// Status and Result: errors as values on the request path (LevelDB style).
//
// A Status is either ok or carries an ErrorKind plus a human message. Every dialect maps ErrorKind
// (and, where it needs more, `field` / `detail_code`) onto its own wire codes; nothing below the
// dialect layer knows about HTTP statuses or v3 numeric codes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

// Invariant assertions that stay on in release builds: a failed one is a bug, never an error path.
#define PAYOUTD_ASSERT(condition)                                                   \
  do {                                                                              \
    if (!(condition)) ::payoutd::assertion_failed(#condition, __FILE__, __LINE__);  \
  } while (false)

namespace payoutd {
[[noreturn]] void assertion_failed(const char* condition, const char* file, int line);
}  // namespace payoutd

namespace payoutd {

enum class ErrorKind : uint8_t {
  kOk = 0,
  kInvalidArgument,    // validation failure of caller input; `field` names the input
  kNotFound,           // no such object for this merchant (never "forbidden": no existence leaks)
  kAlreadyExists,      // unique key taken (external_id / reference_id, login, ...)
  kConflict,           // same key, different request (v1 reference_id / Idempotency-Key replay)
  kInsufficientFunds,  // wallet available balance below total_amount
  kInvalidTransition,  // status transition refused by the transition table; detail_code = from status
  kUnauthenticated,    // bad credentials
  kDisabled,           // merchant disabled
  kLimitExceeded,      // a configured limit (transaction size, minimum amount, rate)
  kUnavailable,        // transient: database busy, shutting down; safe to retry
  kInternal,           // a bug or an unexpected database error
  kCorruption,         // stored data violates an invariant
};

std::string_view error_kind_name(ErrorKind kind);

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok

  static Status ok() { return Status(); }
  static Status error(ErrorKind kind, std::string message) {
    PAYOUTD_ASSERT(kind != ErrorKind::kOk);
    return Status(kind, std::move(message), {});
  }
  static Status invalid_argument(std::string field, std::string message) {
    return Status(ErrorKind::kInvalidArgument, std::move(message), std::move(field));
  }
  static Status not_found(std::string message) { return error(ErrorKind::kNotFound, std::move(message)); }
  static Status internal(std::string message) { return error(ErrorKind::kInternal, std::move(message)); }
  static Status unavailable(std::string message) {
    return error(ErrorKind::kUnavailable, std::move(message));
  }

  bool is_ok() const { return kind_ == ErrorKind::kOk; }
  explicit operator bool() const { return is_ok(); }
  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }
  // The input field a kInvalidArgument refers to ("amount", "beneficiary.email"); empty otherwise.
  const std::string& field() const { return field_; }
  // Extra machine-readable detail: for kInvalidTransition the current PayoutStatus as int.
  std::optional<int> detail_code() const { return detail_code_; }
  Status& with_detail_code(int code) {
    detail_code_ = code;
    return *this;
  }

  // "kind: message" for logs and the CLI's one-line reasons.
  std::string to_string() const;

 private:
  Status(ErrorKind kind, std::string message, std::string field)
      : kind_(kind), message_(std::move(message)), field_(std::move(field)) {}

  ErrorKind kind_ = ErrorKind::kOk;
  std::string message_;
  std::string field_;
  std::optional<int> detail_code_;
};

// Result<T>: a T or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : storage_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : storage_(std::move(status)) {  // NOLINT: implicit by design
    PAYOUTD_ASSERT(!std::get<Status>(storage_).is_ok());  // a Result is never built from ok
  }

  bool is_ok() const { return std::holds_alternative<T>(storage_); }
  explicit operator bool() const { return is_ok(); }

  // REQUIRES: is_ok()
  T& value() & {
    PAYOUTD_ASSERT(is_ok());
    return std::get<T>(storage_);
  }
  const T& value() const& {
    PAYOUTD_ASSERT(is_ok());
    return std::get<T>(storage_);
  }
  T&& value() && {
    PAYOUTD_ASSERT(is_ok());
    return std::get<T>(std::move(storage_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // REQUIRES: !is_ok()
  const Status& status() const& {
    PAYOUTD_ASSERT(!is_ok());
    return std::get<Status>(storage_);
  }
  Status status() && {
    PAYOUTD_ASSERT(!is_ok());
    return std::get<Status>(std::move(storage_));
  }

 private:
  std::variant<T, Status> storage_;
};

}  // namespace payoutd

namespace payoutd::status_internal {
inline Status to_status(Status status) { return status; }
// A Result whose value the caller does not need: only whether it failed.
template <typename T>
Status to_status(Result<T>&& result) {
  return result.is_ok() ? Status::ok() : std::move(result).status();
}
}  // namespace payoutd::status_internal

// Propagate a non-ok Status from an expression returning Status, or the error of an expression
// returning a Result whose value is not needed.
#define PAYOUTD_RETURN_IF_ERROR(expr)                                                   \
  do {                                                                                  \
    ::payoutd::Status status_macro_ = ::payoutd::status_internal::to_status((expr));   \
    if (!status_macro_.is_ok()) return status_macro_;                                   \
  } while (false)

// `PAYOUTD_ASSIGN_OR_RETURN(T x, expr);` or `PAYOUTD_ASSIGN_OR_RETURN(x, expr);`: evaluates `expr`
// (a Result<U>) once; on an error returns its Status from the enclosing function (which returns
// Status or any Result<V>), else moves the value into `x`. A statement, not an expression.
#define PAYOUTD_STATUS_CONCAT_INNER_(a, b) a##b
#define PAYOUTD_STATUS_CONCAT_(a, b) PAYOUTD_STATUS_CONCAT_INNER_(a, b)
#define PAYOUTD_ASSIGN_OR_RETURN(lhs, expr) \
  PAYOUTD_ASSIGN_OR_RETURN_IMPL_(PAYOUTD_STATUS_CONCAT_(result_macro_, __LINE__), lhs, expr)
#define PAYOUTD_ASSIGN_OR_RETURN_IMPL_(result, lhs, expr) \
  auto result = (expr);                                   \
  if (!result.is_ok()) return std::move(result).status(); \
  lhs = std::move(result).value()
