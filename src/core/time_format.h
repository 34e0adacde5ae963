// Pure timestamp formatting (UTC). Timestamps are int64 microseconds since the Unix epoch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace payoutd {

// "2024-01-15T10:30:00Z" (seconds precision, as the v1 dialect prints).
std::string format_rfc3339(int64_t unix_micros);
// "2024-01-15 10:30:00" (v3 notification `date`, GMT).
std::string format_v3_date(int64_t unix_micros);
// Accepts RFC 3339 with 'Z' or a numeric offset, optional fraction. nullopt when invalid.
std::optional<int64_t> parse_rfc3339(std::string_view text);

}  // namespace payoutd
