// Domain command flows on a real SQLite file: creation holds, cancel refunds once, the transition
// table governs every caller, and the ledger invariants hold after each step.
#include <gtest/gtest.h>

#include "commands_fixture.h"
#include "core/money.h"

namespace payoutd::testing {
namespace {

using commands::PayoutWithEvents;

class CommandsTest : public CommandsFixture {};

TEST_F(CommandsTest, SeedExampleCreateThenCancelRefundsTotalOnce) {
  const int64_t merchant = new_merchant();
  ASSERT_TRUE(commands_->set_fees(merchant, "USD", FeeSchedule{150, 0}).is_ok());
  const Wallet funded = fund(merchant, "USD", 100000);  // 1,000.00
  ASSERT_EQ(funded.available_minor, 100000);

  auto created = commands_->create_payout(payout_input(merchant, "PAY_2024_001", 10000));
  ASSERT_TRUE(created.is_ok()) << created.status().to_string();
  EXPECT_EQ(created->payout.amount_minor, 10000);
  EXPECT_EQ(created->payout.fees_minor, 150);
  EXPECT_EQ(created->payout.total_minor, 10150);  // 100.00 + 1.50 = 101.50
  EXPECT_EQ(created->payout.status, PayoutStatus::kCreated);
  EXPECT_TRUE(created->payout.public_id.starts_with("pyt_"));
  EXPECT_EQ(created->payout.public_id.size(), 20u);
  ASSERT_EQ(created->events.size(), 1u);
  EXPECT_FALSE(created->events[0].from_status.has_value());
  EXPECT_EQ(created->events[0].actor, Actor::kSystem);

  auto wallet = commands_->get_wallet(merchant, funded.id);
  ASSERT_TRUE(wallet.is_ok());
  EXPECT_EQ(wallet->available_minor, 100000 - 10150);
  EXPECT_EQ(wallet->held_minor, 10150);
  expect_ledger_holds();

  auto cancelled = commands_->cancel_payout(
      merchant, PayoutRef::by_public_id(created->payout.public_id), Actor::kClient);
  ASSERT_TRUE(cancelled.is_ok()) << cancelled.status().to_string();
  EXPECT_EQ(cancelled->payout.status, PayoutStatus::kCancelled);
  EXPECT_TRUE(cancelled->payout.cancelled_at.has_value());
  ASSERT_EQ(cancelled->events.size(), 2u);
  EXPECT_EQ(cancelled->events[1].from_status, PayoutStatus::kCreated);
  EXPECT_EQ(cancelled->events[1].to_status, PayoutStatus::kCancelled);
  EXPECT_EQ(cancelled->events[1].actor, Actor::kClient);
  EXPECT_EQ(cancelled->events[1].message, "Payout cancelled by client");

  wallet = commands_->get_wallet(merchant, funded.id);
  ASSERT_TRUE(wallet.is_ok());
  EXPECT_EQ(wallet->available_minor, 100000);  // back to the starting balance
  EXPECT_EQ(wallet->held_minor, 0);

  // The refund is a PAYOUT_REFUND credit whose reference_id is the payout id.
  WalletTransactionQuery query;
  query.merchant_id = merchant;
  query.wallet_id = funded.id;
  query.type = "PAYOUT_REFUND";
  query.reference_id = created->payout.public_id;
  auto refunds = commands_->list_wallet_transactions(query);
  ASSERT_TRUE(refunds.is_ok()) << refunds.status().to_string();
  ASSERT_EQ(refunds->items.size(), 1u);
  EXPECT_EQ(refunds->items[0].amount_minor, 10150);
  EXPECT_EQ(refunds->items[0].transaction_type, "CREDIT");
  EXPECT_EQ(refunds->items[0].balance_after_minor, 100000);

  // A second cancel is refused and refunds nothing.
  auto again = commands_->cancel_payout(
      merchant, PayoutRef::by_cashout_id(created->payout.cashout_id), Actor::kClient);
  ASSERT_FALSE(again.is_ok());
  EXPECT_EQ(again.status().kind(), ErrorKind::kInvalidTransition);
  EXPECT_EQ(again.status().detail_code(), static_cast<int>(PayoutStatus::kCancelled));
  wallet = commands_->get_wallet(merchant, funded.id);
  EXPECT_EQ(wallet->available_minor, 100000);
  expect_ledger_holds();
}

TEST_F(CommandsTest, InsufficientFundsLeavesNoTrace) {
  const int64_t merchant = new_merchant();
  const Wallet funded = fund(merchant, "USD", 5000);
  auto created = commands_->create_payout(payout_input(merchant, "too-much", 5001));
  ASSERT_FALSE(created.is_ok());
  EXPECT_EQ(created.status().kind(), ErrorKind::kInsufficientFunds);
  PayoutQuery query;
  query.merchant_id = merchant;
  auto page = commands_->list_payouts(query);
  ASSERT_TRUE(page.is_ok());
  EXPECT_EQ(page->total_count, 0);
  EXPECT_EQ(commands_->get_wallet(merchant, funded.id)->available_minor, 5000);
  // Exactly the balance is fine: no overdraft, but no off-by-one either.
  ASSERT_TRUE(commands_->create_payout(payout_input(merchant, "exact", 5000)).is_ok());
  EXPECT_EQ(commands_->get_wallet(merchant, funded.id)->available_minor, 0);
  expect_ledger_holds();
}

TEST_F(CommandsTest, DuplicateExternalIdIsRefusedPerMerchantOnly) {
  const int64_t a = new_merchant("A");
  const int64_t b = new_merchant("B");
  fund(a, "USD", 100000);
  fund(b, "USD", 100000);
  ASSERT_TRUE(commands_->create_payout(payout_input(a, "same-id", 100)).is_ok());
  auto duplicate = commands_->create_payout(payout_input(a, "same-id", 100));
  ASSERT_FALSE(duplicate.is_ok());
  EXPECT_EQ(duplicate.status().kind(), ErrorKind::kAlreadyExists);
  EXPECT_TRUE(commands_->create_payout(payout_input(b, "same-id", 100)).is_ok());
  expect_ledger_holds();
}

TEST_F(CommandsTest, TenantIsolationIsNotFound) {
  const int64_t a = new_merchant("A");
  const int64_t b = new_merchant("B");
  fund(a, "USD", 100000);
  auto created = commands_->create_payout(payout_input(a, "mine", 100));
  ASSERT_TRUE(created.is_ok());
  auto seen = commands_->get_payout(b, PayoutRef::by_public_id(created->payout.public_id));
  ASSERT_FALSE(seen.is_ok());
  EXPECT_EQ(seen.status().kind(), ErrorKind::kNotFound);
  auto cancel = commands_->cancel_payout(b, PayoutRef::by_cashout_id(created->payout.cashout_id),
                                         Actor::kClient);
  ASSERT_FALSE(cancel.is_ok());
  EXPECT_EQ(cancel.status().kind(), ErrorKind::kNotFound);
  auto by_external = commands_->get_payout(b, PayoutRef::by_external_id("mine"));
  EXPECT_EQ(by_external.status().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(commands_->get_payout(a, PayoutRef::by_public_id(created->payout.public_id))
                ->payout.status,
            PayoutStatus::kCreated);
}

TEST_F(CommandsTest, OnHoldCreationReleaseAndCancelFromHold) {
  const int64_t merchant = new_merchant();
  fund(merchant, "BRL", 1000000);
  auto input = payout_input(merchant, "held", 12345, "BRL");
  input.on_hold = true;
  auto created = commands_->create_payout(input);
  ASSERT_TRUE(created.is_ok()) << created.status().to_string();
  EXPECT_EQ(created->payout.status, PayoutStatus::kOnHold);
  ASSERT_EQ(created->events.size(), 2u);
  EXPECT_EQ(v3_status(created->payout.status).code, 5);

  const auto ref = PayoutRef::by_cashout_id(created->payout.cashout_id);
  auto released = commands_->release_payout(merchant, ref, Actor::kClient);
  ASSERT_TRUE(released.is_ok()) << released.status().to_string();
  EXPECT_EQ(released->payout.status, PayoutStatus::kQueued);
  // Releasing again is not an on_hold -> queued move any more.
  EXPECT_EQ(commands_->release_payout(merchant, ref, Actor::kClient).status().kind(),
            ErrorKind::kInvalidTransition);
  ASSERT_TRUE(commands_->hold_payout(merchant, ref, Actor::kClient).is_ok());
  auto cancelled = commands_->cancel_payout(merchant, ref, Actor::kClient);
  ASSERT_TRUE(cancelled.is_ok());
  EXPECT_EQ(cancelled->payout.status, PayoutStatus::kCancelled);
  EXPECT_EQ(cancelled->events.back().seq, static_cast<int32_t>(cancelled->events.size()));
  expect_ledger_holds();
}

TEST_F(CommandsTest, OperatorDrivesCompletionAndBankReversalRefundsOnce) {
  const int64_t merchant = new_merchant();
  const Wallet wallet = fund(merchant, "USD", 100000);
  auto created = commands_->create_payout(payout_input(merchant, "to-complete", 2500));
  ASSERT_TRUE(created.is_ok());
  const auto ref = PayoutRef::by_cashout_id(created->payout.cashout_id);

  // The merchant may not make engine or connector moves.
  commands::TransitionInput forbidden;
  forbidden.merchant_id = merchant;
  forbidden.ref = ref;
  forbidden.to = PayoutStatus::kQueued;
  forbidden.actor = Actor::kClient;
  EXPECT_EQ(commands_->transition(forbidden).status().kind(), ErrorKind::kInvalidTransition);

  for (PayoutStatus to : {PayoutStatus::kQueued, PayoutStatus::kProcessing, PayoutStatus::kSettling,
                          PayoutStatus::kCompleted}) {
    auto moved = commands_->operator_set_status(ref, to, std::nullopt, "BANKREF-1", std::nullopt);
    ASSERT_TRUE(moved.is_ok()) << status_name(to) << ": " << moved.status().to_string();
    EXPECT_EQ(moved->payout.status, to);
    expect_ledger_holds();
  }
  auto after_completion = commands_->get_wallet(merchant, wallet.id);
  EXPECT_EQ(after_completion->available_minor, 100000 - 2500);
  EXPECT_EQ(after_completion->held_minor, 0);

  // Completed payouts cannot be cancelled by anyone.
  EXPECT_EQ(commands_->cancel_payout(merchant, ref, Actor::kClient).status().detail_code(),
            static_cast<int>(PayoutStatus::kCompleted));

  auto reversed =
      commands_->operator_set_status(ref, PayoutStatus::kFailed, std::nullopt, std::nullopt,
                                     std::nullopt);
  ASSERT_TRUE(reversed.is_ok()) << reversed.status().to_string();
  EXPECT_EQ(reversed->payout.failure_code, 826);
  EXPECT_EQ(reversed->payout.failure_reason, "WITHDRAWAL_REVERSED");
  EXPECT_EQ(v3_status(reversed->payout.status).code, 3);
  EXPECT_EQ(commands_->get_wallet(merchant, wallet.id)->available_minor, 100000);
  // failed is terminal: no second refund by any route.
  EXPECT_FALSE(commands_->operator_set_status(ref, PayoutStatus::kCancelled, std::nullopt,
                                              std::nullopt, std::nullopt)
                   .is_ok());
  expect_ledger_holds();
}

TEST_F(CommandsTest, FailureCodesAndExpiry) {
  const int64_t merchant = new_merchant();
  fund(merchant, "USD", 100000);
  auto first = commands_->create_payout(payout_input(merchant, "a", 100));
  auto second = commands_->create_payout(payout_input(merchant, "b", 100));
  ASSERT_TRUE(first.is_ok() && second.is_ok());
  const auto first_ref = PayoutRef::by_cashout_id(first->payout.cashout_id);
  EXPECT_EQ(commands_->operator_set_status(first_ref, PayoutStatus::kFailed, 999, std::nullopt,
                                           std::nullopt)
                .status()
                .kind(),
            ErrorKind::kInvalidArgument);
  auto failed =
      commands_->operator_set_status(first_ref, PayoutStatus::kFailed, 800, std::nullopt, std::nullopt);
  ASSERT_TRUE(failed.is_ok());
  EXPECT_EQ(failed->payout.failure_reason, "ERROR_ACCOUNT_INCORRECT");

  const auto second_ref = PayoutRef::by_cashout_id(second->payout.cashout_id);
  ASSERT_TRUE(commands_->hold_payout(merchant, second_ref, Actor::kClient).is_ok());
  auto expired = commands_->operator_set_status(second_ref, PayoutStatus::kExpired, std::nullopt,
                                                std::nullopt, std::nullopt);
  ASSERT_TRUE(expired.is_ok()) << expired.status().to_string();
  EXPECT_EQ(expired->payout.failure_code, 809);
  EXPECT_EQ(v3_status(PayoutStatus::kExpired).code, 3);
  expect_ledger_holds();
}

TEST_F(CommandsTest, DisabledMerchantCannotCreate) {
  const int64_t merchant = new_merchant();
  fund(merchant, "USD", 100000);
  ASSERT_TRUE(commands_->set_merchant_status(merchant, MerchantStatus::kDisabled).is_ok());
  EXPECT_EQ(commands_->create_payout(payout_input(merchant, "x", 100)).status().kind(),
            ErrorKind::kDisabled);
  ASSERT_TRUE(commands_->set_merchant_status(merchant, MerchantStatus::kActive).is_ok());
  EXPECT_TRUE(commands_->create_payout(payout_input(merchant, "x", 100)).is_ok());
}

TEST_F(CommandsTest, WalletAdjustmentsCannotOverdraw) {
  const int64_t merchant = new_merchant();
  const Wallet wallet = fund(merchant, "BRL", 1000);
  commands::WalletMovementInput debit{.merchant_id = merchant, .currency = "BRL",
                                      .amount_minor = -1001, .remarks = "fee correction"};
  EXPECT_EQ(commands_->adjust_wallet(debit).status().kind(), ErrorKind::kInsufficientFunds);
  EXPECT_EQ(commands_->get_wallet(merchant, wallet.id)->available_minor, 1000);
  debit.amount_minor = -1000;
  auto adjusted = commands_->adjust_wallet(debit);
  ASSERT_TRUE(adjusted.is_ok());
  EXPECT_EQ(adjusted->wallet.available_minor, 0);
  EXPECT_EQ(adjusted->transaction.type, "ADJUSTMENT");
  EXPECT_EQ(adjusted->transaction.transaction_type, "DEBIT");
  EXPECT_EQ(adjusted->transaction.amount_minor, 1000);
  debit.remarks.reset();
  EXPECT_EQ(commands_->adjust_wallet(debit).status().kind(), ErrorKind::kInvalidArgument);
  commands::WalletMovementInput unknown{.merchant_id = merchant, .currency = "XYZ",
                                        .amount_minor = 100, .remarks = {}};
  EXPECT_EQ(commands_->fund_wallet(unknown).status().kind(), ErrorKind::kInvalidArgument);
  expect_ledger_holds();
}

TEST_F(CommandsTest, CredentialsAuthenticateAndRotate) {
  commands::CreateMerchantInput input;
  input.name = "Creds";
  auto created = commands_->create_merchant(input);
  ASSERT_TRUE(created.is_ok());
  const auto& credentials = created->credentials;
  EXPECT_EQ(credentials.login.size(), 32u);
  EXPECT_EQ(credentials.pass.size(), 32u);
  EXPECT_EQ(credentials.secret_key.size(), 32u);
  // Nothing secret is stored in plain text.
  EXPECT_EQ(created->merchant.pass_hash.find(credentials.pass), std::string::npos);
  EXPECT_EQ(created->merchant.secret_key_sealed.find(credentials.secret_key), std::string::npos);

  auto principal = commands_->authenticate_v3(credentials.login, credentials.pass);
  ASSERT_TRUE(principal.is_ok()) << principal.status().to_string();
  EXPECT_EQ(principal->secret_key, credentials.secret_key);
  EXPECT_EQ(commands_->authenticate_v3(credentials.login, "wrong").status().kind(),
            ErrorKind::kUnauthenticated);
  EXPECT_EQ(commands_->authenticate_v3("nobody", credentials.pass).status().kind(),
            ErrorKind::kUnauthenticated);
  EXPECT_TRUE(
      commands_->authenticate_v1(credentials.api_username, credentials.api_password).is_ok());
  EXPECT_FALSE(commands_->authenticate_v1(credentials.api_username, credentials.pass).is_ok());

  auto rotated = commands_->rotate_credentials(created->merchant.id);
  ASSERT_TRUE(rotated.is_ok());
  EXPECT_FALSE(commands_->authenticate_v3(credentials.login, credentials.pass).is_ok());
  EXPECT_TRUE(commands_
                  ->authenticate_v3(rotated->credentials.login, rotated->credentials.pass)
                  .is_ok());
}

TEST_F(CommandsTest, TransitionsWriteV3OutboxRowsOnlyWhenTheNumericStatusChanges) {
  commands::CreateMerchantInput input;
  input.name = "Notified";
  input.notification_url = "https://merchant.example/callback";
  auto merchant = commands_->create_merchant(input);
  ASSERT_TRUE(merchant.is_ok());
  const int64_t id = merchant->merchant.id;
  fund(id, "USD", 100000);
  auto created = commands_->create_payout(payout_input(id, "n1", 100));
  ASSERT_TRUE(created.is_ok());
  const auto ref = PayoutRef::by_cashout_id(created->payout.cashout_id);
  // created(0) -> queued(0): same v3 status, no row; queued -> processing (4): a row;
  // processing -> settling (4): none; settling -> completed (1): a row.
  for (PayoutStatus to : {PayoutStatus::kQueued, PayoutStatus::kProcessing, PayoutStatus::kSettling,
                          PayoutStatus::kCompleted}) {
    ASSERT_TRUE(commands_->operator_set_status(ref, to, std::nullopt, std::nullopt, std::nullopt)
                    .is_ok());
  }
  std::string output;
  ASSERT_EQ(run_command("sqlite3 " + dir_.file("payoutd.db") +
                            " \"select event_seq||':'||channel from outbox order by id\"",
                        &output),
            0)
      << output;
  EXPECT_EQ(output, "3:v3\n5:v3\n");
}

}  // namespace
}  // namespace payoutd::testing

namespace payoutd::testing {
namespace {

class ImportedCredentialsTest : public CommandsFixture {};

TEST_F(ImportedCredentialsTest, MerchantKeepsItsPreviousProvidersCredentials) {
  commands::CreateMerchantInput input;
  input.name = "Migrated";
  input.v3_login = "cashout_login";
  input.v3_pass = "cashout_pass";
  input.v3_secret_key = "cashout_secret_key";
  auto created = commands_->create_merchant(input);
  ASSERT_TRUE(created.is_ok()) << created.status().to_string();
  EXPECT_EQ(created->credentials.login, "cashout_login");
  auto principal = commands_->authenticate_v3("cashout_login", "cashout_pass");
  ASSERT_TRUE(principal.is_ok());
  EXPECT_EQ(principal->secret_key, "cashout_secret_key");

  // The same login twice is refused; partial or malformed imports are refused before any write.
  input.name = "Again";
  EXPECT_EQ(commands_->create_merchant(input).status().kind(), ErrorKind::kAlreadyExists);
  input.v3_login = "other_login";
  input.v3_pass.reset();
  EXPECT_EQ(commands_->create_merchant(input).status().kind(), ErrorKind::kInvalidArgument);
  input.v3_pass = std::string(33, 'p');
  EXPECT_EQ(commands_->create_merchant(input).status().kind(), ErrorKind::kInvalidArgument);
  input.v3_pass = "has space";
  EXPECT_EQ(commands_->create_merchant(input).status().kind(), ErrorKind::kInvalidArgument);
  auto merchants = commands_->list_merchants();
  ASSERT_TRUE(merchants.is_ok());
  EXPECT_EQ(merchants->size(), 1u);
}

}  // namespace
}  // namespace payoutd::testing

namespace payoutd::testing {
namespace {

TEST(CommandsObserverTest, CommittedTransitionsAreReportedOnceEach) {
  TempDir dir;
  std::unique_ptr<Store> store = open_test_store(dir);
  ASSERT_NE(store, nullptr);
  auto key = crypto::MasterKey::from_hex(kTestMasterKeyHex);
  ASSERT_TRUE(key.is_ok());
  ManualClock clock;
  SeededRandom random(3);
  std::vector<std::string> seen;
  commands::CommandsOptions options;
  options.on_transition_committed = [&seen](std::optional<PayoutStatus> from, PayoutStatus to) {
    seen.push_back(std::string(from ? status_name(*from) : "null") + ">" +
                   std::string(status_name(to)));
  };
  commands::Commands commands(*store, clock, random, &key.value(),
                              with_notification_formats(options));
  commands::CreateMerchantInput merchant_input;
  merchant_input.name = "Observed";
  auto merchant = commands.create_merchant(merchant_input);
  ASSERT_TRUE(merchant.is_ok());
  ASSERT_TRUE(commands.fund_wallet({merchant->merchant.id, "USD", 10000, std::nullopt}).is_ok());
  commands::CreatePayoutInput input;
  input.merchant_id = merchant->merchant.id;
  input.external_id = "observed-1";
  input.amount_minor = 100;
  input.currency = "USD";
  input.country = "US";
  input.on_hold = true;
  auto created = commands.create_payout(input);
  ASSERT_TRUE(created.is_ok());
  const auto ref = PayoutRef::by_cashout_id(created->payout.cashout_id);
  ASSERT_TRUE(commands.cancel_payout(merchant->merchant.id, ref, Actor::kClient).is_ok());
  // Refused transitions are not reported.
  EXPECT_FALSE(commands.cancel_payout(merchant->merchant.id, ref, Actor::kClient).is_ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"null>created", "created>on_hold", "on_hold>cancelled"}));
  store->close();
}

}  // namespace
}  // namespace payoutd::testing
