#include "core/money.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "support/test_support.h"

namespace payoutd {
namespace {

const Currency& currency(std::string_view code) {
  const Currency* found = find_currency(code);
  EXPECT_NE(found, nullptr) << code;
  static const Currency kNone{"???", 0, 2};
  return found != nullptr ? *found : kNone;
}

// ---- parse_amount: one table of tricky inputs ----

constexpr std::string_view kNotANumber = "amount is not a valid number";
constexpr std::string_view kNotPositive = "amount must be greater than zero";
constexpr std::string_view kNotZero = "amount must not be zero";
constexpr std::string_view kEmpty = "amount is empty";
constexpr std::string_view kTooLong = "amount is longer than 64 characters";
constexpr std::string_view kMore2 = "amount has more than 2 decimals";
constexpr std::string_view kMore3 = "amount has more than 3 decimals";
constexpr std::string_view kMore1 = "amount has more than 1 decimal";
constexpr std::string_view kNoDecimals = "amount must not have decimals";
// Stands for "amount exceeds the maximum of <kMaxAmountMinor formatted in the case's currency>".
constexpr std::string_view kExceeds = "<exceeds>";

struct AmountCase {
  std::string text;
  std::string_view currency;
  int max_decimals;  // AmountParseOptions::max_decimals
  bool allow_negative;
  std::optional<int64_t> expected;  // set: must parse to this value
  std::string_view error;           // otherwise: the exact message
};

AmountCase ok(std::string text, std::string_view code, int64_t value, int max_decimals = -1,
              bool allow_negative = false) {
  return {std::move(text), code, max_decimals, allow_negative, value, {}};
}
AmountCase bad(std::string text, std::string_view code, std::string_view error,
               int max_decimals = -1, bool allow_negative = false) {
  return {std::move(text), code, max_decimals, allow_negative, std::nullopt, error};
}

const AmountCase kAmountCases[] = {
    // Plain decimals.
    ok("100.10", "BRL", 10010),
    ok("100.1", "BRL", 10010),
    ok("100", "BRL", 10000),
    ok("0.1", "BRL", 10),
    ok("0.01", "BRL", 1),
    ok("0.010", "BRL", 1),
    ok("99999999999.99", "BRL", 9'999'999'999'999),
    bad("0.001", "BRL", kMore2),
    bad("1.005", "BRL", kMore2),
    bad("99999999999.999", "BRL", kMore2),
    // Zero in every spelling.
    bad("0", "BRL", kNotPositive),
    bad("-0", "BRL", kNotPositive),
    bad("0.00", "BRL", kNotPositive),
    bad("-0.0", "BRL", kNotPositive),
    bad("0e10", "BRL", kNotPositive),
    bad("0e99999999999999999999", "BRL", kNotPositive),
    bad("-0", "BRL", kNotZero, -1, true),
    // Exponents that reduce to an exact minor-unit integer.
    ok("1e2", "BRL", 10000),
    ok("1E2", "BRL", 10000),
    ok("1e+2", "BRL", 10000),
    ok("1.5E+1", "BRL", 1500),
    ok("100e-2", "BRL", 100),
    ok("1e-2", "USD", 1),
    ok("1E-2", "USD", 1),
    ok("1.0e0", "BRL", 100),
    ok("10e-1", "BRL", 100),
    ok("1.23e1", "BRL", 1230),
    ok("1.234e1", "BRL", 1234),
    ok("0.5e-1", "BRL", 5),
    ok("1000e-5", "BRL", 1),
    ok("0.0000000000000000000001e22", "BRL", 100),
    ok("1e11", "BRL", kMaxAmountMinor),
    bad("1e-3", "USD", kMore2),
    bad("1.2345e1", "BRL", kMore2),
    bad("1e-400", "BRL", kMore2),
    bad("1e-99999999999999999999", "BRL", kMore2),
    bad("1e400", "BRL", kExceeds),
    bad("1e99999999999999999999", "BRL", kExceeds),
    bad("1.00000000001e11", "BRL", kExceeds),
    // The maximum, 10^13 minor units, exactly and one minor unit above.
    ok("100000000000.00", "BRL", kMaxAmountMinor),
    ok("100000000000", "BRL", kMaxAmountMinor),
    bad("100000000000.01", "BRL", kExceeds),
    bad("10000000000000", "BRL", kExceeds),
    bad("9223372036854775807", "BRL", kExceeds),
    bad("9223372036854775808", "BRL", kExceeds),
    bad("100000000000000000000000000000000000000000000000000000000000000", "BRL", kExceeds),
    ok("10000000000000", "CLP", kMaxAmountMinor),
    ok("1e13", "CLP", kMaxAmountMinor),
    bad("10000000000001", "CLP", kExceeds),
    bad("1.0000000000001e13", "CLP", kExceeds),
    ok("10000000000", "KWD", kMaxAmountMinor),
    bad("10000000000.001", "KWD", kExceeds),
    // JSON grammar violations.
    bad("", "BRL", kEmpty),
    bad("00.5", "BRL", kNotANumber),
    bad("01", "BRL", kNotANumber),
    bad("-01", "BRL", kNotANumber),
    bad("00", "BRL", kNotANumber),
    bad(" 1", "BRL", kNotANumber),
    bad("1 ", "BRL", kNotANumber),
    bad("\t1", "BRL", kNotANumber),
    bad("1\n", "BRL", kNotANumber),
    bad("+1", "BRL", kNotANumber),
    bad(".5", "BRL", kNotANumber),
    bad("5.", "BRL", kNotANumber),
    bad("1.e5", "BRL", kNotANumber),
    bad("1..0", "BRL", kNotANumber),
    bad("1e", "BRL", kNotANumber),
    bad("1e+", "BRL", kNotANumber),
    bad("1e-", "BRL", kNotANumber),
    bad("1e1.5", "BRL", kNotANumber),
    bad("e5", "BRL", kNotANumber),
    bad("-", "BRL", kNotANumber),
    bad("--1", "BRL", kNotANumber),
    bad("NaN", "BRL", kNotANumber),
    bad("nan", "BRL", kNotANumber),
    bad("Infinity", "BRL", kNotANumber),
    bad("-Infinity", "BRL", kNotANumber),
    bad("inf", "BRL", kNotANumber),
    bad("0x10", "BRL", kNotANumber),
    bad("1_000", "BRL", kNotANumber),
    bad("1,00", "BRL", kNotANumber),
    bad("1 000", "BRL", kNotANumber),
    bad("\xEF\xBC\x91", "BRL", kNotANumber),         // U+FF11 FULLWIDTH DIGIT ONE
    bad("\xD9\xA1", "BRL", kNotANumber),             // U+0661 ARABIC-INDIC DIGIT ONE
    bad(std::string("1\0", 2), "BRL", kNotANumber),  // embedded NUL
    bad("\"1\"", "BRL", kNotANumber),                // quotes belong to the JSON layer
    bad("1.0.0", "BRL", kNotANumber),
    // Negative amounts.
    bad("-1.00", "BRL", kNotPositive),
    bad("-1.005", "BRL", kNotPositive),
    ok("-1.00", "BRL", -100, -1, true),
    ok("-1e-2", "BRL", -1, -1, true),
    ok("-100000000000.00", "BRL", -kMaxAmountMinor, -1, true),
    bad("-100000000000.01", "BRL", kExceeds, -1, true),
    bad("-9223372036854775808", "BRL", kExceeds, -1, true),
    bad("-1.005", "BRL", kMore2, -1, true),
    // Trailing zeros beyond the currency's decimals are not significant.
    ok("1.500", "USD", 150),
    ok("1.50000000000000000000", "USD", 150),
    bad("1.501", "USD", kMore2),
    // Zero-decimal currencies.
    ok("5000", "CLP", 5000),
    ok("5000.0", "CLP", 5000),
    ok("5e3", "CLP", 5000),
    ok("0.5e1", "CLP", 5),
    bad("5000.5", "CLP", kNoDecimals),
    bad("1.5", "JPY", kNoDecimals),
    bad("5e-1", "CLP", kNoDecimals),
    // Three-decimal currencies and max_decimals.
    ok("1.005", "KWD", 1005),
    ok("1.1", "KWD", 1100),
    ok("1.01", "KWD", 1010, 2),
    bad("1.0005", "KWD", kMore3),
    bad("1.005", "KWD", kMore2, 2),
    ok("1.5", "USD", 150, 1),
    bad("1.55", "USD", kMore1, 1),
    bad("1.5", "USD", kNoDecimals, 0),
    ok("1", "USD", 100, 0),
    // max_decimals above the exponent cannot add precision the minor unit does not have.
    ok("1.55", "USD", 155, 5),
    bad("1.555", "USD", kMore2, 5),
    // Four-decimal fund codes.
    ok("1.2345", "CLF", 12345),
    bad("1.23456", "CLF", "amount has more than 4 decimals"),
    // Length bound: 64 bytes are examined, 65 refused before any arithmetic.
    ok("1." + std::string(62, '0'), "BRL", 100),
    bad("0." + std::string(61, '0') + "1", "BRL", kMore2),
    bad("1." + std::string(63, '0'), "BRL", kTooLong),
    bad(std::string(65, '1'), "BRL", kTooLong),
    bad(std::string(100000, '9'), "BRL", kTooLong),
};

TEST(ParseAmountTest, TableOfTrickyInputs) {
  static_assert(std::size(kAmountCases) >= 60);
  for (const AmountCase& c : kAmountCases) {
    SCOPED_TRACE("text='" + c.text.substr(0, 80) + "' currency=" + std::string(c.currency) +
                 " max_decimals=" + std::to_string(c.max_decimals) +
                 " allow_negative=" + std::to_string(c.allow_negative));
    const Currency& cur = currency(c.currency);
    AmountParseOptions options;
    options.max_decimals = c.max_decimals;
    options.allow_negative = c.allow_negative;
    Result<int64_t> parsed = parse_amount(c.text, cur, options);
    if (c.expected.has_value()) {
      ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
      EXPECT_EQ(*parsed, *c.expected);
      continue;
    }
    ASSERT_FALSE(parsed.is_ok()) << "parsed as " << *parsed;
    const Status& status = parsed.status();
    EXPECT_EQ(status.kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(status.field(), "amount");
    const std::string expected_message =
        c.error == kExceeds ? "amount exceeds the maximum of " + format_amount(kMaxAmountMinor, cur)
                            : std::string(c.error);
    EXPECT_EQ(status.message(), expected_message);
  }
}

TEST(ParseAmountTest, MaximumMessageNamesTheMaximumInTheCurrency) {
  Result<int64_t> brl = parse_amount("1e20", currency("BRL"));
  ASSERT_FALSE(brl.is_ok());
  EXPECT_EQ(brl.status().message(), "amount exceeds the maximum of 100000000000.00");
  Result<int64_t> clp = parse_amount("1e20", currency("CLP"));
  ASSERT_FALSE(clp.is_ok());
  EXPECT_EQ(clp.status().message(), "amount exceeds the maximum of 10000000000000");
}

TEST(ParseAmountTest, EveryValidSpellingOfRandomAmountsParsesBack) {
  payoutd::testing::SeededRandom random(
      payoutd::testing::random_seed_for_run("ParseAmountTest.EveryValidSpelling"));
  auto& engine = random.engine();
  std::uniform_int_distribution<int64_t> any_amount(1, kMaxAmountMinor);
  std::uniform_int_distribution<int64_t> small_amount(1, 1'000'000);
  for (std::string_view code : {"BRL", "USD", "CLP", "JPY", "KWD", "BHD", "CLF"}) {
    const Currency& cur = currency(code);
    for (int i = 0; i < 2000; ++i) {
      const int64_t value = (i % 2 == 0) ? any_amount(engine) : small_amount(engine);
      SCOPED_TRACE(std::string(code) + " " + std::to_string(value));
      const std::string formatted = format_amount(value, cur);
      Result<int64_t> parsed = parse_amount(formatted, cur);
      ASSERT_TRUE(parsed.is_ok()) << formatted << ": " << parsed.status().to_string();
      EXPECT_EQ(*parsed, value);
      // The same value as an integer mantissa with a negative exponent ("12345e-2").
      const std::string scientific = std::to_string(value) + "e-" + std::to_string(cur.exponent);
      Result<int64_t> from_scientific = parse_amount(scientific, cur);
      ASSERT_TRUE(from_scientific.is_ok()) << scientific;
      EXPECT_EQ(*from_scientific, value);
      // Negative, when allowed.
      AmountParseOptions negative;
      negative.allow_negative = true;
      Result<int64_t> parsed_negative = parse_amount(format_amount(-value, cur), cur, negative);
      ASSERT_TRUE(parsed_negative.is_ok());
      EXPECT_EQ(*parsed_negative, -value);
      // One more decimal digit than allowed is always refused, even if it is the only non-zero.
      Result<int64_t> too_precise = parse_amount(formatted + (cur.exponent == 0 ? ".1" : "1"), cur);
      ASSERT_FALSE(too_precise.is_ok()) << formatted;
    }
  }
}

// ---- format_amount ----

TEST(FormatAmountTest, PrintsExactlyTheCurrencyDecimals) {
  struct Case {
    int64_t minor;
    std::string_view currency;
    std::string_view expected;
  };
  const Case cases[] = {
      {10010, "BRL", "100.10"},
      {10000, "BRL", "100.00"},
      {5000, "CLP", "5000"},
      {0, "CLP", "0"},
      {-150, "USD", "-1.50"},
      {5, "USD", "0.05"},
      {50, "USD", "0.50"},
      {0, "USD", "0.00"},
      {-1, "BRL", "-0.01"},
      {1, "KWD", "0.001"},
      {1005, "KWD", "1.005"},
      {-1005, "KWD", "-1.005"},
      {12345, "CLF", "1.2345"},
      {1, "JPY", "1"},
      {-7, "JPY", "-7"},
      {kMaxAmountMinor, "BRL", "100000000000.00"},
      {kMaxAmountMinor, "CLP", "10000000000000"},
      {std::numeric_limits<int64_t>::max(), "BRL", "92233720368547758.07"},
      {std::numeric_limits<int64_t>::min(), "BRL", "-92233720368547758.08"},
      {std::numeric_limits<int64_t>::min(), "CLP", "-9223372036854775808"},
      {std::numeric_limits<int64_t>::min(), "CLF", "-922337203685477.5808"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(format_amount(c.minor, currency(c.currency)), c.expected)
        << c.minor << " " << c.currency;
  }
}

TEST(FormatAmountTest, AppendAmountAppends) {
  std::string out = "total=";
  append_amount(out, 10010, currency("BRL"));
  out += ";";
  append_amount(out, -5, currency("USD"));
  EXPECT_EQ(out, "total=100.10;-0.05");
}

// ---- currencies ----

TEST(CurrencyTest, KnownCodesHaveIsoNumericAndExponent) {
  struct Case {
    std::string_view code;
    int numeric;
    int exponent;
  };
  const Case cases[] = {
      {"BRL", 986, 2}, {"USD", 840, 2}, {"EUR", 978, 2}, {"CLP", 152, 0}, {"JPY", 392, 0},
      {"KWD", 414, 3}, {"BHD", 48, 3},  {"JOD", 400, 3}, {"TND", 788, 3}, {"OMR", 512, 3},
      {"IQD", 368, 3}, {"LYD", 434, 3}, {"MXN", 484, 2}, {"COP", 170, 2}, {"ARS", 32, 2},
      {"PEN", 604, 2}, {"UYU", 858, 2}, {"PYG", 600, 0}, {"KRW", 410, 0}, {"VND", 704, 0},
      {"ISK", 352, 0}, {"XOF", 952, 0}, {"XAF", 950, 0}, {"XPF", 953, 0}, {"CLF", 990, 4},
      {"UYW", 927, 4}, {"ALL", 8, 2},   {"GBP", 826, 2}, {"CHF", 756, 2}, {"INR", 356, 2},
      {"XCG", 532, 2}, {"ZWG", 924, 2}, {"SLE", 925, 2}, {"VES", 928, 2}, {"VED", 926, 2},
      {"MRU", 929, 2}, {"STN", 930, 2}, {"XCD", 951, 2}, {"GTQ", 320, 2}, {"BOB", 68, 2},
  };
  for (const Case& c : cases) {
    const Currency* found = find_currency(c.code);
    ASSERT_NE(found, nullptr) << c.code;
    EXPECT_EQ(found->code, c.code);
    EXPECT_EQ(found->numeric, c.numeric) << c.code;
    EXPECT_EQ(found->exponent, c.exponent) << c.code;
    EXPECT_EQ(find_currency_by_numeric(c.numeric), found) << c.code;
  }
}

TEST(CurrencyTest, UnknownAndMalformedCodes) {
  for (std::string_view code : std::initializer_list<std::string_view>{
           "brl", "Brl", "BRl", "XXX", "ZZZ", "XTS", "XAU", "", "BR", "BRLX", "BRL ", " BRL", "HRK",
           "CUC", "ZWL", "SLL", "ANG", std::string_view("B\0L", 3)}) {
    EXPECT_EQ(find_currency(code), nullptr) << "'" << code << "'";
  }
  for (int numeric : {0, -1, 999, 963, 959, 1000, 191, 931, 986000}) {
    EXPECT_EQ(find_currency_by_numeric(numeric), nullptr) << numeric;
  }
}

TEST(CurrencyTest, WholeTableIsConsistent) {
  // Walk every three-letter upper-case code: the table has no entry outside this space.
  std::set<int> numerics;
  int count = 0;
  std::string code = "AAA";
  for (char a = 'A'; a <= 'Z'; ++a) {
    for (char b = 'A'; b <= 'Z'; ++b) {
      for (char c = 'A'; c <= 'Z'; ++c) {
        code[0] = a;
        code[1] = b;
        code[2] = c;
        const Currency* found = find_currency(code);
        if (found == nullptr) continue;
        ++count;
        EXPECT_EQ(found->code, code);
        EXPECT_TRUE(found->exponent == 0 || found->exponent == 2 || found->exponent == 3 ||
                    found->exponent == 4)
            << code;
        EXPECT_GT(found->numeric, 0) << code;
        EXPECT_LT(found->numeric, 1000) << code;
        EXPECT_TRUE(numerics.insert(found->numeric).second) << "duplicate numeric for " << code;
        EXPECT_EQ(find_currency_by_numeric(found->numeric), found) << code;
      }
    }
  }
  EXPECT_GE(count, 150);
  EXPECT_LE(count, 180);
}

// ---- countries ----

TEST(CountryTest, PayoutCurrencySpotChecks) {
  struct Case {
    std::string_view country;
    std::string_view currency;
  };
  const Case cases[] = {
      {"US", "USD"}, {"BR", "BRL"}, {"MX", "MXN"}, {"CL", "CLP"}, {"CO", "COP"}, {"AR", "ARS"},
      {"PE", "PEN"}, {"EC", "USD"}, {"UY", "UYU"}, {"PY", "PYG"}, {"BO", "BOB"}, {"CR", "CRC"},
      {"GT", "GTQ"}, {"PA", "USD"}, {"SV", "USD"}, {"DO", "DOP"}, {"VE", "VES"}, {"DE", "EUR"},
      {"FR", "EUR"}, {"ES", "EUR"}, {"IT", "EUR"}, {"PT", "EUR"}, {"NL", "EUR"}, {"IE", "EUR"},
      {"AT", "EUR"}, {"BE", "EUR"}, {"FI", "EUR"}, {"GR", "EUR"}, {"HR", "EUR"}, {"LT", "EUR"},
      {"GB", "GBP"}, {"CH", "CHF"}, {"LI", "CHF"}, {"JP", "JPY"}, {"KW", "KWD"}, {"BH", "BHD"},
      {"IN", "INR"}, {"CN", "CNY"}, {"NG", "NGN"}, {"ZA", "ZAR"}, {"SN", "XOF"}, {"CM", "XAF"},
      {"CW", "XCG"}, {"ZW", "ZWG"}, {"SL", "SLE"}, {"PR", "USD"}, {"GL", "DKK"}, {"NC", "XPF"},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(is_known_country(c.country)) << c.country;
    const Currency* found = payout_currency_for_country(c.country);
    ASSERT_NE(found, nullptr) << c.country;
    EXPECT_EQ(found->code, c.currency) << c.country;
  }
}

TEST(CountryTest, UnknownAndMalformedCountries) {
  for (std::string_view country :
       {"us", "Us", "USA", "U", "", "XK", "ZZ", "AA", "UK", "EU", "U "}) {
    EXPECT_FALSE(is_known_country(country)) << "'" << country << "'";
    EXPECT_EQ(payout_currency_for_country(country), nullptr) << "'" << country << "'";
  }
}

TEST(CountryTest, EveryAssignedCodeIsKnownAndAlmostAllHaveACurrency) {
  int known = 0;
  std::set<std::string> without_currency;
  std::string code = "AA";
  for (char a = 'A'; a <= 'Z'; ++a) {
    for (char b = 'A'; b <= 'Z'; ++b) {
      code[0] = a;
      code[1] = b;
      if (!is_known_country(code)) {
        EXPECT_EQ(payout_currency_for_country(code), nullptr) << code;
        continue;
      }
      ++known;
      if (payout_currency_for_country(code) == nullptr) without_currency.insert(code);
    }
  }
  EXPECT_EQ(known, 249);  // ISO 3166-1 assigned alpha-2 codes
  EXPECT_EQ(without_currency, (std::set<std::string>{"AQ", "GS"}));
}

}  // namespace
}  // namespace payoutd
