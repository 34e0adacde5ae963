// Property test: 10,000 random operations (fund, adjust, create, cancel, hold, release, operator
// set-status along legal and illegal edges) against a real SQLite store, checked against an
// independent in-test model. Each operation's outcome must match the model's prediction; every 100
// operations the ledger invariants must hold and every wallet's balances must equal the model's.
// Runs with fixed seeds and one random seed per run (printed; replay with PAYOUTD_TEST_SEED).
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "commands_fixture.h"

namespace payoutd::testing {
namespace {

using S = PayoutStatus;

constexpr int kOperations = 10000;
constexpr int kCheckEvery = 100;
const std::vector<std::string> kCurrencies = {"USD", "BRL", "CLP"};

// The model's own copy of domain.md's transition table, written independently of core/.
// (from, to) -> who may do it: 'm' merchant, 'o' operator.
const std::map<std::pair<S, S>, std::string>& model_edges() {
  static const std::map<std::pair<S, S>, std::string> edges = {
      {{S::kCreated, S::kQueued}, "o"},        {{S::kCreated, S::kOnHold}, "mo"},
      {{S::kQueued, S::kOnHold}, "mo"},        {{S::kOnHold, S::kQueued}, "mo"},
      {{S::kCreated, S::kCancelled}, "mo"},    {{S::kQueued, S::kCancelled}, "mo"},
      {{S::kOnHold, S::kCancelled}, "mo"},     {{S::kActionRequired, S::kCancelled}, "mo"},
      {{S::kProcessing, S::kCancelled}, "o"},  {{S::kQueued, S::kProcessing}, "o"},
      {{S::kProcessing, S::kSettling}, "o"},   {{S::kProcessing, S::kCompleted}, "o"},
      {{S::kProcessing, S::kFailed}, "o"},     {{S::kProcessing, S::kActionRequired}, "o"},
      {{S::kSettling, S::kCompleted}, "o"},    {{S::kSettling, S::kFailed}, "o"},
      {{S::kSettling, S::kActionRequired}, "o"}, {{S::kActionRequired, S::kQueued}, "o"},
      {{S::kActionRequired, S::kFailed}, "o"}, {{S::kActionRequired, S::kExpired}, "o"},
      {{S::kOnHold, S::kExpired}, "o"},        {{S::kCompleted, S::kFailed}, "o"},
      {{S::kCreated, S::kFailed}, "o"},
  };
  return edges;
}

bool model_holds(S status) {
  return status == S::kCreated || status == S::kQueued || status == S::kOnHold ||
         status == S::kProcessing || status == S::kSettling || status == S::kActionRequired;
}

struct ModelWallet {
  bool exists = false;
  int64_t available = 0;
  int64_t held = 0;
};

struct ModelPayout {
  int64_t cashout_id = 0;
  int merchant = 0;
  std::string currency;
  int64_t total = 0;
  S status = S::kCreated;
};

struct ModelFees {
  int64_t fixed = 0;
  int64_t bps = 0;
};

class PropertyTest : public CommandsFixture {
 protected:
  void run(uint64_t seed) {
    std::mt19937_64 rng(seed);
    auto pick = [&rng](int64_t low, int64_t high) {
      return std::uniform_int_distribution<int64_t>(low, high)(rng);
    };

    std::vector<int64_t> merchants;
    for (int i = 0; i < 3; ++i) merchants.push_back(new_merchant("M" + std::to_string(i)));
    // Fee schedules, and the model's independent fee formula: fixed + round half up of bps.
    std::map<std::pair<int, std::string>, ModelFees> fees;
    for (int m = 0; m < 3; ++m) {
      ModelFees usd{150, 50};
      ModelFees brl{0, 250};
      ModelFees clp{100, 0};
      for (auto& [currency, schedule] :
           std::vector<std::pair<std::string, ModelFees>>{{"USD", usd}, {"BRL", brl}, {"CLP", clp}}) {
        ASSERT_TRUE(commands_
                        ->set_fees(merchants[static_cast<size_t>(m)], currency,
                                   FeeSchedule{schedule.fixed, static_cast<int32_t>(schedule.bps)})
                        .is_ok());
        fees[{m, currency}] = schedule;
      }
    }

    std::map<std::pair<int, std::string>, ModelWallet> wallets;
    std::vector<ModelPayout> payouts;
    std::set<std::pair<int, std::string>> external_ids;
    int next_external = 0;
    int successes = 0;

    auto check_against_model = [&](int step) {
      SCOPED_TRACE("after operation " + std::to_string(step) + ", seed " + std::to_string(seed));
      expect_ledger_holds();
      for (int m = 0; m < 3; ++m) {
        auto listed = commands_->list_all_wallets(merchants[static_cast<size_t>(m)]);
        ASSERT_TRUE(listed.is_ok());
        int existing = 0;
        for (const std::string& currency : kCurrencies) {
          const ModelWallet& model = wallets[{m, currency}];
          if (model.exists) ++existing;
          for (const Wallet& wallet : *listed) {
            if (wallet.currency != currency) continue;
            EXPECT_EQ(wallet.available_minor, model.available) << "M" << m << " " << currency;
            EXPECT_EQ(wallet.held_minor, model.held) << "M" << m << " " << currency;
          }
        }
        EXPECT_EQ(static_cast<int>(listed->size()), existing);
      }
    };

    for (int step = 1; step <= kOperations; ++step) {
      const int m = static_cast<int>(pick(0, 2));
      const int64_t merchant = merchants[static_cast<size_t>(m)];
      const std::string currency = kCurrencies[static_cast<size_t>(pick(0, 2))];
      ModelWallet& wallet = wallets[{m, currency}];
      const int64_t roll = pick(0, 99);

      if (roll < 8) {  // fund
        const int64_t amount = pick(1, 2'000'000);
        auto result = commands_->fund_wallet({merchant, currency, amount, "top-up"});
        ASSERT_TRUE(result.is_ok()) << result.status().to_string();
        wallet.exists = true;
        wallet.available += amount;
        ++successes;
      } else if (roll < 12) {  // adjust, sometimes beyond the balance
        const int64_t amount = pick(-300'000, 300'000);
        auto result = commands_->adjust_wallet({merchant, currency, amount, "correction"});
        const bool expect_ok = amount != 0 && wallet.exists && wallet.available + amount >= 0;
        ASSERT_EQ(result.is_ok(), expect_ok)
            << "adjust " << amount << ": " << (result.is_ok() ? "" : result.status().to_string());
        if (expect_ok) {
          wallet.available += amount;
          ++successes;
        }
      } else if (roll < 40) {  // create, sometimes reusing an external id
        const int64_t amount = pick(1, 400'000);
        std::string external_id;
        bool reuse = false;
        if (!external_ids.empty() && pick(0, 19) == 0) {
          auto it = external_ids.lower_bound({m, ""});
          if (it != external_ids.end() && it->first == m) {
            external_id = it->second;
            reuse = true;
          }
        }
        if (!reuse) external_id = "ext-" + std::to_string(next_external++);
        auto input = payout_input(merchant, external_id, amount, currency);
        input.country = currency == "USD" ? "US" : (currency == "BRL" ? "BR" : "CL");
        input.on_hold = pick(0, 9) == 0;
        const ModelFees schedule = fees[{m, currency}];
        const int64_t model_fees = schedule.fixed + (amount * schedule.bps + 5000) / 10000;
        const int64_t total = amount + model_fees;
        auto result = commands_->create_payout(input);
        ErrorKind expected = ErrorKind::kOk;
        if (reuse) {
          expected = ErrorKind::kAlreadyExists;
        } else if (!wallet.exists) {
          expected = ErrorKind::kNotFound;
        } else if (wallet.available < total) {
          expected = ErrorKind::kInsufficientFunds;
        }
        if (expected == ErrorKind::kOk) {
          ASSERT_TRUE(result.is_ok()) << result.status().to_string();
          EXPECT_EQ(result->payout.fees_minor, model_fees);
          EXPECT_EQ(result->payout.total_minor, total);
          external_ids.insert({m, external_id});
          wallet.available -= total;
          wallet.held += total;
          payouts.push_back({result->payout.cashout_id, m, currency, total,
                             input.on_hold ? S::kOnHold : S::kCreated});
          ++successes;
        } else {
          ASSERT_FALSE(result.is_ok()) << "expected " << error_kind_name(expected);
          EXPECT_EQ(result.status().kind(), expected) << result.status().to_string();
        }
      } else if (!payouts.empty()) {  // a transition on an existing payout
        ModelPayout& payout = payouts[static_cast<size_t>(pick(0, static_cast<int64_t>(payouts.size()) - 1))];
        ModelWallet& payout_wallet = wallets[{payout.merchant, payout.currency}];
        const auto ref = PayoutRef::by_cashout_id(payout.cashout_id);
        S target = S::kCancelled;
        bool by_merchant = true;
        int caller = payout.merchant;
        Result<commands::PayoutWithEvents> result = Status::internal("unset");
        if (roll < 60) {  // merchant cancel, sometimes by the wrong merchant
          caller = pick(0, 9) == 0 ? (payout.merchant + 1) % 3 : payout.merchant;
          result = commands_->cancel_payout(merchants[static_cast<size_t>(caller)], ref,
                                            Actor::kClient);
        } else if (roll < 68) {
          target = S::kOnHold;
          result = commands_->hold_payout(merchants[static_cast<size_t>(caller)], ref, Actor::kClient);
        } else if (roll < 74) {
          target = S::kQueued;
          result = commands_->release_payout(merchants[static_cast<size_t>(caller)], ref,
                                             Actor::kClient);
        } else {  // operator, any target: legal and illegal edges alike
          by_merchant = false;
          target = static_cast<S>(pick(0, kPayoutStatusCount - 1));
          result = commands_->operator_set_status(ref, target, std::nullopt, std::nullopt,
                                                  std::nullopt);
        }

        bool expect_ok = false;
        if (by_merchant && caller != payout.merchant) {
          ASSERT_FALSE(result.is_ok());
          EXPECT_EQ(result.status().kind(), ErrorKind::kNotFound);
        } else {
          auto edge = model_edges().find({payout.status, target});
          expect_ok = edge != model_edges().end() &&
                      edge->second.find(by_merchant ? 'm' : 'o') != std::string::npos;
          if (by_merchant && target == S::kQueued) expect_ok = payout.status == S::kOnHold;
          ASSERT_EQ(result.is_ok(), expect_ok)
              << status_name(payout.status) << " -> " << status_name(target)
              << (by_merchant ? " by merchant: " : " by operator: ")
              << (result.is_ok() ? "ok" : result.status().to_string());
          if (!expect_ok) {
            EXPECT_EQ(result.status().kind(), ErrorKind::kInvalidTransition);
          }
        }
        if (expect_ok) {
          const S from = payout.status;
          if (model_holds(from) && !model_holds(target)) {
            payout_wallet.held -= payout.total;
            if (target != S::kCompleted) payout_wallet.available += payout.total;  // refund
          } else if (from == S::kCompleted && target == S::kFailed) {
            payout_wallet.available += payout.total;  // reversal refund
          }
          payout.status = target;
          EXPECT_EQ(result->payout.status, target);
          ++successes;
        }
      }

      if (step % kCheckEvery == 0) {
        check_against_model(step);
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
    // The run must have exercised the interesting paths, or it proves little.
    EXPECT_GT(successes, kOperations / 3);
    int terminal = 0;
    for (const ModelPayout& payout : payouts) terminal += model_holds(payout.status) ? 0 : 1;
    EXPECT_GT(terminal, 50);
  }
};

TEST_F(PropertyTest, FixedSeed) { run(20261121); }

TEST_F(PropertyTest, RandomSeed) { run(random_seed_for_run("PropertyTest.RandomSeed")); }

}  // namespace
}  // namespace payoutd::testing
