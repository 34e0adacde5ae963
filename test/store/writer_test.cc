// The batching writer (group commit), read transactions, and two stores on one file.
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "store/sql/transactions.h"
#include "store_fixture.h"

namespace payoutd::testing {
namespace {

// A latch a test opens once.
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

// An op built from two lambdas.
class LambdaOp final : public WriteOp {
 public:
  LambdaOp(std::function<Status(WriteTx&)> apply, std::function<void(Status)> complete)
      : apply_(std::move(apply)), complete_(std::move(complete)) {}
  Status apply(WriteTx& tx) override { return apply_(tx); }
  void complete(Status status) override { complete_(std::move(status)); }

 private:
  std::function<Status(WriteTx&)> apply_;
  std::function<void(Status)> complete_;
};

// Holds the writer inside an op until released, so that everything submitted meanwhile forms
// the next batch.
class WriterBlocker {
 public:
  explicit WriterBlocker(Store& store) {
    store.submit(std::make_unique<LambdaOp>(
        [this](WriteTx&) {
          entered_.open();
          release_.wait();
          return Status::ok();
        },
        [this](Status) { done_.open(); }));
    entered_.wait();
  }
  void release_and_wait() {
    release_.open();
    done_.wait();
  }

 private:
  Gate entered_;
  Gate release_;
  Gate done_;
};

// Deposits 1 minor unit into `wallet` (one journal + one wallet transaction).
Status deposit_one(WriteTx& tx, const Wallet& wallet) {
  return status_of(ledger::deposit(tx, wallet, 1, kT0));
}

TEST_F(StoreTest, ManyThreadsSubmittingAreGroupCommitted) {
  const int64_t acme = add_merchant("acme");
  Wallet usd = add_wallet(acme, "USD", 0);
  const uint64_t batches_before = store_->batches_committed();
  const uint64_t ops_before = store_->ops_committed();

  constexpr int kThreads = 64;
  constexpr int kOpsPerThread = 50;
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kOpsPerThread; ++i) {
        Status status = store_->write([&](WriteTx& tx) { return deposit_one(tx, usd); });
        (status.is_ok() ? ok : failed).fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  constexpr int kTotal = kThreads * kOpsPerThread;
  EXPECT_EQ(ok.load(), kTotal);
  EXPECT_EQ(failed.load(), 0);
  const uint64_t batches = store_->batches_committed() - batches_before;
  EXPECT_EQ(store_->ops_committed() - ops_before, static_cast<uint64_t>(kTotal));
  EXPECT_LT(batches, static_cast<uint64_t>(kTotal)) << "no batching happened";
  EXPECT_GE(batches, 1u);
  std::printf("[ info ] %d ops in %llu batches (%.1f ops per fsync)\n", kTotal,
              static_cast<unsigned long long>(batches), static_cast<double>(kTotal) / batches);
  EXPECT_EQ(wallet(acme, usd.id)->available_minor, kTotal);
  EXPECT_TRUE(check().all_hold());

  WriterStats stats = store_->writer_stats();
  uint64_t bucketed = 0;
  for (uint64_t count : stats.batch_size_buckets) bucketed += count;
  EXPECT_EQ(bucketed, stats.batches_committed);
  EXPECT_EQ(stats.ops_refused, 0u);
}

TEST_F(StoreTest, AFailingOpRollsBackOnlyItself) {
  const int64_t acme = add_merchant("acme");
  Wallet usd = add_wallet(acme, "USD", 0);
  WriterBlocker blocker(*store_);
  const uint64_t batches_before = store_->batches_committed();

  constexpr int kOps = 9;
  constexpr int kFailing = 4;
  std::vector<std::promise<Status>> outcomes(kOps);
  for (int i = 0; i < kOps; ++i) {
    store_->submit(std::make_unique<LambdaOp>(
        [&, i](WriteTx& tx) -> Status {
          PAYOUTD_RETURN_IF_ERROR(deposit_one(tx, usd));
          if (i == kFailing) return Status::error(ErrorKind::kConflict, "refused on purpose");
          return Status::ok();
        },
        [&, i](Status status) { outcomes[static_cast<size_t>(i)].set_value(std::move(status)); }));
  }
  blocker.release_and_wait();
  for (int i = 0; i < kOps; ++i) {
    Status status = outcomes[static_cast<size_t>(i)].get_future().get();
    if (i == kFailing) {
      EXPECT_EQ(status.kind(), ErrorKind::kConflict);
      EXPECT_EQ(status.message(), "refused on purpose");
    } else {
      EXPECT_TRUE(status.is_ok()) << i << ": " << status.to_string();
    }
  }
  // The blocker's batch plus exactly one batch for the nine ops.
  EXPECT_EQ(store_->batches_committed() - batches_before, 2u);
  EXPECT_EQ(wallet(acme, usd.id)->available_minor, kOps - 1);
  RawDatabase raw(path_);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM wallet_transactions WHERE type = 'DEPOSIT' AND "
                        "wallet_id = " + std::to_string(usd.id)),
            kOps - 1);
  EXPECT_TRUE(check().all_hold());
  EXPECT_EQ(store_->writer_stats().ops_refused, 1u);
}

