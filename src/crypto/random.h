// Operating-system randomness (OpenSSL's CSPRNG) and the token helpers built on it.
//
// Everything that must be unguessable (credentials, tokens, nonces, salts) comes from here in
// production. Code below the dialects takes a RandomSource& instead, so tests can inject a seeded
// source; the overloads without a RandomSource use SystemRandom.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "core/random.h"

namespace payoutd::crypto {

// RandomSource backed by RAND_bytes. A failure of the CSPRNG aborts the process (PAYOUTD_ASSERT):
// silently continuing with weak or no randomness would be far worse than stopping. Stateless and
// thread-safe (OpenSSL 3's default DRBG is per thread).
class SystemRandom final : public RandomSource {
 public:
  void fill(std::span<uint8_t> out) override;
};

// `count` random bytes (raw).
std::string random_bytes(size_t count);
std::string random_bytes(size_t count, RandomSource& random);

// `chars` characters from [0-9A-Za-z], each uniform (rejection sampling, no modulo bias):
// log2(62) ~ 5.95 bits per character, so 32 characters carry ~190 bits.
std::string random_token(size_t chars);
std::string random_token(size_t chars, RandomSource& random);

// `bytes` random bytes as 2*bytes lower-case hex characters.
std::string random_hex(size_t bytes);
std::string random_hex(size_t bytes, RandomSource& random);

}  // namespace payoutd::crypto
