// The fdatasync ceiling of a directory: how many "write 4 KiB, fdatasync" rounds per second its
// filesystem and device sustain from one thread. Every durable commit of payoutd (SQLite WAL,
// synchronous=FULL) costs at least one such round, so this bounds unbatched durable writes/s.
//
//   payoutd_fsync_rate DIR [SECONDS=3]     prints "fdatasync_per_s=<rate> p50_us=<x> p99_us=<y>"
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [SECONDS]\n", argv[0]);
    return 2;
  }
  const std::string path = std::string(argv[1]) + "/fsync_rate.tmp";
  const double seconds = argc > 2 ? std::atof(argv[2]) : 3.0;
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
  if (fd < 0) {
    std::perror("open");
    return 1;
  }
  constexpr size_t kBlock = 4096;
  constexpr size_t kBlocks = 256;  // a 1 MiB file, rewritten in place like a recycled WAL
  std::vector<char> block(kBlock, 'x');
  for (size_t i = 0; i < kBlocks; ++i) {
    if (::write(fd, block.data(), kBlock) != static_cast<ssize_t>(kBlock)) {
      std::perror("write");
      return 1;
    }
  }
  if (::fsync(fd) != 0) {
    std::perror("fsync");
    return 1;
  }
  using Clock = std::chrono::steady_clock;
  std::vector<double> latencies_us;
  const Clock::time_point start = Clock::now();
  const Clock::time_point end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  size_t round = 0;
  Clock::time_point now = start;
  while (now < end) {
    block[0] = static_cast<char>('a' + round % 26);
    const off_t offset = static_cast<off_t>((round % kBlocks) * kBlock);
    if (::pwrite(fd, block.data(), kBlock, offset) != static_cast<ssize_t>(kBlock) ||
        ::fdatasync(fd) != 0) {
      std::perror("pwrite/fdatasync");
      return 1;
    }
    const Clock::time_point after = Clock::now();
    latencies_us.push_back(std::chrono::duration<double, std::micro>(after - now).count());
    now = after;
    ++round;
  }
  ::close(fd);
  ::unlink(path.c_str());
  const double elapsed = std::chrono::duration<double>(now - start).count();
  std::sort(latencies_us.begin(), latencies_us.end());
  auto percentile = [&](double p) {
    if (latencies_us.empty()) return 0.0;
    const size_t index = std::min(latencies_us.size() - 1,
                                  static_cast<size_t>(p / 100.0 * static_cast<double>(latencies_us.size())));
    return latencies_us[index];
  };
  std::printf("fdatasync_per_s=%.0f p50_us=%.0f p99_us=%.0f rounds=%zu\n",
              static_cast<double>(round) / elapsed, percentile(50), percentile(99), round);
  return 0;
}
