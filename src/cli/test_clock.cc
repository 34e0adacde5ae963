#include "cli/test_clock.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace payoutd::cli {
namespace {

// Lock-free, so the load and store are single instructions on the shared page: address-free,
// atomic across processes as well as threads.
static_assert(std::atomic_ref<int64_t>::is_always_lock_free);
static_assert(kTestClockFileBytes == sizeof(int64_t));

Status file_error(const std::string& path, std::string_view what) {
  return Status::invalid_argument("test_clock",
                                  "test clock file " + path + ": " + std::string(what));
}

}  // namespace

Result<std::unique_ptr<TestClockFile>> TestClockFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return file_error(path, std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) ||
      info.st_size != static_cast<off_t>(kTestClockFileBytes)) {
    ::close(fd);
    return file_error(path, "must be a regular file of exactly 8 bytes");
  }
  void* mapping = ::mmap(nullptr, kTestClockFileBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);  // the mapping keeps the file
  if (mapping == MAP_FAILED) return file_error(path, std::strerror(errno));
  return std::unique_ptr<TestClockFile>(new TestClockFile(path, mapping));
}

Result<std::unique_ptr<TestClockFile>> TestClockFile::create(const std::string& path,
                                                             int64_t now_micros) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return file_error(path, std::strerror(errno));
  const bool written =
      ::write(fd, &now_micros, sizeof(now_micros)) == static_cast<ssize_t>(sizeof(now_micros));
  ::close(fd);
  if (!written) return file_error(path, "could not be written");
  return open(path);
}

TestClockFile::~TestClockFile() { ::munmap(mapping_, kTestClockFileBytes); }

int64_t TestClockFile::load() const {
  return std::atomic_ref<int64_t>(*static_cast<int64_t*>(mapping_)).load(std::memory_order_acquire);
}

void TestClockFile::store(int64_t now_micros) {
  std::atomic_ref<int64_t>(*static_cast<int64_t*>(mapping_))
      .store(now_micros, std::memory_order_release);
}

}  // namespace payoutd::cli
