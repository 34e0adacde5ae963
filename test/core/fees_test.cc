#include <gtest/gtest.h>

#include <cstdint>
#include <random>

#include "core/money.h"
#include "support/test_support.h"

namespace payoutd {
namespace {

// Independent oracle: floor(x + 1/2) with x = amount * bps / 10000, computed as
// floor((2 * amount * bps + 10000) / 20000) in unsigned 128-bit arithmetic.
int64_t expected_percent_part(int64_t amount_minor, int32_t bps) {
  __extension__ typedef unsigned __int128 U128;
  const U128 twice =
      static_cast<U128>(2) * static_cast<U128>(amount_minor) * static_cast<U128>(bps);
  return static_cast<int64_t>((twice + 10000) / 20000);
}

TEST(ComputeFeesTest, Table) {
  struct Case {
    int64_t amount;
    int64_t fixed;
    int32_t bps;
    int64_t expected;
  };
  const Case cases[] = {
      {10000, 0, 0, 0},          // no schedule, no fee
      {10000, 150, 0, 150},      // fixed only
      {1, 150, 0, 150},          // fixed only, tiny amount
      {10000, 0, 150, 150},      // 1.5% of 100.00 = 1.50
      {10000, 100, 150, 250},    // fixed + percent
      {12345, 0, 10000, 12345},  // 100%
      {12345, 7, 10000, 12352},  // 100% + fixed
      // Exactly half a minor unit rounds up (never to even).
      {50, 0, 100, 1},   // 0.5 -> 1
      {150, 0, 100, 2},  // 1.5 -> 2
      {250, 0, 100, 3},  // 2.5 -> 3 (banker's rounding would give 2)
      {1, 0, 5000, 1},   // 0.5 -> 1
      {3, 0, 5000, 2},   // 1.5 -> 2
      {5, 0, 5000, 3},   // 2.5 -> 3
      // Just below and just above half.
      {49, 0, 100, 0},  // 0.49 -> 0
      {51, 0, 100, 1},  // 0.51 -> 1
      {1, 0, 4999, 0},  // 0.4999 -> 0
      {1, 0, 5001, 1},  // 0.5001 -> 1
      {1, 0, 1, 0},     // 0.0001 -> 0
      {1, 0, 10000, 1},
      // Large amounts near the maximum.
      {kMaxAmountMinor, 0, 10000, kMaxAmountMinor},
      {kMaxAmountMinor, kMaxAmountMinor, 10000, 2 * kMaxAmountMinor},
      {kMaxAmountMinor, 0, 9999, 9'999'000'000'000},
      {kMaxAmountMinor, 0, 1, 1'000'000'000},
      {kMaxAmountMinor - 1, 0, 1, 1'000'000'000},  // 999999999.9999 -> 1000000000
      {9'999'999'995'000, 0, 1, 1'000'000'000},    // 999999999.5 -> 1000000000
      {9'999'999'994'999, 0, 1, 999'999'999},      // 999999999.4999 -> 999999999
  };
  for (const Case& c : cases) {
    EXPECT_EQ(compute_fees(c.amount, FeeSchedule{c.fixed, c.bps}), c.expected)
        << "amount=" << c.amount << " fixed=" << c.fixed << " bps=" << c.bps;
  }
}

TEST(ComputeFeesTest, MatchesOracleExhaustivelyForSmallAmounts) {
  for (int32_t bps : {0,   1,   2,   3,    7,    33,   50,   99,   100,  125,  150,  199,
                      250, 333, 999, 1000, 2500, 4999, 5000, 5001, 7777, 9999, 10000}) {
    for (int64_t amount = 1; amount <= 3000; ++amount) {
      ASSERT_EQ(compute_fees(amount, FeeSchedule{0, bps}), expected_percent_part(amount, bps))
          << amount << " " << bps;
    }
  }
}

TEST(ComputeFeesTest, MatchesOracleForRandomLargeAmounts) {
  payoutd::testing::SeededRandom random(
      payoutd::testing::random_seed_for_run("ComputeFeesTest.MatchesOracleForRandomLargeAmounts"));
  std::uniform_int_distribution<int64_t> amount(1, kMaxAmountMinor);
  std::uniform_int_distribution<int64_t> fixed(0, kMaxAmountMinor);
  std::uniform_int_distribution<int32_t> bps(0, 10000);
  for (int i = 0; i < 100000; ++i) {
    const int64_t a = amount(random.engine());
    const int64_t f = fixed(random.engine());
    const int32_t b = bps(random.engine());
    ASSERT_EQ(compute_fees(a, FeeSchedule{f, b}), f + expected_percent_part(a, b))
        << a << " " << f << " " << b;
  }
}

TEST(ComputeFeesDeathTest, PreconditionsAreAsserted) {
  EXPECT_DEATH((void)compute_fees(0, FeeSchedule{}), "assertion failed");
  EXPECT_DEATH((void)compute_fees(-1, FeeSchedule{}), "assertion failed");
  EXPECT_DEATH((void)compute_fees(kMaxAmountMinor + 1, FeeSchedule{}), "assertion failed");
  EXPECT_DEATH((void)compute_fees(100, FeeSchedule{-1, 0}), "assertion failed");
  EXPECT_DEATH((void)compute_fees(100, FeeSchedule{0, -1}), "assertion failed");
  EXPECT_DEATH((void)compute_fees(100, FeeSchedule{0, 10001}), "assertion failed");
}

}  // namespace
}  // namespace payoutd
