// Payout listings: filters, sort orders, paging, counts, and the query plans behind them.
#include <algorithm>
#include <random>
#include <set>

#include "store/sql/list_queries.h"
#include "store_fixture.h"

namespace payoutd::testing {
namespace {

class PayoutListTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    acme_ = add_merchant("acme");
    other_ = add_merchant("other");
    usd_ = add_wallet(acme_, "USD", 0);
    brl_ = add_wallet(acme_, "BRL", 0);
    other_usd_ = add_wallet(other_, "USD", 0);

    // 2,000 payouts: created_at collides often (ties broken by cashout_id), amounts repeat,
    // every status, two currencies, two merchants, a few shared beneficiary emails.
    std::mt19937_64 random(random_seed_for_run("PayoutListTest"));
    constexpr int kPayouts = 2000;
    constexpr int kPerWrite = 250;
    for (int start = 0; start < kPayouts; start += kPerWrite) {
      Status status = store_->write([&](WriteTx& tx) -> Status {
        for (int i = start; i < start + kPerWrite; ++i) {
          const bool mine = i % 5 != 0;
          const Wallet& wallet = !mine ? other_usd_ : (i % 3 == 0 ? brl_ : usd_);
          Payout payout = ledger::payout_value(
              wallet.merchant_id, wallet, "ext-" + std::to_string(i),
              1 + static_cast<int64_t>(random() % 50) * 100, 0,
              kT0 + static_cast<int64_t>(random() % 400) * 1'000'000);
          payout.status = kAllPayoutStatuses[random() % kAllPayoutStatuses.size()];
          payout.beneficiary.email = "b" + std::to_string(random() % 7) + "@example.com";
          Result<int64_t> id = tx.insert_payout(payout);
          if (!id.is_ok()) return std::move(id).status();
          payout.cashout_id = *id;
          all_.push_back(payout);
        }
        return Status::ok();
      });
      ASSERT_TRUE(status.is_ok()) << status.to_string();
    }
  }

  PayoutPage list(const PayoutQuery& query) {
    PayoutPage page;
    Status status = store_->read([&](ReadTx& tx) -> Status {
      Result<PayoutPage> found = tx.list_payouts(query);
      if (!found.is_ok()) return std::move(found).status();
      page = std::move(found).value();
      return Status::ok();
    });
    EXPECT_TRUE(status.is_ok()) << status.to_string();
    return page;
  }

  // What the query must return, computed here from what was inserted.
  std::vector<int64_t> expected(const PayoutQuery& query) const {
    std::vector<const Payout*> matching;
    for (const Payout& payout : all_) {
      if (payout.merchant_id != query.merchant_id) continue;
      if (query.statuses && !(*query.statuses)[static_cast<size_t>(payout.status)]) continue;
      if (query.currency && payout.currency != *query.currency) continue;
      if (query.external_id && payout.external_id != *query.external_id) continue;
      if (query.search && payout.external_id != *query.search &&
          payout.beneficiary.email != *query.search) {
        continue;
      }
      if (query.created_from && payout.created_at < *query.created_from) continue;
      if (query.created_to && payout.created_at > *query.created_to) continue;
      matching.push_back(&payout);
    }
    auto key_less = [&](const Payout* a, const Payout* b) {
      switch (query.sort_key) {
        case PayoutSortKey::kCreatedAt:
          return std::tie(a->created_at, a->cashout_id) < std::tie(b->created_at, b->cashout_id);
        case PayoutSortKey::kAmount:
          return std::tie(a->amount_minor, a->cashout_id) <
                 std::tie(b->amount_minor, b->cashout_id);
        case PayoutSortKey::kStatus: {
          const std::string_view sa = status_name(a->status);
          const std::string_view sb = status_name(b->status);
          return std::tie(sa, a->created_at, a->cashout_id) <
                 std::tie(sb, b->created_at, b->cashout_id);
        }
      }
      return false;
    };
    std::sort(matching.begin(), matching.end(), [&](const Payout* a, const Payout* b) {
      return query.descending ? key_less(b, a) : key_less(a, b);
    });
    std::vector<int64_t> ids;
    for (const Payout* payout : matching) ids.push_back(payout->cashout_id);
    return ids;
  }

  int64_t acme_ = 0;
  int64_t other_ = 0;
  Wallet usd_;
  Wallet brl_;
  Wallet other_usd_;
  std::vector<Payout> all_;
};

std::array<bool, kPayoutStatusCount> statuses(std::initializer_list<PayoutStatus> list) {
  std::array<bool, kPayoutStatusCount> out{};
  for (PayoutStatus status : list) out[static_cast<size_t>(status)] = true;
  return out;
}

