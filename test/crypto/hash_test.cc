#include "crypto/hash.h"

#include <gtest/gtest.h>

#include <cctype>
#include <optional>
#include <string>

namespace payoutd::crypto {
namespace {

TEST(Sha256Test, KnownDigests) {
  struct Case {
    std::string input;
    const char* digest_hex;
  };
  const Case cases[] = {
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
      {std::string("\0\0\0", 3), "709e80c88487a2411e1ee4dfb9f22a861492d20c4765150c0c794abd70f8147c"},
  };
  for (const Case& c : cases) {
    const std::string digest = sha256(c.input);
    EXPECT_EQ(digest.size(), kSha256Bytes);
    EXPECT_EQ(hex_lower(digest), c.digest_hex) << "input size " << c.input.size();
  }
}

TEST(HmacSha256Test, Rfc4231Vectors) {
  struct Case {
    std::string key;
    std::string message;
    const char* mac_hex;
  };
  const Case cases[] = {
      {std::string(20, '\x0b'), "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"Jefe", "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {std::string(20, '\xaa'), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      // Key longer than the block size (131 bytes): hashed first.
      {std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(hex_lower(hmac_sha256(c.key, c.message)), c.mac_hex) << c.message;
  }
}

TEST(HmacSha256Test, EmptyKeyAndEmptyMessage) {
  // HMAC-SHA256("", "") computed independently (Python hmac / openssl dgst -hmac '').
  EXPECT_EQ(hex_lower(hmac_sha256("", "")), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  // Empty string_views with null data pointers behave like empty strings.
  EXPECT_EQ(hmac_sha256(std::string_view(), std::string_view()), hmac_sha256("", ""));
  EXPECT_NE(hmac_sha256("a", ""), hmac_sha256("", ""));
  EXPECT_NE(hmac_sha256("", "a"), hmac_sha256("", ""));
}

TEST(HexTest, EncodeLowerAndUpper) {
  const std::string bytes("\x00\x01\x7f\x80\xab\xcd\xef\xff", 8);
  EXPECT_EQ(hex_lower(bytes), "00017f80abcdefff");
  EXPECT_EQ(hex_upper(bytes), "00017F80ABCDEFFF");
  EXPECT_EQ(hex_lower(""), "");
  EXPECT_EQ(hex_upper(""), "");
}

TEST(HexTest, DecodeTable) {
  struct Case {
    const char* hex;
    std::optional<std::string> bytes;
  };
  const Case cases[] = {
      {"", std::string()},
      {"00", std::string(1, '\0')},
      {"ff", std::string("\xff")},
      {"FF", std::string("\xff")},
      {"aBcD", std::string("\xab\xcd")},
      {"0123456789abcdefABCDEF", std::string("\x01\x23\x45\x67\x89\xab\xcd\xef\xab\xcd\xef")},
      {"0", std::nullopt},       // odd length
      {"abc", std::nullopt},     // odd length
      {"0g", std::nullopt},      // not hex
      {"g0", std::nullopt},      // not hex
      {" 0", std::nullopt},      // whitespace
      {"0x", std::nullopt},      // prefix
      {"+1", std::nullopt},      // sign
      {"zz", std::nullopt},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(hex_decode(c.hex), c.bytes) << '"' << c.hex << '"';
  }
}

TEST(HexTest, RoundTripAllByteValues) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(hex_decode(hex_lower(all)), all);
  EXPECT_EQ(hex_decode(hex_upper(all)), all);
}

TEST(ConstantTimeEqualTest, Table) {
  struct Case {
    std::string a;
    std::string b;
    bool equal;
  };
  const Case cases[] = {
      {"", "", true},
      {"a", "a", true},
      {std::string("\0x", 2), std::string("\0x", 2), true},
      {"abc", "abd", false},
      {"abc", "Abc", false},
      {"abc", "ab", false},        // prefix: length differs
      {"ab", "abc", false},
      {"", "a", false},
      {std::string("\0", 1), "", false},
      {std::string(64, 'f'), std::string(63, 'f') + "e", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(constant_time_equal(c.a, c.b), c.equal) << c.a << " vs " << c.b;
    EXPECT_EQ(constant_time_equal(c.b, c.a), c.equal) << c.b << " vs " << c.a;
  }
}

TEST(VerifyHmacHexTest, AcceptsOnlyExactHexOfTheMac) {
  const std::string key = "cashout_secret_key";
  const std::string message = "{\"a\":1}";
  const std::string lower = hex_lower(hmac_sha256(key, message));
  const std::string upper = hex_upper(hmac_sha256(key, message));
  EXPECT_TRUE(verify_hmac_sha256_hex(key, message, lower));
  EXPECT_TRUE(verify_hmac_sha256_hex(key, message, upper));
  std::string mixed = lower;
  for (size_t i = 0; i < mixed.size(); i += 2) mixed[i] = static_cast<char>(std::toupper(mixed[i]));
  EXPECT_TRUE(verify_hmac_sha256_hex(key, message, mixed));

  EXPECT_FALSE(verify_hmac_sha256_hex(key, message, ""));
  EXPECT_FALSE(verify_hmac_sha256_hex(key, message, lower.substr(0, 63)));
  EXPECT_FALSE(verify_hmac_sha256_hex(key, message, lower + "0"));
  EXPECT_FALSE(verify_hmac_sha256_hex(key, message, lower + "00"));  // 66 chars, MAC prefix matches
  std::string leading_space = lower;
  leading_space[0] = ' ';
  EXPECT_FALSE(verify_hmac_sha256_hex(key, message, leading_space));
  EXPECT_FALSE(verify_hmac_sha256_hex(key, message, lower + "\n"));
  EXPECT_FALSE(verify_hmac_sha256_hex(key + "x", message, lower));
  EXPECT_FALSE(verify_hmac_sha256_hex(key, message + " ", lower));
  // The raw MAC itself (32 bytes) is not hex.
  EXPECT_FALSE(verify_hmac_sha256_hex(key, message, hmac_sha256(key, message)));
}

}  // namespace
}  // namespace payoutd::crypto
