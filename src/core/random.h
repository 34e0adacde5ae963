// Injected randomness and time: the core never reaches for the OS itself, so tests control both.
#pragma once

#include <cstdint>
#include <span>

namespace payoutd {

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // Fills `out` with random bytes. Production uses a CSPRNG (crypto/random.h); tests a seeded PRNG.
  virtual void fill(std::span<uint8_t> out) = 0;
};

class Clock {
 public:
  virtual ~Clock() = default;
  // Microseconds since the Unix epoch, UTC.
  virtual int64_t now_micros() = 0;
};

}  // namespace payoutd