TEST_F(PayoutListTest, PagesAreDisjointOrderedAndCountedForEveryFilterAndSort) {
  std::vector<PayoutQuery> queries;
  auto base = [&] {
    PayoutQuery query;
    query.merchant_id = acme_;
    return query;
  };
  queries.push_back(base());  // the default listing
  for (PayoutSortKey key : {PayoutSortKey::kCreatedAt, PayoutSortKey::kAmount,
                            PayoutSortKey::kStatus}) {
    for (bool descending : {true, false}) {
      PayoutQuery query = base();
      query.sort_key = key;
      query.descending = descending;
      queries.push_back(query);
    }
  }
  {
    PayoutQuery query = base();
    query.statuses = statuses({PayoutStatus::kCreated});
    queries.push_back(query);
    query.statuses = statuses({PayoutStatus::kOnHold, PayoutStatus::kActionRequired});
    query.sort_key = PayoutSortKey::kAmount;
    queries.push_back(query);
    query.statuses = std::array<bool, kPayoutStatusCount>{};  // nothing selected
    queries.push_back(query);
    query.statuses = statuses({PayoutStatus::kCreated, PayoutStatus::kQueued, PayoutStatus::kOnHold,
                               PayoutStatus::kProcessing, PayoutStatus::kSettling,
                               PayoutStatus::kActionRequired, PayoutStatus::kCompleted,
                               PayoutStatus::kFailed, PayoutStatus::kCancelled,
                               PayoutStatus::kExpired});  // everything selected
    queries.push_back(query);
  }
  {
    PayoutQuery query = base();
    query.currency = "BRL";
    queries.push_back(query);
    query.statuses = statuses({PayoutStatus::kCancelled});
    query.descending = false;
    queries.push_back(query);
  }
  {
    PayoutQuery query = base();
    query.created_from = kT0 + 100 * 1'000'000;
    query.created_to = kT0 + 250 * 1'000'000;
    queries.push_back(query);
    query.sort_key = PayoutSortKey::kStatus;
    query.currency = "USD";
    queries.push_back(query);
  }
  {
    PayoutQuery query = base();
    query.search = "b3@example.com";
    queries.push_back(query);
    query.search = "ext-7";
    queries.push_back(query);
    query.search = "ext-5";  // belongs to the other merchant
    queries.push_back(query);
    query.search.reset();
    query.external_id = "ext-8";
    queries.push_back(query);
  }
  {
    PayoutQuery query;
    query.merchant_id = other_;
    query.sort_key = PayoutSortKey::kAmount;
    queries.push_back(query);
  }

  for (size_t q = 0; q < queries.size(); ++q) {
    SCOPED_TRACE("query #" + std::to_string(q));
    PayoutQuery query = queries[q];
    const std::vector<int64_t> want = expected(query);
    query.limit = 37;
    std::vector<int64_t> got;
    std::set<int64_t> seen;
    for (query.page = 1; query.page <= 100; ++query.page) {
      PayoutPage page = list(query);
      EXPECT_EQ(page.total_count, static_cast<int64_t>(want.size()));
      for (const Payout& payout : page.items) {
        EXPECT_TRUE(seen.insert(payout.cashout_id).second) << "row on two pages";
        EXPECT_EQ(payout.merchant_id, query.merchant_id);
        got.push_back(payout.cashout_id);
      }
      if (page.items.size() < static_cast<size_t>(query.limit)) break;
    }
    EXPECT_EQ(got, want);
  }
}

