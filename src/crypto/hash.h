// SHA-256, HMAC-SHA256, hex and constant-time comparison (OpenSSL 3, non-deprecated APIs only).
//
// All digests are returned as raw bytes in a std::string; hex is a separate, explicit step.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace payoutd::crypto {

inline constexpr size_t kSha256Bytes = 32;

// SHA-256 of `data`: 32 raw bytes.
std::string sha256(std::string_view data);

// HMAC-SHA256(key, message): 32 raw bytes. Any key length (including empty) is accepted.
std::string hmac_sha256(std::string_view key, std::string_view message);

// Hex encodings of raw bytes ("0a1b..." / "0A1B...").
std::string hex_lower(std::string_view bytes);
std::string hex_upper(std::string_view bytes);

// Raw bytes of `hex` (upper, lower or mixed case). nullopt on odd length or a non-hex character.
std::optional<std::string> hex_decode(std::string_view hex);

// True when a and b are byte-for-byte equal. The content comparison takes time that depends only on
// the lengths (CRYPTO_memcmp), never on where the first difference is. Lengths are not secret:
// a length mismatch returns false (after the same fixed-time pass over the common prefix).
bool constant_time_equal(std::string_view a, std::string_view b);

// Checks a Payload-Signature style header: `provided_hex` must be exactly 64 hex characters
// (lower or upper case; Base64 or any other length is rejected) and equal, in constant time, to
// HMAC-SHA256(key, message).
bool verify_hmac_sha256_hex(std::string_view key, std::string_view message, std::string_view provided_hex);

}  // namespace payoutd::crypto
