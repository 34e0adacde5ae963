// Port: credentials and tokens. The lookups that authenticate a request (v3 login, v1 username,
// v1 access token) and the v1 bearer tokens as stored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/types.h"

namespace payoutd {

enum class ApiTokenKind : uint8_t { kAccess = 0, kRefresh };

// A v1 bearer token as stored: never the token text, only its SHA-256.
struct ApiToken {
  std::string token_hash;  // raw SHA-256 of the token text, 32 bytes
  int64_t merchant_id = 0;
  // Every token issued by one login and its refreshes shares a family: presenting a rotated-out
  // refresh token revokes the family.
  std::string family_id;
  ApiTokenKind kind = ApiTokenKind::kAccess;
  int64_t expires_at = 0;  // unix micros
  std::optional<int64_t> revoked_at;
  std::optional<std::string> replaced_by_hash;  // refresh tokens: the hash of their successor
  int64_t created_at = 0;
};

class CredentialReads {
 public:
  virtual ~CredentialReads() = default;
  virtual Result<Merchant> merchant_by_login(std::string_view login) = 0;
  virtual Result<Merchant> merchant_by_api_username(std::string_view username) = 0;
  // The merchant of the v1 access token whose SHA-256 is `token_hash`, if that token is valid at
  // `now` (an access token, not revoked, expires_at > now); kNotFound otherwise. One statement,
  // so that per-request authentication can run under Store::read_single.
  virtual Result<Merchant> merchant_by_access_token(std::string_view token_hash, int64_t now) = 0;
  // kNotFound when absent. Expired or revoked rows are returned as they are: the caller decides
  // what they mean.
  virtual Result<ApiToken> api_token_by_hash(std::string_view token_hash) = 0;
};

class CredentialWrites : public virtual CredentialReads {
 public:
  // kAlreadyExists when a token with that hash exists (a CSPRNG collision: a bug).
  virtual Status insert_api_token(const ApiToken& token) = 0;
  // Rotates a live token out: sets revoked_at and replaced_by_hash. kConflict when the token is
  // already revoked or rotated (a lost race), kNotFound when there is no such token.
  virtual Status rotate_api_token(std::string_view token_hash, std::string_view replaced_by_hash,
                                  int64_t at) = 0;
  // Revoke every not yet revoked token of a family / of a merchant; the number revoked.
  virtual Result<int64_t> revoke_api_token_family(std::string_view family_id, int64_t at) = 0;
  virtual Result<int64_t> revoke_merchant_api_tokens(int64_t merchant_id, int64_t at) = 0;
  // Deletes up to `limit` of the merchant's tokens whose expires_at is before `now`; the number
  // deleted. Bounded so that no request pays for an unbounded cleanup.
  virtual Result<int64_t> delete_expired_api_tokens(int64_t merchant_id, int64_t now,
                                                    int limit) = 0;
};

}  // namespace payoutd