TEST_F(PayoutListTest, PagingParametersAreBounded) {
  struct Case {
    int page;
    int limit;
    bool ok;
  };
  const std::vector<Case> cases = {
      {1, 1, true},        {1, kMaxPageSize, true}, {0, 20, false},
      {-3, 20, false},     {1, 0, false},           {1, kMaxPageSize + 1, false},
      {10'001, 1000, true}, {10'002, 1000, false},  {2'000'000'000, 1000, false},
  };
  for (const Case& test : cases) {
    SCOPED_TRACE(std::to_string(test.page) + "/" + std::to_string(test.limit));
    PayoutQuery query;
    query.merchant_id = acme_;
    query.page = test.page;
    query.limit = test.limit;
    Status status = store_->read([&](ReadTx& tx) { return status_of(tx.list_payouts(query)); });
    EXPECT_EQ(status.is_ok(), test.ok) << status.to_string();
    if (!test.ok) {
      EXPECT_EQ(status.kind(), ErrorKind::kInvalidArgument);
    }
  }
  PayoutQuery unscoped;
  Status status = store_->read([&](ReadTx& tx) { return status_of(tx.list_payouts(unscoped)); });
  EXPECT_EQ(status.kind(), ErrorKind::kInvalidArgument);
  // A page past the end is empty but still counts.
  PayoutQuery far;
  far.merchant_id = acme_;
  far.page = 500;
  PayoutPage page = list(far);
  EXPECT_TRUE(page.items.empty());
  EXPECT_EQ(page.total_count, static_cast<int64_t>(expected(far).size()));
}

// The query plan of `sql` (EXPLAIN QUERY PLAN detail lines).
std::vector<std::string> plan(RawDatabase& raw, const std::string& sql) {
  return raw.column("EXPLAIN QUERY PLAN " + sql, /*index=*/3);
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += line + " | ";
  return out;
}

// Every step touching `table` is an index SEARCH (a constrained lookup): no full table scan
// ("SCAN payouts") and no unconstrained walk of a whole index ("SCAN payouts USING INDEX ...").
void expect_indexed(const std::vector<std::string>& lines, std::string_view table) {
  ASSERT_FALSE(lines.empty());
  bool mentions_table = false;
  for (const std::string& line : lines) {
    if (line.find(" " + std::string(table) + " ") == std::string::npos) continue;
    mentions_table = true;
    EXPECT_EQ(line.rfind("SEARCH ", 0), 0u) << joined(lines);
  }
  EXPECT_TRUE(mentions_table) << joined(lines);
}

TEST_F(PayoutListTest, ListingsUseIndexes) {
  RawDatabase raw(path_);
  // Without statistics (production never runs ANALYZE by itself) and with them.
  for (bool analyzed : {false, true}) {
    SCOPED_TRACE(analyzed ? "with ANALYZE statistics" : "without statistics");
    if (analyzed) raw.must_exec("ANALYZE");
    auto select_and_count = [&](const PayoutQuery& query) {
      Result<sql::ListSql> sql = sql::build_payout_list(query);
      EXPECT_TRUE(sql.is_ok());
      return std::make_pair(plan(raw, sql->select_sql), plan(raw, sql->count_sql));
    };

    PayoutQuery query;
    query.merchant_id = acme_;
    {
      // The default listing walks the (merchant, created_at, cashout_id) index backwards: no sort.
      auto [select, count] = select_and_count(query);
      SCOPED_TRACE(joined(select));
      expect_indexed(select, "payouts");
      expect_indexed(count, "payouts");
      for (const std::string& line : select) {
        EXPECT_EQ(line.find("TEMP B-TREE"), std::string::npos) << joined(select);
      }
      EXPECT_NE(joined(select).find("payouts_by_merchant_created"), std::string::npos);
    }
    std::vector<PayoutQuery> filtered;
    {
      PayoutQuery q = query;
      q.statuses = statuses({PayoutStatus::kCreated});
      filtered.push_back(q);
      q.statuses = statuses({PayoutStatus::kCreated, PayoutStatus::kQueued});
      filtered.push_back(q);
      q = query;
      q.currency = "BRL";
      filtered.push_back(q);
      q = query;
      q.search = "b1@example.com";
      filtered.push_back(q);
      q = query;
      q.external_id = "ext-1";
      filtered.push_back(q);
      q = query;
      q.created_from = kT0;
      q.created_to = kT0 + 1'000'000;
      filtered.push_back(q);
      q = query;
      q.sort_key = PayoutSortKey::kAmount;
      filtered.push_back(q);
      q.sort_key = PayoutSortKey::kStatus;
      q.descending = false;
      filtered.push_back(q);
    }
    for (size_t i = 0; i < filtered.size(); ++i) {
      SCOPED_TRACE("filtered #" + std::to_string(i));
      auto [select, count] = select_and_count(filtered[i]);
      expect_indexed(select, "payouts");
      expect_indexed(count, "payouts");
    }
    // A search uses the external_id and e-mail indexes, not a walk of the merchant's payouts.
    {
      PayoutQuery q = query;
      q.search = "b1@example.com";
      auto [select, count] = select_and_count(q);
      EXPECT_NE(joined(select).find("payouts_by_merchant_email"), std::string::npos) << joined(select);
      EXPECT_EQ(joined(select).find("payouts_by_merchant_created"), std::string::npos)
          << joined(select);
      EXPECT_NE(joined(count).find("payouts_by_merchant_email"), std::string::npos) << joined(count);
    }
    // Single-status listing needs no sort either.
    {
      PayoutQuery q = query;
      q.statuses = statuses({PayoutStatus::kQueued});
      auto [select, count] = select_and_count(q);
      EXPECT_EQ(joined(select).find("TEMP B-TREE"), std::string::npos) << joined(select);
    }
    // Wallet transactions of one wallet, newest first, by index.
    WalletTransactionQuery transactions;
    transactions.merchant_id = acme_;
    transactions.wallet_id = usd_.id;
    Result<sql::ListSql> sql = sql::build_wallet_transaction_list(transactions);
    ASSERT_TRUE(sql.is_ok());
    // (the plan names the table by its alias, t)
    std::vector<std::string> lines = plan(raw, sql->select_sql);
    expect_indexed(lines, "t");
    EXPECT_NE(joined(lines).find("wallet_transactions_by_wallet"), std::string::npos) << joined(lines);
    transactions.type = "PAYOUT";
    sql = sql::build_wallet_transaction_list(transactions);
    lines = plan(raw, sql->select_sql);
    expect_indexed(lines, "t");
    EXPECT_NE(joined(lines).find("wallet_transactions_by_type"), std::string::npos) << joined(lines);
  }
}

}  // namespace
}  // namespace payoutd::testing
