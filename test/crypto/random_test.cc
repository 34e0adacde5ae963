#include "crypto/random.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace payoutd::crypto {
namespace {

// Plays back a fixed byte script, then repeats its last byte.
class ScriptedRandom final : public RandomSource {
 public:
  explicit ScriptedRandom(std::vector<uint8_t> script) : script_(std::move(script)) {}
  void fill(std::span<uint8_t> out) override {
    for (auto& byte : out) {
      byte = script_[std::min(position_, script_.size() - 1)];
      ++position_;
    }
  }

 private:
  std::vector<uint8_t> script_;
  size_t position_ = 0;
};

bool is_base62(const std::string& text) {
  for (char c : text) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    if (!ok) return false;
  }
  return true;
}

TEST(SystemRandomTest, FillsAndDiffers) {
  SystemRandom random;
  std::array<uint8_t, 32> a{};
  std::array<uint8_t, 32> b{};
  random.fill(a);
  random.fill(b);
  EXPECT_NE(a, b);
  EXPECT_NE(a, (std::array<uint8_t, 32>{}));
  random.fill(std::span<uint8_t>());  // empty is fine
}

TEST(SystemRandomTest, LargeFillCrossesChunks) {
  SystemRandom random;
  std::vector<uint8_t> big((1 << 20) + 17, 0);
  random.fill(big);
  // The tail past the first chunk was written too (all-zero 17 bytes has probability 2^-136).
  bool tail_nonzero = false;
  for (size_t i = big.size() - 17; i < big.size(); ++i) tail_nonzero |= big[i] != 0;
  EXPECT_TRUE(tail_nonzero);
}

TEST(RandomBytesTest, LengthsAndUniqueness) {
  for (size_t count : {0u, 1u, 16u, 32u, 100u}) EXPECT_EQ(random_bytes(count).size(), count);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(random_bytes(16));
  EXPECT_EQ(seen.size(), 100u);
}

TEST(RandomHexTest, LowerHexOfTheRightLength) {
  for (size_t bytes : {0u, 1u, 16u, 32u}) {
    const std::string hex = random_hex(bytes);
    EXPECT_EQ(hex.size(), 2 * bytes);
    EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos) << hex;
  }
  ScriptedRandom scripted({0x00, 0xAB, 0xFF});
  EXPECT_EQ(random_hex(3, scripted), "00abff");
}

TEST(RandomTokenTest, LengthAlphabetAndUniqueness) {
  for (size_t chars : {0u, 1u, 32u, 43u, 200u}) {
    const std::string token = random_token(chars);
    EXPECT_EQ(token.size(), chars);
    EXPECT_TRUE(is_base62(token)) << token;
  }
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(random_token(32));
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(RandomTokenTest, RejectionSamplingSkipsBiasedBytes) {
  // 248..255 are rejected; the rest map byte % 62 onto 0-9A-Za-z.
  ScriptedRandom scripted({248, 255, 0, 61, 250, 62, 247, 10, 36});
  EXPECT_EQ(random_token(6, scripted), "0z0zAa");
}

TEST(RandomTokenTest, DeterministicWithASeededSource) {
  testing::SeededRandom a(42);
  testing::SeededRandom b(42);
  EXPECT_EQ(random_token(32, a), random_token(32, b));
}

TEST(RandomTokenTest, RoughlyUniform) {
  const uint64_t seed = testing::random_seed_for_run("RandomTokenTest.RoughlyUniform");
  testing::SeededRandom random(seed);
  std::array<int, 128> counts{};
  const int kTokens = 2000;
  const int kChars = 62;
  for (int i = 0; i < kTokens; ++i) {
    for (char c : random_token(kChars, random)) ++counts[static_cast<unsigned char>(c)];
  }
  // Expected 2000 per character; a modulo-biased generator would give the first 8 ~3.2% more.
  // 6 sigma of a binomial(124000, 1/62) is ~270.
  for (char c : std::string("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")) {
    EXPECT_NEAR(counts[static_cast<unsigned char>(c)], kTokens, 270) << c;
  }
}

TEST(RandomTokenDeathTest, BrokenSourceAbortsInsteadOfSpinning) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ScriptedRandom broken({255});
  EXPECT_DEATH((void)random_token(8, broken), "");
}

}  // namespace
}  // namespace payoutd::crypto
