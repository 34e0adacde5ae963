// The engine over a real SQLite store with the sandbox connector and a manual clock: every sandbox
// path, leases and takeover after a crash, reconciliation of unknown outcomes, cancels while
// processing, expiry.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "commands/commands_fixture.h"
#include "crypto/hash.h"
#include "engine/connectors/manual.h"
#include "engine/connectors/sandbox.h"
#include "engine/connectors/sandbox_rail.h"
#include "engine/rail_plan.h"

namespace payoutd::engine {
namespace {

using payoutd::testing::CommandsFixture;
using S = PayoutStatus;

constexpr int64_t kSecond = 1'000'000;

TEST(RailPlan, PathsFromEachStatus) {
  using V = std::vector<PayoutStatus>;
  EXPECT_EQ(transitions_for_rail_state(S::kProcessing, RailState::kProcessing), V{});
  EXPECT_EQ(transitions_for_rail_state(S::kProcessing, RailState::kSettling), V{S::kSettling});
  EXPECT_EQ(transitions_for_rail_state(S::kProcessing, RailState::kCompleted), V{S::kCompleted});
  EXPECT_EQ(transitions_for_rail_state(S::kSettling, RailState::kCompleted), V{S::kCompleted});
  EXPECT_EQ(transitions_for_rail_state(S::kProcessing, RailState::kFailed), V{S::kFailed});
  EXPECT_EQ(transitions_for_rail_state(S::kActionRequired, RailState::kFailed), V{S::kFailed});
  EXPECT_EQ(transitions_for_rail_state(S::kProcessing, RailState::kReversed),
            (V{S::kCompleted, S::kFailed}));
  EXPECT_EQ(transitions_for_rail_state(S::kCompleted, RailState::kReversed), V{S::kFailed});
  EXPECT_EQ(transitions_for_rail_state(S::kProcessing, RailState::kCancelled), V{S::kCancelled});
  EXPECT_EQ(transitions_for_rail_state(S::kSettling, RailState::kCancelled), V{});
  // Never on a guess, and never against a payout that already ended.
  for (PayoutStatus status : kAllPayoutStatuses) {
    EXPECT_EQ(transitions_for_rail_state(status, RailState::kUnknown), V{});
    EXPECT_EQ(transitions_for_rail_state(status, RailState::kNotFound), V{});
  }
  EXPECT_EQ(transitions_for_rail_state(S::kCancelled, RailState::kCompleted), V{});
  EXPECT_EQ(transitions_for_rail_state(S::kFailed, RailState::kReversed), V{});
  // Every planned step is an edge of the transition table for the connector (or the merchant's
  // confirmed cancel).
  for (PayoutStatus status : kAllPayoutStatuses) {
    for (int state = 0; state <= static_cast<int>(RailState::kCancelled); ++state) {
      PayoutStatus current = status;
      for (PayoutStatus next :
           transitions_for_rail_state(status, static_cast<RailState>(state))) {
        const Actor actor = next == S::kCancelled ? Actor::kClient : Actor::kProvider;
        TransitionContext context;
        context.connector_confirmed_cancel = true;
        EXPECT_TRUE(check_transition(current, next, actor, context).is_ok())
            << status_name(current) << " -> " << status_name(next);
        current = next;
      }
    }
  }
}

TEST(RailPlan, ReconcileBackoffDoublesUpToTheCap) {
  EXPECT_EQ(reconcile_delay_ms(1, 1000, 300000), 1000);
  EXPECT_EQ(reconcile_delay_ms(2, 1000, 300000), 2000);
  EXPECT_EQ(reconcile_delay_ms(5, 1000, 300000), 16000);
  EXPECT_EQ(reconcile_delay_ms(9, 1000, 300000), 256000);
  EXPECT_EQ(reconcile_delay_ms(10, 1000, 300000), 300000);
  EXPECT_EQ(reconcile_delay_ms(1000, 1000, 300000), 300000);
}

TEST(SandboxChoice, MagicSuffixes) {
  auto choice = [](std::optional<std::string> account) {
    Beneficiary beneficiary;
    beneficiary.bank_account = std::move(account);
    return sandbox_choice(beneficiary);
  };
  EXPECT_EQ(choice(std::nullopt).profile, SandboxProfile::kComplete);
  EXPECT_EQ(choice("12").profile, SandboxProfile::kComplete);
  EXPECT_EQ(choice("123456").profile, SandboxProfile::kComplete);
  EXPECT_EQ(choice("0001-A").profile, SandboxProfile::kComplete);
  EXPECT_EQ(choice("123807").profile, SandboxProfile::kFail);
  EXPECT_EQ(choice("123807").rejection_code, 807);
  EXPECT_EQ(choice("123815").profile, SandboxProfile::kComplete);  // 815 is not a code
  EXPECT_EQ(choice("000900").profile, SandboxProfile::kActionRequired);
  EXPECT_EQ(choice("000901").profile, SandboxProfile::kCancelAccepted);
  EXPECT_EQ(choice("000902").profile, SandboxProfile::kCancelRefused);
  EXPECT_EQ(choice("000903").profile, SandboxProfile::kCancelLater);
  EXPECT_EQ(choice("000904").profile, SandboxProfile::kCancelLaterRefused);
  EXPECT_EQ(choice("000905").profile, SandboxProfile::kReversed);
  EXPECT_EQ(choice("000906").profile, SandboxProfile::kTimeout);
  // Every rejection code of the v3 spec is reachable.
  for (int code = 800; code <= 826; ++code) {
    if (rejection_reason_name(code).empty()) continue;
    EXPECT_EQ(choice("9" + std::to_string(code)).rejection_code, code);
  }
}

class EngineTest : public CommandsFixture {
 protected:
  void SetUp() override {
    CommandsFixture::SetUp();
    timings_.settle_after_ms = 2'000;
    timings_.complete_after_ms = 5'000;
    timings_.fail_after_ms = 3'000;
    timings_.action_required_after_ms = 2'000;
    timings_.cancel_answer_after_ms = 3'000;
    timings_.reversal_after_ms = 10'000;
    timings_.unknown_for_ms = 5'000;
    sandbox_ = std::make_unique<SandboxConnector>(*store_, timings_);
    merchant_ = new_merchant();
    fund(merchant_, "USD", 1'000'000);
    engine_ = make_engine("engine-a");
  }

