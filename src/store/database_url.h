// Database URLs (operations.md): which backend, and where.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace payoutd {

enum class DatabaseBackend : uint8_t { kSqlite = 0, kPostgresql };

struct DatabaseUrl {
  DatabaseBackend backend = DatabaseBackend::kSqlite;
  // kSqlite: the file path exactly as written after "sqlite://" ("/abs/x.db", "./x.db", "x.db").
  // Relative paths are relative to the current directory.
  std::string path;
  // kPostgresql: the URL exactly as given, handed to libpq (which reads host, port, user,
  // password, database and parameters such as sslmode from it). May carry a password: never log it.
  std::string conninfo;
};

// Accepts sqlite:///absolute/path.db, sqlite://./relative.db, sqlite://relative.db and
// postgresql://... (also postgres://). The scheme is case-insensitive. Refuses (kInvalidArgument,
// field "database") anything else, an empty path, a path naming a directory (trailing '/'),
// query strings or fragments ('?', '#') and NUL bytes.
Result<DatabaseUrl> parse_database_url(std::string_view url);

}  // namespace payoutd
