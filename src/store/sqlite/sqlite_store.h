// The SQLite backend: a BatchingStore over SQLite connections to one file. WAL mode lets reads run
// beside the writer; several processes may open the same file (the write lock is taken with BEGIN
// IMMEDIATE and waited for up to busy_timeout_ms).
#pragma once

#include <memory>
#include <string>

#include "store/sql/batching_store.h"

namespace payoutd::sqlite {

class SqliteStore final : public sql::BatchingStore {
 public:
  // `path` is a filesystem path (absolute, or relative to the current directory). The file is
  // created if missing; its parent directory must exist. Does not migrate.
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path,
                                                   const StoreOptions& options);

  const std::string& path() const { return path_; }

 private:
  SqliteStore(std::string path, const StoreOptions& options);

  const std::string path_;
};

}  // namespace payoutd::sqlite