  void TearDown() override {
    engine_.reset();
    CommandsFixture::TearDown();
  }

  std::unique_ptr<Engine> make_engine(const std::string& id, FaultInjector faults = {},
                                      Connector* connector = nullptr, Screening* screening = nullptr) {
    EngineOptions options;
    options.instance_id = id;
    options.lease_ms = 30'000;
    options.lease_margin_ms = 5'000;
    options.on_hold_expiry_ms = 3600'000;
    options.action_required_expiry_ms = 7200'000;
    return std::make_unique<Engine>(*store_, *commands_, connector ? *connector : *sandbox_,
                                    screening ? *screening : screening_, clock_, options,
                                    std::move(faults));
  }

  Payout create(const std::string& external_id, const std::string& account,
                int64_t amount = 10'000) {
    auto input = payout_input(merchant_, external_id, amount);
    input.beneficiary.bank_account = account;
    auto created = commands_->create_payout(input);
    EXPECT_TRUE(created.is_ok()) << created.status().to_string();
    return created.is_ok() ? created->payout : Payout{};
  }

  commands::PayoutWithEvents get(int64_t cashout_id) {
    auto found = commands_->get_payout(0, PayoutRef::by_cashout_id(cashout_id));
    EXPECT_TRUE(found.is_ok()) << found.status().to_string();
    return found.is_ok() ? *found : commands::PayoutWithEvents{};
  }

  S status_of(int64_t cashout_id) { return get(cashout_id).payout.status; }

  std::vector<S> path_of(int64_t cashout_id) {
    std::vector<S> path;
    for (const PayoutEvent& event : get(cashout_id).events) path.push_back(event.to_status);
    return path;
  }

  // Runs passes, moving the clock by `step` between them, until `cashout_id` reaches `target` or
  // `max_passes` ran.
  void run_until(int64_t cashout_id, S target, int64_t step = kSecond, int max_passes = 200) {
    for (int i = 0; i < max_passes && status_of(cashout_id) != target; ++i) {
      engine_->run_once();
      if (status_of(cashout_id) == target) break;
      clock_.advance_micros(step);
    }
    EXPECT_EQ(status_name(status_of(cashout_id)), status_name(target));
  }

  int32_t submissions(const Payout& payout) {
    int32_t count = 0;
    Status read = store_->read_own_tables([&](sql::Connection& rail) {
      Result<sandbox_rail::RailRecord> record =
          sandbox_rail::record(rail, "sandbox", payout.public_id);
      if (record.is_ok()) count = record->submissions;
      return Status::ok();
    });
    EXPECT_TRUE(read.is_ok());
    return count;
  }

