#include "core/money.h"

#include <algorithm>
#include <array>
#include <iterator>

#include "core/text.h"

namespace payoutd {
namespace {

// Active ISO 4217 codes with their minor-unit exponents, sorted by alphabetic code (binary search).
// Left out on purpose: codes whose minor unit is "N.A." in ISO 4217 (precious metals
// XAU/XAG/XPD/XPT, bond units XBA-XBD, XDR, XSU, XUA, the testing code XTS and "no currency" XXX:
// nobody is paid out in them), and codes withdrawn from the standard: CUC (2021), HRK (2023), SLL
// (old leone, no longer legal tender since 2024), ZWL (replaced by ZWG 924 in 2024) and ANG
// (replaced by XCG, which keeps the numeric code 532, in 2025). BGN is kept while it is still being
// wound down, but Bulgaria pays out in EUR (see the country table).
constexpr Currency kCurrencies[] = {
    {"AED", 784, 2}, {"AFN", 971, 2}, {"ALL", 8, 2},   {"AMD", 51, 2},  {"AOA", 973, 2},
    {"ARS", 32, 2},  {"AUD", 36, 2},  {"AWG", 533, 2}, {"AZN", 944, 2}, {"BAM", 977, 2},
    {"BBD", 52, 2},  {"BDT", 50, 2},  {"BGN", 975, 2}, {"BHD", 48, 3},  {"BIF", 108, 0},
    {"BMD", 60, 2},  {"BND", 96, 2},  {"BOB", 68, 2},  {"BOV", 984, 2}, {"BRL", 986, 2},
    {"BSD", 44, 2},  {"BTN", 64, 2},  {"BWP", 72, 2},  {"BYN", 933, 2}, {"BZD", 84, 2},
    {"CAD", 124, 2}, {"CDF", 976, 2}, {"CHE", 947, 2}, {"CHF", 756, 2}, {"CHW", 948, 2},
    {"CLF", 990, 4}, {"CLP", 152, 0}, {"CNY", 156, 2}, {"COP", 170, 2}, {"COU", 970, 2},
    {"CRC", 188, 2}, {"CUP", 192, 2}, {"CVE", 132, 2}, {"CZK", 203, 2}, {"DJF", 262, 0},
    {"DKK", 208, 2}, {"DOP", 214, 2}, {"DZD", 12, 2},  {"EGP", 818, 2}, {"ERN", 232, 2},
    {"ETB", 230, 2}, {"EUR", 978, 2}, {"FJD", 242, 2}, {"FKP", 238, 2}, {"GBP", 826, 2},
    {"GEL", 981, 2}, {"GHS", 936, 2}, {"GIP", 292, 2}, {"GMD", 270, 2}, {"GNF", 324, 0},
    {"GTQ", 320, 2}, {"GYD", 328, 2}, {"HKD", 344, 2}, {"HNL", 340, 2}, {"HTG", 332, 2},
    {"HUF", 348, 2}, {"IDR", 360, 2}, {"ILS", 376, 2}, {"INR", 356, 2}, {"IQD", 368, 3},
    {"IRR", 364, 2}, {"ISK", 352, 0}, {"JMD", 388, 2}, {"JOD", 400, 3}, {"JPY", 392, 0},
    {"KES", 404, 2}, {"KGS", 417, 2}, {"KHR", 116, 2}, {"KMF", 174, 0}, {"KPW", 408, 2},
    {"KRW", 410, 0}, {"KWD", 414, 3}, {"KYD", 136, 2}, {"KZT", 398, 2}, {"LAK", 418, 2},
    {"LBP", 422, 2}, {"LKR", 144, 2}, {"LRD", 430, 2}, {"LSL", 426, 2}, {"LYD", 434, 3},
    {"MAD", 504, 2}, {"MDL", 498, 2}, {"MGA", 969, 2}, {"MKD", 807, 2}, {"MMK", 104, 2},
    {"MNT", 496, 2}, {"MOP", 446, 2}, {"MRU", 929, 2}, {"MUR", 480, 2}, {"MVR", 462, 2},
    {"MWK", 454, 2}, {"MXN", 484, 2}, {"MXV", 979, 2}, {"MYR", 458, 2}, {"MZN", 943, 2},
    {"NAD", 516, 2}, {"NGN", 566, 2}, {"NIO", 558, 2}, {"NOK", 578, 2}, {"NPR", 524, 2},
    {"NZD", 554, 2}, {"OMR", 512, 3}, {"PAB", 590, 2}, {"PEN", 604, 2}, {"PGK", 598, 2},
    {"PHP", 608, 2}, {"PKR", 586, 2}, {"PLN", 985, 2}, {"PYG", 600, 0}, {"QAR", 634, 2},
    {"RON", 946, 2}, {"RSD", 941, 2}, {"RUB", 643, 2}, {"RWF", 646, 0}, {"SAR", 682, 2},
    {"SBD", 90, 2},  {"SCR", 690, 2}, {"SDG", 938, 2}, {"SEK", 752, 2}, {"SGD", 702, 2},
    {"SHP", 654, 2}, {"SLE", 925, 2}, {"SOS", 706, 2}, {"SRD", 968, 2}, {"SSP", 728, 2},
    {"STN", 930, 2}, {"SVC", 222, 2}, {"SYP", 760, 2}, {"SZL", 748, 2}, {"THB", 764, 2},
    {"TJS", 972, 2}, {"TMT", 934, 2}, {"TND", 788, 3}, {"TOP", 776, 2}, {"TRY", 949, 2},
    {"TTD", 780, 2}, {"TWD", 901, 2}, {"TZS", 834, 2}, {"UAH", 980, 2}, {"UGX", 800, 0},
    {"USD", 840, 2}, {"USN", 997, 2}, {"UYI", 940, 0}, {"UYU", 858, 2}, {"UYW", 927, 4},
    {"UZS", 860, 2}, {"VED", 926, 2}, {"VES", 928, 2}, {"VND", 704, 0}, {"VUV", 548, 0},
    {"WST", 882, 2}, {"XAF", 950, 0}, {"XCD", 951, 2}, {"XCG", 532, 2}, {"XOF", 952, 0},
    {"XPF", 953, 0}, {"YER", 886, 2}, {"ZAR", 710, 2}, {"ZMW", 967, 2}, {"ZWG", 924, 2},
};

struct CountryCurrency {
  std::string_view alpha2;
  std::string_view currency_code;  // empty: no sensible payout currency
};

// Every assigned ISO 3166-1 alpha-2 code (249), sorted, with the currency local payouts are made
// in. Where a country officially circulates several currencies, the one its bank accounts are held
// in wins: Panama (PAB/USD) and El Salvador (SVC/USD) -> USD; Bhutan, Lesotho, Namibia, Eswatini ->
// their own currency; Palestine (no universal currency per ISO 4217) -> ILS, the currency of most
// of its bank accounts. Antarctica (AQ) and South Georgia (GS) have no payout currency.
constexpr CountryCurrency kCountries[] = {
    {"AD", "EUR"}, {"AE", "AED"}, {"AF", "AFN"}, {"AG", "XCD"}, {"AI", "XCD"}, {"AL", "ALL"},
    {"AM", "AMD"}, {"AO", "AOA"}, {"AQ", ""},    {"AR", "ARS"}, {"AS", "USD"}, {"AT", "EUR"},
    {"AU", "AUD"}, {"AW", "AWG"}, {"AX", "EUR"}, {"AZ", "AZN"}, {"BA", "BAM"}, {"BB", "BBD"},
    {"BD", "BDT"}, {"BE", "EUR"}, {"BF", "XOF"}, {"BG", "EUR"}, {"BH", "BHD"}, {"BI", "BIF"},
    {"BJ", "XOF"}, {"BL", "EUR"}, {"BM", "BMD"}, {"BN", "BND"}, {"BO", "BOB"}, {"BQ", "USD"},
    {"BR", "BRL"}, {"BS", "BSD"}, {"BT", "BTN"}, {"BV", "NOK"}, {"BW", "BWP"}, {"BY", "BYN"},
    {"BZ", "BZD"}, {"CA", "CAD"}, {"CC", "AUD"}, {"CD", "CDF"}, {"CF", "XAF"}, {"CG", "XAF"},
    {"CH", "CHF"}, {"CI", "XOF"}, {"CK", "NZD"}, {"CL", "CLP"}, {"CM", "XAF"}, {"CN", "CNY"},
    {"CO", "COP"}, {"CR", "CRC"}, {"CU", "CUP"}, {"CV", "CVE"}, {"CW", "XCG"}, {"CX", "AUD"},
    {"CY", "EUR"}, {"CZ", "CZK"}, {"DE", "EUR"}, {"DJ", "DJF"}, {"DK", "DKK"}, {"DM", "XCD"},
    {"DO", "DOP"}, {"DZ", "DZD"}, {"EC", "USD"}, {"EE", "EUR"}, {"EG", "EGP"}, {"EH", "MAD"},
    {"ER", "ERN"}, {"ES", "EUR"}, {"ET", "ETB"}, {"FI", "EUR"}, {"FJ", "FJD"}, {"FK", "FKP"},
    {"FM", "USD"}, {"FO", "DKK"}, {"FR", "EUR"}, {"GA", "XAF"}, {"GB", "GBP"}, {"GD", "XCD"},
    {"GE", "GEL"}, {"GF", "EUR"}, {"GG", "GBP"}, {"GH", "GHS"}, {"GI", "GIP"}, {"GL", "DKK"},
    {"GM", "GMD"}, {"GN", "GNF"}, {"GP", "EUR"}, {"GQ", "XAF"}, {"GR", "EUR"}, {"GS", ""},
    {"GT", "GTQ"}, {"GU", "USD"}, {"GW", "XOF"}, {"GY", "GYD"}, {"HK", "HKD"}, {"HM", "AUD"},
    {"HN", "HNL"}, {"HR", "EUR"}, {"HT", "HTG"}, {"HU", "HUF"}, {"ID", "IDR"}, {"IE", "EUR"},
    {"IL", "ILS"}, {"IM", "GBP"}, {"IN", "INR"}, {"IO", "USD"}, {"IQ", "IQD"}, {"IR", "IRR"},
    {"IS", "ISK"}, {"IT", "EUR"}, {"JE", "GBP"}, {"JM", "JMD"}, {"JO", "JOD"}, {"JP", "JPY"},
    {"KE", "KES"}, {"KG", "KGS"}, {"KH", "KHR"}, {"KI", "AUD"}, {"KM", "KMF"}, {"KN", "XCD"},
    {"KP", "KPW"}, {"KR", "KRW"}, {"KW", "KWD"}, {"KY", "KYD"}, {"KZ", "KZT"}, {"LA", "LAK"},
    {"LB", "LBP"}, {"LC", "XCD"}, {"LI", "CHF"}, {"LK", "LKR"}, {"LR", "LRD"}, {"LS", "LSL"},
    {"LT", "EUR"}, {"LU", "EUR"}, {"LV", "EUR"}, {"LY", "LYD"}, {"MA", "MAD"}, {"MC", "EUR"},
    {"MD", "MDL"}, {"ME", "EUR"}, {"MF", "EUR"}, {"MG", "MGA"}, {"MH", "USD"}, {"MK", "MKD"},
    {"ML", "XOF"}, {"MM", "MMK"}, {"MN", "MNT"}, {"MO", "MOP"}, {"MP", "USD"}, {"MQ", "EUR"},
    {"MR", "MRU"}, {"MS", "XCD"}, {"MT", "EUR"}, {"MU", "MUR"}, {"MV", "MVR"}, {"MW", "MWK"},
    {"MX", "MXN"}, {"MY", "MYR"}, {"MZ", "MZN"}, {"NA", "NAD"}, {"NC", "XPF"}, {"NE", "XOF"},
    {"NF", "AUD"}, {"NG", "NGN"}, {"NI", "NIO"}, {"NL", "EUR"}, {"NO", "NOK"}, {"NP", "NPR"},
    {"NR", "AUD"}, {"NU", "NZD"}, {"NZ", "NZD"}, {"OM", "OMR"}, {"PA", "USD"}, {"PE", "PEN"},
    {"PF", "XPF"}, {"PG", "PGK"}, {"PH", "PHP"}, {"PK", "PKR"}, {"PL", "PLN"}, {"PM", "EUR"},
    {"PN", "NZD"}, {"PR", "USD"}, {"PS", "ILS"}, {"PT", "EUR"}, {"PW", "USD"}, {"PY", "PYG"},
    {"QA", "QAR"}, {"RE", "EUR"}, {"RO", "RON"}, {"RS", "RSD"}, {"RU", "RUB"}, {"RW", "RWF"},
    {"SA", "SAR"}, {"SB", "SBD"}, {"SC", "SCR"}, {"SD", "SDG"}, {"SE", "SEK"}, {"SG", "SGD"},
    {"SH", "SHP"}, {"SI", "EUR"}, {"SJ", "NOK"}, {"SK", "EUR"}, {"SL", "SLE"}, {"SM", "EUR"},
    {"SN", "XOF"}, {"SO", "SOS"}, {"SR", "SRD"}, {"SS", "SSP"}, {"ST", "STN"}, {"SV", "USD"},
    {"SX", "XCG"}, {"SY", "SYP"}, {"SZ", "SZL"}, {"TC", "USD"}, {"TD", "XAF"}, {"TF", "EUR"},
    {"TG", "XOF"}, {"TH", "THB"}, {"TJ", "TJS"}, {"TK", "NZD"}, {"TL", "USD"}, {"TM", "TMT"},
    {"TN", "TND"}, {"TO", "TOP"}, {"TR", "TRY"}, {"TT", "TTD"}, {"TV", "AUD"}, {"TW", "TWD"},
    {"TZ", "TZS"}, {"UA", "UAH"}, {"UG", "UGX"}, {"UM", "USD"}, {"US", "USD"}, {"UY", "UYU"},
    {"UZ", "UZS"}, {"VA", "EUR"}, {"VC", "XCD"}, {"VE", "VES"}, {"VG", "USD"}, {"VI", "USD"},
    {"VN", "VND"}, {"VU", "VUV"}, {"WF", "XPF"}, {"WS", "WST"}, {"YE", "YER"}, {"YT", "EUR"},
    {"ZA", "ZAR"}, {"ZM", "ZMW"}, {"ZW", "ZWG"},
};

template <typename Row, size_t N, typename Key>
constexpr bool is_strictly_sorted(const Row (&rows)[N], Key key) {
  for (size_t i = 1; i < N; ++i) {
    if (!(key(rows[i - 1]) < key(rows[i]))) return false;
  }
  return true;
}

static_assert(is_strictly_sorted(kCurrencies, [](const Currency& c) { return c.code; }),
              "kCurrencies must be sorted by code for binary search");
static_assert(is_strictly_sorted(kCountries, [](const CountryCurrency& c) { return c.alpha2; }),
              "kCountries must be sorted by alpha2 for binary search");
static_assert(std::size(kCountries) == 249, "ISO 3166-1 assigns 249 alpha-2 codes");

const CountryCurrency* find_country(std::string_view alpha2) {
  if (alpha2.size() != 2) return nullptr;
  const auto* end = std::end(kCountries);
  const auto* it = std::lower_bound(
      std::begin(kCountries), end, alpha2,
      [](const CountryCurrency& row, std::string_view key) { return row.alpha2 < key; });
  if (it == end || it->alpha2 != alpha2) return nullptr;
  return it;
}

// ---- parse_amount ----

constexpr int64_t kMaxAmountDigits = 14;  // kMaxAmountMinor = 10^13 has 14 digits
// Exponents are clamped to this magnitude while parsing. Any exponent beyond it is already decided
// (too large, too many decimals, or zero), and the clamp keeps the arithmetic overflow-free without
// walking the exponent's value.
constexpr int kExponentClamp = 1000;

static_assert(kMaxAmountMinor == 10'000'000'000'000, "kMaxAmountDigits assumes 10^13");

Status amount_error(std::string message) {
  return Status::invalid_argument("amount", std::move(message));
}

Status not_a_number() { return amount_error("amount is not a valid number"); }

std::string decimals_message(int max_decimals) {
  if (max_decimals == 0) return "amount must not have decimals";
  if (max_decimals == 1) return "amount has more than 1 decimal";
  return "amount has more than " + std::to_string(max_decimals) + " decimals";
}

}  // namespace

const Currency* find_currency(std::string_view code) {
  if (code.size() != 3) return nullptr;
  const auto* end = std::end(kCurrencies);
  const auto* it =
      std::lower_bound(std::begin(kCurrencies), end, code,
                       [](const Currency& row, std::string_view key) { return row.code < key; });
  if (it == end || it->code != code) return nullptr;
  return it;
}

const Currency* find_currency_by_numeric(int numeric) {
  for (const Currency& currency : kCurrencies) {
    if (currency.numeric == numeric) return &currency;
  }
  return nullptr;
}

const Currency* payout_currency_for_country(std::string_view country_alpha2) {
  const CountryCurrency* country = find_country(country_alpha2);
  if (country == nullptr || country->currency_code.empty()) return nullptr;
  const Currency* currency = find_currency(country->currency_code);
  PAYOUTD_ASSERT(currency != nullptr);  // the tables are compiled in together
  return currency;
}

bool is_known_country(std::string_view country_alpha2) {
  return find_country(country_alpha2) != nullptr;
}

Result<int64_t> parse_amount(std::string_view text, const Currency& currency,
                             AmountParseOptions options) {
  if (text.empty()) return amount_error("amount is empty");
  if (text.size() > kMaxAmountTextBytes) {
    return amount_error("amount is longer than " + std::to_string(kMaxAmountTextBytes) +
                        " characters");
  }

  // 1. JSON number grammar: '-'? ('0' | [1-9][0-9]*) ('.' [0-9]+)? ([eE] [+-]? [0-9]+)?
  //    The mantissa's digits (integer and fraction parts) are collected without the point.
  std::array<char, kMaxAmountTextBytes> digits{};
  size_t digit_count = 0;
  int fraction_digits = 0;
  size_t pos = 0;
  const size_t size = text.size();

  const bool negative = text[pos] == '-';
  if (negative) ++pos;
  if (pos == size || !is_ascii_digit(text[pos])) return not_a_number();
  if (text[pos] == '0') {
    digits[digit_count++] = '0';
    ++pos;
    if (pos < size && is_ascii_digit(text[pos])) return not_a_number();  // leading zero ("00.5", "01")
  } else {
    while (pos < size && is_ascii_digit(text[pos])) digits[digit_count++] = text[pos++];
  }
  if (pos < size && text[pos] == '.') {
    ++pos;
    if (pos == size || !is_ascii_digit(text[pos])) return not_a_number();  // "5." or "5.e1"
    while (pos < size && is_ascii_digit(text[pos])) {
      digits[digit_count++] = text[pos++];
      ++fraction_digits;
    }
  }
  int exponent = 0;
  if (pos < size && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    bool exponent_negative = false;
    if (pos < size && (text[pos] == '+' || text[pos] == '-')) {
      exponent_negative = text[pos] == '-';
      ++pos;
    }
    if (pos == size || !is_ascii_digit(text[pos])) return not_a_number();  // "1e", "1e+"
    while (pos < size && is_ascii_digit(text[pos])) {
      exponent = std::min(exponent * 10 + (text[pos] - '0'), kExponentClamp);
      ++pos;
    }
    if (exponent_negative) exponent = -exponent;
  }
  if (pos != size) return not_a_number();  // trailing garbage, whitespace, ...

  // 2. value = digits * 10^(exponent - fraction_digits). Drop leading zeros (no value) and trailing
  //    zeros (moved into the scale), leaving `significant` digits * 10^scale.
  size_t first = 0;
  while (first < digit_count && digits[first] == '0') ++first;
  if (first == digit_count) {  // "0", "-0", "0.00e5"
    return amount_error(options.allow_negative ? "amount must not be zero"
                                               : "amount must be greater than zero");
  }
  size_t last = digit_count - 1;
  while (digits[last] == '0') --last;  // stops at `first` at the latest: digits[first] != '0'
  const auto significant = static_cast<int64_t>(last - first + 1);
  const int64_t scale =
      int64_t{exponent} - fraction_digits + static_cast<int64_t>(digit_count - 1 - last);

  if (negative && !options.allow_negative) return amount_error("amount must be greater than zero");

  // 3. Decimals: the value needs max(0, -scale) decimals.
  int max_decimals = currency.exponent;
  if (options.max_decimals >= 0) max_decimals = std::min(max_decimals, options.max_decimals);
  if (scale < -max_decimals) return amount_error(decimals_message(max_decimals));

  // 4. minor units = significant * 10^(scale + exponent), shift >= 0 by step 3. A result of more
  //    than 14 digits is above the maximum; otherwise it fits in int64 with room to spare.
  const int64_t shift = scale + currency.exponent;
  if (significant + shift > kMaxAmountDigits) {
    return amount_error("amount exceeds the maximum of " +
                        format_amount(kMaxAmountMinor, currency));
  }
  int64_t magnitude = 0;
  for (size_t i = first; i <= last; ++i) magnitude = magnitude * 10 + (digits[i] - '0');
  for (int64_t i = 0; i < shift; ++i) magnitude *= 10;
  if (magnitude > kMaxAmountMinor) {
    return amount_error("amount exceeds the maximum of " +
                        format_amount(kMaxAmountMinor, currency));
  }
  return negative ? -magnitude : magnitude;
}

std::string amount_text(int64_t minor_units, std::string_view currency_code) {
  const Currency* known = find_currency(currency_code);
  if (known == nullptr) return std::to_string(minor_units);
  return format_amount(minor_units, *known);
}

std::string format_amount(int64_t minor_units, const Currency& currency) {
  std::string out;
  append_amount(out, minor_units, currency);
  return out;
}

void append_amount(std::string& out, int64_t minor_units, const Currency& currency) {
  // Magnitude as unsigned so that INT64_MIN prints too.
  const bool negative = minor_units < 0;
  uint64_t magnitude = negative ? uint64_t{0} - static_cast<uint64_t>(minor_units)
                                : static_cast<uint64_t>(minor_units);
  // Digits, least significant first; at least exponent + 1 of them ("0.05").
  std::array<char, 24> reversed{};
  size_t count = 0;
  do {
    reversed[count++] = static_cast<char>('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude != 0);
  const size_t exponent = currency.exponent;
  PAYOUTD_ASSERT(exponent < reversed.size() - 1);
  while (count < exponent + 1) reversed[count++] = '0';

  if (negative) out.push_back('-');
  for (size_t i = count; i > 0; --i) {
    if (i == exponent && exponent > 0) out.push_back('.');
    out.push_back(reversed[i - 1]);
  }
}

int64_t compute_fees(int64_t amount_minor, const FeeSchedule& schedule) {
  PAYOUTD_ASSERT(amount_minor > 0 && amount_minor <= kMaxAmountMinor);
  PAYOUTD_ASSERT(schedule.fixed_minor >= 0 && schedule.fixed_minor <= kMaxAmountMinor);
  PAYOUTD_ASSERT(schedule.percent_bps >= 0 && schedule.percent_bps <= 10000);
  // The product is at most 10^17 (fits int64), but __int128 keeps this obviously safe if the
  // bounds above ever grow.
  __extension__ typedef __int128 Int128;
  const Int128 product = static_cast<Int128>(amount_minor) * schedule.percent_bps;
  const Int128 percent_part = (product + 5000) / 10000;  // round half up (product >= 0)
  return schedule.fixed_minor + static_cast<int64_t>(percent_part);
}

}  // namespace payoutd
