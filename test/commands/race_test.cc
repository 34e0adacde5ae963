// Races on a real SQLite file: 32 threads over two Store instances (two writers contending for the
// database lock, as two processes would) race cancel vs operator set-status vs hold/release on the
// same 200 payouts. Every conflicting transition has exactly one winner, every terminal payout is
// refunded exactly once, and the ledger invariants hold.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include "commands_fixture.h"

namespace payoutd::testing {
namespace {

constexpr int kPayouts = 200;
constexpr int kThreads = 32;
constexpr int64_t kAmountMinor = 1000;

enum Action { kCancel = 0, kFail, kHold, kQueue, kActionCount };

class RaceTest : public CommandsFixture {};

TEST_F(RaceTest, ThirtyTwoThreadsRaceCancelSetStatusAndHold) {
  const int64_t merchant = new_merchant();
  const Wallet wallet = fund(merchant, "USD", kPayouts * kAmountMinor);
  std::vector<int64_t> cashout_ids;
  for (int i = 0; i < kPayouts; ++i) {
    auto created = commands_->create_payout(payout_input(merchant, "race-" + std::to_string(i),
                                                         kAmountMinor));
    ASSERT_TRUE(created.is_ok()) << created.status().to_string();
    cashout_ids.push_back(created->payout.cashout_id);
  }
  ASSERT_EQ(commands_->get_wallet(merchant, wallet.id)->available_minor, 0);

  // A second Store on the same file: a second writer thread and connection pool, contending
  // through SQLite's file lock exactly as a second process does.
  std::unique_ptr<Store> second_store = open_test_store(dir_);
  ASSERT_NE(second_store, nullptr);
  ManualClock second_clock;
  SeededRandom second_random{7};
  commands::Commands second(*second_store, second_clock, second_random, master_key_.get(),
                            with_notification_formats());
  std::array<commands::Commands*, 2> sides = {commands_.get(), &second};

  // wins[payout][action] = successful transitions of that kind.
  std::vector<std::array<std::atomic<int>, kActionCount>> wins(kPayouts);
  std::atomic<int> unexpected_errors{0};

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      commands::Commands& side = *sides[static_cast<size_t>(t % 2)];
      const Action action = static_cast<Action>(t % kActionCount);
      std::vector<int> order(kPayouts);
      for (int i = 0; i < kPayouts; ++i) order[static_cast<size_t>(i)] = i;
      std::mt19937_64 shuffle_engine(static_cast<uint64_t>(t) * 7919);
      std::shuffle(order.begin(), order.end(), shuffle_engine);
      for (int index : order) {
        const auto ref = PayoutRef::by_cashout_id(cashout_ids[static_cast<size_t>(index)]);
        Result<commands::PayoutWithEvents> result = Status::internal("unset");
        switch (action) {
          case kCancel:
            result = side.cancel_payout(merchant, ref, Actor::kClient);
            break;
          case kFail:
            result = side.operator_set_status(ref, PayoutStatus::kFailed, 800, std::nullopt,
                                              std::nullopt);
            break;
          case kHold:
            result = side.hold_payout(merchant, ref, Actor::kClient);
            break;
          case kQueue:
            result = side.operator_set_status(ref, PayoutStatus::kQueued, std::nullopt,
                                              std::nullopt, std::nullopt);
            break;
          case kActionCount:
            break;
        }
        if (result.is_ok()) {
          wins[static_cast<size_t>(index)][action].fetch_add(1);
        } else if (result.status().kind() != ErrorKind::kInvalidTransition) {
          unexpected_errors.fetch_add(1);
          ADD_FAILURE() << "unexpected error: " << result.status().to_string();
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  second_store->close();
  EXPECT_EQ(unexpected_errors.load(), 0);

  int cancelled = 0;
  int failed = 0;
  for (int i = 0; i < kPayouts; ++i) {
    const auto& win = wins[static_cast<size_t>(i)];
    // Exactly one terminal winner: cancel and fail conflict, and one of them always can win.
    EXPECT_EQ(win[kCancel].load() + win[kFail].load(), 1) << "payout " << i;
    cancelled += win[kCancel].load();
    failed += win[kFail].load();

    auto payout = commands_->get_payout(merchant, PayoutRef::by_cashout_id(cashout_ids[static_cast<size_t>(i)]));
    ASSERT_TRUE(payout.is_ok());
    const PayoutStatus expected =
        win[kCancel].load() == 1 ? PayoutStatus::kCancelled : PayoutStatus::kFailed;
    EXPECT_EQ(payout->payout.status, expected);
    // Every success is exactly one event: no lost and no phantom transitions.
    const int successes = win[kCancel].load() + win[kFail].load() + win[kHold].load() +
                          win[kQueue].load();
    EXPECT_EQ(static_cast<int>(payout->events.size()), successes + 1) << "payout " << i;
  }
  EXPECT_EQ(cancelled + failed, kPayouts);

  // Exactly one refund per payout, and the wallet is whole again.
  std::string output;
  ASSERT_EQ(run_command("sqlite3 " + dir_.file("payoutd.db") +
                            " \"select count(*), count(distinct cashout_id) from journal_transactions "
                            "where kind='payout_refund'\"",
                        &output),
            0);
  EXPECT_EQ(output, std::to_string(kPayouts) + "|" + std::to_string(kPayouts) + "\n");
  auto after = commands_->get_wallet(merchant, wallet.id);
  EXPECT_EQ(after->available_minor, kPayouts * kAmountMinor);
  EXPECT_EQ(after->held_minor, 0);
  expect_ledger_holds();
}

// 64 concurrent cancels of one payout: one 200-equivalent, 63 refusals, one refund.
TEST_F(RaceTest, SixtyFourConcurrentCancelsOfOnePayout) {
  const int64_t merchant = new_merchant();
  const Wallet wallet = fund(merchant, "USD", 10000);
  auto created = commands_->create_payout(payout_input(merchant, "once", 10000));
  ASSERT_TRUE(created.is_ok());
  const auto ref = PayoutRef::by_cashout_id(created->payout.cashout_id);
  std::atomic<int> ok{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 64; ++t) {
    threads.emplace_back([&] {
      auto result = commands_->cancel_payout(merchant, ref, Actor::kClient);
      if (result.is_ok()) {
        ok.fetch_add(1);
      } else if (result.status().kind() == ErrorKind::kInvalidTransition) {
        refused.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(refused.load(), 63);
  EXPECT_EQ(commands_->get_wallet(merchant, wallet.id)->available_minor, 10000);
  expect_ledger_holds();
}

}  // namespace
}  // namespace payoutd::testing