TEST_F(StoreTest, AnOpIgnoringAHardDatabaseErrorIsRolledBack) {
  const int64_t acme = add_merchant("acme");
  Wallet usd = add_wallet(acme, "USD", 0);
  Status status = store_->write([&](WriteTx& tx) -> Status {
    PAYOUTD_RETURN_IF_ERROR(deposit_one(tx, usd));
    // Not a constraint: a broken statement. The op swallows the error and claims success.
    auto& sqlite_tx = static_cast<sql::SqlWriteTx&>(tx);
    (void)sqlite_tx.connection().execute_script("INSERT INTO no_such_table VALUES (1)");
    return Status::ok();
  });
  EXPECT_EQ(status.kind(), ErrorKind::kInternal) << status.to_string();
  EXPECT_EQ(wallet(acme, usd.id)->available_minor, 0);
  // The writer carries on.
  EXPECT_TRUE(store_->write([&](WriteTx& tx) { return deposit_one(tx, usd); }).is_ok());
  EXPECT_EQ(wallet(acme, usd.id)->available_minor, 1);
}

TEST_F(StoreTest, AThrowingOpFailsAloneAndTheWriterSurvives) {
  const int64_t acme = add_merchant("acme");
  Wallet usd = add_wallet(acme, "USD", 0);
  Status status = store_->write([&](WriteTx& tx) -> Status {
    PAYOUTD_RETURN_IF_ERROR(deposit_one(tx, usd));
    throw std::runtime_error("boom");
  });
  EXPECT_EQ(status.kind(), ErrorKind::kInternal);
  EXPECT_NE(status.message().find("boom"), std::string::npos);
  EXPECT_TRUE(store_->write([&](WriteTx& tx) { return deposit_one(tx, usd); }).is_ok());
  EXPECT_EQ(wallet(acme, usd.id)->available_minor, 1);
}

