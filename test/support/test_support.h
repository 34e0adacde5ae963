// Shared test helpers: hermetic temp directories, injected randomness and time, seeds.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <random>
#include <span>
#include <string>

#include "core/random.h"

namespace payoutd::testing {

// Waits until `condition` holds or `timeout_ms` of real time passed, checking it every `poll_ms`;
// the condition's last value. The one poll loop of the tests: a test waits for a condition with a
// deadline (never for time to pass: a test that needs time advances a clock).
bool eventually(const std::function<bool()>& condition, int timeout_ms = 10'000, int poll_ms = 1);

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Deterministic RandomSource for tests.
class SeededRandom final : public RandomSource {
 public:
  explicit SeededRandom(uint64_t seed) : engine_(seed) {}
  void fill(std::span<uint8_t> out) override;
  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
};

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_micros = 1'700'000'000'000'000) : now_(start_micros) {}
  int64_t now_micros() override { return now_.load(); }
  void advance_micros(int64_t delta) { now_.fetch_add(delta); }
  void set_micros(int64_t value) { now_.store(value); }

 private:
  std::atomic<int64_t> now_;
};

// A random seed for this run, printed so a failure can be replayed with PAYOUTD_TEST_SEED=<seed>.
uint64_t random_seed_for_run(const char* test_name);

// Runs `command` with /bin/sh, capturing stdout (and stderr when merge_stderr). Returns exit code.
int run_command(const std::string& command, std::string* output, bool merge_stderr = true);

// Path of build/payoutd (from the PAYOUTD_BINARY environment variable set by CTest).
std::string payoutd_binary();
// Path of ../shared (PAYOUTD_SHARED_DIR).
std::string shared_dir();

}  // namespace payoutd::testing
