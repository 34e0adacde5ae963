// Migration 3 (engine bookkeeping, the sandbox rail): the due-work queries are index-driven, leases
// are exclusive until they expire, and the rail's book counts submissions.
#include "store/sqlite/schema.h"
#include "store/sql/transactions.h"
#include "store_fixture.h"

namespace payoutd::testing {
namespace {

class EngineTablesTest : public StoreTest {};

std::string joined_plan(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += line + " | ";
  return out;
}

TEST_F(EngineTablesTest, DueWorkQueriesSearchAnIndexWithoutSorting) {
  RawDatabase raw(path_);
  EXPECT_EQ(raw.text("SELECT name FROM schema_migrations WHERE version = 3"),
            "engine bookkeeping and the sandbox rail");
  for (bool analyzed : {false, true}) {
    SCOPED_TRACE(analyzed ? "with ANALYZE statistics" : "without statistics");
    if (analyzed) raw.must_exec("ANALYZE");
    for (EngineWork work :
         {EngineWork::kScreen, EngineWork::kSubmit, EngineWork::kFollow, EngineWork::kExpire}) {
      const std::vector<std::string> plan =
          raw.column("EXPLAIN QUERY PLAN " + sql::queries::engine_due_sql(work), 3);
      const std::string text = joined_plan(plan);
      SCOPED_TRACE(text);
      ASSERT_FALSE(plan.empty());
      bool searched = false;
      for (const std::string& line : plan) {
        EXPECT_EQ(line.find("SCAN payouts"), std::string::npos);
        if (line.rfind("SEARCH payouts USING INDEX payouts_", 0) == 0) searched = true;
      }
      EXPECT_TRUE(searched);
      if (work != EngineWork::kExpire) {
        // Already in the index's order: no sort of the matching rows.
        EXPECT_EQ(text.find("TEMP B-TREE"), std::string::npos);
      }
    }
  }
}

TEST_F(EngineTablesTest, LeasesAreExclusiveUntilTheyExpire) {
  Wallet wallet;
  int64_t cashout_id = 0;
  ASSERT_TRUE(store_
                  ->write([&](WriteTx& tx) -> Status {
                    Result<int64_t> merchant = tx.insert_merchant(ledger::merchant_value("lease"));
                    if (!merchant.is_ok()) return std::move(merchant).status();
                    Result<Wallet> created = tx.insert_wallet(*merchant, "USD", kT0);
                    if (!created.is_ok()) return std::move(created).status();
                    wallet = *created;
                    Result<int64_t> id = tx.insert_payout(
                        ledger::payout_value(*merchant, wallet, "lease-1", 100, 0, kT0));
                    if (!id.is_ok()) return std::move(id).status();
                    cashout_id = *id;
                    return Status::ok();
                  })
                  .is_ok());
  auto claim = [&](const std::string& owner, int64_t now) {
    return store_->write([&](WriteTx& tx) {
      return tx.claim_engine_lease(cashout_id, PayoutStatus::kCreated, owner, now, now + 30);
    });
  };
  EXPECT_TRUE(claim("a", kT0).is_ok());
  EXPECT_EQ(claim("b", kT0 + 10).kind(), ErrorKind::kConflict);  // a holds it
  EXPECT_TRUE(claim("a", kT0 + 10).is_ok());                     // a renews its own
  EXPECT_EQ(claim("b", kT0 + 39).kind(), ErrorKind::kConflict);
  EXPECT_TRUE(claim("b", kT0 + 40).is_ok());                     // a's lease ended: taken over
  // a's late write is refused: the lease is b's now.
  EngineTaskUpdate update;
  update.cashout_id = cashout_id;
  update.owner = "a";
  update.now = kT0 + 41;
  update.next_at = kT0 + 100;
  EXPECT_EQ(store_->write([&](WriteTx& tx) { return tx.update_engine_task(update); }).kind(),
            ErrorKind::kConflict);
  update.owner = "b";
  EXPECT_TRUE(store_->write([&](WriteTx& tx) { return tx.update_engine_task(update); }).is_ok());
  // Released: anyone may claim it again, but only while it is still in the expected status.
  EXPECT_EQ(store_
                ->write([&](WriteTx& tx) {
                  return tx.claim_engine_lease(cashout_id, PayoutStatus::kQueued, "c", kT0 + 42,
                                               kT0 + 60);
                })
                .kind(),
            ErrorKind::kConflict);
  EXPECT_TRUE(claim("c", kT0 + 42).is_ok());
  // Only processing payouts take cancel requests.
  EXPECT_EQ(store_->write([&](WriteTx& tx) { return tx.request_cancel(cashout_id, kT0 + 43); })
                .kind(),
            ErrorKind::kConflict);
}

}  // namespace
}  // namespace payoutd::testing
