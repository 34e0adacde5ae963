#include "support/test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "core/status.h"

namespace payoutd::testing {

bool eventually(const std::function<bool()>& condition, int timeout_ms, int poll_ms) {
  PAYOUTD_ASSERT(timeout_ms >= 0 && poll_ms >= 1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
  return condition();
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                        "/payoutd-test-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void SeededRandom::fill(std::span<uint8_t> out) {
  for (auto& byte : out) byte = static_cast<uint8_t>(engine_() & 0xFF);
}

uint64_t random_seed_for_run(const char* test_name) {
  uint64_t seed = 0;
  if (const char* forced = std::getenv("PAYOUTD_TEST_SEED"); forced != nullptr && *forced != '\0') {
    seed = std::strtoull(forced, nullptr, 10);
  } else {
    std::random_device device;
    seed = (static_cast<uint64_t>(device()) << 32) ^ device();
  }
  std::cout << "[seed] " << test_name << " random seed = " << seed
            << " (replay with PAYOUTD_TEST_SEED=" << seed << ")" << std::endl;
  return seed;
}

int run_command(const std::string& command, std::string* output, bool merge_stderr) {
  const std::string full = merge_stderr ? command + " 2>&1" : command;
  FILE* pipe = popen(full.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::array<char, 4096> buffer{};
  size_t count = 0;
  while ((count = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    if (output != nullptr) output->append(buffer.data(), count);
  }
  const int status = pclose(pipe);
  if (status == -1) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string payoutd_binary() {
  const char* path = std::getenv("PAYOUTD_BINARY");
  return path != nullptr ? path : "build/payoutd";
}

std::string shared_dir() {
  const char* path = std::getenv("PAYOUTD_SHARED_DIR");
  return path != nullptr ? path : "../shared";
}

}  // namespace payoutd::testing
