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

std::string random_base62(size_t count, RandomSource& random) {
  std::string out;
  out.reserve(count);
  std::array<uint8_t, kBytesPerRound> bytes{};
  // ~31 characters per round on average; the bound scales with the length asked for.
  const int max_rounds = kMaxRounds * static_cast<int>(1 + count / kPublicIdRandomChars);
  for (int round = 0; round < max_rounds && out.size() < count; ++round) {
    random.fill(bytes);
    for (uint8_t byte : bytes) {
      if (byte >= kAcceptBelow) continue;
      out.push_back(kBase62[byte % kBase62.size()]);
      if (out.size() == count) break;
    }
  }
  PAYOUTD_ASSERT(out.size() == count);  // else the RandomSource is broken
  return out;
}

std::string new_public_id(std::string_view prefix, RandomSource& random) {
  std::string id(prefix);
  id += random_base62(kPublicIdRandomChars, random);
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

std::string event_id_for(std::string_view payout_public_id, int32_t seq) {
  PAYOUTD_ASSERT(is_valid_public_id(payout_public_id, kPayoutIdPrefix));
  PAYOUTD_ASSERT(seq >= 1);
  std::string id(kEventIdPrefix);
  id += payout_public_id.substr(kPayoutIdPrefix.size());
  id += '_';
  id += std::to_string(seq);
  return id;
}

std::optional<ParsedEventId> parse_event_id(std::string_view text) {
  // evt_ + 16 + _ + 1..10 digits (an int32), no leading zero.
  constexpr size_t kFixed = kEventIdPrefix.size() + kPublicIdRandomChars + 1;
  if (text.size() <= kFixed || text.size() > kFixed + 10) return std::nullopt;
  if (text.substr(0, kEventIdPrefix.size()) != kEventIdPrefix) return std::nullopt;
  if (text[kFixed - 1] != '_') return std::nullopt;
  std::string public_id(kPayoutIdPrefix);
  public_id += text.substr(kEventIdPrefix.size(), kPublicIdRandomChars);
  if (!is_valid_public_id(public_id, kPayoutIdPrefix)) return std::nullopt;
  std::string_view digits = text.substr(kFixed);
  if (digits.front() == '0') return std::nullopt;
  int64_t seq = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    seq = seq * 10 + (c - '0');
  }
  if (seq > std::numeric_limits<int32_t>::max()) return std::nullopt;
  return ParsedEventId{std::move(public_id), static_cast<int32_t>(seq)};
}

}  // namespace payoutd
