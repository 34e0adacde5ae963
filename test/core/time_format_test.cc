#include "core/time_format.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <ctime>
#include <optional>
#include <random>
#include <string>

#include "support/test_support.h"

namespace payoutd {
namespace {

constexpr int64_t kMicros = 1'000'000;

TEST(FormatTimeTest, KnownInstants) {
  struct Case {
    int64_t micros;
    std::string_view rfc3339;
    std::string_view v3;
  };
  const Case cases[] = {
      {0, "1970-01-01T00:00:00Z", "1970-01-01 00:00:00"},
      {1705314600 * kMicros, "2024-01-15T10:30:00Z", "2024-01-15 10:30:00"},
      {1705314600 * kMicros + 999'999, "2024-01-15T10:30:00Z", "2024-01-15 10:30:00"},  // truncated
      {-1, "1969-12-31T23:59:59Z", "1969-12-31 23:59:59"},  // floors, does not round toward zero
      {-kMicros, "1969-12-31T23:59:59Z", "1969-12-31 23:59:59"},
      {-kMicros - 1, "1969-12-31T23:59:58Z", "1969-12-31 23:59:58"},
      {951782400 * kMicros, "2000-02-29T00:00:00Z", "2000-02-29 00:00:00"},
      {1709164800 * kMicros, "2024-02-29T00:00:00Z", "2024-02-29 00:00:00"},
      {-2203891200 * kMicros, "1900-03-01T00:00:00Z", "1900-03-01 00:00:00"},  // 1900 not leap
      {1700000000 * kMicros, "2023-11-14T22:13:20Z", "2023-11-14 22:13:20"},
      {253402300799 * kMicros, "9999-12-31T23:59:59Z", "9999-12-31 23:59:59"},
      {-62135596800 * kMicros, "0001-01-01T00:00:00Z", "0001-01-01 00:00:00"},
      {-62167219200 * kMicros, "0000-01-01T00:00:00Z", "0000-01-01 00:00:00"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(format_rfc3339(c.micros), c.rfc3339) << c.micros;
    EXPECT_EQ(format_v3_date(c.micros), c.v3) << c.micros;
  }
}

TEST(FormatTimeTest, ExtremesDoNotCrash) {
  // Outside years 0..9999 the text is not RFC 3339, but it must still be well defined.
  EXPECT_FALSE(format_rfc3339(std::numeric_limits<int64_t>::max()).empty());
  EXPECT_FALSE(format_rfc3339(std::numeric_limits<int64_t>::min()).empty());
  EXPECT_EQ(format_rfc3339(-62167219200 * kMicros - 1), "-0001-12-31T23:59:59Z");
}

TEST(FormatTimeTest, AgreesWithGmtimeAndRoundTrips) {
  payoutd::testing::SeededRandom random(
      payoutd::testing::random_seed_for_run("FormatTimeTest.AgreesWithGmtimeAndRoundTrips"));
  // Years 0001..9999.
  std::uniform_int_distribution<int64_t> seconds(-62135596800, 253402300799);
  std::uniform_int_distribution<int64_t> sub_second(0, kMicros - 1);
  for (int i = 0; i < 20000; ++i) {
    const int64_t s = seconds(random.engine());
    const int64_t micros = s * kMicros + sub_second(random.engine());
    const std::time_t t = static_cast<std::time_t>(s);
    std::tm tm{};
    ASSERT_NE(gmtime_r(&t, &tm), nullptr);
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    const std::string formatted = format_rfc3339(micros);
    ASSERT_EQ(formatted, buffer) << micros;
    const std::optional<int64_t> parsed = parse_rfc3339(formatted);
    ASSERT_TRUE(parsed.has_value()) << formatted;
    EXPECT_EQ(*parsed, s * kMicros) << formatted;
  }
}

TEST(ParseTimeTest, Table) {
  const int64_t base = 1705314600 * kMicros;  // 2024-01-15T10:30:00Z
  struct Case {
    std::string_view text;
    std::optional<int64_t> expected;
  };
  const Case cases[] = {
      {"2024-01-15T10:30:00Z", base},
      {"2024-01-15t10:30:00z", base},
      {"2024-01-15T10:30:00+00:00", base},
      {"2024-01-15T10:30:00-00:00", base},
      {"2024-01-15T12:30:00+02:00", base},
      {"2024-01-15T07:00:00-03:30", base},
      {"2024-01-16T10:29:00+23:59", base},
      {"2024-01-15T10:30:00.5Z", base + 500'000},
      {"2024-01-15T10:30:00.000001Z", base + 1},
      {"2024-01-15T10:30:00.123456Z", base + 123'456},
      {"2024-01-15T10:30:00.1234567Z", base + 123'456},  // truncated to microseconds
      {"2024-01-15T10:30:00.999999999Z", base + 999'999},
      {"2024-01-15T12:30:00.25+02:00", base + 250'000},
      {"1970-01-01T00:00:00Z", 0},
      {"1969-12-31T23:59:59.999999Z", -1},
      {"2024-02-29T00:00:00Z", 1709164800 * kMicros},
      {"2000-02-29T00:00:00Z", 951782400 * kMicros},
      {"0000-01-01T00:00:00Z", -62167219200 * kMicros},
      {"9999-12-31T23:59:59Z", 253402300799 * kMicros},
      {"2024-12-31T23:59:59Z", 1735689599 * kMicros},
      // Invalid dates and times.
      {"2023-02-29T00:00:00Z", std::nullopt},
      {"1900-02-29T00:00:00Z", std::nullopt},
      {"2024-02-30T00:00:00Z", std::nullopt},
      {"2024-04-31T00:00:00Z", std::nullopt},
      {"2024-06-31T00:00:00Z", std::nullopt},
      {"2024-00-10T00:00:00Z", std::nullopt},
      {"2024-13-10T00:00:00Z", std::nullopt},
      {"2024-01-00T00:00:00Z", std::nullopt},
      {"2024-01-32T00:00:00Z", std::nullopt},
      {"2024-01-15T24:00:00Z", std::nullopt},
      {"2024-01-15T10:60:00Z", std::nullopt},
      {"2024-01-15T10:30:60Z", std::nullopt},  // leap seconds are refused
      // Offsets.
      {"2024-01-15T10:30:00", std::nullopt},
      {"2024-01-15T10:30:00+24:00", std::nullopt},
      {"2024-01-15T10:30:00+05:60", std::nullopt},
      {"2024-01-15T10:30:00+0500", std::nullopt},
      {"2024-01-15T10:30:00+05", std::nullopt},
      {"2024-01-15T10:30:00+5:00", std::nullopt},
      {"2024-01-15T10:30:00 Z", std::nullopt},
      {"2024-01-15T10:30:00UTC", std::nullopt},
      {"2024-01-15T10:30:00ZZ", std::nullopt},
      {"2024-01-15T10:30:00Z ", std::nullopt},
      {"2024-01-15T10:30:00+05:00Z", std::nullopt},
      // Fractions.
      {"2024-01-15T10:30:00.Z", std::nullopt},
      {"2024-01-15T10:30:00.1234567890Z", std::nullopt},  // more than 9 digits
      {"2024-01-15T10:30:00,5Z", std::nullopt},
      // Shape.
      {"", std::nullopt},
      {"2024-01-15", std::nullopt},
      {"2024-01-15T10:30Z", std::nullopt},
      {"2024-01-15 10:30:00Z", std::nullopt},
      {" 2024-01-15T10:30:00Z", std::nullopt},
      {"2024-1-15T10:30:00Z", std::nullopt},
      {"24-01-15T10:30:00Z", std::nullopt},
      {"+2024-01-15T10:30:00Z", std::nullopt},
      {"-2024-01-15T10:30:00Z", std::nullopt},
      {"2O24-01-15T10:30:00Z", std::nullopt},
      {"2024/01/15T10:30:00Z", std::nullopt},
      {"2024-01-15T10-30-00Z", std::nullopt},
      {"20240115T103000Z", std::nullopt},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(parse_rfc3339(c.text), c.expected) << "'" << c.text << "'";
  }
}

TEST(ParseTimeTest, EveryDayOfSeveralYears) {
  // Day by day across leap and non-leap years (1899..2101 cross two century rules).
  int64_t expected_days = -25567;  // 1900-01-01
  expected_days -= 365;            // 1899-01-01
  for (int year = 1899; year <= 2101; ++year) {
    for (int month = 1; month <= 12; ++month) {
      for (int day = 1; day <= 31; ++day) {
        char text[32];
        std::snprintf(text, sizeof text, "%04d-%02d-%02dT00:00:00Z", year, month, day);
        const std::optional<int64_t> parsed = parse_rfc3339(text);
        const std::time_t t = static_cast<std::time_t>(expected_days * 86400);
        std::tm tm{};
        ASSERT_NE(gmtime_r(&t, &tm), nullptr);
        const bool exists =
            tm.tm_year + 1900 == year && tm.tm_mon + 1 == month && tm.tm_mday == day;
        ASSERT_EQ(parsed.has_value(), exists) << text;
        if (!exists) continue;
        EXPECT_EQ(*parsed, expected_days * 86400 * kMicros) << text;
        EXPECT_EQ(format_rfc3339(*parsed), text);
        ++expected_days;
      }
    }
  }
}

}  // namespace
}  // namespace payoutd
