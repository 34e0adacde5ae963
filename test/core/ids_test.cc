#include "core/ids.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace payoutd {
namespace {

constexpr std::string_view kAlphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// Plays back a fixed byte script, cyclically.
class ScriptedRandom final : public RandomSource {
 public:
  explicit ScriptedRandom(std::vector<uint8_t> script) : script_(std::move(script)) {}
  void fill(std::span<uint8_t> out) override {
    for (uint8_t& byte : out) byte = script_[next_++ % script_.size()];
  }

 private:
  std::vector<uint8_t> script_;
  size_t next_ = 0;
};

TEST(PublicIdTest, FormatIsPrefixPlus16Base62) {
  payoutd::testing::SeededRandom random(7);
  for (int i = 0; i < 1000; ++i) {
    const std::string id = new_public_id(kPayoutIdPrefix, random);
    ASSERT_EQ(id.size(), 20u) << id;
    EXPECT_EQ(id.substr(0, 4), "pyt_");
    for (char c : id.substr(4)) EXPECT_NE(kAlphabet.find(c), std::string_view::npos) << id;
    EXPECT_TRUE(is_valid_public_id(id, kPayoutIdPrefix)) << id;
  }
  const std::string other = new_public_id("whk_", random);
  EXPECT_EQ(other.substr(0, 4), "whk_");
  EXPECT_TRUE(is_valid_public_id(other, "whk_"));
  EXPECT_FALSE(is_valid_public_id(other, kPayoutIdPrefix));
  const std::string bare = new_public_id("", random);
  EXPECT_EQ(bare.size(), 16u);
  EXPECT_TRUE(is_valid_public_id(bare, ""));
}

TEST(PublicIdTest, RejectionSamplingSkipsBiasedBytes) {
  // Bytes 248..255 would over-weight '0'..'7' under `% 62`; they must be skipped, not folded.
  ScriptedRandom skip_high({255, 248, 61, 0,   247, 124, 62,  250, 1,   185, 186, 249,
                            35,  36,  10, 246, 251, 100, 200, 9,   252, 253, 254, 123});
  // accepted: 61 0 247 124 62 1 185 186 35 36 10 246 100 200 9 123
  //       ->  z  0  z   0   0  1  z   0   Z  a  A  y   c   E   9 z
  EXPECT_EQ(new_public_id("pyt_", skip_high), "pyt_z0z001z0ZaAycE9z");

  // A counting source yields every byte value once per 256 bytes.
  std::vector<uint8_t> counting(256);
  for (size_t i = 0; i < counting.size(); ++i) counting[i] = static_cast<uint8_t>(i);
  ScriptedRandom counter(counting);
  EXPECT_EQ(new_public_id("", counter), "0123456789ABCDEF");
}

TEST(PublicIdDeathTest, BrokenRandomSourceIsABug) {
  ScriptedRandom stuck({255});
  EXPECT_DEATH((void)new_public_id("pyt_", stuck), "assertion failed");
}

TEST(PublicIdTest, DistinctAndUniform) {
  payoutd::testing::SeededRandom random(
      payoutd::testing::random_seed_for_run("PublicIdTest.DistinctAndUniform"));
  constexpr int kIds = 20000;
  std::set<std::string> ids;
  std::map<char, int> counts;
  std::array<std::map<char, int>, 16> per_position;
  for (int i = 0; i < kIds; ++i) {
    const std::string id = new_public_id(kPayoutIdPrefix, random);
    ASSERT_TRUE(ids.insert(id).second) << "duplicate " << id;
    for (size_t p = 0; p < 16; ++p) {
      ++counts[id[4 + p]];
      ++per_position[p][id[4 + p]];
    }
  }
  ASSERT_EQ(counts.size(), 62u) << "every character appears";
  // Chi-square over 62 cells (61 degrees of freedom: mean 61, sd ~11). 150 is ~8 sd out, so a
  // correct generator essentially never fails, while the modulo bias of folding 248..255 into
  // '0'..'7' (each ~+25%) scores in the thousands.
  const double expected = kIds * 16.0 / 62.0;
  double chi_square = 0;
  for (const auto& [c, n] : counts) chi_square += (n - expected) * (n - expected) / expected;
  EXPECT_LT(chi_square, 150.0);
  // Every position uses the whole alphabet.
  for (const auto& position : per_position) EXPECT_EQ(position.size(), 62u);
}

TEST(PublicIdTest, Validation) {
  EXPECT_TRUE(is_valid_public_id("pyt_0123456789abcdef", "pyt_"));
  EXPECT_TRUE(is_valid_public_id("pyt_ZZZZZZZZZZZZZZZZ", "pyt_"));
  for (std::string_view bad : {
           "", "pyt_",
           "pyt_0123456789abcde",    // 15
           "pyt_0123456789abcdef0",  // 17
           "pyx_0123456789abcdef",   // wrong prefix
           "PYT_0123456789abcdef",   // prefix is case-sensitive
           "0123456789abcdef",       // no prefix
           "pyt_0123456789abcde-", "pyt_0123456789abcde_", "pyt_0123456789abcde ",
           " pyt_0123456789abcdef",
           "pyt_0123456789abcd\xC3\xA9",  // 'é' is two bytes: 16 bytes, not base62
       }) {
    EXPECT_FALSE(is_valid_public_id(bad, "pyt_")) << "'" << bad << "'";
  }
}

TEST(CashoutIdTest, ParseStrict) {
  struct Case {
    std::string_view text;
    std::optional<int64_t> expected;
  };
  const Case cases[] = {
      {"1", 1},
      {"8405147", 8405147},
      {"1000000000000000000", 1'000'000'000'000'000'000},
      {"9223372036854775806", std::numeric_limits<int64_t>::max() - 1},
      {"9223372036854775807", std::numeric_limits<int64_t>::max()},
      {"9223372036854775808", std::nullopt},
      {"9223372036854775810", std::nullopt},
      {"9999999999999999999", std::nullopt},
      {"18446744073709551616", std::nullopt},
      {"99999999999999999999999", std::nullopt},
      {"0", std::nullopt},
      {"00", std::nullopt},
      {"01", std::nullopt},
      {"-1", std::nullopt},
      {"-0", std::nullopt},
      {"+1", std::nullopt},
      {"1.0", std::nullopt},
      {"1e3", std::nullopt},
      {"0x1", std::nullopt},
      {" 1", std::nullopt},
      {"1 ", std::nullopt},
      {"", std::nullopt},
      {"abc", std::nullopt},
      {"12a", std::nullopt},
      {"\xD9\xA1", std::nullopt},  // ARABIC-INDIC DIGIT ONE
      {std::string_view("1\0", 2), std::nullopt},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(parse_cashout_id(c.text), c.expected) << "'" << c.text << "'";
  }
}

TEST(RandomBase62Test, LengthAndAlphabet) {
  ScriptedRandom random({0, 61, 62, 247, 248, 255, 123});
  const std::string text = random_base62(100, random);
  ASSERT_EQ(text.size(), 100u);
  for (char c : text) EXPECT_NE(kAlphabet.find(c), std::string_view::npos) << c;
  // Bytes >= 248 are skipped: 0 -> '0', 61 -> 'z', 62 -> '0', 247 -> 'z', 123 -> 'z'.
  EXPECT_EQ(text.substr(0, 5), "0z0zz");
  EXPECT_EQ(random_base62(0, random), "");
}

TEST(EventIdTest, DerivedFromThePayoutIdAndTheSequence) {
  EXPECT_EQ(event_id_for("pyt_8fKq2LmN0pQrStUv", 3), "evt_8fKq2LmN0pQrStUv_3");
  EXPECT_EQ(event_id_for("pyt_0000000000000000", 123456789), "evt_0000000000000000_123456789");
  std::optional<ParsedEventId> parsed = parse_event_id("evt_8fKq2LmN0pQrStUv_3");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->payout_public_id, "pyt_8fKq2LmN0pQrStUv");
  EXPECT_EQ(parsed->seq, 3);
  parsed = parse_event_id("evt_8fKq2LmN0pQrStUv_2147483647");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->seq, 2147483647);
  for (const char* bad : {"", "evt_", "evt_8fKq2LmN0pQrStUv", "evt_8fKq2LmN0pQrStUv_",
                          "evt_8fKq2LmN0pQrStUv_0", "evt_8fKq2LmN0pQrStUv_03",
                          "evt_8fKq2LmN0pQrStUv_2147483648", "evt_8fKq2LmN0pQrStUv_1x",
                          "evt_8fKq2LmN0pQrStUv-1", "evt_8fKq2LmN0pQrSt-v_1",
                          "evt_8fKq2LmN0pQrStU_1", "EVT_8fKq2LmN0pQrStUv_1",
                          "pyt_8fKq2LmN0pQrStUv_1", "evt_8fKq2LmN0pQrStUv_12345678901"}) {
    EXPECT_FALSE(parse_event_id(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace payoutd
