#include "crypto/credentials.h"

#include "crypto/hash.h"
#include "crypto/random.h"

namespace payoutd::crypto {

CredentialHash hash_credential(std::string_view secret, RandomSource& random) {
  CredentialHash result;
  result.salt = random_bytes(kCredentialSaltBytes, random);
  result.hash = hmac_sha256(result.salt, secret);
  return result;
}

bool verify_credential(std::string_view secret, const CredentialHash& stored) {
  // Hash first, whatever the record looks like: an unknown login (empty record) costs the same
  // work as a known one, so response time does not reveal which logins exist.
  const std::string computed = hmac_sha256(stored.salt, secret);
  const bool well_formed = stored.salt.size() == kCredentialSaltBytes && stored.hash.size() == kSha256Bytes;
  return constant_time_equal(computed, stored.hash) && well_formed;
}

}  // namespace payoutd::crypto
