// Hashing of server-generated credentials at rest: the cashouts-v3 `pass` and the v1 `password`.
//
// Why a fast keyed hash and not a slow password KDF (bcrypt/scrypt/Argon2):
//  - These secrets are never chosen by a human. The server generates them (32 base62 characters,
//    ~190 bits from the CSPRNG) and shows them once. A slow KDF exists to make guessing LOW-entropy
//    human passwords expensive after a database leak; with 2^190 candidates there is nothing to
//    guess, so a stolen (salt, hash) pair is as useless with SHA-256 speed as with Argon2 speed.
//  - The v3 `pass` is presented in the body of EVERY cashouts-v3 request. A KDF tuned to cost
//    ~50-100 ms of CPU would cap a node at a few dozen authenticated requests per second per core
//    and hand anyone a cheap CPU-exhaustion lever (send bodies with a known login and junk pass).
// So: hash = HMAC-SHA256(key = 16 random salt bytes, message = secret), compared in constant time.
// The salt keeps equal secrets (which should never occur) from having equal hashes and rules out
// precomputation. docs/security.md records this decision.
//
// PRECONDITION of that argument: only ever feed server-generated, high-entropy secrets here. A
// human-chosen password would need a slow KDF instead.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/random.h"

namespace payoutd::crypto {

inline constexpr size_t kCredentialSaltBytes = 16;

struct CredentialHash {
  std::string salt;  // raw bytes, kCredentialSaltBytes long
  std::string hash;  // raw bytes, HMAC-SHA256(salt, secret), 32 long
};

// A fresh random salt from `random` and the hash of `secret` under it.
CredentialHash hash_credential(std::string_view secret, RandomSource& random);

// True when `secret` hashes to `stored.hash` under `stored.salt`. The comparison is constant time.
// A malformed stored record (wrong salt or hash length) never verifies, but still costs the same
// hashing work: for an unknown login, call verify_credential(secret, CredentialHash{}) so the
// response time does not reveal whether the login exists.
bool verify_credential(std::string_view secret, const CredentialHash& stored);

}  // namespace payoutd::crypto
