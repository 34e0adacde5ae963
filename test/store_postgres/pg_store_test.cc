// The PostgreSQL store (a BatchingStore over PgConnections) as several nodes use it: two stores
// on one database stand for two payoutd processes. What SQLite never shows: a deadlock between two
// writers' transactions, retried whole; a unique violation met after waiting for another node's
// commit, leaving the transaction usable; connections killed by the server and reconnected.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/postgres/connection.h"
#include "store/postgres/pg_store.h"
#include "store/sql/transactions.h"
#include "store_postgres/pg_test_support.h"
#include "support/test_support.h"

namespace payoutd::testing {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<postgres::PgStore> open_pg_store(const std::string& url) {
  StoreOptions options;
  options.read_connections = 2;
  Result<std::unique_ptr<postgres::PgStore>> store = postgres::PgStore::open(url, options);
  EXPECT_TRUE(store.is_ok()) << (store.is_ok() ? "" : store.status().to_string());
  if (!store.is_ok()) return nullptr;
  return std::move(store).value();
}

// Runs one statement on the op's connection (the writer's transaction).
Status run(WriteTx& tx, const std::string& statement) {
  return static_cast<sql::SqlWriteTx&>(tx).connection().execute_script(statement);
}

// Waits (bounded) until `flag` is set.
bool wait_for(const std::atomic<bool>& flag, std::chrono::milliseconds timeout) {
  return eventually([&] { return flag.load(); }, static_cast<int>(timeout.count()));
}

// How many payoutd sessions on `database` wait for an advisory lock (the writers' turn) right now,
// as the server sees them.
int advisory_lock_waiters(RawPg& raw, const std::string& database) {
  return std::stoi(raw.value(
      "SELECT count(*) FROM pg_stat_activity WHERE datname = '" + database +
      "' AND application_name = 'payoutd' AND wait_event_type = 'Lock' AND wait_event = 'advisory'"));
}

// Whether the session `pid` waits for a heavyweight lock (a row's transaction, an advisory lock)
// right now, as the server sees it.
bool waits_on_a_lock(RawPg& raw, int pid) {
  return raw.value("SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(pid) +
                   " AND wait_event_type = 'Lock'") == "1";
}

// Terminates every payoutd session on `database` and waits until the server no longer lists any
// of them (pg_terminate_backend only signals). Returns how many there were.
size_t terminate_payoutd_sessions(RawPg& admin, const std::string& database) {
  const std::vector<std::string> pids = admin.column(
      "WITH victims AS MATERIALIZED (SELECT pid FROM pg_stat_activity WHERE datname = '" + database +
      "' AND application_name = 'payoutd') SELECT pid FROM victims WHERE pg_terminate_backend(pid)");
  if (pids.empty()) return 0;
  std::string list;
  for (const std::string& pid : pids) list += (list.empty() ? "" : ",") + pid;
  const bool gone = eventually([&] {
    return admin.value("SELECT count(*) FROM pg_stat_activity WHERE pid IN (" + list + ")") == "0";
  }, 10'000, 5);
  EXPECT_TRUE(gone) << "terminated sessions still listed: " << list;
  return pids.size();
}

class PgStoreTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    exec("CREATE TABLE cells (id BIGINT PRIMARY KEY, value BIGINT NOT NULL)");
    exec("INSERT INTO cells VALUES (1, 0), (2, 0)");
    exec("CREATE TABLE refunds (payout BIGINT PRIMARY KEY)");
    // Deadlocks are found after deadlock_timeout (1 s by default); a short one keeps the test fast.
    database_.admin().must_exec("ALTER DATABASE " + database_.name() +
                                " SET deadlock_timeout = '100ms'");
    node_a_ = open_pg_store(database_.url());
    node_b_ = open_pg_store(database_.url());
    ASSERT_NE(node_a_, nullptr);
    ASSERT_NE(node_b_, nullptr);
  }
  void TearDown() override {
    if (node_a_) node_a_->close();
    if (node_b_) node_b_->close();
  }

  std::string cell(int id) {
    RawPg raw(database_.url());
    return raw.value("SELECT value FROM cells WHERE id = " + std::to_string(id));
  }

  std::unique_ptr<postgres::PgStore> node_a_;
  std::unique_ptr<postgres::PgStore> node_b_;
};

