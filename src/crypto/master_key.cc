#include "crypto/master_key.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

#include "crypto/hash.h"
#include "crypto/random.h"

namespace payoutd::crypto {
namespace {

constexpr const char* kFileField = "master_key_file";
// 64 hex characters, a newline, and room for a CRLF or stray trailing whitespace; more is malformed.
constexpr size_t kMaxKeyFileBytes = 128;
// Open/create rounds: more than one only when another process creates (or deletes) the file
// between our attempts.
constexpr int kMaxLoadAttempts = 4;

std::string errno_text(int error_number) { return std::strerror(error_number); }

// Closes a file descriptor on scope exit.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting the error (close can report a deferred write error).
  int close_now() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

// Wipes a string holding key material before it is freed.
class ScopedWipe {
 public:
  explicit ScopedWipe(std::string* text) : text_(text) {}
  ~ScopedWipe() {
    if (!text_->empty()) OPENSSL_cleanse(text_->data(), text_->size());
  }
  ScopedWipe(const ScopedWipe&) = delete;
  ScopedWipe& operator=(const ScopedWipe&) = delete;

 private:
  std::string* text_;
};

struct CipherContextDeleter {
  void operator()(EVP_CIPHER_CTX* context) const { EVP_CIPHER_CTX_free(context); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherContextDeleter>;

unsigned char* mutable_bytes(std::string& text) { return reinterpret_cast<unsigned char*>(text.data()); }
const unsigned char* bytes(std::string_view text) {
  static constexpr unsigned char kEmpty[1] = {0};
  return text.empty() ? kEmpty : reinterpret_cast<const unsigned char*>(text.data());
}

Status write_all(int fd, std::string_view data, const std::string& path) {
  size_t written = 0;
  while (written < data.size()) {
    const ssize_t rc = ::write(fd, data.data() + written, data.size() - written);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return Status::internal("cannot write master key file " + path + ": " + errno_text(errno));
    }
    written += static_cast<size_t>(rc);
  }
  return Status::ok();
}

// mkdir -p with mode 0700 for the directories it creates (existing ones are left alone).
Status create_parent_directories(const std::filesystem::path& file_path) {
  const std::filesystem::path parent = file_path.parent_path();
  if (parent.empty()) return Status::ok();
  std::filesystem::path prefix;
  for (const auto& part : parent) {
    prefix /= part;
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::internal("cannot create directory " + prefix.string() + ": " + errno_text(errno));
    }
  }
  return Status::ok();
}

void fsync_directory(const std::filesystem::path& file_path) {
  std::filesystem::path parent = file_path.parent_path();
  if (parent.empty()) parent = ".";
  FileDescriptor directory(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  // Best effort: the key file itself is already fsynced; this makes its directory entry durable.
  if (directory.get() >= 0) (void)::fsync(directory.get());
}

// Writes a new key to a private temporary file and links it into place. Ok both when this call
// created `path` and when another process did first (EEXIST): either way the caller reads it back.
Status create_key_file(const std::string& path, RandomSource& random) {
  PAYOUTD_RETURN_IF_ERROR(create_parent_directories(path));

  std::string key_bytes = random_bytes(MasterKey::kKeyBytes, random);
  ScopedWipe wipe_key_bytes(&key_bytes);
  std::string content = hex_lower(key_bytes);
  ScopedWipe wipe_content(&content);
  content.push_back('\n');

  // The temporary name only has to be unique, not reproducible: always the system CSPRNG.
  const std::string temporary_path = path + ".tmp-" + random_hex(8);
  FileDescriptor file(::open(temporary_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (file.get() < 0) {
    return Status::internal("cannot create master key file " + temporary_path + ": " + errno_text(errno));
  }
  Status status;
  // An unusual umask could only remove bits from 0600, but be explicit about the final mode.
  if (::fchmod(file.get(), 0600) != 0) {
    status = Status::internal("cannot chmod master key file " + temporary_path + ": " + errno_text(errno));
  }
  if (status.is_ok()) status = write_all(file.get(), content, temporary_path);
  if (status.is_ok() && ::fsync(file.get()) != 0) {
    status = Status::internal("cannot fsync master key file " + temporary_path + ": " + errno_text(errno));
  }
  if (file.close_now() != 0 && status.is_ok()) {
    status = Status::internal("cannot close master key file " + temporary_path + ": " + errno_text(errno));
  }
  if (status.is_ok() && ::link(temporary_path.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    status = Status::internal("cannot publish master key file " + path + ": " + errno_text(errno));
  }
  (void)::unlink(temporary_path.c_str());
  if (status.is_ok()) fsync_directory(path);
  return status;
}

Result<MasterKey> read_key_file(int fd, const std::string& path) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    return Status::internal("cannot stat master key file " + path + ": " + errno_text(errno));
  }
  if (!S_ISREG(info.st_mode)) {
    return Status::invalid_argument(kFileField, "master key file " + path + " is not a regular file");
  }
  const unsigned permissions = info.st_mode & 0777;
  if ((permissions & 0077) != 0) {
    char mode_text[8];
    std::snprintf(mode_text, sizeof mode_text, "%04o", permissions);
    return Status::invalid_argument(kFileField, "master key file " + path + " has mode " + mode_text +
                                                    ": group/other permission bits must be clear (chmod 600 " +
                                                    path + ")");
  }

  std::string content(kMaxKeyFileBytes + 1, '\0');
  ScopedWipe wipe_content(&content);
  size_t length = 0;
  while (length < content.size()) {
    const ssize_t rc = ::read(fd, content.data() + length, content.size() - length);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return Status::internal("cannot read master key file " + path + ": " + errno_text(errno));
    }
    if (rc == 0) break;
    length += static_cast<size_t>(rc);
  }
  std::string_view text(content.data(), length);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  if (length > kMaxKeyFileBytes || text.size() != 2 * MasterKey::kKeyBytes) {
    return Status::error(ErrorKind::kCorruption,
                         "master key file " + path + " is malformed: expected 64 hex characters");
  }
  Result<MasterKey> key = MasterKey::from_hex(text);
  if (!key.is_ok()) {
    return Status::error(ErrorKind::kCorruption,
                         "master key file " + path + " is malformed: expected 64 hex characters");
  }
  return key;
}

}  // namespace

Result<MasterKey> MasterKey::from_hex(std::string_view hex) {
  if (hex.size() != 2 * kKeyBytes) {
    return Status::invalid_argument("master_key", "master key must be exactly 64 hex characters");
  }
  std::optional<std::string> raw = hex_decode(hex);
  if (!raw.has_value()) {
    return Status::invalid_argument("master_key", "master key must be exactly 64 hex characters");
  }
  ScopedWipe wipe_raw(&*raw);
  MasterKey key;
  std::memcpy(key.key_.data(), raw->data(), kKeyBytes);
  key.valid_ = true;
  return key;
}

MasterKey MasterKey::generate(RandomSource& random) {
  MasterKey key;
  random.fill(std::span<uint8_t>(key.key_.data(), key.key_.size()));
  key.valid_ = true;
  return key;
}

Result<MasterKey> MasterKey::load_or_create(const std::string& path, RandomSource& random) {
  if (path.empty()) return Status::invalid_argument(kFileField, "master key file path is empty");
  for (int attempt = 0; attempt < kMaxLoadAttempts; ++attempt) {
    FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (file.get() >= 0) return read_key_file(file.get(), path);
    if (errno != ENOENT) {
      return Status::internal("cannot open master key file " + path + ": " + errno_text(errno));
    }
    PAYOUTD_RETURN_IF_ERROR(create_key_file(path, random));
    // Read back whichever key won: ours, or a concurrent creator's.
  }
  return Status::internal("master key file " + path + " keeps disappearing while being created");
}

MasterKey::MasterKey(MasterKey&& other) noexcept : key_(other.key_), valid_(other.valid_) { other.wipe(); }

MasterKey& MasterKey::operator=(MasterKey&& other) noexcept {
  if (this != &other) {
    key_ = other.key_;
    valid_ = other.valid_;
    other.wipe();
  }
  return *this;
}

MasterKey::~MasterKey() { wipe(); }

void MasterKey::wipe() noexcept {
  OPENSSL_cleanse(key_.data(), key_.size());
  valid_ = false;
}

Result<std::string> MasterKey::seal(std::string_view plaintext, RandomSource& random, std::string_view aad) const {
  PAYOUTD_ASSERT(valid_);
  if (plaintext.size() > kMaxPlaintextBytes) {
    return Status::invalid_argument("plaintext", "value to seal exceeds " + std::to_string(kMaxPlaintextBytes) +
                                                     " bytes");
  }
  if (aad.size() > kMaxPlaintextBytes) {
    return Status::invalid_argument("aad", "associated data exceeds " + std::to_string(kMaxPlaintextBytes) +
                                               " bytes");
  }
  std::string sealed(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  unsigned char* nonce = mutable_bytes(sealed);
  unsigned char* ciphertext = nonce + kNonceBytes;
  unsigned char* tag = ciphertext + plaintext.size();
  random.fill(std::span<uint8_t>(nonce, kNonceBytes));

  CipherContext context(EVP_CIPHER_CTX_new());
  int length = 0;
  // The default GCM IV length is 12 bytes, which is kNonceBytes.
  const bool ok =
      context != nullptr &&
      EVP_EncryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, key_.data(), nonce) == 1 &&
      EVP_EncryptUpdate(context.get(), nullptr, &length, bytes(aad), static_cast<int>(aad.size())) == 1 &&
      EVP_EncryptUpdate(context.get(), ciphertext, &length, bytes(plaintext), static_cast<int>(plaintext.size())) ==
          1 &&
      static_cast<size_t>(length) == plaintext.size() &&
      EVP_EncryptFinal_ex(context.get(), ciphertext + length, &length) == 1 && length == 0 &&
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes), tag) == 1;
  if (!ok) {
    ERR_clear_error();
    OPENSSL_cleanse(sealed.data(), sealed.size());
    return Status::internal("AES-256-GCM encryption failed");
  }
  return sealed;
}

