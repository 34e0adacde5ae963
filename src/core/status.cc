#include "core/status.h"

#include <cstdio>
#include <cstdlib>

namespace payoutd {

std::string_view error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kOk:
      return "ok";
    case ErrorKind::kInvalidArgument:
      return "invalid_argument";
    case ErrorKind::kNotFound:
      return "not_found";
    case ErrorKind::kAlreadyExists:
      return "already_exists";
    case ErrorKind::kConflict:
      return "conflict";
    case ErrorKind::kInsufficientFunds:
      return "insufficient_funds";
    case ErrorKind::kInvalidTransition:
      return "invalid_transition";
    case ErrorKind::kUnauthenticated:
      return "unauthenticated";
    case ErrorKind::kDisabled:
      return "disabled";
    case ErrorKind::kLimitExceeded:
      return "limit_exceeded";
    case ErrorKind::kUnavailable:
      return "unavailable";
    case ErrorKind::kInternal:
      return "internal";
    case ErrorKind::kCorruption:
      return "corruption";
  }
  // Only reachable with a value cast from outside the enum's range.
  return "unknown";
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  std::string text(error_kind_name(kind_));
  text += ": ";
  text += message_;
  if (!field_.empty()) {
    text += " (field ";
    text += field_;
    text += ")";
  }
  return text;
}

void assertion_failed(const char* condition, const char* file, int line) {
  // stderr is unbuffered; write once so concurrent failures do not interleave mid-line.
  std::fprintf(stderr, "assertion failed: %s at %s:%d\n", condition, file, line);
  std::abort();
}

}  // namespace payoutd
