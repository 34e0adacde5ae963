#include "core/time_format.h"

#include <array>

namespace payoutd {
namespace {

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kSecondsPerDay = 86'400;
constexpr int64_t kMicrosPerDay = kMicrosPerSecond * kSecondsPerDay;

struct CivilDate {
  int64_t year;
  int month;  // 1..12
  int day;    // 1..31
};

// Proleptic Gregorian calendar <-> days since 1970-01-01, computed in 400-year eras (146097 days)
// with March as the first month of the computational year, so the leap day is the year's last.
int64_t days_from_civil(int64_t year, int month, int day) {
  const int64_t shifted_year = month <= 2 ? year - 1 : year;
  const int64_t era = (shifted_year >= 0 ? shifted_year : shifted_year - 399) / 400;
  const int64_t year_of_era = shifted_year - era * 400;                    // [0, 399]
  const int64_t month_from_march = month > 2 ? month - 3 : month + 9;      // [0, 11]
  const int64_t day_of_year = (153 * month_from_march + 2) / 5 + day - 1;  // [0, 365]
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;  // 719468: days from 0000-03-01 to 1970-01-01
}

CivilDate civil_from_days(int64_t days) {
  const int64_t shifted = days + 719468;
  const int64_t era = (shifted >= 0 ? shifted : shifted - 146096) / 146097;
  const int64_t day_of_era = shifted - era * 146097;  // [0, 146096]
  const int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) /
      365;  // [0, 399]
  const int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t month_from_march = (5 * day_of_year + 2) / 153;  // [0, 11]
  const int day = static_cast<int>(day_of_year - (153 * month_from_march + 2) / 5 + 1);
  const int month =
      static_cast<int>(month_from_march < 10 ? month_from_march + 3 : month_from_march - 9);
  const int64_t year = year_of_era + era * 400 + (month <= 2 ? 1 : 0);
  return {year, month, day};
}

bool is_leap_year(int64_t year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int64_t year, int month) {
  constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && is_leap_year(year)) return 29;
  return kDays[static_cast<size_t>(month - 1)];
}

int64_t floor_div(int64_t value, int64_t divisor) {
  int64_t quotient = value / divisor;
  if (value % divisor != 0 && value < 0) --quotient;
  return quotient;
}

void append_padded(std::string& out, int64_t value, int width) {
  if (value < 0) {
    out.push_back('-');
    value = -value;
  }
  std::array<char, 24> reversed{};
  int count = 0;
  do {
    reversed[static_cast<size_t>(count++)] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  for (int i = count; i < width; ++i) out.push_back('0');
  for (int i = count; i > 0; --i) out.push_back(reversed[static_cast<size_t>(i - 1)]);
}

// "YYYY-MM-DD<separator>HH:MM:SS"; years outside 0..9999 print with more digits or a sign.
std::string format_date_time(int64_t unix_micros, char separator) {
  const int64_t days = floor_div(unix_micros, kMicrosPerDay);
  // The remainder directly (not unix_micros - days * kMicrosPerDay, which overflows near
  // INT64_MIN).
  int64_t micros_of_day = unix_micros % kMicrosPerDay;
  if (micros_of_day < 0) micros_of_day += kMicrosPerDay;
  const int64_t second_of_day = micros_of_day / kMicrosPerSecond;
  const CivilDate date = civil_from_days(days);
  std::string out;
  out.reserve(20);
  append_padded(out, date.year, 4);
  out.push_back('-');
  append_padded(out, date.month, 2);
  out.push_back('-');
  append_padded(out, date.day, 2);
  out.push_back(separator);
  append_padded(out, second_of_day / 3600, 2);
  out.push_back(':');
  append_padded(out, second_of_day / 60 % 60, 2);
  out.push_back(':');
  append_padded(out, second_of_day % 60, 2);
  return out;
}

// Reads exactly `count` digits at text[pos...]; false if any is not a digit or text is too short.
bool read_digits(std::string_view text, size_t pos, size_t count, int& value) {
  if (pos + count > text.size()) return false;
  value = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    value = value * 10 + (text[i] - '0');
  }
  return true;
}

}  // namespace

std::string format_rfc3339(int64_t unix_micros) {
  std::string out = format_date_time(unix_micros, 'T');
  out.push_back('Z');
  return out;
}

std::string format_v3_date(int64_t unix_micros) { return format_date_time(unix_micros, ' '); }

std::optional<int64_t> parse_rfc3339(std::string_view text) {
  // Longest accepted: "YYYY-MM-DDTHH:MM:SS." + 9 fraction digits + "+HH:MM" = 35 bytes.
  constexpr size_t kMaxFractionDigits = 9;
  if (text.size() < 20 || text.size() > 35) return std::nullopt;

  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!read_digits(text, 0, 4, year) || text[4] != '-' || !read_digits(text, 5, 2, month) ||
      text[7] != '-' || !read_digits(text, 8, 2, day) || (text[10] != 'T' && text[10] != 't') ||
      !read_digits(text, 11, 2, hour) || text[13] != ':' || !read_digits(text, 14, 2, minute) ||
      text[16] != ':' || !read_digits(text, 17, 2, second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) return std::nullopt;
  // Leap seconds (":60") cannot be represented in Unix time; refuse rather than guess.
  if (hour > 23 || minute > 59 || second > 59) return std::nullopt;

  size_t pos = 19;
  int64_t fraction_micros = 0;
  if (text[pos] == '.') {
    ++pos;
    size_t fraction_digits = 0;
    int64_t scale = 100'000;  // weight of the first fraction digit in microseconds
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (++fraction_digits > kMaxFractionDigits) return std::nullopt;
      fraction_micros += (text[pos] - '0') * scale;  // digits past the 6th have scale 0: truncated
      scale /= 10;
      ++pos;
    }
    if (fraction_digits == 0) return std::nullopt;
  }

  if (pos >= text.size()) return std::nullopt;  // the offset is mandatory
  int64_t offset_seconds = 0;
  if (text[pos] == 'Z' || text[pos] == 'z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    const bool negative = text[pos] == '-';
    int offset_hours = 0, offset_minutes = 0;
    if (!read_digits(text, pos + 1, 2, offset_hours) || pos + 3 >= text.size() ||
        text[pos + 3] != ':' || !read_digits(text, pos + 4, 2, offset_minutes)) {
      return std::nullopt;
    }
    if (offset_hours > 23 || offset_minutes > 59) return std::nullopt;
    offset_seconds = (offset_hours * 3600 + offset_minutes * 60) * (negative ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;

  const int64_t days = days_from_civil(year, month, day);
  const int64_t seconds =
      days * kSecondsPerDay + hour * 3600 + minute * 60 + second - offset_seconds;
  return seconds * kMicrosPerSecond + fraction_micros;
}

}  // namespace payoutd
