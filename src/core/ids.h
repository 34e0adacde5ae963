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

// prefix + 16 characters of [0-9A-Za-z], drawn uniformly (rejection sampling, no modulo bias).
std::string new_public_id(std::string_view prefix, RandomSource& random);
// True when `id` is prefix followed by exactly 16 base62 characters.
bool is_valid_public_id(std::string_view id, std::string_view prefix);

// A cashout id as the v3 dialect and the CLI accept it: decimal digits only, no sign, no leading
// zeros, 1..9223372036854775807.
std::optional<int64_t> parse_cashout_id(std::string_view text);

}  // namespace payoutd
