// The merchant's cancel as one domain command (both v1 paths call it): a payout that has not gone
// out is cancelled by the command itself; only a processing one is handed to the processing
// canceller port, and what that port answers is the command's answer.
#include <gtest/gtest.h>

#include <future>

#include "commands_fixture.h"

namespace payoutd::testing {
namespace {

using commands::ProcessingCancel;
using commands::ProcessingCancelResult;

// Records what it is asked and answers with a scripted outcome (the payout as read back).
class ScriptedCanceller final : public commands::ProcessingCanceller {
 public:
  ScriptedCanceller(commands::Commands& commands, ProcessingCancel outcome)
      : commands_(commands), outcome_(outcome) {}
  void cancel_processing_async(
      int64_t merchant_id, PayoutRef ref,
      std::function<void(Result<ProcessingCancelResult>)> done) override {
    ++asked_;
    asked_merchant_ = merchant_id;
    Result<commands::PayoutWithEvents> payout = commands_.get_payout(merchant_id, ref);
    if (!payout.is_ok()) {
      done(std::move(payout).status());
      return;
    }
    done(ProcessingCancelResult{outcome_, std::move(payout).value()});
  }
  int asked() const { return asked_; }
  int64_t asked_merchant() const { return asked_merchant_; }

 private:
  commands::Commands& commands_;
  ProcessingCancel outcome_;
  int asked_ = 0;
  int64_t asked_merchant_ = 0;
};

class MerchantCancelTest : public CommandsFixture {
 protected:
  Result<ProcessingCancelResult> merchant_cancel(int64_t merchant, const std::string& public_id) {
    std::promise<Result<ProcessingCancelResult>> promise;
    commands_->merchant_cancel_async(
        merchant, PayoutRef::by_public_id(public_id),
        [&promise](Result<ProcessingCancelResult> result) { promise.set_value(std::move(result)); });
    return promise.get_future().get();
  }

  // A payout the operator moved to `to` along the table.
  std::string payout_in(int64_t merchant, const std::string& external_id,
                        std::initializer_list<PayoutStatus> path) {
    auto created = commands_->create_payout(payout_input(merchant, external_id, 1000));
    EXPECT_TRUE(created.is_ok()) << created.status().to_string();
    for (PayoutStatus to : path) {
      auto moved = commands_->operator_set_status(
          PayoutRef::by_cashout_id(created->payout.cashout_id), to, std::nullopt, std::nullopt,
          std::nullopt);
      EXPECT_TRUE(moved.is_ok()) << moved.status().to_string();
    }
    return created->payout.public_id;
  }
};

TEST_F(MerchantCancelTest, APayoutNotYetOutIsCancelledWithoutAskingTheRail) {
  const int64_t merchant = new_merchant();
  fund(merchant, "USD", 100000);
  ScriptedCanceller canceller(*commands_, ProcessingCancel::kRefused);
  commands_->set_processing_canceller(&canceller);
  const std::string id = payout_in(merchant, "queued-one", {PayoutStatus::kQueued});

  Result<ProcessingCancelResult> result = merchant_cancel(merchant, id);
  ASSERT_TRUE(result.is_ok()) << result.status().to_string();
  EXPECT_EQ(result->outcome, ProcessingCancel::kCancelled);
  EXPECT_EQ(result->payout.payout.status, PayoutStatus::kCancelled);
  EXPECT_EQ(result->payout.events.back().actor, Actor::kClient);
  EXPECT_EQ(canceller.asked(), 0);
  expect_ledger_holds();
  commands_->set_processing_canceller(nullptr);
}

TEST_F(MerchantCancelTest, AProcessingPayoutIsAskedOfTheCancellerAndItsAnswerIsTheAnswer) {
  const int64_t merchant = new_merchant();
  fund(merchant, "USD", 100000);
  const std::string id =
      payout_in(merchant, "at-the-rail", {PayoutStatus::kQueued, PayoutStatus::kProcessing});
  for (ProcessingCancel outcome : {ProcessingCancel::kRequested, ProcessingCancel::kRefused}) {
    ScriptedCanceller canceller(*commands_, outcome);
    commands_->set_processing_canceller(&canceller);
    Result<ProcessingCancelResult> result = merchant_cancel(merchant, id);
    commands_->set_processing_canceller(nullptr);
    ASSERT_TRUE(result.is_ok()) << result.status().to_string();
    EXPECT_EQ(result->outcome, outcome);
    EXPECT_EQ(result->payout.payout.public_id, id);
    EXPECT_EQ(canceller.asked(), 1);
    EXPECT_EQ(canceller.asked_merchant(), merchant);
  }
  // The command's own refused write left nothing: still processing, nothing refunded.
  auto payout = commands_->get_payout(merchant, PayoutRef::by_public_id(id));
  ASSERT_TRUE(payout.is_ok());
  EXPECT_EQ(payout->payout.status, PayoutStatus::kProcessing);
  expect_ledger_holds();
}

TEST_F(MerchantCancelTest, WithoutACancellerAProcessingPayoutIsRefusedAsProcessing) {
  const int64_t merchant = new_merchant();
  fund(merchant, "USD", 100000);
  const std::string id =
      payout_in(merchant, "no-engine", {PayoutStatus::kQueued, PayoutStatus::kProcessing});
  Result<ProcessingCancelResult> result = merchant_cancel(merchant, id);
  ASSERT_FALSE(result.is_ok());
  EXPECT_EQ(result.status().kind(), ErrorKind::kInvalidTransition);
  EXPECT_EQ(result.status().detail_code(), static_cast<int>(PayoutStatus::kProcessing));
}

TEST_F(MerchantCancelTest, OtherRefusalsNeverReachTheCanceller) {
  const int64_t merchant = new_merchant();
  fund(merchant, "USD", 100000);
  ScriptedCanceller canceller(*commands_, ProcessingCancel::kCancelled);
  commands_->set_processing_canceller(&canceller);
  const std::string done_id =
      payout_in(merchant, "completed", {PayoutStatus::kQueued, PayoutStatus::kProcessing,
                                        PayoutStatus::kSettling, PayoutStatus::kCompleted});
  Result<ProcessingCancelResult> completed = merchant_cancel(merchant, done_id);
  ASSERT_FALSE(completed.is_ok());
  EXPECT_EQ(completed.status().kind(), ErrorKind::kInvalidTransition);
  EXPECT_EQ(completed.status().detail_code(), static_cast<int>(PayoutStatus::kCompleted));

  Result<ProcessingCancelResult> unknown = merchant_cancel(merchant, "pyt_0000000000000000");
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_EQ(unknown.status().kind(), ErrorKind::kNotFound);

  // Another merchant's processing payout is not found, and the rail is not asked about it.
  const int64_t other = new_merchant();
  fund(other, "USD", 100000);
  const std::string theirs =
      payout_in(other, "theirs", {PayoutStatus::kQueued, PayoutStatus::kProcessing});
  Result<ProcessingCancelResult> foreign = merchant_cancel(merchant, theirs);
  ASSERT_FALSE(foreign.is_ok());
  EXPECT_EQ(foreign.status().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(canceller.asked(), 0);
  commands_->set_processing_canceller(nullptr);
}

}  // namespace
}  // namespace payoutd::testing