  int64_t available() { return commands_->list_all_wallets(merchant_)->front().available_minor; }

  SandboxTimings timings_;
  std::unique_ptr<SandboxConnector> sandbox_;
  BuiltinScreening screening_;
  std::unique_ptr<Engine> engine_;
  int64_t merchant_ = 0;
};

TEST_F(EngineTest, DefaultPathCompletesThroughSettling) {
  const int64_t start = available();
  Payout payout = create("complete-1", "12345678");
  run_until(payout.cashout_id, S::kCompleted);
  EXPECT_EQ(path_of(payout.cashout_id),
            (std::vector<S>{S::kCreated, S::kQueued, S::kProcessing, S::kSettling, S::kCompleted}));
  commands::PayoutWithEvents done = get(payout.cashout_id);
  EXPECT_TRUE(done.payout.submitted_at.has_value());
  EXPECT_EQ(done.payout.connector.value_or(""), "sandbox");
  EXPECT_EQ(done.payout.connector_reference.value_or(""), "sbx_" + payout.public_id);
  EXPECT_EQ(done.payout.bank_reference_id.value_or(""),
            "SBXBANK" + std::to_string(payout.cashout_id));
  EXPECT_EQ(done.events[3].actor, Actor::kProvider);
  EXPECT_EQ(available(), start - payout.total_minor);  // posted, not refunded
  EXPECT_EQ(submissions(payout), 1);
  expect_ledger_holds();
}

TEST_F(EngineTest, EveryRejectionCodeFailsAndRefunds) {
  const int64_t start = available();
  std::vector<std::pair<Payout, int>> payouts;
  for (int code = 800; code <= 826; ++code) {
    if (rejection_reason_name(code).empty()) continue;
    payouts.emplace_back(create("fail-" + std::to_string(code), "77" + std::to_string(code)),
                         code);
  }
  for (int i = 0; i < 10; ++i) {
    engine_->run_once();
    clock_.advance_micros(kSecond);
  }
  for (const auto& [payout, code] : payouts) {
    commands::PayoutWithEvents done = get(payout.cashout_id);
    EXPECT_EQ(done.payout.status, S::kFailed) << code;
    EXPECT_EQ(done.payout.failure_code.value_or(0), code);
    EXPECT_EQ(done.payout.failure_reason.value_or(""), rejection_reason_name(code));
    EXPECT_EQ(submissions(payout), 1);
  }
  EXPECT_EQ(available(), start);
  expect_ledger_holds();
}

TEST_F(EngineTest, ScreeningRejectionFailsWith811BeforeTheConnector) {
  Payout payout = create("screened", "000911");
  engine_->run_once();
  commands::PayoutWithEvents done = get(payout.cashout_id);
  EXPECT_EQ(done.payout.status, S::kFailed);
  EXPECT_EQ(done.payout.failure_code.value_or(0), 811);
  EXPECT_EQ(path_of(payout.cashout_id), (std::vector<S>{S::kCreated, S::kFailed}));
  EXPECT_EQ(submissions(payout), 0);
  expect_ledger_holds();
}

TEST_F(EngineTest, ActionRequiredThenExpiresAndRefunds) {
  const int64_t start = available();
  Payout payout = create("action", "000900");
  run_until(payout.cashout_id, S::kActionRequired);
  EXPECT_EQ(v3_status(S::kActionRequired).code, 5);
  clock_.advance_micros(7200 * kSecond + 1);
  engine_->run_once();
  commands::PayoutWithEvents done = get(payout.cashout_id);
  EXPECT_EQ(done.payout.status, S::kExpired);
  EXPECT_EQ(done.payout.failure_code.value_or(0), kRejectionWithdrawalExpired);
  EXPECT_EQ(available(), start);
  expect_ledger_holds();
}

TEST_F(EngineTest, OnHoldExpiresAfterItsDeadline) {
  Payout payout = create("held", "123");
  ASSERT_TRUE(commands_->hold_payout(merchant_, PayoutRef::by_cashout_id(payout.cashout_id),
                                     Actor::kClient)
                  .is_ok());
  engine_->run_once();
  EXPECT_EQ(status_of(payout.cashout_id), S::kOnHold);
  clock_.advance_micros(3599 * kSecond);
  engine_->run_once();
  EXPECT_EQ(status_of(payout.cashout_id), S::kOnHold);
  clock_.advance_micros(2 * kSecond);
  engine_->run_once();
  EXPECT_EQ(status_of(payout.cashout_id), S::kExpired);
  expect_ledger_holds();
}

TEST_F(EngineTest, ReversalAfterCompletionRefundsWith826) {
  const int64_t start = available();
  Payout payout = create("reversed", "000905");
  run_until(payout.cashout_id, S::kCompleted);
  EXPECT_EQ(available(), start - payout.total_minor);
  run_until(payout.cashout_id, S::kFailed);
  commands::PayoutWithEvents done = get(payout.cashout_id);
  EXPECT_EQ(done.payout.failure_code.value_or(0), kRejectionWithdrawalReversed);
  EXPECT_EQ(done.events.back().from_status, S::kCompleted);
  EXPECT_EQ(available(), start);
  expect_ledger_holds();
}

TEST_F(EngineTest, TimeoutIsReconciledWithoutGuessing) {
  const int64_t start = available();
  Payout payout = create("timeout", "000906");
  engine_->run_once();  // screened and submitted: the rail times out
  EXPECT_EQ(status_of(payout.cashout_id), S::kProcessing);
  Result<EngineTask> task = Status::internal("unset");
  ASSERT_TRUE(store_->read([&](ReadTx& tx) {
                      task = tx.engine_task(payout.cashout_id);
                      return Status::ok();
                    }).is_ok());
  ASSERT_TRUE(task.is_ok());
  EXPECT_EQ(task->connector_state, ConnectorState::kUnknown);
  EXPECT_EQ(task->attempts, 1);
  // Asked again on the backoff while unknown; never failed, never refunded on a guess.
  for (int i = 0; i < 4; ++i) {
    clock_.advance_micros(kSecond);
    engine_->run_once();
    EXPECT_EQ(status_of(payout.cashout_id), S::kProcessing);
  }
  EXPECT_EQ(available(), start - payout.total_minor);
  run_until(payout.cashout_id, S::kCompleted);
  EXPECT_EQ(submissions(payout), 1);
  expect_ledger_holds();
}

TEST_F(EngineTest, CrashAfterClaimIsTakenOverAfterTheLeaseWithoutResubmitting) {
  // Engine A dies right after its connector call, before recording the answer.
  auto dying = make_engine("engine-dying", [](FaultPoint point, int64_t) {
    return point == FaultPoint::kAfterSubmitCall;
  });
  Payout payout = create("crash", "123456");
  PassStats stats = dying->run_once();
  EXPECT_TRUE(stats.crashed);
  dying.reset();
  EXPECT_EQ(status_of(payout.cashout_id), S::kProcessing);
  EXPECT_EQ(submissions(payout), 1);
  // Engine B sees the lease and leaves the payout alone until it expires...
  engine_->run_once();
  EXPECT_EQ(submissions(payout), 1);
  clock_.advance_micros(10 * kSecond);
  engine_->run_once();
  EXPECT_EQ(status_of(payout.cashout_id), S::kProcessing);
  // ...then asks the rail (which has it) instead of submitting again.
  clock_.advance_micros(25 * kSecond);
  run_until(payout.cashout_id, S::kCompleted);
  EXPECT_EQ(submissions(payout), 1);
  expect_ledger_holds();
}

TEST_F(EngineTest, CrashBeforeTheConnectorCallIsSubmittedOnceByTheTakeover) {
  auto dying = make_engine("engine-dying", [](FaultPoint point, int64_t) {
    return point == FaultPoint::kAfterSubmitClaim;
  });
  Payout payout = create("crash-early", "123456");
  EXPECT_TRUE(dying->run_once().crashed);
  dying.reset();
  EXPECT_EQ(status_of(payout.cashout_id), S::kProcessing);
  EXPECT_EQ(submissions(payout), 0);
  clock_.advance_micros(31 * kSecond);
  run_until(payout.cashout_id, S::kCompleted);
  EXPECT_EQ(submissions(payout), 1);
  expect_ledger_holds();
}

TEST_F(EngineTest, CancelWhileProcessingAcceptedRefundsAtOnce) {
  const int64_t start = available();
  Payout payout = create("cancel-ok", "000901");
  engine_->run_once();
  ASSERT_EQ(status_of(payout.cashout_id), S::kProcessing);
  auto result = engine_->cancel_processing(merchant_, PayoutRef::by_public_id(payout.public_id));
  ASSERT_TRUE(result.is_ok()) << result.status().to_string();
  EXPECT_EQ(result->outcome, ProcessingCancel::kCancelled);
  EXPECT_EQ(result->payout.payout.status, S::kCancelled);
  EXPECT_EQ(result->payout.events.back().actor, Actor::kClient);
  EXPECT_EQ(available(), start);
  // A second cancel is refused like any cancel of a cancelled payout.
  auto again = engine_->cancel_processing(merchant_, PayoutRef::by_public_id(payout.public_id));
  EXPECT_EQ(again.status().kind(), ErrorKind::kInvalidTransition);
  expect_ledger_holds();
}

TEST_F(EngineTest, CancelWhileProcessingRefusedChangesNothing) {
  Payout payout = create("cancel-refused", "000902");
  engine_->run_once();
  ASSERT_EQ(status_of(payout.cashout_id), S::kProcessing);
  const size_t events = get(payout.cashout_id).events.size();
  auto result = engine_->cancel_processing(merchant_, PayoutRef::by_public_id(payout.public_id));
  ASSERT_TRUE(result.is_ok());
  EXPECT_EQ(result->outcome, ProcessingCancel::kRefused);
  EXPECT_EQ(get(payout.cashout_id).events.size(), events);
  EXPECT_FALSE(get(payout.cashout_id).payout.cancel_requested_at.has_value());
  run_until(payout.cashout_id, S::kCompleted);
  expect_ledger_holds();
}

TEST_F(EngineTest, CancelAnsweredLaterIsAppliedWhenTheAnswerArrives) {
  const int64_t start = available();
  Payout later = create("cancel-later", "000903");
  Payout refused = create("cancel-later-refused", "000904");
  engine_->run_once();
  for (const Payout& payout : {later, refused}) {
    auto result =
        engine_->cancel_processing(merchant_, PayoutRef::by_public_id(payout.public_id));
    ASSERT_TRUE(result.is_ok());
    EXPECT_EQ(result->outcome, ProcessingCancel::kRequested);
    EXPECT_EQ(result->payout.payout.status, S::kProcessing);
    EXPECT_TRUE(result->payout.payout.cancel_requested_at.has_value());
  }
  clock_.advance_micros(kSecond);
  engine_->run_once();
  EXPECT_EQ(status_of(later.cashout_id), S::kProcessing);
  run_until(later.cashout_id, S::kCancelled);
  run_until(refused.cashout_id, S::kCompleted);
  EXPECT_EQ(get(later.cashout_id).events.back().actor, Actor::kClient);
  EXPECT_EQ(available(), start - refused.total_minor);
  expect_ledger_holds();
}

// The instance that asked the rail dies before recording the answer: the request was made durable
// (pending, leased) before the rail was asked, so once the lease runs out another engine asks
// again, learns the payout is cancelled and refunds it, once. Until then no other instance asks
// the rail, and a follow-up does not find the rail's "cancelled" unexplained.
TEST_F(EngineTest, ProcessingCancelSurvivesTheAskingInstanceDying) {
  const int64_t start = available();
  Payout payout = create("cancel-dies", "000901");
  engine_->run_once();
  ASSERT_EQ(status_of(payout.cashout_id), S::kProcessing);
  auto dying = make_engine("engine-dying", [](FaultPoint point, int64_t) {
    return point == FaultPoint::kAfterCancelCall;
  });
  auto result = dying->cancel_processing(merchant_, PayoutRef::by_public_id(payout.public_id));
  EXPECT_EQ(result.status().kind(), ErrorKind::kUnavailable);
  dying.reset();
  // The rail has cancelled it; the database says a cancel is pending, leased by the dead instance
  // (nothing the dialects show has changed yet).
  Payout pending = get(payout.cashout_id).payout;
  EXPECT_EQ(pending.status, S::kProcessing);
  EXPECT_FALSE(pending.cancel_requested_at.has_value());
  EngineTask task;
  ASSERT_TRUE(store_
                  ->read([&](ReadTx& tx) -> Status {
                    Result<EngineTask> found = tx.engine_task(payout.cashout_id);
                    if (!found.is_ok()) return std::move(found).status();
                    task = std::move(found).value();
                    return Status::ok();
                  })
                  .is_ok());
  EXPECT_EQ(task.cancel_state, CancelRequestState::kPending);
  EXPECT_EQ(task.claimed_by.value_or(""), "engine-dying");
  // While the dead instance's lease lasts, the other engine leaves the payout alone.
  clock_.advance_micros(kSecond);
  engine_->run_once();
  EXPECT_EQ(status_of(payout.cashout_id), S::kProcessing);
  clock_.advance_micros(31 * kSecond);
  run_until(payout.cashout_id, S::kCancelled);
  const commands::PayoutWithEvents after = get(payout.cashout_id);
  EXPECT_EQ(after.events.back().actor, Actor::kClient);
  int refunds = 0;
  for (const PayoutEvent& event : after.events) {
    if (event.to_status == S::kCancelled) ++refunds;
  }
  EXPECT_EQ(refunds, 1);
  EXPECT_EQ(submissions(payout), 1);
  EXPECT_EQ(available(), start);
  expect_ledger_holds();
}

TEST_F(EngineTest, CancelOfAPayoutNotYetAtTheRailIsResolvedByTheEngine) {
  const int64_t start = available();
  auto dying = make_engine("engine-dying", [](FaultPoint point, int64_t) {
    return point == FaultPoint::kAfterSubmitClaim;
  });
  Payout payout = create("cancel-before-rail", "123456");
  EXPECT_TRUE(dying->run_once().crashed);
  dying.reset();
  auto result = engine_->cancel_processing(merchant_, PayoutRef::by_public_id(payout.public_id));
  ASSERT_TRUE(result.is_ok());
  EXPECT_EQ(result->outcome, ProcessingCancel::kRequested);
  clock_.advance_micros(31 * kSecond);
  run_until(payout.cashout_id, S::kCancelled);
  EXPECT_EQ(submissions(payout), 0);  // never reached the rail
  EXPECT_EQ(available(), start);
  expect_ledger_holds();
}

TEST_F(EngineTest, ManualConnectorLeavesPayoutsQueued) {
  ManualConnector manual;
  auto engine = make_engine("engine-manual", {}, &manual);
  Payout payout = create("manual", "123456");
  for (int i = 0; i < 5; ++i) {
    engine->run_once();
    clock_.advance_micros(10 * kSecond);
  }
  EXPECT_EQ(status_of(payout.cashout_id), S::kQueued);
  EXPECT_EQ(submissions(payout), 0);
  // The operator moves it on.
  ASSERT_TRUE(commands_
                  ->operator_set_status(PayoutRef::by_cashout_id(payout.cashout_id),
                                        S::kProcessing, std::nullopt, std::nullopt, std::nullopt)
                  .is_ok());
  // No connector has it: a merchant's cancel has nobody to ask and is refused, nothing written.
  auto refused = engine->cancel_processing(merchant_, PayoutRef::by_public_id(payout.public_id));
  ASSERT_TRUE(refused.is_ok()) << refused.status().to_string();
  EXPECT_EQ(refused->outcome, ProcessingCancel::kRefused);
  EXPECT_FALSE(refused->payout.payout.cancel_requested_at.has_value());
  ASSERT_TRUE(commands_
                  ->operator_set_status(PayoutRef::by_cashout_id(payout.cashout_id), S::kCompleted,
                                        std::nullopt, std::string("BANKREF1"), std::nullopt)
                  .is_ok());
  engine->run_once();
  EXPECT_EQ(status_of(payout.cashout_id), S::kCompleted);
  expect_ledger_holds();
}

TEST_F(EngineTest, CallbacksAreAuthenticatedHintsThatMakeThePayoutDue) {
  const std::string secret = "callback-secret";
  SandboxConnector signed_sandbox(*store_, timings_, secret);
  auto engine = make_engine("engine-callbacks", {}, &signed_sandbox);
  Payout payout = create("callback", "000905");  // completes, then reversed much later
  for (int i = 0; i < 10 && status_of(payout.cashout_id) != S::kCompleted; ++i) {
    engine->run_once();
    clock_.advance_micros(kSecond);
  }
  ASSERT_EQ(status_of(payout.cashout_id), S::kCompleted);
  auto next_at = [&] {
    std::optional<int64_t> value;
    EXPECT_TRUE(store_->read([&](ReadTx& tx) {
                        value = tx.engine_task(payout.cashout_id)->next_at;
                        return Status::ok();
                      }).is_ok());
    return value;
  };
  ASSERT_TRUE(next_at().has_value());
  EXPECT_GT(*next_at(), clock_.now_micros() + kSecond);  // waiting for the reversal time

  const std::string body = "{\"payout_id\":\"" + payout.public_id + "\"}";
  const std::string signature = crypto::hex_lower(crypto::hmac_sha256(secret, body));
  EXPECT_EQ(engine->handle_callback(body, "00" + signature.substr(2)).kind(),
            ErrorKind::kUnauthenticated);
  EXPECT_EQ(engine_->handle_callback(body, signature).kind(), ErrorKind::kUnauthenticated)
      << "a connector without a secret takes no callbacks";
  EXPECT_EQ(engine->handle_callback("[1]", crypto::hex_lower(crypto::hmac_sha256(secret, "[1]"))).kind(),
            ErrorKind::kInvalidArgument);
  const std::string unknown = "{\"payout_id\":\"pyt_unknown\"}";
  EXPECT_EQ(engine->handle_callback(unknown, crypto::hex_lower(crypto::hmac_sha256(secret, unknown)))
                .kind(),
            ErrorKind::kNotFound);
  ASSERT_TRUE(engine->handle_callback(body, signature).is_ok());
  EXPECT_EQ(next_at(), clock_.now_micros());
  // The engine then asks the rail: still completed, so nothing changes but the next look.
  engine->run_once();
  EXPECT_EQ(status_of(payout.cashout_id), S::kCompleted);
  EXPECT_GT(*next_at(), clock_.now_micros() + kSecond);
  // A payout no connector has yet cannot be poked.
  Payout fresh = create("callback-fresh", "123456");
  const std::string fresh_body = "{\"payout_id\":\"" + fresh.public_id + "\"}";
  EXPECT_EQ(engine->handle_callback(fresh_body, crypto::hex_lower(crypto::hmac_sha256(secret, fresh_body)))
                .kind(),
            ErrorKind::kNotFound);
  expect_ledger_holds();
}

// A one-shot gate between threads; waits are bounded so that a broken interleaving fails the test
// instead of hanging it.
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    opened_.notify_all();
  }
  bool wait() {
    std::unique_lock lock(mutex_);
    return opened_.wait_for(lock, std::chrono::seconds(30), [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = false;
};

// The built-in rules, with a hook that runs inside the engine's screening transaction.
class HookedScreening final : public Screening {
 public:
  ScreeningDecision screen(const Payout& payout) override {
    if (hook) hook();
    return builtin.screen(payout);
  }
  std::function<void()> hook;
  BuiltinScreening builtin;
};

// A merchant cancelling payouts while one engine pass screens and submits them. Each round is
// pinned at two points, so both outcomes are bound to occur and the run shows the race had both
// sides: the merchant's first cancel is queued while the pass is inside its screening transaction
// (before the engine can claim anything: the merchant wins), the last ones are sent while the pass
// holds its claims and has not called the connector yet (the engine wins: no refund, one
// submission). The cancels in between race the claim freely. The order of the cancels and where
// the free race ends are drawn from a seed (printed; replay with PAYOUTD_TEST_SEED).
TEST_F(EngineTest, MerchantCancelRacingTheEngineHasOneWinner) {
  constexpr int kRounds = 3;
  constexpr int kPayouts = 24;
  const uint64_t seed = payoutd::testing::random_seed_for_run("EngineTest.MerchantCancelRace");
  std::mt19937_64 random(seed);
  fund(merchant_, "USD", kRounds * kPayouts * 20'000);

  struct Round {
    Gate go;        // screening began: the merchant may start
    Gate enqueued;  // the merchant's first cancel is queued
    Gate claimed;   // the engine committed its claims (processing + lease), connector not called
    Gate done;      // the merchant sent every cancel
    std::atomic<bool> screen_hook{true};
    std::atomic<bool> claim_hook{true};
  };
  std::unique_ptr<Round> round;  // replaced between passes, when no thread uses it
  HookedScreening screening;
  screening.hook = [&round] {
    if (!round || !round->screen_hook.exchange(false)) return;
    round->go.open();
    EXPECT_TRUE(round->enqueued.wait()) << "the merchant's first cancel was never queued";
  };
  FaultInjector faults = [&round](FaultPoint point, int64_t) {
    if (point != FaultPoint::kAfterSubmitClaim || !round || !round->claim_hook.exchange(false)) {
      return false;
    }
    round->claimed.open();
    EXPECT_TRUE(round->done.wait()) << "the merchant never finished cancelling";
    return false;  // carry on: submit what was claimed
  };
  engine_ = make_engine("engine-race", faults, nullptr, &screening);

  const int64_t start = available();
  int64_t expected = start;
  int merchant_wins = 0;
  int engine_wins = 0;
  int free_merchant_wins = 0;
  int free_engine_wins = 0;
  for (int r = 0; r < kRounds; ++r) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " round " + std::to_string(r));
    std::vector<Payout> payouts;
    for (int i = 0; i < kPayouts; ++i) {
      payouts.push_back(create("race-" + std::to_string(r) + "-" + std::to_string(i), "123456"));
    }
    std::vector<size_t> order(kPayouts);
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), random);
    // order[0] is cancelled inside screening, order[1..free_end) race the claim, the rest follow it.
    const size_t free_end = 1 + static_cast<size_t>(random() % (kPayouts - 2));

    round = std::make_unique<Round>();
    std::vector<Result<commands::PayoutWithEvents>> cancels(kPayouts, Status::internal("not sent"));
    auto first = std::make_shared<std::promise<Result<commands::PayoutWithEvents>>>();
    std::future<Result<commands::PayoutWithEvents>> first_answer = first->get_future();
    std::thread merchant([&] {
      auto cancel = [&](size_t index) {
        return commands_->cancel_payout(merchant_, PayoutRef::by_cashout_id(payouts[index].cashout_id),
                                        Actor::kClient);
      };
      EXPECT_TRUE(round->go.wait()) << "the engine never screened";
      commands_->cancel_payout_async(
          merchant_, PayoutRef::by_cashout_id(payouts[order[0]].cashout_id), Actor::kClient,
          [first](Result<commands::PayoutWithEvents> result) { first->set_value(std::move(result)); });
      round->enqueued.open();
      for (size_t k = 1; k < free_end; ++k) cancels[order[k]] = cancel(order[k]);
      EXPECT_TRUE(round->claimed.wait()) << "the engine never claimed";
      for (size_t k = free_end; k < order.size(); ++k) cancels[order[k]] = cancel(order[k]);
      round->done.open();
    });
    engine_->run_once();
    merchant.join();
    cancels[order[0]] = first_answer.get();
    for (int i = 0; i < 20; ++i) {
      engine_->run_once();
      clock_.advance_micros(kSecond);
    }

    for (size_t k = 0; k < order.size(); ++k) {
      const size_t index = order[k];
      const Payout& payout = payouts[index];
      const S status = status_of(payout.cashout_id);
      const Result<commands::PayoutWithEvents>& cancel = cancels[index];
      SCOPED_TRACE("cancel #" + std::to_string(k) + " (free race: 1.." + std::to_string(free_end - 1) +
                   "), payout " + std::to_string(payout.cashout_id));
      EXPECT_TRUE(status == S::kCancelled || status == S::kCompleted) << status_name(status);
      const bool merchant_won = status == S::kCancelled;
      // One winner: the merchant's cancel succeeded exactly when the payout ended cancelled, and
      // a cancelled payout never reached the rail.
      EXPECT_EQ(cancel.is_ok(), merchant_won) << (cancel.is_ok() ? "ok" : cancel.status().to_string());
      if (!cancel.is_ok()) {
        EXPECT_EQ(cancel.status().kind(), ErrorKind::kInvalidTransition);
      }
      EXPECT_EQ(submissions(payout), merchant_won ? 0 : 1);
      if (k == 0) {
        EXPECT_TRUE(merchant_won) << "queued during screening, before any claim";
      }
      if (k >= free_end) {
        EXPECT_FALSE(merchant_won) << "sent after the engine's claim";
      }
      if (k > 0 && k < free_end) ++(merchant_won ? free_merchant_wins : free_engine_wins);
      ++(merchant_won ? merchant_wins : engine_wins);
      if (!merchant_won) expected -= payout.total_minor;
    }
    round.reset();
  }
  std::cout << "[race] merchant won " << merchant_wins << " (" << free_merchant_wins
            << " in the free race), engine won " << engine_wins << " (" << free_engine_wins
            << " in the free race)" << std::endl;
  // Both sides of the race happened: a run where one side always wins proves nothing.
  EXPECT_GT(merchant_wins, 0);
  EXPECT_GT(engine_wins, 0);
  EXPECT_EQ(merchant_wins + engine_wins, kRounds * kPayouts);
  EXPECT_EQ(available(), expected);
  expect_ledger_holds();
  engine_.reset();  // before `screening` and `round` go
}

}  // namespace
}  // namespace payoutd::engine
