#include "crypto/hash.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <climits>

#include "core/status.h"

namespace payoutd::crypto {
namespace {

// OpenSSL takes (pointer, length) pairs; an empty std::string_view may carry a null pointer, which
// some OpenSSL entry points treat as "argument absent" rather than "empty". Always pass a real one.
const unsigned char* bytes_of(std::string_view data) {
  static constexpr unsigned char kEmpty[1] = {0};
  return data.empty() ? kEmpty : reinterpret_cast<const unsigned char*>(data.data());
}

std::string hex_encode(std::string_view bytes, const char* digits) {
  std::string out(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto byte = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = digits[byte >> 4];
    out[2 * i + 1] = digits[byte & 0x0F];
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string sha256(std::string_view data) {
  std::string out(kSha256Bytes, '\0');
  unsigned int length = 0;
  const int rc = EVP_Digest(bytes_of(data), data.size(), reinterpret_cast<unsigned char*>(out.data()), &length,
                            EVP_sha256(), nullptr);
  PAYOUTD_ASSERT(rc == 1 && length == kSha256Bytes);
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view message) {
  // HMAC() (one-shot) is not deprecated in OpenSSL 3; only the HMAC_CTX family is. Its key length
  // is an int: keys are short secrets, never anywhere near INT_MAX.
  PAYOUTD_ASSERT(key.size() <= static_cast<size_t>(INT_MAX));
  std::string out(kSha256Bytes, '\0');
  unsigned int length = 0;
  const unsigned char* result =
      HMAC(EVP_sha256(), bytes_of(key), static_cast<int>(key.size()), bytes_of(message), message.size(),
           reinterpret_cast<unsigned char*>(out.data()), &length);
  PAYOUTD_ASSERT(result != nullptr && length == kSha256Bytes);
  return out;
}

std::string hex_lower(std::string_view bytes) { return hex_encode(bytes, "0123456789abcdef"); }

std::string hex_upper(std::string_view bytes) { return hex_encode(bytes, "0123456789ABCDEF"); }

std::optional<std::string> hex_decode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    const int high = hex_value(hex[2 * i]);
    const int low = hex_value(hex[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out[i] = static_cast<char>((high << 4) | low);
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  const size_t common = std::min(a.size(), b.size());
  const int difference = CRYPTO_memcmp(bytes_of(a), bytes_of(b), common);
  return (a.size() == b.size()) & (difference == 0);
}

bool verify_hmac_sha256_hex(std::string_view key, std::string_view message, std::string_view provided_hex) {
  if (provided_hex.size() != 2 * kSha256Bytes) return false;
  const std::optional<std::string> provided = hex_decode(provided_hex);
  if (!provided.has_value()) return false;
  return constant_time_equal(hmac_sha256(key, message), *provided);
}

}  // namespace payoutd::crypto
