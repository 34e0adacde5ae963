// The production Clock: wall-clock time from std::chrono::system_clock, in unix microseconds.
#pragma once

#include <chrono>
#include <cstdint>

#include "core/random.h"

namespace payoutd::cli {

class SystemClock final : public Clock {
 public:
  int64_t now_micros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace payoutd::cli
