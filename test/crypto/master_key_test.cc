#include "crypto/master_key.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "crypto/hash.h"
#include "crypto/random.h"
#include "support/test_support.h"

namespace payoutd::crypto {
namespace {

constexpr const char* kKeyHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

unsigned file_mode(const std::string& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

void write_file(const std::string& path, const std::string& content, unsigned mode) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

MasterKey key_from(const char* hex) {
  Result<MasterKey> key = MasterKey::from_hex(hex);
  EXPECT_TRUE(key.is_ok());
  return std::move(key).value();
}

TEST(MasterKeyTest, FromHexErrors) {
  const std::string valid = kKeyHex;
  struct Case {
    std::string hex;
    bool ok;
  };
  const Case cases[] = {
      {valid, true},
      {[] {
         std::string upper = kKeyHex;
         for (char& c : upper) c = static_cast<char>(std::toupper(c));
         return upper;
       }(),
       true},
      {"", false},
      {valid.substr(0, 62), false},
      {valid.substr(0, 63), false},
      {valid + "0", false},
      {valid + "00", false},
      {valid.substr(0, 63) + "g", false},
      {[&] {
         std::string leading_space = valid;
         leading_space[0] = ' ';
         return leading_space;
       }(),
       false},
      {valid.substr(0, 32), false},  // a 128-bit key is not accepted
  };
  for (const Case& c : cases) {
    Result<MasterKey> key = MasterKey::from_hex(c.hex);
    EXPECT_EQ(key.is_ok(), c.ok) << c.hex;
    if (!key.is_ok()) {
      EXPECT_EQ(key.status().kind(), ErrorKind::kInvalidArgument);
      // No key material in the message.
      EXPECT_EQ(key.status().message().find("0001020304"), std::string::npos);
    }
  }
}

TEST(MasterKeyTest, SealOpenRoundTrip) {
  SystemRandom random;
  const MasterKey key = key_from(kKeyHex);
  for (const std::string& plaintext : {std::string(), std::string("s"), std::string("cashout_secret_key"),
                                       std::string(1000, '\0'), random_bytes(4096)}) {
    Result<std::string> sealed = key.seal(plaintext, random);
    ASSERT_TRUE(sealed.is_ok());
    EXPECT_EQ(sealed->size(), plaintext.size() + MasterKey::kSealOverheadBytes);
    if (plaintext.size() >= 16) {
      EXPECT_EQ(sealed->find(plaintext), std::string::npos);
    }
    Result<std::string> opened = key.open(*sealed);
    ASSERT_TRUE(opened.is_ok()) << opened.status().message();
    EXPECT_EQ(*opened, plaintext);
  }
}

TEST(MasterKeyTest, FreshNonceEverySeal) {
  SystemRandom random;
  const MasterKey key = key_from(kKeyHex);
  Result<std::string> a = key.seal("same", random);
  Result<std::string> b = key.seal("same", random);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_NE(a->substr(0, MasterKey::kNonceBytes), b->substr(0, MasterKey::kNonceBytes));
  EXPECT_NE(*a, *b);
}

TEST(MasterKeyTest, KnownAnswerFromFixedNonce) {
  // A fixed nonce (all zero) pins the format nonce || ciphertext || tag against OpenSSL's AES-GCM,
  // computed independently: python3 cryptography AESGCM(key).encrypt(b"\0"*12, b"hello", None).
  class ZeroRandom final : public RandomSource {
   public:
    void fill(std::span<uint8_t> out) override { std::fill(out.begin(), out.end(), 0); }
  } zero;
  const MasterKey key = key_from(kKeyHex);
  Result<std::string> sealed = key.seal("hello", zero);
  ASSERT_TRUE(sealed.is_ok());
  EXPECT_EQ(hex_lower(sealed->substr(0, MasterKey::kNonceBytes)), "000000000000000000000000");
  EXPECT_EQ(hex_lower(sealed->substr(MasterKey::kNonceBytes)), "66d9d9b2da0e0c4679f3a82524f5e0499271e16f30");
}

TEST(MasterKeyTest, TamperingAnyRegionIsCorruption) {
  testing::SeededRandom random(1);
  const MasterKey key = key_from(kKeyHex);
  Result<std::string> sealed = key.seal("the merchant secret key", random);
  ASSERT_TRUE(sealed.is_ok());
  // Every byte: nonce (0..11), ciphertext, tag (last 16).
  for (size_t i = 0; i < sealed->size(); ++i) {
    std::string tampered = *sealed;
    tampered[i] ^= 0x01;
    Result<std::string> opened = key.open(tampered);
    ASSERT_FALSE(opened.is_ok()) << "byte " << i;
    EXPECT_EQ(opened.status().kind(), ErrorKind::kCorruption) << "byte " << i;
  }
}

TEST(MasterKeyTest, TruncatedOrExtendedIsCorruption) {
  testing::SeededRandom random(2);
  const MasterKey key = key_from(kKeyHex);
  Result<std::string> sealed = key.seal("abc", random);
  ASSERT_TRUE(sealed.is_ok());
  for (size_t length : {size_t{0}, size_t{1}, size_t{11}, size_t{12}, size_t{27}, sealed->size() - 1}) {
    Result<std::string> opened = key.open(sealed->substr(0, length));
    ASSERT_FALSE(opened.is_ok()) << length;
    EXPECT_EQ(opened.status().kind(), ErrorKind::kCorruption);
  }
  Result<std::string> extended = key.open(*sealed + "x");
  ASSERT_FALSE(extended.is_ok());
  EXPECT_EQ(extended.status().kind(), ErrorKind::kCorruption);
}

TEST(MasterKeyTest, EmptyPlaintextStillAuthenticated) {
  testing::SeededRandom random(3);
  const MasterKey key = key_from(kKeyHex);
  Result<std::string> sealed = key.seal("", random);
  ASSERT_TRUE(sealed.is_ok());
  ASSERT_EQ(sealed->size(), MasterKey::kSealOverheadBytes);
  std::string tampered = *sealed;
  tampered.back() ^= 0x80;
  EXPECT_FALSE(key.open(tampered).is_ok());
}

TEST(MasterKeyTest, WrongKeyFails) {
  testing::SeededRandom random(4);
  const MasterKey key = key_from(kKeyHex);
  const MasterKey other = key_from("ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  Result<std::string> sealed = key.seal("secret", random);
  ASSERT_TRUE(sealed.is_ok());
  Result<std::string> opened = other.open(*sealed);
  ASSERT_FALSE(opened.is_ok());
  EXPECT_EQ(opened.status().kind(), ErrorKind::kCorruption);
  const MasterKey generated = MasterKey::generate(random);
  EXPECT_FALSE(generated.open(*sealed).is_ok());
}

TEST(MasterKeyTest, AssociatedDataMustMatch) {
  testing::SeededRandom random(5);
  const MasterKey key = key_from(kKeyHex);
  Result<std::string> sealed = key.seal("secret", random, "merchant:42:secret_key");
  ASSERT_TRUE(sealed.is_ok());
  EXPECT_TRUE(key.open(*sealed, "merchant:42:secret_key").is_ok());
  EXPECT_EQ(*key.open(*sealed, "merchant:42:secret_key"), "secret");
  for (const char* aad : {"", "merchant:43:secret_key", "merchant:42:secret_key ", "merchant:42"}) {
    Result<std::string> opened = key.open(*sealed, aad);
    ASSERT_FALSE(opened.is_ok()) << aad;
    EXPECT_EQ(opened.status().kind(), ErrorKind::kCorruption);
  }
  // And sealed without aad does not open with one.
  Result<std::string> plain = key.seal("secret", random);
  ASSERT_TRUE(plain.is_ok());
  EXPECT_FALSE(key.open(*plain, "x").is_ok());
}

TEST(MasterKeyTest, OversizedPlaintextRefused) {
  testing::SeededRandom random(6);
  const MasterKey key = key_from(kKeyHex);
  Result<std::string> sealed = key.seal(std::string(MasterKey::kMaxPlaintextBytes + 1, 'a'), random);
  ASSERT_FALSE(sealed.is_ok());
  EXPECT_EQ(sealed.status().kind(), ErrorKind::kInvalidArgument);
}

TEST(MasterKeyTest, MovedKeyStillWorks) {
  testing::SeededRandom random(7);
  MasterKey original = key_from(kKeyHex);
  Result<std::string> sealed = original.seal("x", random);
  ASSERT_TRUE(sealed.is_ok());
  MasterKey moved = std::move(original);
  EXPECT_EQ(*moved.open(*sealed), "x");
  MasterKey assigned = MasterKey::generate(random);
  assigned = std::move(moved);
  EXPECT_EQ(*assigned.open(*sealed), "x");
}

TEST(MasterKeyFileTest, CreatesWithMode0600AndReloadsTheSameKey) {
  testing::TempDir directory;
  const std::string path = directory.file("nested/deeper/master.key");
  SystemRandom random;
  Result<MasterKey> created = MasterKey::load_or_create(path, random);
  ASSERT_TRUE(created.is_ok()) << created.status().message();
  EXPECT_EQ(file_mode(path), 0600u);
  EXPECT_EQ(file_mode(directory.file("nested")), 0700u);
  const std::string content = read_file(path);
  ASSERT_EQ(content.size(), 65u);
  EXPECT_EQ(content.back(), '\n');
  EXPECT_EQ(content.find_first_not_of("0123456789abcdef"), 64u);
  // No temporary file left behind.
  size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(directory.file("nested/deeper"))) {
    ++entries;
  }
  EXPECT_EQ(entries, 1u);

  Result<std::string> sealed = created->seal("payload", random);
  ASSERT_TRUE(sealed.is_ok());
  Result<MasterKey> loaded = MasterKey::load_or_create(path, random);
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().message();
  EXPECT_EQ(*loaded->open(*sealed), "payload");
  Result<MasterKey> parsed = MasterKey::from_hex(content.substr(0, 64));
  ASSERT_TRUE(parsed.is_ok());
  EXPECT_EQ(*parsed->open(*sealed), "payload");
  // Loading did not rewrite the file.
  EXPECT_EQ(read_file(path), content);
}

TEST(MasterKeyFileTest, RefusesGroupOrOtherPermissions) {
  testing::TempDir directory;
  const std::string path = directory.file("master.key");
  for (unsigned mode : {0644u, 0640u, 0604u, 0660u, 0602u, 0610u, 0666u}) {
    write_file(path, std::string(kKeyHex) + "\n", mode);
    SystemRandom random;
    Result<MasterKey> key = MasterKey::load_or_create(path, random);
    ASSERT_FALSE(key.is_ok()) << std::oct << mode;
    EXPECT_EQ(key.status().kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(key.status().message().find("permission"), std::string::npos) << key.status().message();
    EXPECT_NE(key.status().message().find(path), std::string::npos) << key.status().message();
    EXPECT_EQ(key.status().message().find("0001020304"), std::string::npos);
    // The file was neither replaced nor re-moded.
    EXPECT_EQ(read_file(path), std::string(kKeyHex) + "\n");
    EXPECT_EQ(file_mode(path), mode);
  }
  for (unsigned mode : {0600u, 0400u}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    SystemRandom random;
    EXPECT_TRUE(MasterKey::load_or_create(path, random).is_ok()) << std::oct << mode;
  }
}

TEST(MasterKeyFileTest, ExistingFileFormats) {
  testing::TempDir directory;
  const std::string path = directory.file("master.key");
  const std::string valid = kKeyHex;
  std::string upper = valid;
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  struct Case {
    std::string content;
    bool ok;
  };
  const Case cases[] = {
      {valid + "\n", true},
      {valid, true},
      {valid + "\r\n", true},
      {upper + "\n", true},
      {"", false},
      {"\n", false},
      {valid.substr(0, 63) + "\n", false},
      {valid + "0\n", false},
      {valid.substr(0, 63) + "x\n", false},
      {valid + "\n" + valid + "\n", false},
      {std::string(1000, 'a'), false},
  };
  for (const Case& c : cases) {
    write_file(path, c.content, 0600);
    SystemRandom random;
    Result<MasterKey> key = MasterKey::load_or_create(path, random);
    EXPECT_EQ(key.is_ok(), c.ok) << c.content;
    if (!key.is_ok()) {
      EXPECT_EQ(key.status().kind(), ErrorKind::kCorruption);
      EXPECT_EQ(key.status().message().find("0001020304"), std::string::npos);
    }
    EXPECT_EQ(read_file(path), c.content);  // never overwritten
  }
}

TEST(MasterKeyFileTest, NotARegularFileOrUnreadable) {
  testing::TempDir directory;
  SystemRandom random;
  std::filesystem::create_directory(directory.file("dir.key"));
  ::chmod(directory.file("dir.key").c_str(), 0700);
  Result<MasterKey> key = MasterKey::load_or_create(directory.file("dir.key"), random);
  EXPECT_FALSE(key.is_ok());
  EXPECT_FALSE(MasterKey::load_or_create("", random).is_ok());
  // Parent is a regular file: cannot create.
  write_file(directory.file("plain"), "x", 0600);
  EXPECT_FALSE(MasterKey::load_or_create(directory.file("plain/master.key"), random).is_ok());
}

TEST(MasterKeyFileTest, ConcurrentCreatorsAgreeOnOneKey) {
  testing::TempDir directory;
  const std::string path = directory.file("race/master.key");
  constexpr int kThreads = 8;
  std::vector<std::string> sealed(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      testing::SeededRandom random(1000 + i);  // every thread would create a different key
      Result<MasterKey> key = MasterKey::load_or_create(path, random);
      if (!key.is_ok()) {
        errors[i] = key.status().message();
        return;
      }
      Result<std::string> result = key->seal("x", random);
      if (result.is_ok()) sealed[i] = *result;
    });
  }
  for (auto& thread : threads) thread.join();
  SystemRandom random;
  Result<MasterKey> final_key = MasterKey::load_or_create(path, random);
  ASSERT_TRUE(final_key.is_ok());
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_EQ(errors[i], "") << i;
    Result<std::string> opened = final_key->open(sealed[i]);
    EXPECT_TRUE(opened.is_ok()) << "thread " << i << " ended up with a different key";
  }
  EXPECT_EQ(file_mode(path), 0600u);
}

}  // namespace
}  // namespace payoutd::crypto
