// The PostgreSQL schema as versioned, forward-only migrations, embedded in the binary: the same
// tables, columns, constraints, indexes and triggers (with the same names and refusal messages)
// as the SQLite schema (store/sqlite/schema.cc), translated: INTEGER -> BIGINT (0/1 flags stay
// BIGINT with their CHECK, never boolean), BLOB -> BYTEA, INTEGER PRIMARY KEY -> BIGINT GENERATED
// BY DEFAULT AS IDENTITY PRIMARY KEY (never reused), triggers -> PL/pgSQL functions raising
// P0001 with SQLite's message.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "core/status.h"
#include "store/postgres/connection.h"

namespace payoutd::postgres {

struct Migration {
  int version;  // 1, 2, 3, ... contiguous; the same numbering as the SQLite migrations
  std::string_view name;
  std::string_view sql;  // one script, run inside the migration transaction
};

std::span<const Migration> migrations();
int latest_schema_version();

// The key of the transaction-level advisory lock every migrating process takes first.
inline constexpr int64_t kMigrationLockKey = 0x7061796f75746401;  // "payoutd\1"

// Applies every migration newer than the database's version, all inside one transaction that
// first takes an advisory lock, so concurrent processes serialize and never apply one twice. A
// database whose version is newer than this binary knows is refused (kInternal) and left
// untouched. Must be called outside a transaction.
Status apply_migrations(PgConnection& connection, int64_t now_micros);

// The database's current schema version (0 when never migrated).
Result<int> schema_version(PgConnection& connection);

}  // namespace payoutd::postgres
