// The test clock: time that a test sets, shared by every payoutd process of the test.
//
// `--test-clock FILE` (a global flag, refused without its file) makes a process read the time
// from FILE instead of the system clock: the file's first 8 bytes are the current time in unix
// microseconds, a native-endian int64 that every process maps and reads with an atomic load. The
// test writes it (TestClockFile::set) and every process sees the new time at its next read: the
// servers of a multi-node test, the engine's rail timeline, leases, expiries, token lifetimes,
// the dispatcher's backoff, the rate limiters, and the CLI commands the test runs beside them.
// Nothing moves the time but the test, so a test advances it and then waits for a condition.
//
// Production never uses it: it is on only with the flag, and then the server says so in its log
// and in GET /status.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/random.h"
#include "core/status.h"

namespace payoutd::cli {

// The file's size: one int64, padded so the file is a small fixed-size record.
inline constexpr size_t kTestClockFileBytes = 8;

// A mapping of a test clock file (both ends: processes read it, tests write it).
class TestClockFile {
 public:
  // Maps an existing file of exactly kTestClockFileBytes. kInvalidArgument (naming `path`) when it
  // is missing, of another size, or cannot be mapped.
  static Result<std::unique_ptr<TestClockFile>> open(const std::string& path);
  // Creates (or truncates) `path` holding `now_micros`, then maps it.
  static Result<std::unique_ptr<TestClockFile>> create(const std::string& path,
                                                       int64_t now_micros);
  ~TestClockFile();
  TestClockFile(const TestClockFile&) = delete;
  TestClockFile& operator=(const TestClockFile&) = delete;

  int64_t load() const;
  void store(int64_t now_micros);
  const std::string& path() const { return path_; }

 private:
  TestClockFile(std::string path, void* mapping) : path_(std::move(path)), mapping_(mapping) {}

  std::string path_;
  void* mapping_;  // kTestClockFileBytes, MAP_SHARED
};

// The Clock of a process started with --test-clock.
class TestClock final : public Clock {
 public:
  explicit TestClock(std::unique_ptr<TestClockFile> file) : file_(std::move(file)) {}
  int64_t now_micros() override { return file_->load(); }
  const std::string& path() const { return file_->path(); }

 private:
  std::unique_ptr<TestClockFile> file_;
};

}  // namespace payoutd::cli
