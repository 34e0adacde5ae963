// The payouts-v1 commands: bearer tokens (issue, rotate with reuse detection, revoke, expiry by
// the injected clock) and the idempotent create (key replay, reference replay, conflicts, one
// transaction).
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <vector>

#include "commands_fixture.h"
#include "crypto/hash.h"

namespace payoutd::testing {
namespace {

using commands::ApiTokenLifetimes;
using commands::IdempotencyKeyInput;
using commands::IdempotentCreateKind;
using commands::IdempotentCreateOutput;
using commands::IssuedApiTokens;
using commands::PayoutWithEvents;
using commands::RenderedResponse;

class V1CommandsTest : public CommandsFixture {
 protected:
  static commands::RenderCreateResponse render() {
    return [](const PayoutWithEvents& payout, bool created) {
      return RenderedResponse{created ? 201 : 200,
                              payout.payout.public_id + "/" + payout.payout.external_id};
    };
  }
};

TEST_F(V1CommandsTest, IssuedTokensAuthenticateUntilTheyExpire) {
  const int64_t merchant = new_merchant();
  ApiTokenLifetimes lifetimes;
  lifetimes.access_micros = 60'000'000;
  lifetimes.refresh_micros = 600'000'000;
  Result<IssuedApiTokens> issued = commands_->issue_api_tokens(merchant, lifetimes);
  ASSERT_TRUE(issued.is_ok()) << issued.status().to_string();
  EXPECT_EQ(issued->access_token.size(), 48u);
  EXPECT_EQ(issued->refresh_token.size(), 48u);
  EXPECT_NE(issued->access_token, issued->refresh_token);
  EXPECT_EQ(issued->access_expires_at, clock_.now_micros() + 60'000'000);
  EXPECT_EQ(issued->refresh_expires_at, clock_.now_micros() + 600'000'000);

  Result<Merchant> who = commands_->authenticate_api_token(issued->access_token);
  ASSERT_TRUE(who.is_ok()) << who.status().to_string();
  EXPECT_EQ(who->id, merchant);

  // A refresh token is not an access token; garbage never reaches the database.
  EXPECT_EQ(commands_->authenticate_api_token(issued->refresh_token).status().kind(),
            ErrorKind::kUnauthenticated);
  for (std::string_view bad : {std::string_view(""), std::string_view("has space"),
                               std::string_view("x\0y", 3)}) {
    EXPECT_EQ(commands_->authenticate_api_token(bad).status().kind(), ErrorKind::kUnauthenticated);
  }
  EXPECT_EQ(commands_->authenticate_api_token(std::string(300, 'a')).status().kind(),
            ErrorKind::kUnauthenticated);

  clock_.advance_micros(60'000'000 - 1);
  EXPECT_TRUE(commands_->authenticate_api_token(issued->access_token).is_ok());
  clock_.advance_micros(1);  // expires_at is exclusive
  EXPECT_EQ(commands_->authenticate_api_token(issued->access_token).status().kind(),
            ErrorKind::kUnauthenticated);
}

TEST_F(V1CommandsTest, RefreshRotatesAndReuseRevokesTheFamily) {
  const int64_t merchant = new_merchant();
  Result<IssuedApiTokens> first = commands_->issue_api_tokens(merchant, {});
  ASSERT_TRUE(first.is_ok());
  Result<IssuedApiTokens> other_login = commands_->issue_api_tokens(merchant, {});
  ASSERT_TRUE(other_login.is_ok());

  auto second = commands_->refresh_api_tokens(first->refresh_token, {});
  ASSERT_TRUE(second.is_ok()) << second.status().to_string();
  ASSERT_TRUE(second->tokens.has_value());
  EXPECT_FALSE(second->family_revoked);
  EXPECT_TRUE(commands_->authenticate_api_token(second->tokens->access_token).is_ok());
  // The old access token stays valid until it expires (it was not stolen by refreshing).
  EXPECT_TRUE(commands_->authenticate_api_token(first->access_token).is_ok());

  // Presenting the rotated-out refresh token again: the whole family is revoked.
  auto reused = commands_->refresh_api_tokens(first->refresh_token, {});
  ASSERT_TRUE(reused.is_ok()) << reused.status().to_string();
  EXPECT_TRUE(reused->family_revoked);
  EXPECT_FALSE(reused->tokens.has_value());
  EXPECT_FALSE(commands_->authenticate_api_token(first->access_token).is_ok());
  EXPECT_FALSE(commands_->authenticate_api_token(second->tokens->access_token).is_ok());
  auto after = commands_->refresh_api_tokens(second->tokens->refresh_token, {});
  ASSERT_TRUE(after.is_ok());
  EXPECT_TRUE(after->family_revoked);  // the successor is dead too

  // Another login's family is untouched.
  EXPECT_TRUE(commands_->authenticate_api_token(other_login->access_token).is_ok());
  auto unrelated = commands_->refresh_api_tokens(other_login->refresh_token, {});
  ASSERT_TRUE(unrelated.is_ok());
  EXPECT_TRUE(unrelated->tokens.has_value());

  // Unknown and access tokens are refused without writing anything.
  EXPECT_EQ(commands_->refresh_api_tokens("unknownToken123", {}).status().kind(),
            ErrorKind::kUnauthenticated);
  EXPECT_EQ(commands_->refresh_api_tokens(other_login->access_token, {}).status().kind(),
            ErrorKind::kUnauthenticated);
  EXPECT_EQ(commands_->refresh_api_tokens("", {}).status().kind(), ErrorKind::kUnauthenticated);
}

TEST_F(V1CommandsTest, ExpiredRefreshTokenIsRefused) {
  const int64_t merchant = new_merchant();
  ApiTokenLifetimes lifetimes;
  lifetimes.access_micros = 1'000'000;
  lifetimes.refresh_micros = 2'000'000;
  Result<IssuedApiTokens> issued = commands_->issue_api_tokens(merchant, lifetimes);
  ASSERT_TRUE(issued.is_ok());
  clock_.advance_micros(2'000'000);
  auto refreshed = commands_->refresh_api_tokens(issued->refresh_token, lifetimes);
  EXPECT_EQ(refreshed.status().kind(), ErrorKind::kUnauthenticated);
}

TEST_F(V1CommandsTest, RevokeEndsEverySessionOfTheMerchantOnly) {
  const int64_t a = new_merchant("A");
  const int64_t b = new_merchant("B");
  auto a1 = commands_->issue_api_tokens(a, {});
  auto a2 = commands_->issue_api_tokens(a, {});
  auto b1 = commands_->issue_api_tokens(b, {});
  ASSERT_TRUE(a1.is_ok() && a2.is_ok() && b1.is_ok());
  Result<int64_t> revoked = commands_->revoke_api_tokens(a);
  ASSERT_TRUE(revoked.is_ok());
  EXPECT_EQ(*revoked, 4);
  EXPECT_FALSE(commands_->authenticate_api_token(a1->access_token).is_ok());
  EXPECT_FALSE(commands_->authenticate_api_token(a2->access_token).is_ok());
  EXPECT_TRUE(commands_->authenticate_api_token(b1->access_token).is_ok());
  auto refreshed = commands_->refresh_api_tokens(a1->refresh_token, {});
  ASSERT_TRUE(refreshed.is_ok());
  EXPECT_FALSE(refreshed->tokens.has_value());
}

TEST_F(V1CommandsTest, DisabledMerchantGetsNoTokens) {
  const int64_t merchant = new_merchant();
  auto issued = commands_->issue_api_tokens(merchant, {});
  ASSERT_TRUE(issued.is_ok());
  ASSERT_TRUE(commands_->set_merchant_status(merchant, MerchantStatus::kDisabled).is_ok());
  EXPECT_EQ(commands_->issue_api_tokens(merchant, {}).status().kind(), ErrorKind::kDisabled);
  EXPECT_EQ(commands_->refresh_api_tokens(issued->refresh_token, {}).status().kind(),
            ErrorKind::kDisabled);
  EXPECT_EQ(commands_->issue_api_tokens(merchant + 99, {}).status().kind(), ErrorKind::kNotFound);
}

TEST_F(V1CommandsTest, IdempotentCreateReplaysByKeyAndByReference) {
  const int64_t merchant = new_merchant();
  fund(merchant, "USD", 100000);
  commands::CreatePayoutInput input = payout_input(merchant, "REF-1", 1000);
  input.request_fingerprint = "fp-1";
  IdempotencyKeyInput key{"key-00000001", "fp-1", 1'000'000};

  auto created = commands_->create_payout_idempotent(input, key, render());
  ASSERT_TRUE(created.is_ok()) << created.status().to_string();
  EXPECT_EQ(created->kind, IdempotentCreateKind::kCreated);
  EXPECT_EQ(created->response.status, 201);
  const std::string first_body = created->response.body;

  // Same key, same request: the stored response, even though the payout changed since.
  const std::string public_id = first_body.substr(0, first_body.find('/'));
  ASSERT_TRUE(commands_->cancel_payout(merchant, PayoutRef::by_public_id(public_id), Actor::kClient)
                  .is_ok());
  auto replay = commands_->create_payout_idempotent(input, key, render());
  ASSERT_TRUE(replay.is_ok());
  EXPECT_EQ(replay->kind, IdempotentCreateKind::kKeyReplay);
  EXPECT_EQ(replay->response.status, 201);
  EXPECT_EQ(replay->response.body, first_body);

  // Same key, another request: conflict, nothing written.
  IdempotencyKeyInput other_hash = key;
  other_hash.request_hash = "fp-2";
  auto conflict = commands_->create_payout_idempotent(input, other_hash, render());
  ASSERT_FALSE(conflict.is_ok());
  EXPECT_EQ(conflict.status().kind(), ErrorKind::kConflict);
  EXPECT_EQ(conflict.status().detail_code(), commands::kConflictIdempotencyKey);

  // No key, same reference and fingerprint: the earlier payout (200), without a new one.
  auto by_reference = commands_->create_payout_idempotent(input, std::nullopt, render());
  ASSERT_TRUE(by_reference.is_ok());
  EXPECT_EQ(by_reference->kind, IdempotentCreateKind::kReferenceReplay);
  EXPECT_EQ(by_reference->response.status, 200);
  EXPECT_EQ(by_reference->response.body, first_body);

  // Same reference, other fingerprint: conflict.
  commands::CreatePayoutInput changed = input;
  changed.request_fingerprint = "fp-other";
  auto reference_conflict = commands_->create_payout_idempotent(changed, std::nullopt, render());
  ASSERT_FALSE(reference_conflict.is_ok());
  EXPECT_EQ(reference_conflict.status().kind(), ErrorKind::kConflict);
  EXPECT_EQ(reference_conflict.status().detail_code(), commands::kConflictReference);

  // The key expires: afterwards it is a fresh key. The create is then a reference replay (the
  // reference is taken), and that answer is what the key stores from now on.
  clock_.advance_micros(1'000'000);
  auto fresh = commands_->create_payout_idempotent(input, other_hash, render());
  ASSERT_TRUE(fresh.is_ok()) << fresh.status().to_string();
  EXPECT_EQ(fresh->kind, IdempotentCreateKind::kReferenceReplay);
  auto stored = commands_->create_payout_idempotent(input, other_hash, render());
  ASSERT_TRUE(stored.is_ok());
  EXPECT_EQ(stored->kind, IdempotentCreateKind::kKeyReplay);
  EXPECT_EQ(stored->response.status, 200);
  auto old_hash = commands_->create_payout_idempotent(input, key, render());
  EXPECT_EQ(old_hash.status().detail_code(), commands::kConflictIdempotencyKey);

  PayoutQuery query;
  query.merchant_id = merchant;
  auto page = commands_->list_payouts(query);
  ASSERT_TRUE(page.is_ok());
  EXPECT_EQ(page->total_count, 1);
  expect_ledger_holds();
}

TEST_F(V1CommandsTest, RefusedCreateStoresNoKey) {
  const int64_t merchant = new_merchant();
  fund(merchant, "USD", 500);
  commands::CreatePayoutInput input = payout_input(merchant, "REF-POOR", 1000);
  input.request_fingerprint = "fp";
  IdempotencyKeyInput key{"key-poor-01", "fp", 3'600'000'000};
  auto refused = commands_->create_payout_idempotent(input, key, render());
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().kind(), ErrorKind::kInsufficientFunds);

  // After funding, the same key goes through: the refusal was not remembered.
  fund(merchant, "USD", 5000);
  auto created = commands_->create_payout_idempotent(input, key, render());
  ASSERT_TRUE(created.is_ok()) << created.status().to_string();
  EXPECT_EQ(created->kind, IdempotentCreateKind::kCreated);
  expect_ledger_holds();
}

TEST_F(V1CommandsTest, ConcurrentIdenticalKeyedCreatesMakeOnePayout) {
  const int64_t merchant = new_merchant();
  fund(merchant, "USD", 1'000'000);
  constexpr int kRequests = 32;
  std::vector<std::promise<Result<IdempotentCreateOutput>>> promises(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    commands::CreatePayoutInput input = payout_input(merchant, "REF-PAR", 1000);
    input.request_fingerprint = "fp";
    commands_->create_payout_idempotent_async(
        input, IdempotencyKeyInput{"parallel-key", "fp", 3'600'000'000}, render(),
        [&promises, i](Result<IdempotentCreateOutput> result) {
          promises[static_cast<size_t>(i)].set_value(std::move(result));
        });
  }
  int created = 0;
  int replayed = 0;
  std::string body;
  for (auto& promise : promises) {
    Result<IdempotentCreateOutput> result = promise.get_future().get();
    ASSERT_TRUE(result.is_ok()) << result.status().to_string();
    if (result->kind == IdempotentCreateKind::kCreated) ++created;
    if (result->kind == IdempotentCreateKind::kKeyReplay) ++replayed;
    if (body.empty()) body = result->response.body;
    EXPECT_EQ(result->response.body, body);
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(replayed, kRequests - 1);
  PayoutQuery query;
  query.merchant_id = merchant;
  auto page = commands_->list_payouts(query);
  ASSERT_TRUE(page.is_ok());
  EXPECT_EQ(page->total_count, 1);
  expect_ledger_holds();
}

}  // namespace
}  // namespace payoutd::testing