TEST_F(PgStoreTest, MigratesTheFullSchemaOnce) {
  ASSERT_TRUE(node_a_->migrate().is_ok());
  ASSERT_TRUE(node_b_->migrate().is_ok());
  RawPg raw(database_.url());
  EXPECT_EQ(raw.value("SELECT count(*) FROM schema_migrations"), "5");
  // The store's own queries run on the migrated schema: a read and a write through WriteTx.
  Status wrote = node_a_->write([](WriteTx& tx) -> Status {
    Result<int64_t> account = tx.platform_account("BRL", AccountKind::kFunding);
    return account.is_ok() ? Status::ok() : account.status();
  });
  ASSERT_TRUE(wrote.is_ok()) << wrote.to_string();
  // The other node finds the same account instead of creating a second one.
  int64_t from_a = 0;
  int64_t from_b = 0;
  ASSERT_TRUE(node_a_->write([&](WriteTx& tx) -> Status {
    Result<int64_t> account = tx.platform_account("BRL", AccountKind::kFunding);
    if (!account.is_ok()) return account.status();
    from_a = *account;
    return Status::ok();
  }).is_ok());
  ASSERT_TRUE(node_b_->write([&](WriteTx& tx) -> Status {
    Result<int64_t> account = tx.platform_account("BRL", AccountKind::kFunding);
    if (!account.is_ok()) return account.status();
    from_b = *account;
    return Status::ok();
  }).is_ok());
  EXPECT_EQ(from_a, from_b);
  EXPECT_EQ(raw.value("SELECT count(*) FROM accounts WHERE kind = 'funding'"), "1");
}