Result<std::string> MasterKey::open(std::string_view sealed, std::string_view aad) const {
  PAYOUTD_ASSERT(valid_);
  if (sealed.size() < kSealOverheadBytes) {
    return Status::error(ErrorKind::kCorruption, "sealed value is too short");
  }
  if (sealed.size() > kMaxPlaintextBytes + kSealOverheadBytes || aad.size() > kMaxPlaintextBytes) {
    return Status::error(ErrorKind::kCorruption, "sealed value is too long");
  }
  const size_t ciphertext_size = sealed.size() - kSealOverheadBytes;
  const unsigned char* nonce = bytes(sealed);
  const unsigned char* ciphertext = nonce + kNonceBytes;
  // EVP_CTRL_GCM_SET_TAG takes a non-const pointer but only reads the tag: copy it to be safe.
  std::array<unsigned char, kTagBytes> tag{};
  std::memcpy(tag.data(), ciphertext + ciphertext_size, kTagBytes);

  // One spare byte so the output pointer is valid even for an empty plaintext.
  std::string plaintext(ciphertext_size + 1, '\0');
  CipherContext context(EVP_CIPHER_CTX_new());
  int length = 0;
  const bool ok =
      context != nullptr &&
      EVP_DecryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, key_.data(), nonce) == 1 &&
      EVP_DecryptUpdate(context.get(), nullptr, &length, bytes(aad), static_cast<int>(aad.size())) == 1 &&
      EVP_DecryptUpdate(context.get(), mutable_bytes(plaintext), &length, ciphertext,
                        static_cast<int>(ciphertext_size)) == 1 &&
      static_cast<size_t>(length) == ciphertext_size &&
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes), tag.data()) == 1 &&
      EVP_DecryptFinal_ex(context.get(), mutable_bytes(plaintext) + length, &length) == 1;
  if (!ok) {
    ERR_clear_error();
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return Status::error(ErrorKind::kCorruption,
                         "sealed value failed authentication (tampered, another key, or other associated data)");
  }
  plaintext.resize(ciphertext_size);
  return plaintext;
}

}  // namespace payoutd::crypto
