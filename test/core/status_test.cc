#include "core/status.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/types.h"

namespace payoutd {
namespace {

TEST(StatusTest, ErrorKindNames) {
  const std::pair<ErrorKind, std::string_view> names[] = {
      {ErrorKind::kOk, "ok"},
      {ErrorKind::kInvalidArgument, "invalid_argument"},
      {ErrorKind::kNotFound, "not_found"},
      {ErrorKind::kAlreadyExists, "already_exists"},
      {ErrorKind::kConflict, "conflict"},
      {ErrorKind::kInsufficientFunds, "insufficient_funds"},
      {ErrorKind::kInvalidTransition, "invalid_transition"},
      {ErrorKind::kUnauthenticated, "unauthenticated"},
      {ErrorKind::kDisabled, "disabled"},
      {ErrorKind::kLimitExceeded, "limit_exceeded"},
      {ErrorKind::kUnavailable, "unavailable"},
      {ErrorKind::kInternal, "internal"},
      {ErrorKind::kCorruption, "corruption"},
  };
  std::set<std::string_view> distinct;
  for (const auto& [kind, name] : names) {
    EXPECT_EQ(error_kind_name(kind), name);
    distinct.insert(error_kind_name(kind));
  }
  EXPECT_EQ(distinct.size(), std::size(names));
}

TEST(StatusTest, ToString) {
  EXPECT_EQ(Status::ok().to_string(), "ok");
  EXPECT_EQ(Status::not_found("no such payout").to_string(), "not_found: no such payout");
  EXPECT_EQ(Status::invalid_argument("amount", "amount has more than 2 decimals").to_string(),
            "invalid_argument: amount has more than 2 decimals (field amount)");
  EXPECT_EQ(Status::error(ErrorKind::kInsufficientFunds, "short by 1.00").to_string(),
            "insufficient_funds: short by 1.00");
  EXPECT_EQ(Status::invalid_argument("", "x").to_string(), "invalid_argument: x");
}

TEST(StatusTest, ValuesAndResult) {
  const Status status = Status::invalid_argument("beneficiary.email", "bad email");
  EXPECT_FALSE(status.is_ok());
  EXPECT_EQ(status.kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(status.field(), "beneficiary.email");
  EXPECT_FALSE(status.detail_code().has_value());
  Status transition = Status::error(ErrorKind::kInvalidTransition, "no").with_detail_code(3);
  EXPECT_EQ(transition.detail_code(), 3);

  Result<int> good = 5;
  ASSERT_TRUE(good.is_ok());
  EXPECT_EQ(*good, 5);
  Result<int> bad = Status::internal("boom");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().kind(), ErrorKind::kInternal);
}

TEST(StatusDeathTest, AssertionFailedPrintsAndAborts) {
  EXPECT_DEATH(PAYOUTD_ASSERT(1 + 1 == 3),
               "assertion failed: 1 \\+ 1 == 3 at .*status_test\\.cc:[0-9]+");
  EXPECT_DEATH(assertion_failed("x", "file.cc", 42), "assertion failed: x at file\\.cc:42");
}

Result<int> half(int n) {
  if (n % 2 != 0) return Status::invalid_argument("n", "odd");
  return n / 2;
}

// Two steps through PAYOUTD_ASSIGN_OR_RETURN: the first error is returned as it was, and the
// expression is evaluated exactly once.
Result<int> quarter(int n, int* calls) {
  ++*calls;
  PAYOUTD_ASSIGN_OR_RETURN(const int h, half(n));
  int q = 0;
  PAYOUTD_ASSIGN_OR_RETURN(q, half(h));
  return q;
}

Status check_quarter(int n, int* calls) {
  PAYOUTD_ASSIGN_OR_RETURN(const int q, quarter(n, calls));
  return q > 0 ? Status::ok() : Status::not_found("zero");
}

TEST(StatusTest, AssignOrReturn) {
  int calls = 0;
  Result<int> eight = quarter(32, &calls);
  ASSERT_TRUE(eight.is_ok());
  EXPECT_EQ(*eight, 8);
  EXPECT_EQ(calls, 1);
  Result<int> odd_half = quarter(6, &calls);  // 6 -> 3 -> odd
  ASSERT_FALSE(odd_half.is_ok());
  EXPECT_EQ(odd_half.status().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(odd_half.status().message(), "odd");
  EXPECT_EQ(check_quarter(3, &calls).kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(check_quarter(0, &calls).kind(), ErrorKind::kNotFound);  // 0 / 4 == 0
  EXPECT_TRUE(check_quarter(4, &calls).is_ok());
  EXPECT_EQ(calls, 5);
}

// Result's preconditions are checked in every build (PAYOUTD_ASSERT, not assert): this test runs
// in the Release build too, where NDEBUG would have compiled assert() out.
TEST(StatusDeathTest, ResultMisuseAbortsInEveryBuild) {
  EXPECT_DEATH(
      {
        Result<int> bad = Status::internal("boom");
        (void)bad.value();
      },
      "assertion failed: is_ok\\(\\)");
  EXPECT_DEATH(
      {
        Result<int> good = 1;
        (void)good.status();
      },
      "assertion failed: !is_ok\\(\\)");
  EXPECT_DEATH({ Result<int> from_ok = Status::ok(); }, "assertion failed");
  EXPECT_DEATH({ (void)Status::error(ErrorKind::kOk, "ok is no error"); }, "assertion failed");
}

TEST(TypesTest, Names) {
  EXPECT_EQ(account_kind_name(AccountKind::kAvailable), "available");
  EXPECT_EQ(account_kind_name(AccountKind::kHeld), "held");
  EXPECT_EQ(account_kind_name(AccountKind::kFunding), "funding");
  EXPECT_EQ(account_kind_name(AccountKind::kSettlement), "settlement");
  EXPECT_TRUE(is_payout_movement_journal("payout_hold"));
  EXPECT_TRUE(is_payout_movement_journal("payout_post"));
  EXPECT_TRUE(is_payout_movement_journal("payout_refund"));
  EXPECT_FALSE(is_payout_movement_journal("deposit"));
  EXPECT_FALSE(is_payout_movement_journal("adjustment"));
  EXPECT_FALSE(is_payout_movement_journal("payout_"));
}

}  // namespace
}  // namespace payoutd
