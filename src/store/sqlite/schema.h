// The SQLite schema as versioned, forward-only migrations, embedded in the binary.
#pragma once

#include <span>
#include <string_view>

#include "core/status.h"
#include "store/sqlite/connection.h"

namespace payoutd::sqlite {

struct Migration {
  int version;  // 1, 2, 3, ... contiguous
  std::string_view name;
  std::string_view sql;  // one script, run inside the migration transaction
};

std::span<const Migration> migrations();
int latest_schema_version();

// Applies every migration newer than the database's version, all inside one BEGIN IMMEDIATE
// transaction, so concurrent processes serialize and never apply one twice. A database whose
// version is newer than this binary knows is refused (kInternal) and left untouched.
Status apply_migrations(SqliteConnection& connection, int64_t now_micros);

// The database's current schema version (0 when never migrated).
Result<int> schema_version(SqliteConnection& connection);

}  // namespace payoutd::sqlite
