#include "store/database_url.h"

#include <cctype>

namespace payoutd {
namespace {

constexpr std::string_view kUrlHelp =
    "expected sqlite:///absolute/path.db, sqlite://relative/path.db or postgresql://...";

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

Status invalid(std::string message) {
  return Status::invalid_argument("database", std::move(message));
}

}  // namespace

Result<DatabaseUrl> parse_database_url(std::string_view url) {
  if (url.empty()) return invalid("database URL is empty; " + std::string(kUrlHelp));
  if (url.find('\0') != std::string_view::npos) return invalid("database URL contains a NUL byte");

  if (starts_with_ignoring_case(url, "postgresql://") ||
      starts_with_ignoring_case(url, "postgres://")) {
    DatabaseUrl parsed;
    parsed.backend = DatabaseBackend::kPostgresql;
    parsed.conninfo = std::string(url);
    return parsed;
  }

  constexpr std::string_view kSqliteScheme = "sqlite://";
  if (!starts_with_ignoring_case(url, kSqliteScheme)) {
    const size_t colon = url.find(':');
    if (colon != std::string_view::npos && colon > 0 && url.find("://") == colon) {
      return invalid("unsupported database scheme '" + std::string(url.substr(0, colon)) + "'; " +
                     std::string(kUrlHelp));
    }
    return invalid("malformed database URL '" + std::string(url) + "'; " + std::string(kUrlHelp));
  }
  std::string_view path = url.substr(kSqliteScheme.size());
  if (path.empty()) return invalid("sqlite URL has no file path; " + std::string(kUrlHelp));
  if (path.find_first_of("?#") != std::string_view::npos) {
    return invalid("sqlite URL must not carry query parameters or a fragment");
  }
  if (path == ":memory:" || path.substr(0, 5) == "file:") {
    return invalid("sqlite URL must name a database file (in-memory databases cannot be shared)");
  }
  if (path.back() == '/' || path == "." || path == "..") {
    return invalid("sqlite URL path '" + std::string(path) + "' names a directory, not a file");
  }
  DatabaseUrl parsed;
  parsed.backend = DatabaseBackend::kSqlite;
  parsed.path = std::string(path);
  return parsed;
}

}  // namespace payoutd