TEST_F(StoreTest, CompletionRunsOnlyAfterTheCommitIsVisibleToOthers) {
  const int64_t acme = add_merchant("acme");
  Wallet usd = add_wallet(acme, "USD", 0);
  constexpr int kOps = 40;
  std::atomic<int> visible{0};
  std::atomic<int> completed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kOps; ++i) {
    threads.emplace_back([&, i] {
      std::promise<void> done;
      const std::string remark = "visible-" + std::to_string(i);
      store_->submit(std::make_unique<LambdaOp>(
          [&, remark](WriteTx& tx) -> Status {
            Result<int64_t> journal = tx.platform_account("USD", AccountKind::kFunding);
            WalletTransaction transaction;
            JournalPosting posting;
            posting.kind = "deposit";
            posting.currency = "USD";
            posting.created_at = kT0;
            posting.legs = {{*journal, -1}, {usd.available_account_id, 1}};
            Result<int64_t> posted = tx.post_journal(posting);
            if (!posted.is_ok()) return std::move(posted).status();
            transaction.wallet_id = usd.id;
            transaction.journal_id = *posted;
            transaction.type = "DEPOSIT";
            transaction.transaction_type = "CREDIT";
            transaction.amount_minor = 1;
            transaction.currency = "USD";
            transaction.reference_type = "manual";
            transaction.remarks = remark;
            transaction.created_at = kT0;
            return status_of(tx.insert_wallet_transaction(transaction));
          },
          [&, remark](Status status) {
            EXPECT_TRUE(status.is_ok()) << status.to_string();
            // Another connection, as another process would see the file.
            RawDatabase raw(path_);
            if (raw.integer("SELECT count(*) FROM wallet_transactions WHERE remarks = '" + remark +
                            "'") == 1) {
              visible.fetch_add(1);
            }
            completed.fetch_add(1);
            done.set_value();
          }));
      done.get_future().wait();
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(completed.load(), kOps);
  EXPECT_EQ(visible.load(), kOps);
}

TEST(WriterLimitsTest, AFullQueueFailsFastOnTheCallersThread) {
  TempDir dir;
  StoreOptions options;
  options.max_queued_ops = 3;
  std::unique_ptr<sqlite::SqliteStore> store = open_migrated(dir.file("q.db"), options);
  ASSERT_NE(store, nullptr);
  WriterBlocker blocker(*store);  // taken off the queue: the queue is empty again
  std::vector<std::promise<Status>> queued(3);
  for (auto& promise : queued) {
    store->submit(std::make_unique<LambdaOp>([](WriteTx&) { return Status::ok(); },
                                             [&promise](Status s) { promise.set_value(s); }));
  }
  std::thread::id completed_on;
  Status refused;
  store->submit(std::make_unique<LambdaOp>([](WriteTx&) { return Status::ok(); },
                                           [&](Status status) {
                                             completed_on = std::this_thread::get_id();
                                             refused = std::move(status);
                                           }));
  EXPECT_EQ(completed_on, std::this_thread::get_id());
  EXPECT_EQ(refused.kind(), ErrorKind::kUnavailable);
  blocker.release_and_wait();
  for (auto& promise : queued) EXPECT_TRUE(promise.get_future().get().is_ok());
  EXPECT_EQ(store->writer_stats().ops_failed, 1u);
  store->close();
}

TEST(WriterLimitsTest, CloseDrainsQueuedOpsThenRefusesNewOnes) {
  TempDir dir;
  std::unique_ptr<sqlite::SqliteStore> store = open_migrated(dir.file("c.db"));
  ASSERT_NE(store, nullptr);
  std::atomic<int> ok{0};
  {
    WriterBlocker blocker(*store);
    for (int i = 0; i < 100; ++i) {
      store->submit(std::make_unique<LambdaOp>([](WriteTx&) { return Status::ok(); },
                                               [&ok](Status s) { ok += s.is_ok() ? 1 : 0; }));
    }
    std::thread closer([&] { store->close(); });
    blocker.release_and_wait();
    closer.join();
  }
  EXPECT_EQ(ok.load(), 100);
  Status after = store->write([](WriteTx&) { return Status::ok(); });
  EXPECT_EQ(after.kind(), ErrorKind::kUnavailable);
  EXPECT_EQ(store->read([](ReadTx&) { return Status::ok(); }).kind(), ErrorKind::kUnavailable);
  store->close();  // idempotent
}

TEST(WriterLimitsTest, MaxBatchOpsBoundsEachTransaction) {
  TempDir dir;
  StoreOptions options;
  options.max_batch_ops = 4;
  std::unique_ptr<sqlite::SqliteStore> store = open_migrated(dir.file("b.db"), options);
  ASSERT_NE(store, nullptr);
  std::vector<std::promise<Status>> outcomes(10);
  {
    WriterBlocker blocker(*store);
    for (auto& promise : outcomes) {
      store->submit(std::make_unique<LambdaOp>([](WriteTx&) { return Status::ok(); },
                                               [&promise](Status s) { promise.set_value(s); }));
    }
    blocker.release_and_wait();
  }
  for (auto& promise : outcomes) EXPECT_TRUE(promise.get_future().get().is_ok());
  WriterStats stats = store->writer_stats();
  EXPECT_EQ(stats.batches_committed, 1u + 3u);  // blocker, then 4 + 4 + 2
  EXPECT_EQ(stats.batch_size_buckets[0], 1u);   // the blocker alone
  EXPECT_EQ(stats.batch_size_buckets[1], 1u);   // the batch of 2
  EXPECT_EQ(stats.batch_size_buckets[2], 2u);   // the batches of 4
  store->close();
}

TEST(WriterLimitsTest, AWriteLockHeldElsewhereTooLongFailsTheBatchAsUnavailable) {
  TempDir dir;
  StoreOptions options;
  options.busy_timeout_ms = 150;
  std::unique_ptr<sqlite::SqliteStore> store = open_migrated(dir.file("busy.db"), options);
  ASSERT_NE(store, nullptr);
  RawDatabase other_process(dir.file("busy.db"));
  other_process.must_exec("BEGIN IMMEDIATE");
  const auto started = std::chrono::steady_clock::now();
  Status status = store->write([](WriteTx& tx) {
    return status_of(tx.insert_merchant(ledger::merchant_value("blocked")));
  });
  const auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(status.kind(), ErrorKind::kUnavailable) << status.to_string();
  EXPECT_GE(waited, std::chrono::milliseconds(140));  // it did wait for the lock first
  EXPECT_EQ(store->writer_stats().batches_failed, 1u);
  EXPECT_EQ(store->writer_stats().ops_failed, 1u);
  other_process.must_exec("ROLLBACK");
  // Once the lock is free the writer works again.
  EXPECT_TRUE(store
                  ->write([](WriteTx& tx) {
                    return status_of(tx.insert_merchant(ledger::merchant_value("free")));
                  })
                  .is_ok());
  store->close();
}

TEST_F(StoreTest, ReadsSeeOneSnapshot) {
  const int64_t acme = add_merchant("acme");
  Wallet usd = add_wallet(acme, "USD", 100);
  Status status = store_->read([&](ReadTx& tx) -> Status {
    Result<Wallet> before = tx.wallet_by_id(acme, usd.id);
    if (!before.is_ok()) return std::move(before).status();
    // A write commits while this read transaction is open...
    std::thread writer([&] {
      EXPECT_TRUE(store_->write([&](WriteTx& w) { return deposit_one(w, usd); }).is_ok());
    });
    writer.join();
    // ...and stays invisible to it.
    Result<Wallet> again = tx.wallet_by_id(acme, usd.id);
    if (!again.is_ok()) return std::move(again).status();
    EXPECT_EQ(before->available_minor, 100);
    EXPECT_EQ(again->available_minor, 100);
    return Status::ok();
  });
  EXPECT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(wallet(acme, usd.id)->available_minor, 101);
}

TEST_F(StoreTest, ReadErrorsAndBodyStatusArePassedThrough) {
  Status status = store_->read([](ReadTx&) { return Status::not_found("from the body"); });
  EXPECT_EQ(status.kind(), ErrorKind::kNotFound);
  EXPECT_EQ(status.message(), "from the body");
  // The connection went back to the pool in a clean state.
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(store_->read([](ReadTx& tx) { return status_of(tx.list_merchants()); }).is_ok());
  }
}

// A one-statement read runs outside a transaction (one round trip on PostgreSQL) and answers
// as read() does; its REQUIRES (one statement) is checked.
TEST_F(StoreTest, ASingleStatementReadAnswersAsARead) {
  const int64_t acme = add_merchant("acme");
  Result<Merchant> merchant = Status::internal("not read");
  Status status = store_->read_single([&](ReadTx& tx) -> Status {
    EXPECT_FALSE(static_cast<sql::SqlReadTx&>(tx).connection().in_transaction());
    merchant = tx.merchant_by_id(acme);
    return status_of(merchant);
  });
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(merchant->name, "acme");
  status = store_->read_single([&](ReadTx& tx) { return status_of(tx.merchant_by_id(acme + 9)); });
  EXPECT_EQ(status.kind(), ErrorKind::kNotFound);
  // The connections went back to the pool in a clean state: ordinary reads still work.
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(store_->read([](ReadTx& tx) { return status_of(tx.list_merchants()); }).is_ok());
  }
}

