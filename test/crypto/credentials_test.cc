#include "crypto/credentials.h"

#include <gtest/gtest.h>

#include "crypto/hash.h"
#include "crypto/random.h"
#include "support/test_support.h"

namespace payoutd::crypto {
namespace {

TEST(CredentialsTest, HashShapeAndDefinition) {
  testing::SeededRandom random(7);
  const CredentialHash stored = hash_credential("pass-1234", random);
  EXPECT_EQ(stored.salt.size(), kCredentialSaltBytes);
  EXPECT_EQ(stored.hash.size(), kSha256Bytes);
  // hash = HMAC-SHA256(key = salt, message = secret): pinned so stored hashes stay verifiable.
  EXPECT_EQ(stored.hash, hmac_sha256(stored.salt, "pass-1234"));
}

TEST(CredentialsTest, VerifiesTheRightSecretOnly) {
  SystemRandom random;
  const std::string secret = random_token(32);
  const CredentialHash stored = hash_credential(secret, random);
  EXPECT_TRUE(verify_credential(secret, stored));
  EXPECT_FALSE(verify_credential("", stored));
  EXPECT_FALSE(verify_credential(secret + "x", stored));
  EXPECT_FALSE(verify_credential(secret.substr(1), stored));
  std::string changed = secret;
  changed[31] = changed[31] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(verify_credential(changed, stored));
}

TEST(CredentialsTest, SameSecretDifferentSaltsGiveDifferentHashes) {
  SystemRandom random;
  const CredentialHash first = hash_credential("same-secret", random);
  const CredentialHash second = hash_credential("same-secret", random);
  EXPECT_NE(first.salt, second.salt);
  EXPECT_NE(first.hash, second.hash);
  EXPECT_TRUE(verify_credential("same-secret", first));
  EXPECT_TRUE(verify_credential("same-secret", second));
  // Swapping salts breaks both.
  EXPECT_FALSE(verify_credential("same-secret", CredentialHash{first.salt, second.hash}));
  EXPECT_FALSE(verify_credential("same-secret", CredentialHash{second.salt, first.hash}));
}

TEST(CredentialsTest, MalformedStoredRecordsNeverVerify) {
  testing::SeededRandom random(9);
  const CredentialHash stored = hash_credential("s", random);
  EXPECT_FALSE(verify_credential("s", CredentialHash{}));
  EXPECT_FALSE(verify_credential("s", CredentialHash{stored.salt, ""}));
  EXPECT_FALSE(verify_credential("s", CredentialHash{"", stored.hash}));
  EXPECT_FALSE(verify_credential("s", CredentialHash{stored.salt + "x", stored.hash}));
  EXPECT_FALSE(verify_credential("s", CredentialHash{stored.salt, stored.hash.substr(0, 31)}));
  // A record whose hash was computed with an empty salt is still refused (salt length rule).
  EXPECT_FALSE(verify_credential("s", CredentialHash{"", hmac_sha256("", "s")}));
}

}  // namespace
}  // namespace payoutd::crypto
