// PostgreSQL write groups (store/sql/deferred_tx.h): cancels queued together are written with one
// statement per table. The proof that this changes nothing but the speed: the same commands run on
// two databases, one store writing groups and one writing op by op, leave the same rows (ids of
// journals and wallet transactions aside: a group takes them from the sequences ahead), give every
// caller the same answer, and keep the ledger's invariants. A group that meets something it
// cannot defer (the same payout twice) falls back to op by op, with the same outcome.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "commands/commands.h"
#include "crypto/master_key.h"
#include "store/postgres/pg_store.h"
#include "store_postgres/pg_test_support.h"
#include "support/test_support.h"
#include "support/notification_formats.h"

namespace payoutd::testing {
namespace {

constexpr std::string_view kMasterKeyHex =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

// Holds the writer inside its batch until released, so that everything submitted meanwhile is
// queued and joins the next batch together.
class GateOp final : public WriteOp {
 public:
  explicit GateOp(std::shared_future<void> gate) : gate_(std::move(gate)) {}
  Status apply(WriteTx&) override {
    entered_.set_value();
    // Bounded: a test that never opens the gate fails instead of hanging.
    if (gate_.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
      return Status::internal("gate never opened");
    }
    return Status::ok();
  }
  void complete(Status) override {}
  std::future<void> entered() { return entered_.get_future(); }

 private:
  std::shared_future<void> gate_;
  std::promise<void> entered_;
};

// One database, a store over it (grouping on or off) and the domain commands.
struct Node {
  explicit Node(bool group_writes) {
    StoreOptions options;
    options.read_connections = 2;
    options.group_deferred_writes = group_writes;
    Result<std::unique_ptr<postgres::PgStore>> opened = postgres::PgStore::open(database.url(), options);
    EXPECT_TRUE(opened.is_ok()) << (opened.is_ok() ? "" : opened.status().to_string());
    if (!opened.is_ok()) return;
    store = std::move(opened).value();
    EXPECT_TRUE(store->migrate().is_ok());
    Result<crypto::MasterKey> key = crypto::MasterKey::from_hex(kMasterKeyHex);
    EXPECT_TRUE(key.is_ok());
    master_key = std::make_unique<crypto::MasterKey>(std::move(key).value());
    commands = std::make_unique<commands::Commands>(*store, clock, random, master_key.get(),
                                                     testing::with_notification_formats());
  }
  ~Node() {
    commands.reset();
    if (store) store->close();
  }

