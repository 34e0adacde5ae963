// check_ledger(): holds on a consistent ledger, and names the invariant each corruption breaks.
#include <functional>

#include "store_fixture.h"

namespace payoutd::testing {
namespace {

// A ledger with payouts in every kind of life: pending, on hold, cancelled, completed, reversed,
// failed, expired, and stuck in action_required; two currencies.
struct Scenario {
  int64_t merchant_id = 0;
  Wallet usd;
  Wallet brl;
  int64_t funding_usd = 0;
  int64_t settlement_usd = 0;
  int64_t created = 0;    // still created
  int64_t cancelled = 0;  // created -> cancelled
  int64_t completed = 0;
  int64_t reversed = 0;   // completed -> failed
};

class LedgerCheckTest : public StoreTest {
 protected:
  Scenario build() {
    Scenario s;
    s.merchant_id = add_merchant("acme");
    s.usd = add_wallet(s.merchant_id, "USD", 1'000'000);
    s.brl = add_wallet(s.merchant_id, "BRL", 500'000);
    auto payout_in = [&](const Wallet& wallet, const std::string& external_id,
                         std::initializer_list<PayoutStatus> path) {
      Payout payout = add_payout(s.merchant_id, wallet, external_id, 10'000, 250);
      int64_t at = kT0;
      for (PayoutStatus to : path) {
        Status status = move(payout.cashout_id, to, at += 1000);
        EXPECT_TRUE(status.is_ok()) << external_id << " -> " << status_name(to) << ": "
                                    << status.to_string();
      }
      return payout.cashout_id;
    };
    using S = PayoutStatus;
    s.created = payout_in(s.usd, "created", {});
    payout_in(s.usd, "on_hold", {S::kQueued, S::kOnHold});
    s.cancelled = payout_in(s.usd, "cancelled", {S::kCancelled});
    s.completed = payout_in(s.usd, "completed", {S::kQueued, S::kProcessing, S::kCompleted});
    s.reversed = payout_in(s.usd, "reversed",
                           {S::kQueued, S::kProcessing, S::kCompleted, S::kFailed});
    payout_in(s.usd, "failed", {S::kQueued, S::kProcessing, S::kFailed});
    payout_in(s.usd, "expired", {S::kQueued, S::kOnHold, S::kExpired});
    payout_in(s.usd, "stuck", {S::kQueued, S::kProcessing, S::kSettling, S::kActionRequired});
    payout_in(s.brl, "brl", {S::kQueued});
    EXPECT_TRUE(store_
                    ->write([&](WriteTx& tx) -> Status {
                      s.funding_usd = tx.platform_account("USD", AccountKind::kFunding).value();
                      s.settlement_usd =
                          tx.platform_account("USD", AccountKind::kSettlement).value();
                      return Status::ok();
                    })
                    .is_ok());
    return s;
  }
};

TEST_F(LedgerCheckTest, AConsistentLedgerPassesAllSixInvariants) {
  Scenario s = build();
  LedgerReport report = check();
  ASSERT_EQ(report.invariants.size(), 6u);
  for (size_t i = 0; i < report.invariants.size(); ++i) {
    const InvariantResult& invariant = report.invariants[i];
    EXPECT_EQ(invariant.number, static_cast<int>(i) + 1);
    EXPECT_FALSE(invariant.name.empty());
    EXPECT_EQ(invariant.violations, 0) << invariant.name << ": "
                                       << (invariant.samples.empty() ? "" : invariant.samples[0]);
    EXPECT_TRUE(invariant.samples.empty());
  }
  EXPECT_TRUE(report.all_hold());
  // The balances the scenario implies: 9 payouts of 10,250; the created, on_hold, stuck (USD)
  // and brl ones still held; cancelled, reversed, failed, expired refunded; completed posted.
  Result<Wallet> usd = wallet(s.merchant_id, s.usd.id);
  EXPECT_EQ(usd->held_minor, 3 * 10'250);
  EXPECT_EQ(usd->available_minor, 1'000'000 - 4 * 10'250);
  EXPECT_EQ(wallet(s.merchant_id, s.brl.id)->held_minor, 10'250);
}

TEST_F(LedgerCheckTest, AnEmptyDatabasePasses) { EXPECT_TRUE(check().all_hold()); }

struct Corruption {
  int invariant;
  std::string what;
  std::function<std::string(const Scenario&)> sql;
};

std::string id(int64_t value) { return std::to_string(value); }

// A balanced journal with the given legs, written behind the store's back, balances included.
std::string raw_journal(const std::string& currency, const std::string& cashout_id,
                        const std::vector<std::pair<int64_t, int64_t>>& legs,
                        const std::string& entry_currency = "",
                        const std::string& kind = "adjustment") {
  std::string sql =
      "INSERT INTO journal_transactions (kind, cashout_id, currency, created_at) VALUES "
      "('" + kind + "', " + cashout_id + ", '" + currency + "', 1);";
  for (const auto& [account, amount] : legs) {
    sql += "INSERT INTO journal_entries (journal_id, account_id, amount, currency) VALUES "
           "((SELECT max(id) FROM journal_transactions), " + id(account) + ", " + id(amount) +
           ", '" + (entry_currency.empty() ? currency : entry_currency) + "');";
    sql += "UPDATE accounts SET balance = balance + " + id(amount) + " WHERE id = " + id(account) +
           ";";
  }
  return sql;
}

TEST_F(LedgerCheckTest, EachCorruptionIsReportedUnderItsInvariant) {
  const std::vector<Corruption> corruptions = {
      {1, "a journal that does not sum to zero",
       [](const Scenario& s) {
         return raw_journal("USD", "NULL", {{s.funding_usd, -5}, {s.usd.available_account_id, 4}});
       }},
      {1, "an entry in another currency than its account",
       [](const Scenario& s) {
         return raw_journal("USD", "NULL",
                            {{s.funding_usd, -5}, {s.brl.available_account_id, 5}});
       }},
      {2, "an account balance that is not the sum of its entries",
       [](const Scenario& s) {
         return "UPDATE accounts SET balance = balance + 7 WHERE id = " + id(s.funding_usd);
       }},
      {3, "held that does not match the pending payouts",
       [](const Scenario& s) {
         return raw_journal("USD", "NULL",
                            {{s.usd.available_account_id, -3}, {s.usd.held_account_id, 3}});
       }},
      {4, "a cancelled payout whose refund was recorded as a post",
       [](const Scenario& s) {
         return "DROP TRIGGER journal_transactions_append_only_update;"
                "UPDATE journal_transactions SET kind = 'payout_post' "
                "WHERE kind = 'payout_refund' AND cashout_id = " + id(s.cancelled);
       }},
      {4, "a second refund (the unique index dropped)",
       [](const Scenario& s) {
         return "DROP INDEX journal_one_movement_per_payout;" +
                raw_journal("USD", id(s.cancelled),
                            {{s.settlement_usd, -10'250}, {s.usd.available_account_id, 10'250}},
                            "", "payout_refund");
       }},
      {4, "money moved for a payout by a journal that is not a movement (the trigger dropped)",
       [](const Scenario& s) {
         return "DROP TRIGGER payout_journals_are_movements;" +
                raw_journal("USD", id(s.cancelled),
                            {{s.settlement_usd, -10'250}, {s.usd.available_account_id, 10'250}});
       }},
      {4, "a completed payout that was also refunded",
       [](const Scenario& s) {
         // Re-point the reversed payout's refund at the completed payout.
         return "DROP TRIGGER journal_transactions_append_only_update;"
                "UPDATE journal_transactions SET cashout_id = " + id(s.completed) +
                " WHERE cashout_id = " + id(s.reversed) + " AND kind = 'payout_refund'";
       }},
      {5, "a negative available balance",
       [](const Scenario& s) {
         return "PRAGMA ignore_check_constraints = ON;" +
                raw_journal("USD", "NULL",
                            {{s.usd.available_account_id, -2'000'000}, {s.funding_usd, 2'000'000}});
       }},
      {6, "an event beyond the payout's event_seq",
       [](const Scenario& s) {
         return "INSERT INTO payout_events VALUES (" + id(s.created) +
                ", 2, 'status_change', 'created', 'queued', 'system', 'ghost', 1)";
       }},
      {6, "a last event that does not match the status",
       [](const Scenario& s) {
         return "DROP TRIGGER payout_events_append_only_update;"
                "UPDATE payout_events SET to_status = 'expired' WHERE seq = 4 AND cashout_id = " +
                id(s.completed);
       }},
  };
  for (const Corruption& corruption : corruptions) {
    SCOPED_TRACE(corruption.what);
    // A fresh database per corruption.
    if (store_) store_->close();
    store_.reset();
    TempDir dir;
    path_ = dir.file("ledger.db");
    store_ = open_migrated(path_);
    ASSERT_NE(store_, nullptr);
    Scenario s = build();
    ASSERT_TRUE(check().all_hold());
    {
      RawDatabase raw(path_);
      raw.must_exec(corruption.sql(s));
    }
    LedgerReport report = check();
    ASSERT_EQ(report.invariants.size(), 6u);
    EXPECT_FALSE(report.all_hold());
    for (const InvariantResult& invariant : report.invariants) {
      if (invariant.number == corruption.invariant) {
        EXPECT_GT(invariant.violations, 0) << "invariant " << invariant.number << " missed it";
        EXPECT_FALSE(invariant.samples.empty());
      } else {
        EXPECT_EQ(invariant.violations, 0)
            << "invariant " << invariant.number << " also fired: "
            << (invariant.samples.empty() ? "" : invariant.samples[0]);
      }
    }
    store_->close();
    store_.reset();
  }
  // TearDown expects a store.
  store_ = open_migrated(dir_.file("after.db"));
}

TEST_F(LedgerCheckTest, SamplesAreCappedAtTenButEveryViolationIsCounted) {
  Scenario s = build();
  const int64_t merchant = s.merchant_id;
  for (int i = 0; i < 15; ++i) add_payout(merchant, s.usd, "extra-" + std::to_string(i), 100);
  {
    RawDatabase raw(path_);
    raw.must_exec("UPDATE payouts SET event_seq = event_seq + 3");
  }
  LedgerReport report = check();
  const InvariantResult& events = report.invariants.at(5);
  EXPECT_EQ(events.number, 6);
  EXPECT_EQ(events.violations, 9 + 15);
  EXPECT_EQ(events.samples.size(), 10u);
}

}  // namespace
}  // namespace payoutd::testing
