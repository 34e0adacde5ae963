// Deterministic simulation of the whole lifecycle: 100,000 payouts, random merchant actions
// (cancel - also of processing payouts, through the connector -, hold, release), random connector
// outcomes and delays (the sandbox's magic accounts with per-seed jitter), two competing engine
// instances that crash at random points and restart under new names, all on simulated time over a
// real SQLite store. One fixed seed plus one random seed per run (printed; replay with
// PAYOUTD_TEST_SEED=<seed>). PAYOUTD_SIM_PAYOUTS overrides the number of payouts (local runs).
//
// At the end: every payout is in an end state or legitimately waiting, no payout reached the rail
// twice, every outcome matches what the rail and the merchant decided, balances match the payouts
// one by one, and every ledger invariant holds.
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "commands/commands_fixture.h"
#include "engine/connectors/sandbox.h"
#include "engine/connectors/sandbox_rail.h"
#include "engine/engine.h"
#include "support/notification_formats.h"

namespace payoutd::engine {
namespace {

using payoutd::testing::ManualClock;
using payoutd::testing::SeededRandom;
using S = PayoutStatus;

constexpr int64_t kTickMicros = 500'000;  // simulated time per step
constexpr int64_t kFunding = 1'000'000'000'000;  // per merchant, minor units
constexpr int kMerchants = 4;

int payout_count() {
  const char* text = std::getenv("PAYOUTD_SIM_PAYOUTS");
  if (text == nullptr) return 100'000;
  const int value = std::atoi(text);
  return value > 0 ? value : 100'000;
}

// A directory on tmpfs when the machine has one: the simulation is about ordering and claims, not
// about the disk, and fsyncs would dominate its run time.
class SimulationDir {
 public:
  SimulationDir() {
    std::filesystem::path base = std::filesystem::temp_directory_path();
    std::error_code error;
    if (std::filesystem::is_directory("/dev/shm", error)) base = "/dev/shm";
    for (int attempt = 0; attempt < 100; ++attempt) {
      std::random_device device;
      path_ = base / ("payoutd-sim-" + std::to_string(device()));
      if (std::filesystem::create_directory(path_, error)) return;
    }
    ADD_FAILURE() << "cannot create a simulation directory under " << base;
  }
  ~SimulationDir() {
    std::error_code error;
    std::filesystem::remove_all(path_, error);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// What the simulation decided for one payout, to predict its outcome independently of the engine.
struct Planned {
  int64_t cashout_id = 0;
  int64_t merchant_id = 0;
  std::string public_id;
  int64_t total = 0;
  SandboxChoice choice;
  bool merchant_cancelled = false;  // a cancel the domain accepted (200 / connector confirmed)
  bool cancel_requested = false;    // a cancel answered "later"
};

class Simulation {
 public:
  explicit Simulation(uint64_t seed) : seed_(seed), rng_(seed), ids_random_(seed ^ 0x5eed) {}

  void run(int payouts) {
    StoreOptions store_options;
    store_options.max_batch_ops = 1024;
    Result<std::unique_ptr<Store>> opened =
        open_store("sqlite://" + dir_.file("sim.db"), store_options);
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    store_ = std::move(opened).value();
    ASSERT_TRUE(store_->migrate().is_ok());
    Result<crypto::MasterKey> key = crypto::MasterKey::from_hex(payoutd::testing::kTestMasterKeyHex);
    ASSERT_TRUE(key.is_ok());
    master_key_ = std::make_unique<crypto::MasterKey>(std::move(key).value());
    commands_ =
        std::make_unique<commands::Commands>(*store_, clock_, ids_random_, master_key_.get(),
                                              testing::with_notification_formats());

    SandboxTimings timings;
    timings.settle_after_ms = 1'000 + uniform(0, 2'000);
    timings.complete_after_ms = timings.settle_after_ms + uniform(500, 4'000);
    timings.fail_after_ms = uniform(500, 5'000);
    timings.action_required_after_ms = uniform(500, 3'000);
    timings.cancel_answer_after_ms = uniform(500, 5'000);
    timings.reversal_after_ms = uniform(1'000, 10'000);
    timings.unknown_for_ms = uniform(1'000, 20'000);
    timings.jitter_ms = uniform(0, 5'000);
    timings.jitter_seed = seed_;
    sandbox_ = std::make_unique<SandboxConnector>(*store_, timings);

    for (int i = 0; i < kMerchants; ++i) {
      commands::CreateMerchantInput merchant;
      merchant.name = "Merchant " + std::to_string(i);
      auto created = commands_->create_merchant(merchant);
      ASSERT_TRUE(created.is_ok()) << created.status().to_string();
      merchants_.push_back(created->merchant.id);
      commands::WalletMovementInput funding;
      funding.merchant_id = created->merchant.id;
      funding.currency = "USD";
      funding.amount_minor = kFunding;
      ASSERT_TRUE(commands_->fund_wallet(funding).is_ok());
    }
    engines_[0] = start_engine(0);
    engines_[1] = start_engine(1);

    // Phase 1: payouts arrive while merchants act and engines work (and crash).
    const int per_tick = 250;
    int created = 0;
    while (created < payouts) {
      const int batch = std::min(per_tick, payouts - created);
      create_payouts(batch);
      created += batch;
      merchant_actions();
      step_engines();
      clock_.advance_micros(kTickMicros);
      if (::testing::Test::HasFatalFailure()) return;
    }
    // Phase 2: no new payouts; run on past every deadline until nothing moves any more.
    const int64_t drain_until = clock_.now_micros() + 3 * kExpiryMicros + 120'000'000;
    while (clock_.now_micros() < drain_until) {
      if (uniform(0, 9) == 0) merchant_actions();
      step_engines();
      clock_.advance_micros(kTickMicros * 4);
    }
    // Both engines alive for a last few passes, without faults, to finish what crashes left.
    faults_enabled_ = false;
    for (int slot = 0; slot < 2; ++slot) {
      if (!engines_[slot]) engines_[slot] = start_engine(slot);
    }
    for (int i = 0; i < 40; ++i) {
      step_engines();
      clock_.advance_micros(kTickMicros * 10);
    }
    check();
  }

  ~Simulation() {
    for (auto& engine : engines_) engine.reset();
    commands_.reset();
    if (store_) store_->close();
  }

 private:
  static constexpr int64_t kExpiryMicros = 60'000'000;  // on_hold and action_required deadlines

  int64_t uniform(int64_t low, int64_t high) {
    return std::uniform_int_distribution<int64_t>(low, high)(rng_);
  }

  std::unique_ptr<Engine> start_engine(int slot) {
    EngineOptions options;
    options.instance_id = std::string(slot == 0 ? "A" : "B") + "#" +
                          std::to_string(++restarts_[slot]);
    options.batch_limit = 1000;
    options.lease_ms = 30'000;
    options.lease_margin_ms = 5'000;
    // Payouts that wait on the rail for good (901/903 without a cancel) are asked about this
    // often; the default minute would make the long drain below mostly polling.
    options.follow_up_max_ms = 600'000;
    options.reconcile_initial_ms = 1'000;
    options.reconcile_max_ms = 16'000;
    options.cancel_recheck_ms = 1'000;
    options.on_hold_expiry_ms = kExpiryMicros / 1000;
    options.action_required_expiry_ms = kExpiryMicros / 1000;
    return std::make_unique<Engine>(*store_, *commands_, *sandbox_, screening_, clock_, options,
                                    [this](FaultPoint, int64_t) {
                                      // Asked once per payout at each fault point: with a few
                                      // hundred payouts per busy pass, a few passes in a hundred die.
                                      return faults_enabled_ && uniform(0, 99'999) < 8;
                                    });
  }

  void step_engines() {
    // The two instances take turns in a random order each step; a dead one comes back later.
    const int first = static_cast<int>(uniform(0, 1));
    for (int k = 0; k < 2; ++k) {
      const int slot = (first + k) % 2;
      if (!engines_[slot]) {
        if (uniform(0, 5) == 0) engines_[slot] = start_engine(slot);
        continue;
      }
      const PassStats stats = engines_[slot]->run_once();
      submitted_ += stats.submitted;
      if (stats.crashed) {
        ++crashes_;
        engines_[slot].reset();  // the process died: its leases stay until they expire
      }
    }
  }

  std::string bank_account() {
    const int64_t roll = uniform(0, 99);
    std::string prefix = std::to_string(uniform(100000, 999999));
    if (roll < 62) return prefix + std::to_string(uniform(100, 799));  // completes
    if (roll < 74) {
      static const int kCodes[] = {800, 801, 802, 803, 804, 805, 806, 807, 808, 809,
                                   810, 811, 812, 813, 814, 818, 819, 820, 824, 826};
      return prefix + std::to_string(kCodes[uniform(0, 19)]);
    }
    if (roll < 77) return prefix + "900";
    if (roll < 80) return prefix + "901";
    if (roll < 83) return prefix + "902";
    if (roll < 87) return prefix + "903";
    if (roll < 90) return prefix + "904";
    if (roll < 94) return prefix + "905";
    if (roll < 98) return prefix + "906";
    return prefix + "911";
  }

  void create_payouts(int count) {
    std::vector<std::optional<Result<commands::PayoutWithEvents>>> results(count);
    std::vector<Planned> planned(count);
    std::mutex mutex;
    std::condition_variable finished;
    int remaining = count;
    for (int i = 0; i < count; ++i) {
      commands::CreatePayoutInput input;
      input.merchant_id = merchants_[uniform(0, kMerchants - 1)];
      input.external_id = "sim-" + std::to_string(next_external_++);
      input.amount_minor = uniform(100, 5'000'000);
      input.currency = "USD";
      input.country = "US";
      input.beneficiary.first_name = "Ada";
      input.beneficiary.last_name = "Lovelace";
      input.beneficiary.bank_account = bank_account();
      input.on_hold = uniform(0, 99) < 2;
      planned[i].merchant_id = input.merchant_id;
      planned[i].choice = sandbox_choice(input.beneficiary);
      // Submitted together: the writer merges them into a few transactions.
      commands_->create_payout_async(std::move(input),
                                     [&, i](Result<commands::PayoutWithEvents> result) {
                                       std::lock_guard<std::mutex> lock(mutex);
                                       results[i].emplace(std::move(result));
                                       if (--remaining == 0) finished.notify_all();
                                     });
    }
    std::unique_lock<std::mutex> lock(mutex);
    finished.wait(lock, [&] { return remaining == 0; });
    for (int i = 0; i < count; ++i) {
      ASSERT_TRUE(results[i]->is_ok()) << results[i]->status().to_string();
      planned[i].cashout_id = (*results[i])->payout.cashout_id;
      planned[i].public_id = (*results[i])->payout.public_id;
      planned[i].total = (*results[i])->payout.total_minor;
      index_[planned[i].cashout_id] = payouts_.size();
      payouts_.push_back(std::move(planned[i]));
    }
  }

  void merchant_actions() {
    if (payouts_.empty()) return;
    const int actions = static_cast<int>(uniform(5, 40));
    for (int i = 0; i < actions; ++i) {
      // Mostly recent payouts: that is where cancels race the engine.
      const int64_t size = static_cast<int64_t>(payouts_.size());
      const int64_t pick = uniform(0, 3) == 0 ? uniform(0, size - 1)
                                              : uniform(std::max<int64_t>(0, size - 2'000), size - 1);
      Planned& payout = payouts_[static_cast<size_t>(pick)];
      const PayoutRef ref = PayoutRef::by_cashout_id(payout.cashout_id);
      const int64_t action = uniform(0, 9);
      if (action < 6) {
        auto cancelled = commands_->cancel_payout(payout.merchant_id, ref, Actor::kClient);
        if (cancelled.is_ok()) {
          payout.merchant_cancelled = true;
          ++cancels_accepted_;
          continue;
        }
        if (cancelled.status().kind() == ErrorKind::kInvalidTransition &&
            cancelled.status().detail_code() == static_cast<int>(S::kProcessing)) {
          Engine* engine = engines_[0] ? engines_[0].get() : engines_[1].get();
          if (engine == nullptr) continue;
          auto answer = engine->cancel_processing(payout.merchant_id, ref);
          if (!answer.is_ok()) {
            // The asking instance "died" after asking the rail (FaultPoint::kAfterCancelCall):
            // the request was durable before the rail was asked, so the engine may finish it.
            if (answer.status().kind() == ErrorKind::kUnavailable) payout.cancel_requested = true;
            continue;
          }
          if (answer->outcome == ProcessingCancel::kCancelled) {
            payout.merchant_cancelled = true;
            ++cancels_accepted_;
          } else if (answer->outcome == ProcessingCancel::kRequested) {
            payout.cancel_requested = true;
            ++cancels_requested_;
          }
        }
      } else if (action < 8) {
        if (commands_->hold_payout(payout.merchant_id, ref, Actor::kClient).is_ok()) ++holds_;
      } else {
        if (commands_->release_payout(payout.merchant_id, ref, Actor::kClient).is_ok()) {
          ++releases_;
        }
      }
    }
  }

  void check() {
    std::printf("simulation seed %llu: %zu payouts, %d engine crashes, %lld submissions, "
                "%d cancels accepted, %d cancels answered later, %d holds, %d releases\n",
                static_cast<unsigned long long>(seed_), payouts_.size(), crashes_,
                static_cast<long long>(submitted_), cancels_accepted_, cancels_requested_,
                holds_, releases_);
    std::map<int64_t, int64_t> held_or_paid;  // merchant -> sum of totals not refunded
    std::map<std::string, int> final_counts;
    // The rail's book first (the connector's own tables, engine/connectors/sandbox_rail.h); the
    // simulation is quiescent, so the two reads see the same state.
    std::map<std::string, sandbox_rail::RailRecord> rail_book;
    int64_t rail_records = -1;
    Status rail_read = store_->read_own_tables([&](sql::Connection& rail) -> Status {
      Result<std::vector<sandbox_rail::RailRecord>> duplicates =
          sandbox_rail::duplicate_submissions(rail, "sandbox", 10);
      if (!duplicates.is_ok()) return std::move(duplicates).status();
      EXPECT_TRUE(duplicates->empty())
          << "payout " << duplicates->front().payout_key << " submitted "
          << duplicates->front().submissions << " times";
      for (const Planned& planned : payouts_) {
        Result<sandbox_rail::RailRecord> record =
            sandbox_rail::record(rail, "sandbox", planned.public_id);
        if (record.is_ok()) {
          rail_book.emplace(planned.public_id, std::move(record).value());
        } else if (record.status().kind() != ErrorKind::kNotFound) {
          return std::move(record).status();
        }
      }
      Result<int64_t> count = sandbox_rail::record_count(rail, "sandbox");
      if (!count.is_ok()) return std::move(count).status();
      rail_records = *count;
      return Status::ok();
    });
    ASSERT_TRUE(rail_read.is_ok()) << rail_read.to_string();
    Status read = store_->read([&](ReadTx& tx) -> Status {
      int64_t on_rail = 0;
      for (const Planned& planned : payouts_) {
        Result<Payout> payout = tx.find_payout(0, PayoutRef::by_cashout_id(planned.cashout_id));
        if (!payout.is_ok()) return std::move(payout).status();
        const auto rail = rail_book.find(planned.public_id);
        const bool reached_rail = rail != rail_book.end();
        if (reached_rail) {
          ++on_rail;
          EXPECT_EQ(rail->second.submissions, 1) << planned.public_id;
        }
        std::string history;
        if (Result<std::vector<PayoutEvent>> events = tx.payout_events(planned.cashout_id);
            events.is_ok()) {
          for (const PayoutEvent& event : *events) {
            history += " " + std::string(status_name(event.to_status)) + "@" +
                       std::to_string((event.created_at - clock_.now_micros()) / 1'000'000) + "s";
          }
        }
        check_outcome(planned, *payout, reached_rail, history);
        final_counts[std::string(status_name(payout->status))] += 1;
        if (status_holds_funds(payout->status) || payout->status == S::kCompleted) {
          held_or_paid[planned.merchant_id] += planned.total;
        }
        if (::testing::Test::HasFailure()) return Status::ok();  // first failure is enough
      }
      EXPECT_EQ(rail_records, on_rail);
      for (int64_t merchant : merchants_) {
        Result<Wallet> wallet = tx.wallet_by_currency(merchant, "USD");
        if (!wallet.is_ok()) return std::move(wallet).status();
        EXPECT_EQ(wallet->available_minor, kFunding - held_or_paid[merchant]) << merchant;
      }
      Result<LedgerReport> report = tx.check_ledger();
      if (!report.is_ok()) return std::move(report).status();
      for (const InvariantResult& invariant : report->invariants) {
        EXPECT_EQ(invariant.violations, 0)
            << "invariant " << invariant.number << " (" << invariant.name << "): "
            << (invariant.samples.empty() ? "" : invariant.samples.front());
      }
      return Status::ok();
    });
    ASSERT_TRUE(read.is_ok()) << read.to_string();
    for (const auto& [status, count] : final_counts) {
      std::printf("  %-16s %d\n", status.c_str(), count);
    }
    // The run must have exercised what it claims to.
    EXPECT_GT(crashes_, 0);
    EXPECT_GT(cancels_accepted_, 0);
    EXPECT_GT(final_counts["completed"], 0);
    EXPECT_GT(final_counts["failed"], 0);
    EXPECT_GT(final_counts["cancelled"], 0);
    EXPECT_GT(final_counts["expired"], 0);
  }

  // The payout's final status must follow from the rail's profile and the merchant's actions.
  void check_outcome(const Planned& planned, const Payout& payout, bool reached_rail,
                     const std::string& history) {
    const std::string where = planned.public_id + " (" +
                              payout.beneficiary.bank_account.value_or("") + ") is " +
                              std::string(status_name(payout.status)) + "; events:" + history;
    const S status = payout.status;
    if (planned.merchant_cancelled) {
      EXPECT_EQ(status, S::kCancelled) << where;
      return;
    }
    if (status == S::kCancelled) {
      // Only a cancel answered later may end like this, and only on rails that can cancel.
      EXPECT_TRUE(planned.cancel_requested) << where;
      EXPECT_TRUE(planned.choice.profile == SandboxProfile::kCancelLater ||
                  planned.choice.profile == SandboxProfile::kCancelAccepted || !reached_rail)
          << where;
      return;
    }
    if (status == S::kExpired) {
      // Held by the merchant past the deadline, or stuck in action_required.
      EXPECT_TRUE(!reached_rail || planned.choice.profile == SandboxProfile::kActionRequired)
          << where;
      return;
    }
    if (status == S::kOnHold) {
      ADD_FAILURE() << where << ": should have expired after the drain";
      return;
    }
    if (!reached_rail) {
      // Never submitted: screened out, nothing else.
      EXPECT_EQ(status, S::kFailed) << where;
      EXPECT_EQ(payout.failure_code.value_or(0), 811) << where;
      EXPECT_EQ(planned.choice.profile, SandboxProfile::kComplete) << where;
      return;
    }
    switch (planned.choice.profile) {
      case SandboxProfile::kComplete:
      case SandboxProfile::kCancelRefused:
      case SandboxProfile::kCancelLaterRefused:
      case SandboxProfile::kTimeout:
        EXPECT_EQ(status, S::kCompleted) << where;
        break;
      case SandboxProfile::kFail:
        EXPECT_EQ(status, S::kFailed) << where;
        EXPECT_EQ(payout.failure_code.value_or(0), planned.choice.rejection_code) << where;
        break;
      case SandboxProfile::kActionRequired:
        // The deadline passed during the drain - unless it got there only at the very end (a
        // late release, crashes): then it is legitimately waiting for its deadline.
        if (status == S::kActionRequired) {
          EXPECT_GT(payout.updated_at, clock_.now_micros() - kExpiryMicros - 10'000'000) << where;
        } else {
          EXPECT_EQ(status, S::kExpired) << where;
        }
        break;
      case SandboxProfile::kCancelAccepted:
      case SandboxProfile::kCancelLater:
        // Waits on the rail until a cancel: legitimately processing.
        EXPECT_EQ(status, S::kProcessing) << where;
        break;
      case SandboxProfile::kReversed:
        EXPECT_EQ(status, S::kFailed) << where;
        EXPECT_EQ(payout.failure_code.value_or(0), kRejectionWithdrawalReversed) << where;
        break;
    }
  }

  const uint64_t seed_;
  std::mt19937_64 rng_;
  SeededRandom ids_random_;
  SimulationDir dir_;
  ManualClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<crypto::MasterKey> master_key_;
  std::unique_ptr<commands::Commands> commands_;
  std::unique_ptr<SandboxConnector> sandbox_;
  BuiltinScreening screening_;
  std::unique_ptr<Engine> engines_[2];
  int restarts_[2] = {0, 0};
  bool faults_enabled_ = true;
  std::vector<int64_t> merchants_;
  std::vector<Planned> payouts_;
  std::map<int64_t, size_t> index_;
  int64_t next_external_ = 0;
  int crashes_ = 0;
  int64_t submitted_ = 0;
  int cancels_accepted_ = 0;
  int cancels_requested_ = 0;
  int holds_ = 0;
  int releases_ = 0;
};

TEST(EngineSimulation, FixedSeed) {
  Simulation simulation(20261121);
  simulation.run(payout_count());
}

TEST(EngineSimulation, RandomSeed) {
  Simulation simulation(payoutd::testing::random_seed_for_run("EngineSimulation.RandomSeed"));
  simulation.run(payout_count());
}

}  // namespace
}  // namespace payoutd::engine
