#include "crypto/random.h"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "core/status.h"
#include "crypto/hash.h"

namespace payoutd::crypto {
namespace {

constexpr std::string_view kBase62Alphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
// Bytes >= 248 (= 4 * 62) are rejected so every character is exactly equally likely.
constexpr unsigned kBase62AcceptBelow = 4 * 62;
// With a working source a round accepts 248/256 of its bytes; a source that keeps producing only
// rejected bytes is broken, and stopping beats spinning forever.
constexpr int kMaxTokenRounds = 1000;

}  // namespace

void SystemRandom::fill(std::span<uint8_t> out) {
  // RAND_bytes takes an int length: feed it bounded chunks.
  constexpr size_t kMaxChunkBytes = 1 << 20;
  size_t offset = 0;
  while (offset < out.size()) {
    const size_t chunk = std::min(out.size() - offset, kMaxChunkBytes);
    const int rc = RAND_bytes(out.data() + offset, static_cast<int>(chunk));
    PAYOUTD_ASSERT(rc == 1);
    offset += chunk;
  }
}

std::string random_bytes(size_t count, RandomSource& random) {
  std::string out(count, '\0');
  random.fill(std::span<uint8_t>(reinterpret_cast<uint8_t*>(out.data()), out.size()));
  return out;
}

std::string random_bytes(size_t count) {
  SystemRandom random;
  return random_bytes(count, random);
}

std::string random_token(size_t chars, RandomSource& random) {
  std::string out;
  out.reserve(chars);
  std::array<uint8_t, 64> batch{};
  int rounds = 0;
  while (out.size() < chars) {
    ++rounds;
    PAYOUTD_ASSERT(rounds <= kMaxTokenRounds);
    // A few spare bytes per round so one rejected byte rarely costs a whole extra round.
    const size_t wanted = std::min(batch.size(), chars - out.size() + 4);
    random.fill(std::span<uint8_t>(batch.data(), wanted));
    for (size_t i = 0; i < wanted && out.size() < chars; ++i) {
      if (batch[i] < kBase62AcceptBelow) out.push_back(kBase62Alphabet[batch[i] % 62]);
    }
  }
  return out;
}

std::string random_token(size_t chars) {
  SystemRandom random;
  return random_token(chars, random);
}

std::string random_hex(size_t bytes, RandomSource& random) { return hex_lower(random_bytes(bytes, random)); }

std::string random_hex(size_t bytes) {
  SystemRandom random;
  return random_hex(bytes, random);
}

}  // namespace payoutd::crypto