TEST_F(StoreTest, ASingleStatementReadOfTwoStatementsIsABug) {
  const int64_t acme = add_merchant("acme");
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // the store has a writer thread
  EXPECT_DEATH((void)store_->read_single([&](ReadTx& tx) -> Status {
                 (void)tx.merchant_by_id(acme);
                 return status_of(tx.merchant_by_id(acme));
               }),
               "statements_prepared");
}

TEST(ReadPoolTest, ReadersWaitForAFreeConnection) {
  TempDir dir;
  StoreOptions options;
  options.read_connections = 1;
  std::unique_ptr<sqlite::SqliteStore> store = open_migrated(dir.file("r.db"), options);
  ASSERT_NE(store, nullptr);
  Gate holding;
  Gate release;
  std::thread holder([&] {
    EXPECT_TRUE(store
                    ->read([&](ReadTx&) {
                      holding.open();
                      release.wait();
                      return Status::ok();
                    })
                    .is_ok());
  });
  holding.wait();
  std::atomic<bool> second_done{false};
  std::thread second([&] {
    EXPECT_TRUE(store->read([](ReadTx& tx) { return status_of(tx.list_merchants()); }).is_ok());
    second_done = true;
  });
  // The second read is blocked waiting for the only connection (the pool counts it), not merely
  // not done yet.
  EXPECT_TRUE(eventually([&] { return store->waiting_readers() == 1; }));
  EXPECT_EQ(store->waiting_readers(), 1);
  EXPECT_FALSE(second_done.load());  // waiting for the only connection
  release.open();
  holder.join();
  second.join();
  EXPECT_TRUE(second_done.load());
  EXPECT_EQ(store->waiting_readers(), 0);
  store->close();
}

