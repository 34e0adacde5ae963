// Identifier formats: cashout ids (int64), public ids ("pyt_" + 16 base62), request ids.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/random.h"

namespace payoutd {

inline constexpr std::string_view kPayoutIdPrefix = "pyt_";
inline constexpr size_t kPublicIdRandomChars = 16;

// `count` characters of [0-9A-Za-z], drawn uniformly (rejection sampling, no modulo bias).
std::string random_base62(size_t count, RandomSource& random);
// prefix + 16 characters of [0-9A-Za-z], drawn uniformly (rejection sampling, no modulo bias).
std::string new_public_id(std::string_view prefix, RandomSource& random);
// True when `id` is prefix followed by exactly 16 base62 characters.
bool is_valid_public_id(std::string_view id, std::string_view prefix);

// A notification event's id: "evt_" + the payout public id's 16 characters + "_" + the event's
// sequence number ("evt_8fKq2LmN0pQrStUv_3"). Derived, not random: every node names an event the
// same way, a merchant can tell which payout an event belongs to, and no lookup table is needed.
inline constexpr std::string_view kEventIdPrefix = "evt_";
// REQUIRES: is_valid_public_id(payout_public_id, kPayoutIdPrefix), seq >= 1.
std::string event_id_for(std::string_view payout_public_id, int32_t seq);
struct ParsedEventId {
  std::string payout_public_id;  // "pyt_…"
  int32_t seq = 0;
};
// nullopt unless `text` is exactly an event id as event_id_for writes it.
std::optional<ParsedEventId> parse_event_id(std::string_view text);

// A cashout id as the v3 dialect and the CLI accept it: decimal digits only, no sign, no leading
// zeros, 1..9223372036854775807.
std::optional<int64_t> parse_cashout_id(std::string_view text);

}  // namespace payoutd
