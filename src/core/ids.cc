#include "core/ids.h"

#include <array>
#include <limits>

#include "core/status.h"

namespace payoutd {
namespace {

constexpr std::string_view kBase62 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
static_assert(kBase62.size() == 62);

// Bytes >= 248 (= 4 * 62) are rejected so that `byte % 62` is exactly uniform.
constexpr unsigned kAcceptBelow = 248;
// Each round draws this many bytes; a round yields ~31 accepted characters on average, so one
// round almost always suffices. The round limit bounds the loop: with a working random source the
// chance of exhausting it is below 2^-2000, so exhausting it means the source is broken.
constexpr size_t kBytesPerRound = 32;
constexpr int kMaxRounds = 64;

bool is_base62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

}  // namespace

std::string new_public_id(std::string_view prefix, RandomSource& random) {
  std::string id;
  id.reserve(prefix.size() + kPublicIdRandomChars);
  id.append(prefix);
  std::array<uint8_t, kBytesPerRound> bytes{};
  size_t produced = 0;
  for (int round = 0; round < kMaxRounds && produced < kPublicIdRandomChars; ++round) {
    random.fill(bytes);
    for (uint8_t byte : bytes) {
      if (byte >= kAcceptBelow) continue;
      id.push_back(kBase62[byte % kBase62.size()]);
      if (++produced == kPublicIdRandomChars) break;
    }
  }
  PAYOUTD_ASSERT(produced == kPublicIdRandomChars);  // else the RandomSource is broken
  return id;
}

bool is_valid_public_id(std::string_view id, std::string_view prefix) {
  if (id.size() != prefix.size() + kPublicIdRandomChars) return false;
  if (id.substr(0, prefix.size()) != prefix) return false;
  for (char c : id.substr(prefix.size())) {
    if (!is_base62(c)) return false;
  }
  return true;
}

std::optional<int64_t> parse_cashout_id(std::string_view text) {
  constexpr size_t kMaxDigits = 19;  // 9223372036854775807
  if (text.empty() || text.size() > kMaxDigits) return std::nullopt;
  if (text[0] == '0') return std::nullopt;  // "0" and leading zeros
  int64_t value = 0;
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const int digit = c - '0';
    if (value > (kMax - digit) / 10) return std::nullopt;  // value * 10 + digit would overflow
    value = value * 10 + digit;
  }
  return value;
}

}  // namespace payoutd
