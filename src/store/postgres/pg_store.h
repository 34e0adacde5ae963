// The PostgreSQL backend: a BatchingStore over libpq connections to one database. Each payoutd
// process has one writer connection (its group-commit transactions, read committed, every
// transition a conditional UPDATE) and a bounded pool of read connections (repeatable-read, read
// only snapshots). Several processes share the database: conflicts between their writers
// (serialization failures, deadlocks) retry the whole transaction (sql::BatchingStore).
#pragma once

#include <memory>
#include <string>

#include "store/sql/batching_store.h"

namespace payoutd::postgres {

class PgStore final : public sql::BatchingStore {
 public:
  // `conninfo`: a libpq connection URI or key=value string; never logged. Connects the writer
  // and `options.read_connections` readers; does not migrate.
  static Result<std::unique_ptr<PgStore>> open(const std::string& conninfo,
                                               const StoreOptions& options);

 private:
  PgStore(const std::string& conninfo, const StoreOptions& options);
};

}  // namespace payoutd::postgres