  // Submits every transition while the writer is held, then lets it go: they share one batch.
  std::vector<Result<commands::PayoutWithEvents>> run_together(
      const std::vector<commands::TransitionInput>& inputs) {
    std::promise<void> open;
    auto gate = std::make_unique<GateOp>(open.get_future().share());
    std::future<void> entered = gate->entered();
    store->submit(std::move(gate));
    EXPECT_EQ(entered.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    std::vector<std::promise<Result<commands::PayoutWithEvents>>> answers(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      commands->transition_async(inputs[i], [&answers, i](Result<commands::PayoutWithEvents> r) {
        answers[i].set_value(std::move(r));
      });
    }
    open.set_value();
    std::vector<Result<commands::PayoutWithEvents>> out;
    for (auto& answer : answers) out.push_back(answer.get_future().get());
    return out;
  }

  // The rows the cancels write, as text, with the ids a group takes ahead replaced by what they
  // belong to.
  std::vector<std::string> rows() {
    RawPg pg(database.url());
    std::vector<std::string> out;
    auto add = [&](const std::string& sql) {
      for (std::string& row : pg.column("SELECT t::text FROM (" + sql + ") t")) {
        out.push_back(std::move(row));
      }
    };
    add("SELECT * FROM payouts ORDER BY cashout_id");
    add("SELECT kind, cashout_id, currency, created_at FROM journal_transactions "
        "ORDER BY cashout_id, kind, id");
    add("SELECT j.kind, j.cashout_id, e.account_id, e.amount, e.currency FROM journal_entries e "
        "JOIN journal_transactions j ON j.id = e.journal_id ORDER BY j.cashout_id, j.kind, e.id");
    add("SELECT id, kind, currency, balance, updated_at FROM accounts ORDER BY id");
    add("SELECT t.wallet_id, j.kind, j.cashout_id, t.type, t.transaction_type, t.amount, "
        "t.currency, t.balance_after, t.reference_type, t.reference_id, t.remarks, t.created_at "
        "FROM wallet_transactions t LEFT JOIN journal_transactions j ON j.id = t.journal_id "
        "ORDER BY t.id");
    add("SELECT * FROM payout_events ORDER BY cashout_id, seq");
    add("SELECT cashout_id, event_seq, channel, endpoint_id, target_url, payload, status, "
        "attempts, next_attempt_at, created_at, updated_at, event_id, give_up_at, destination "
        "FROM outbox ORDER BY cashout_id, event_seq, channel, endpoint_id");
    return out;
  }

  void expect_ledger_holds() {
    auto report = commands->check_ledger();
    ASSERT_TRUE(report.is_ok()) << report.status().to_string();
    EXPECT_TRUE(report->all_hold());
  }

  TestDatabase database;
  ManualClock clock;
  SeededRandom random{7};
  std::unique_ptr<postgres::PgStore> store;
  std::unique_ptr<crypto::MasterKey> master_key;
  std::unique_ptr<commands::Commands> commands;
};

commands::TransitionInput client_cancel(int64_t merchant_id, PayoutRef ref) {
  commands::TransitionInput input;
  input.merchant_id = merchant_id;
  input.ref = std::move(ref);
  input.to = PayoutStatus::kCancelled;
  input.actor = Actor::kClient;
  input.read_back = false;  // as the v3 dialect cancels: the op defers its writes
  return input;
}

// The same story on a node: a merchant with a v1 webhook endpoint and a v3 notification URL,
// 40 payouts in two wallets; then one batch of 30 cancels (with a payout of another merchant, an
// unknown id and a payout that is on hold among them), then one batch that names one payout twice.
struct Story {
  std::vector<std::string> answers;  // per cancel: "ok <status> <seq>" or the refusal's kind
  std::vector<std::string> rows;
};

Story tell(Node& node) {
  Story story;
  commands::CreateMerchantInput merchant_input;
  merchant_input.name = "Acme";
  merchant_input.notification_url = "https://merchant.example/v3-notify";
  auto merchant = node.commands->create_merchant(merchant_input);
  EXPECT_TRUE(merchant.is_ok());
  commands::CreateMerchantInput other_input;
  other_input.name = "Other";
  auto other = node.commands->create_merchant(other_input);
  EXPECT_TRUE(other.is_ok());
  if (!merchant.is_ok() || !other.is_ok()) return story;
  const int64_t id = merchant->merchant.id;
  EXPECT_TRUE(node.commands
                  ->create_webhook_endpoint(id, "https://merchant.example/hooks",
                                            {"payout.cancelled"})
                  .is_ok());
  for (const std::string currency : {"USD", "BRL"}) {
    commands::WalletMovementInput funding;
    funding.merchant_id = id;
    funding.currency = currency;
    funding.amount_minor = 10'000'000;
    EXPECT_TRUE(node.commands->fund_wallet(funding).is_ok());
  }
  commands::WalletMovementInput other_funding;
  other_funding.merchant_id = other->merchant.id;
  other_funding.currency = "USD";
  other_funding.amount_minor = 1'000'000;
  EXPECT_TRUE(node.commands->fund_wallet(other_funding).is_ok());
  EXPECT_TRUE(node.commands->set_fees(id, "USD", FeeSchedule{150, 25}).is_ok());

  std::vector<Payout> payouts;
  for (int i = 0; i < 40; ++i) {
    commands::CreatePayoutInput input;
    input.merchant_id = id;
    input.external_id = "group-" + std::to_string(i);
    input.amount_minor = 1000 + 37 * i;
    input.currency = i % 3 == 0 ? "BRL" : "USD";
    input.country = input.currency == "BRL" ? "BR" : "US";
    // Text that an array literal must quote and escape (the group writes its rows as arrays): a
    // double quote, a backslash, braces, a comma, the word NULL, a newline, non-ASCII.
    input.beneficiary.first_name = i % 5 == 0 ? "Jo\"hn \\ {NULL}, \u00e9" : "John";
    input.beneficiary.last_name = i % 5 == 0 ? "D'oe\n\"\"" : "Doe";
    if (i % 5 == 1) input.description = "say \"hi\" \\{a,b}";
    if (i % 4 == 0) input.notification_url = "https://merchant.example/per-payout";
    node.clock.advance_micros(1000);
    auto created = node.commands->create_payout(input);
    EXPECT_TRUE(created.is_ok()) << (created.is_ok() ? "" : created.status().to_string());
    if (created.is_ok()) payouts.push_back(created->payout);
  }
  commands::CreatePayoutInput theirs;
  theirs.merchant_id = other->merchant.id;
  theirs.external_id = "theirs";
  theirs.amount_minor = 500;
  theirs.currency = "USD";
  theirs.country = "US";
  theirs.beneficiary.first_name = "Jane";
  auto their_payout = node.commands->create_payout(theirs);
  EXPECT_TRUE(their_payout.is_ok());
  if (payouts.size() != 40 || !their_payout.is_ok()) return story;
  EXPECT_TRUE(node.commands
                  ->hold_payout(id, PayoutRef::by_cashout_id(payouts[5].cashout_id),
                                Actor::kClient)
                  .is_ok());
  node.clock.advance_micros(1'000'000);

  auto record = [&](const std::vector<Result<commands::PayoutWithEvents>>& results) {
    for (const auto& result : results) {
      story.answers.push_back(result.is_ok()
                                  ? "ok " + std::string(status_name(result->payout.status)) +
                                        " " + std::to_string(result->payout.event_seq)
                                  : std::string(error_kind_name(result.status().kind())));
    }
  };
  std::vector<commands::TransitionInput> first;
  for (int i = 0; i < 28; ++i) {
    first.push_back(client_cancel(id, PayoutRef::by_cashout_id(payouts[static_cast<size_t>(i)].cashout_id)));
  }
  first.insert(first.begin() + 10,
               client_cancel(id, PayoutRef::by_cashout_id(their_payout->payout.cashout_id)));
  first.insert(first.begin() + 20, client_cancel(id, PayoutRef::by_cashout_id(999'999)));
  record(node.run_together(first));
  node.clock.advance_micros(1'000'000);

  std::vector<commands::TransitionInput> second;
  for (int i = 28; i < 40; ++i) {
    second.push_back(client_cancel(id, PayoutRef::by_cashout_id(payouts[static_cast<size_t>(i)].cashout_id)));
  }
  second.push_back(client_cancel(id, PayoutRef::by_cashout_id(payouts[30].cashout_id)));
  record(node.run_together(second));
  node.expect_ledger_holds();
  story.rows = node.rows();
  return story;
}

TEST(WriteGroupTest, GroupsLeaveTheRowsAndAnswersOfOneOpAtATime) {
  Node grouped(/*group_writes=*/true);
  Node one_by_one(/*group_writes=*/false);
  ASSERT_NE(grouped.commands, nullptr);
  ASSERT_NE(one_by_one.commands, nullptr);
  const Story with_groups = tell(grouped);
  const Story without = tell(one_by_one);

  // The first batch was written as one group; the second fell back (a payout named twice).
  EXPECT_EQ(grouped.store->deferred_groups_written(), 1u);
  EXPECT_EQ(grouped.store->deferred_groups_fallen_back(), 1u);
  EXPECT_EQ(one_by_one.store->deferred_groups_written(), 0u);
  EXPECT_EQ(one_by_one.store->deferred_groups_fallen_back(), 0u);

  ASSERT_EQ(with_groups.answers.size(), 43u);
  EXPECT_EQ(with_groups.answers, without.answers);
  EXPECT_EQ(with_groups.answers[0], "ok cancelled 2");
  EXPECT_EQ(with_groups.answers[10], std::string(error_kind_name(ErrorKind::kNotFound)));
  EXPECT_EQ(with_groups.answers[20], std::string(error_kind_name(ErrorKind::kNotFound)));
  EXPECT_EQ(with_groups.answers.back(),
            std::string(error_kind_name(ErrorKind::kInvalidTransition)));
  ASSERT_EQ(with_groups.rows.size(), without.rows.size());
  for (size_t i = 0; i < with_groups.rows.size(); ++i) {
    EXPECT_EQ(with_groups.rows[i], without.rows[i]) << "row " << i;
  }
}

}  // namespace
}  // namespace payoutd::testing
