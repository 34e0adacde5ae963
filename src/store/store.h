// The store interface. Two backends implement it with the same semantics over one shared SQL
// layer (store/sql/): SQLite (store/sqlite/, the embedded default) and PostgreSQL
// (store/postgres/, several nodes on one database). The database is the single source of truth: nothing here caches
// a balance or a status in memory.
//
// Reads run in a read transaction (a consistent snapshot) on a pooled read connection.
// Writes are WriteOps submitted to the backend's writer, which merges concurrent ops into one
// database transaction and one fsync (group commit). Each op runs inside its own savepoint: an op
// that returns a non-ok Status rolls back only its own changes and keeps its refusal as a value.
// An op's complete() runs only after the transaction's commit is durable, so no caller can answer
// 2xx before its commit.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/payout_status.h"
#include "core/status.h"
#include "core/types.h"
#include "store/ports/credentials.h"
#include "store/ports/engine.h"
#include "store/ports/ledger.h"
#include "store/ports/merchants.h"
#include "store/ports/outbox.h"
#include "store/ports/paging.h"
#include "store/ports/payouts.h"

namespace payoutd {

namespace sql {
class Connection;
}  // namespace sql

// The store's ports, one per concern (store/ports/). A caller names the port it needs; ReadTx and
// WriteTx are all of them at once, for the backends to implement and for ops that touch several
// concerns in one transaction. Each write port extends its read port (virtually, so that ReadTx
// and WriteTx share one set of reads): an op reads back what it wrote through the same port.
class ReadTx : public virtual MerchantReads,
               public virtual LedgerReads,
               public virtual PayoutReads,
               public virtual CredentialReads,
               public virtual EngineReads,
               public virtual OutboxReads {};

// Write primitives used by the domain commands (commands/). Runs inside the writer's transaction
// and the op's savepoint; every read here sees the transaction's own writes.
class WriteTx : public ReadTx,
                public MerchantWrites,
                public LedgerWrites,
                public PayoutWrites,
                public CredentialWrites,
                public EngineWrites,
                public OutboxWrites {};

// A unit of work for the batching writer.
class WriteOp {
 public:
  virtual ~WriteOp() = default;
  // Runs inside its own savepoint of a batch transaction. A non-ok Status rolls back only this op.
  virtual Status apply(WriteTx& tx) = 0;
  // Called exactly once, after the batch's commit is durable (with the status apply returned) or
  // after the batch failed (with that failure).
  virtual void complete(Status status) = 0;
  // True when apply() may run with its writes buffered and written together with other such
  // ops' (PostgreSQL: store/sql/deferred_tx.h): it must not read back what it wrote (its payout's
  // events, say). apply() may then run twice (the group fell back): it must not depend on having
  // run before.
  virtual bool defers_writes() const { return false; }
  // For an op that defers its writes: the payout (cashout id) it is about, when known ahead, so
  // that a write group reads all its payouts with one statement.
  virtual std::optional<int64_t> deferred_payout() const { return std::nullopt; }
};

// Counters of a store's batching writer, for /metrics (commit batch sizes) and tests.
inline constexpr std::array<uint64_t, 11> kBatchSizeBucketBounds = {1,  2,  4,   8,   16,  32,
                                                                     64, 128, 256, 512, 1024};
struct WriterStats {
  uint64_t batches_committed = 0;
  uint64_t ops_committed = 0;  // ops in committed batches, including ops their own apply refused
  uint64_t ops_refused = 0;    // of those, ops whose apply returned non-ok (savepoint rolled back)
  uint64_t batches_failed = 0; // batches whose BEGIN or COMMIT failed
  uint64_t ops_failed = 0;     // ops completed with a batch failure, a full queue or a closed store
  // PostgreSQL write groups (StoreOptions::group_deferred_writes): written set-wise, and rolled
  // back to be applied op by op.
  uint64_t write_groups = 0;
  uint64_t write_groups_fallen_back = 0;
  // batch_size_buckets[i]: committed batches with size <= kBatchSizeBucketBounds[i] and above the
  // previous bound; the last entry counts batches above every bound (a Prometheus histogram's
  // buckets, not yet cumulative).
  std::array<uint64_t, kBatchSizeBucketBounds.size() + 1> batch_size_buckets{};
};

class Store {
 public:
  virtual ~Store() = default;

  // Applies pending migrations (versioned, forward-only). Safe to run concurrently from several
  // processes.
  virtual Status migrate() = 0;

  // Runs `body` in a read transaction. The body's Status is returned.
  virtual Status read(const std::function<Status(ReadTx&)>& body) = 0;
  // Runs `body`, which reads with one statement, without a transaction around it: a single
  // statement sees one consistent snapshot on its own (both backends), and PostgreSQL is spared
  // the round trips of BEGIN and COMMIT — two of the three a one-lookup read costs (the
  // per-request authentication read). REQUIRES: body prepares at most one statement (asserted).
  virtual Status read_single(const std::function<Status(ReadTx&)>& body) = 0;

  // Queues `op` for the writer (group commit). Never blocks on the database; complete() is called
  // on the writer's thread. When the queue is full, complete(kUnavailable) is called at once.
  virtual void submit(std::unique_ptr<WriteOp> op) = 0;

  // Convenience: submits `body` and waits for its durable outcome.
  // REQUIRES: not called from a WriteOp's apply() or complete() (the writer thread would wait on
  // itself).
  Status write(std::function<Status(WriteTx&)> body);

  // Tables a component above the store owns in the same database (the sandbox connector's
  // simulated rail, engine/connectors/sandbox_rail.h): the component writes its own SQL against
  // store/sql's connection, so the production store neither knows nor serves them; their DDL
  // stays in the backends' migrations (one forward-only history per database, docs/architecture.md).
  // read_own_tables runs `body` in a read transaction; write_own_tables runs it as a write op of
  // its own (its own savepoint of a group-committed transaction) and waits for the commit.
  // REQUIRES (write_own_tables): as write().
  virtual Status read_own_tables(const std::function<Status(sql::Connection&)>& body) = 0;
  virtual Status write_own_tables(std::function<Status(sql::Connection&)> body) = 0;

  // Stops the writer after draining queued ops. Idempotent.
  virtual void close() = 0;

  // A snapshot of the writer's counters. Cheap; callable from any thread.
  virtual WriterStats writer_stats() const { return {}; }
};

struct StoreOptions {
  int read_connections = 8;
  int max_batch_ops = 256;          // ops merged into one transaction at most
  int max_queued_ops = 16384;       // submit() beyond this fails fast with kUnavailable
  int busy_timeout_ms = 5000;       // waiting for another process's write lock
  // PostgreSQL: consecutive ops of a batch that defer their writes (WriteOp::defers_writes) are
  // written together, one statement per table (store/sql/deferred_tx.h). Off: one op at a time.
  bool group_deferred_writes = true;
};

// Opens a store from a database URL (operations.md): sqlite:///abs.db, sqlite://./rel.db, or
// postgresql://user[:password]@host:port/database[?params] (libpq's URI form). Exceptions are not used; a bad URL or
// an unopenable database is a Status.
Result<std::unique_ptr<Store>> open_store(std::string_view database_url, const StoreOptions& options);

}  // namespace payoutd