// Two nodes' write transactions take turns (the writers' advisory lock): node B's op does not
// start until node A's transaction has committed, and then sees A's change. No row lock is ever
// waited for between writers, so they cannot deadlock, whatever order their ops touch rows in.
TEST_F(PgStoreTest, WritersOfTwoNodesTakeTurns) {
  std::atomic<bool> a_inside{false};
  std::atomic<bool> release_a{false};
  std::atomic<bool> b_inside{false};
  std::future<Status> a = std::async(std::launch::async, [&] {
    return node_a_->write([&](WriteTx& tx) -> Status {
      PAYOUTD_RETURN_IF_ERROR(run(tx, "UPDATE cells SET value = value + 1 WHERE id = 2"));
      a_inside = true;
      if (!wait_for(release_a, 10s)) return Status::internal("never released");
      return run(tx, "UPDATE cells SET value = value + 1 WHERE id = 1");
    });
  });
  ASSERT_TRUE(wait_for(a_inside, 10s));
  std::string b_saw;
  std::future<Status> b = std::async(std::launch::async, [&] {
    return node_b_->write([&](WriteTx& tx) -> Status {
      b_inside = true;
      Result<std::string> seen = static_cast<sql::SqlWriteTx&>(tx).connection().query_text(
          "SELECT value FROM cells WHERE id = 1");
      if (!seen.is_ok()) return seen.status();
      b_saw = *seen;
      PAYOUTD_RETURN_IF_ERROR(run(tx, "UPDATE cells SET value = value + 1 WHERE id = 1"));
      return run(tx, "UPDATE cells SET value = value + 1 WHERE id = 2");
    });
  });
  // Node B's writer is blocked on the writers' advisory lock, which A's open transaction holds...
  RawPg watcher(database_.url());
  EXPECT_TRUE(eventually([&] { return advisory_lock_waiters(watcher, database_.name()) == 1; },
                         10'000, 5))
      << "node B's writer never waited for the writers' lock";
  // ...and its op has not begun: B's transaction starts only once it holds the lock.
  EXPECT_FALSE(b_inside.load()) << "node B's transaction began while node A's was open";
  release_a = true;
  ASSERT_EQ(a.wait_for(30s), std::future_status::ready);
  ASSERT_EQ(b.wait_for(30s), std::future_status::ready);
  EXPECT_TRUE(a.get().is_ok());
  EXPECT_TRUE(b.get().is_ok());
  EXPECT_EQ(b_saw, "1");  // A's committed increment
  EXPECT_EQ(cell(1), "2");
  EXPECT_EQ(cell(2), "2");
  EXPECT_EQ(node_a_->conflict_retries() + node_b_->conflict_retries(), 0u);
}

// A deadlock with a session outside payoutd's writers (an operator's script, another tool): the
// store's transaction is the victim, rolled back whole and run again once the other side has
// committed. Its op ends ok, applied exactly once.
TEST_F(PgStoreTest, DeadlockVictimTransactionIsRetriedWholeAndCommits) {
  RawPg outsider(database_.url());
  // Only the store's session looks for deadlocks soon (the database's 100 ms): the outsider would
  // look after 20 s, long after the store has found the cycle, so which side is the victim does
  // not depend on how long either side took to get to its wait.
  outsider.must_exec("SET deadlock_timeout = '20s'");
  outsider.must_exec("BEGIN");
  outsider.must_exec("UPDATE cells SET value = value + 10 WHERE id = 1");  // holds cell 1
  const int outsider_pid = PQbackendPID(outsider.handle());
  std::atomic<bool> store_holds_cell_2{false};
  std::atomic<bool> outsider_queued{false};
  std::atomic<int> applies{0};
  std::future<Status> store = std::async(std::launch::async, [&] {
    RawPg watcher(database_.url());  // this thread's own: libpq connections are not shared
    return node_a_->write([&](WriteTx& tx) -> Status {
      ++applies;
      PAYOUTD_RETURN_IF_ERROR(run(tx, "UPDATE cells SET value = value + 1 WHERE id = 2"));
      if (!store_holds_cell_2.exchange(true)) {
        // First attempt: wait until the outsider is queued for cell 2 (the server shows it waiting
        // on a lock), so that this transaction is the one that closes the cycle (PostgreSQL
        // aborts the session that finds the deadlock).
        outsider_queued = eventually([&] { return waits_on_a_lock(watcher, outsider_pid); }, 10'000, 5);
        if (!outsider_queued) return Status::internal("the outsider never waited for cell 2");
      }
      return run(tx, "UPDATE cells SET value = value + 1 WHERE id = 1");
    });
  });
  ASSERT_TRUE(wait_for(store_holds_cell_2, 10s));
  // The outsider now waits for cell 2 (held by the store) until the store is aborted.
  const std::string outsider_error = outsider.exec("UPDATE cells SET value = value + 10 WHERE id = 2");
  EXPECT_EQ(outsider_error, "") << "the outsider was the victim";
  outsider.must_exec("COMMIT");
  ASSERT_EQ(store.wait_for(30s), std::future_status::ready);
  const Status status = store.get();
  EXPECT_TRUE(outsider_queued.load());
  EXPECT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(cell(1), "11");
  EXPECT_EQ(cell(2), "11");
  EXPECT_EQ(node_a_->conflict_retries(), 1u);
  EXPECT_EQ(applies.load(), 2);
}

// "Refunded at most once" across nodes: node A inserts the refund and keeps its transaction open;
// node B's write waits for A's commit (the writers take turns), then its insert of the same refund
// meets the unique violation. B's op sees it as a value (kAlreadyExists-like) and goes on reading
// in the same transaction (the insert ran under a statement savepoint); B's writer stays healthy.
TEST_F(PgStoreTest, SecondRefundFromAnotherNodeIsRefusedAndTheBatchGoesOn) {
  std::atomic<bool> a_inserted{false};
  std::atomic<bool> release_a{false};
  std::future<Status> a = std::async(std::launch::async, [&] {
    return node_a_->write([&](WriteTx& tx) -> Status {
      PAYOUTD_RETURN_IF_ERROR(run(tx, "INSERT INTO refunds VALUES (7)"));
      a_inserted = true;
      if (!wait_for(release_a, 10s)) return Status::internal("never released");
      return Status::ok();
    });
  });
  ASSERT_TRUE(wait_for(a_inserted, 10s));

  std::string seen_after_violation;
  bool was_unique = false;
  std::future<Status> b = std::async(std::launch::async, [&] {
    return node_b_->write([&](WriteTx& tx) -> Status {
      sql::Connection& connection = static_cast<sql::SqlWriteTx&>(tx).connection();
      Result<sql::StatementLease> insert =
          connection.prepare("INSERT INTO refunds VALUES ($1)", sql::FailureScope::kStatement);
      if (!insert.is_ok()) return insert.status();
      (*insert)->bind(1, int64_t{7});
      Status inserted = (*insert)->execute();
      if (inserted.is_ok()) return Status::internal("the second refund was accepted");
      // A table of this test only: no identity of its own, the server's name in the message.
      was_unique = (*insert)->last_error().is_unique() &&
                   (*insert)->last_error().constraint == sql::Constraint::kUnlisted &&
                   (*insert)->last_error().message.find("refunds_pkey") != std::string::npos;
      // The transaction is still usable: the refund A committed is visible now.
      Result<std::string> count = connection.query_text("SELECT count(*) FROM refunds");
      if (!count.is_ok()) return count.status();
      seen_after_violation = *count;
      return Status::error(ErrorKind::kAlreadyExists, "already refunded");
    });
  });
  // B waits for A's transaction: the server shows B's writer blocked on the writers' advisory
  // lock (A holds it until it commits). Then let A commit.
  RawPg watcher(database_.url());
  EXPECT_TRUE(eventually([&] { return advisory_lock_waiters(watcher, database_.name()) == 1; },
                         10'000, 5))
      << "B's writer never waited for A's transaction";
  EXPECT_EQ(b.wait_for(0s), std::future_status::timeout) << "B did not wait for A's commit";
  release_a = true;
  ASSERT_EQ(a.wait_for(30s), std::future_status::ready);
  EXPECT_TRUE(a.get().is_ok());
  ASSERT_EQ(b.wait_for(30s), std::future_status::ready);
  const Status b_status = b.get();
  EXPECT_EQ(b_status.kind(), ErrorKind::kAlreadyExists) << b_status.to_string();
  EXPECT_TRUE(was_unique);
  EXPECT_EQ(seen_after_violation, "1");
  // Node B's writer is healthy: its next op commits.
  EXPECT_TRUE(node_b_->write([](WriteTx& tx) { return run(tx, "INSERT INTO refunds VALUES (8)"); })
                  .is_ok());
  RawPg raw(database_.url());
  EXPECT_EQ(raw.value("SELECT count(*) FROM refunds"), "2");
}

// The server ends every payoutd session (a restart, a failover, an idle cut): the next write and
// the next read reconnect by themselves and succeed.
TEST_F(PgStoreTest, WritesAndReadsReconnectAfterTheServerDropsTheirSessions) {
  ASSERT_TRUE(node_a_->write([](WriteTx& tx) {
                return run(tx, "UPDATE cells SET value = value + 1 WHERE id = 1");
              }).is_ok());
  ASSERT_TRUE(node_a_->query_on_reader_for_testing("SELECT 1").is_ok());
  // Every session is gone (not merely signalled) before the store uses it again.
  ASSERT_GE(terminate_payoutd_sessions(database_.admin(), database_.name()), 6u)
      << "two stores: 2 writers + 4 readers";

  const Status wrote = node_a_->write([](WriteTx& tx) {
    return run(tx, "UPDATE cells SET value = value + 1 WHERE id = 1");
  });
  EXPECT_TRUE(wrote.is_ok()) << wrote.to_string();
  EXPECT_EQ(cell(1), "2");
  for (int i = 0; i < 4; ++i) {  // every pooled reader, whichever the pool hands out
    Result<std::string> read = node_b_->query_on_reader_for_testing("SELECT value FROM cells WHERE id = 1");
    ASSERT_TRUE(read.is_ok()) << read.status().to_string();
    EXPECT_EQ(*read, "2");
  }
}

// read_single runs its statement without BEGIN and COMMIT (one round trip: the statement is its
// own transaction); read() inside one. It reconnects as read() does when the server ended its
// session.
TEST_F(PgStoreTest, ASingleStatementReadIsItsOwnTransactionAndReconnects) {
  auto own_transaction = [](postgres::PgStore& store, bool single) {
    std::string answer;
    auto body = [&](ReadTx& tx) -> Status {
      auto& connection =
          static_cast<postgres::PgConnection&>(static_cast<sql::SqlReadTx&>(tx).connection());
      const bool in_transaction = connection.in_transaction();
      const uint64_t round_trips = connection.round_trips();
      Result<sql::StatementLease> statement = connection.prepare("SELECT 'read'");
      if (!statement.is_ok()) return std::move(statement).status();
      Result<bool> row = (*statement)->step();
      if (!row.is_ok()) return std::move(row).status();
      EXPECT_EQ((*statement)->column_text(0), "read");
      EXPECT_EQ(connection.round_trips() - round_trips, 1u);
      EXPECT_EQ(connection.in_transaction(), in_transaction);
      answer = in_transaction ? "in a transaction" : "own";
      return Status::ok();
    };
    const Status status = single ? store.read_single(body) : store.read(body);
    EXPECT_TRUE(status.is_ok()) << status.to_string();
    return answer;
  };
  EXPECT_EQ(own_transaction(*node_a_, true), "own");
  EXPECT_EQ(own_transaction(*node_a_, false), "in a transaction");

  // Every session is gone (not merely signalled) before the store uses it again.
  ASSERT_GE(terminate_payoutd_sessions(database_.admin(), database_.name()), 6u)
      << "two stores: 2 writers + 4 readers";
  for (int i = 0; i < 4; ++i) {  // every pooled reader, whichever the pool hands out
    EXPECT_EQ(own_transaction(*node_b_, true), "own");
  }
}

}  // namespace
}  // namespace payoutd::testing
