// The server's master key: 32 random bytes that seal (AES-256-GCM) the secrets the server must be
// able to use again later, such as each merchant's cashouts-v3 `secret_key` (the HMAC key of
// Payload-Signature and of the notification `control`), which therefore cannot be hashed.
//
// Key material never appears in a Status message, log line or exception text; the in-memory copy
// is wiped (OPENSSL_cleanse) when the object dies or is moved from.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "core/random.h"
#include "core/status.h"

namespace payoutd::crypto {

class MasterKey {
 public:
  static constexpr size_t kKeyBytes = 32;
  static constexpr size_t kNonceBytes = 12;
  static constexpr size_t kTagBytes = 16;
  static constexpr size_t kSealOverheadBytes = kNonceBytes + kTagBytes;
  // Sealed values are small secrets; anything bigger is a caller bug or abuse.
  static constexpr size_t kMaxPlaintextBytes = 1 << 20;

  // A key from exactly 64 hex characters (either case). kInvalidArgument otherwise.
  static Result<MasterKey> from_hex(std::string_view hex);

  // A fresh random key (tests, in-memory deployments). Not persisted anywhere.
  static MasterKey generate(RandomSource& random);

  // Loads the key file at `path`, creating it when it does not exist:
  //  - missing: creates the parent directories (mode 0700), writes 64 lower-case hex characters and a
  //    newline to a temporary file opened with O_CREAT|O_EXCL and mode 0600, fsyncs it, and publishes
  //    it with link(2), which never replaces an existing file. Two processes racing to create the key
  //    therefore both end up with the ONE key that won (the loser reads it back); a reader can never
  //    observe a half-written key file, and a crash leaves at most a stray "*.tmp-*" file.
  //  - present: refuses (kInvalidArgument, field "master_key_file") when any group/other permission
  //    bit is set or it is not a regular file; kCorruption when its content is not 64 hex characters
  //    (optionally followed by a newline).
  // I/O failures are kInternal. Messages name the path and the problem, never the content.
  static Result<MasterKey> load_or_create(const std::string& path, RandomSource& random);

  MasterKey(MasterKey&& other) noexcept;
  MasterKey& operator=(MasterKey&& other) noexcept;
  MasterKey(const MasterKey&) = delete;
  MasterKey& operator=(const MasterKey&) = delete;
  ~MasterKey();

  // AES-256-GCM with a fresh random 96-bit nonce from `random`. Returns
  // nonce(12) || ciphertext(plaintext.size()) || tag(16). `aad` is authenticated, not stored: open()
  // must be given the same bytes (bind a secret to its owner, e.g. "merchant:42:secret_key", so a
  // sealed value copied onto another row does not open).
  // Random nonces are safe for up to ~2^32 seals per key; this key seals a handful of values per
  // merchant. kInvalidArgument when plaintext exceeds kMaxPlaintextBytes.
  // REQUIRES: this key was not moved from.
  Result<std::string> seal(std::string_view plaintext, RandomSource& random, std::string_view aad = {}) const;

  // Reverses seal(). kCorruption when `sealed` is too short or fails authentication (tampered
  // bytes, another key, other associated data).
  // REQUIRES: this key was not moved from.
  Result<std::string> open(std::string_view sealed, std::string_view aad = {}) const;

 private:
  MasterKey() = default;
  void wipe() noexcept;

  std::array<unsigned char, kKeyBytes> key_{};
  bool valid_ = false;
};

}  // namespace payoutd::crypto
