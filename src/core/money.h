// Exact money: ISO 4217 currencies, the country -> payout currency table, parsing, formatting, fees.
//
// An amount is an int64 count of the currency's minor unit from parse to print. No binary floating
// point type appears anywhere in money code.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace payoutd {

struct Currency {
  std::string_view code;  // "BRL"
  uint16_t numeric;       // 986 (the v1 currency_id)
  uint8_t exponent;       // minor-unit digits: BRL 2, CLP 0, KWD 3
};

// Largest amount accepted anywhere: 10^13 minor units (domain.md).
inline constexpr int64_t kMaxAmountMinor = 10'000'000'000'000;
// Longest amount text considered at all; longer input is refused before any arithmetic.
inline constexpr size_t kMaxAmountTextBytes = 64;

// Exact, case-sensitive lookup of an active ISO 4217 alphabetic code ("BRL"). nullptr if unknown.
const Currency* find_currency(std::string_view code);
const Currency* find_currency_by_numeric(int numeric);

// ISO 3166-1 alpha-2 country code (upper case) -> the currency payouts to it are made in.
// nullptr when the country is unknown or has no configured payout currency.
const Currency* payout_currency_for_country(std::string_view country_alpha2);
// True when `country_alpha2` is an assigned ISO 3166-1 alpha-2 code (upper case).
bool is_known_country(std::string_view country_alpha2);

struct AmountParseOptions {
  // Most decimals accepted; defaults to the currency's exponent. The v3 dialect passes
  // min(exponent, 2).
  int max_decimals = -1;
  // Adjustments may be negative; payout amounts and funding may not.
  bool allow_negative = false;
};

// Parses `text` exactly: either the raw text of a JSON number token, or the content of a JSON
// string holding a number. Grammar is JSON's number grammar (no leading '+', no leading zeros such as
// "00.5", no surrounding whitespace, no hex, no "NaN"/"Infinity"). Exponents are allowed when the
// value reduces to an exact minor-unit integer ("1e2" -> 100.00). Trailing zeros beyond the
// currency's decimals are not significant ("1.500" USD == 150 minor units); non-zero digits beyond
// them are refused ("1.005" BRL). Refuses zero (including "-0"), negative (unless allowed), and
// magnitudes above kMaxAmountMinor.
// Errors: kInvalidArgument with field "amount" and a message saying which rule failed.
Result<int64_t> parse_amount(std::string_view text, const Currency& currency,
                             AmountParseOptions options = {});

// Prints exactly `currency.exponent` decimals: 10010 BRL -> "100.10", 5000 CLP -> "5000",
// -150 USD -> "-1.50".
std::string format_amount(int64_t minor_units, const Currency& currency);
// format_amount in the currency of that ISO code ("100.00"); the bare integer when the code is
// unknown (which would be corrupt data: every stored currency comes from the ISO table). Every
// rendering of a stored amount (both dialects' objects, the CLI) goes through this one function.
std::string amount_text(int64_t minor_units, std::string_view currency_code);
void append_amount(std::string& out, int64_t minor_units, const Currency& currency);

// A merchant's fee schedule for one currency.
struct FeeSchedule {
  int64_t fixed_minor = 0;  // >= 0
  int32_t percent_bps = 0;  // basis points, 0..10000
};

// fees = fixed + round_half_up(amount * percent_bps / 10000).
// REQUIRES: 0 < amount_minor <= kMaxAmountMinor, schedule valid.
int64_t compute_fees(int64_t amount_minor, const FeeSchedule& schedule);

}  // namespace payoutd