TEST(TwoStoresTest, TwoWritersOnOneFileBothSucceed) {
  TempDir dir;
  const std::string path = dir.file("shared.db");
  std::unique_ptr<sqlite::SqliteStore> first = open_migrated(path);
  std::unique_ptr<sqlite::SqliteStore> second = open_migrated(path);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);

  Wallet usd;
  ASSERT_TRUE(first
                  ->write([&](WriteTx& tx) -> Status {
                    Result<int64_t> merchant = tx.insert_merchant(ledger::merchant_value("m"));
                    if (!merchant.is_ok()) return std::move(merchant).status();
                    Result<Wallet> wallet = tx.insert_wallet(*merchant, "USD", kT0);
                    if (!wallet.is_ok()) return std::move(wallet).status();
                    usd = *wallet;
                    return Status::ok();
                  })
                  .is_ok());

  constexpr int kThreadsPerStore = 8;
  constexpr int kOpsPerThread = 40;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (Store* store : {static_cast<Store*>(first.get()), static_cast<Store*>(second.get())}) {
    for (int t = 0; t < kThreadsPerStore; ++t) {
      threads.emplace_back([&, store] {
        for (int i = 0; i < kOpsPerThread; ++i) {
          Status status = store->write([&](WriteTx& tx) { return deposit_one(tx, usd); });
          EXPECT_TRUE(status.is_ok()) << status.to_string();
          ok += status.is_ok() ? 1 : 0;
        }
      });
    }
  }
  for (std::thread& thread : threads) thread.join();
  constexpr int kTotal = 2 * kThreadsPerStore * kOpsPerThread;
  EXPECT_EQ(ok.load(), kTotal);
  EXPECT_GT(first->ops_committed(), 0u);
  EXPECT_GT(second->ops_committed(), 0u);
  int64_t balance = 0;
  ASSERT_TRUE(second
                  ->read([&](ReadTx& tx) -> Status {
                    Result<Wallet> wallet = tx.wallet_by_id(usd.merchant_id, usd.id);
                    if (!wallet.is_ok()) return std::move(wallet).status();
                    balance = wallet->available_minor;
                    Result<LedgerReport> report = tx.check_ledger();
                    if (!report.is_ok()) return std::move(report).status();
                    EXPECT_TRUE(report->all_hold());
                    return Status::ok();
                  })
                  .is_ok());
  EXPECT_EQ(balance, kTotal);
  first->close();
  second->close();
}

}  // namespace
}  // namespace payoutd::testing
