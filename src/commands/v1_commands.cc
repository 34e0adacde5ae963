// Bearer tokens of the payouts-v1 dialect: issue at login, rotate at refresh (with reuse
// detection), revoke at logout, authenticate per request. Tokens are opaque random strings; the
// database holds only their SHA-256, so a leaked database cannot be replayed as credentials.
#include <future>
#include <memory>
#include <utility>

#include "commands/commands.h"
#include "commands/write_ops.h"
#include "crypto/hash.h"
#include "crypto/random.h"

namespace payoutd::commands {
namespace {

// 48 base62 characters: log2(62) * 48 ~ 285 bits from the CSPRNG (spec: at least 256).
constexpr size_t kTokenChars = 48;
constexpr size_t kFamilyIdChars = 22;
// Each login or refresh removes a few of the merchant's expired tokens: the table stays bounded
// by the live tokens (plus rotated-out refresh tokens until they expire, kept for reuse
// detection) without a background job.
constexpr int kExpiredTokensPerIssue = 16;
// Longest token text looked up at all; anything longer is refused before hashing.
constexpr size_t kMaxTokenChars = 256;

// True for a string that could be one of our tokens (base62, bounded): anything else is refused
// without touching the database.
bool plausible_token(std::string_view token) {
  if (token.empty() || token.size() > kMaxTokenChars) return false;
  for (char c : token) {
    const bool base62 = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    if (!base62) return false;
  }
  return true;
}

Status validate_lifetimes(const ApiTokenLifetimes& lifetimes) {
  if (lifetimes.access_micros <= 0 || lifetimes.refresh_micros <= 0) {
    return Status::invalid_argument("lifetimes", "token lifetimes must be positive");
  }
  return Status::ok();
}

// Pre-generated token texts (generated outside the op so the writer thread does not draw from the
// CSPRNG while holding the write lock longer than needed).
struct TokenTexts {
  std::string access;
  std::string refresh;
  std::string family_id;
};

// Inserts a pair in `family_id` and returns it.
Result<IssuedApiTokens> insert_pair(CredentialWrites& tx, int64_t merchant_id,
                                    const TokenTexts& texts, const std::string& family_id,
                                    const ApiTokenLifetimes& lifetimes, int64_t at) {
  IssuedApiTokens issued;
  issued.merchant_id = merchant_id;
  issued.access_token = texts.access;
  issued.refresh_token = texts.refresh;
  issued.access_expires_at = at + lifetimes.access_micros;
  issued.refresh_expires_at = at + lifetimes.refresh_micros;

  ApiToken access;
  access.token_hash = crypto::sha256(texts.access);
  access.merchant_id = merchant_id;
  access.family_id = family_id;
  access.kind = ApiTokenKind::kAccess;
  access.expires_at = issued.access_expires_at;
  access.created_at = at;
  PAYOUTD_RETURN_IF_ERROR(tx.insert_api_token(access));

  ApiToken refresh = access;
  refresh.token_hash = crypto::sha256(texts.refresh);
  refresh.kind = ApiTokenKind::kRefresh;
  refresh.expires_at = issued.refresh_expires_at;
  PAYOUTD_RETURN_IF_ERROR(tx.insert_api_token(refresh));

  PAYOUTD_RETURN_IF_ERROR(
      tx.delete_expired_api_tokens(merchant_id, at, kExpiredTokensPerIssue));
  return issued;
}

Status require_active(MerchantReads& tx, int64_t merchant_id) {
  PAYOUTD_ASSIGN_OR_RETURN(Merchant merchant, tx.merchant_by_id(merchant_id));
  if (merchant.status != MerchantStatus::kActive) {
    return Status::error(ErrorKind::kDisabled, "merchant is disabled");
  }
  return Status::ok();
}

}  // namespace

void Commands::issue_api_tokens_async(int64_t merchant_id, ApiTokenLifetimes lifetimes,
                                      Callback<IssuedApiTokens> done) {
  if (Status valid = validate_lifetimes(lifetimes); !valid.is_ok()) {
    done(std::move(valid));
    return;
  }
  const int64_t at = clock_.now_micros();
  TokenTexts texts{crypto::random_token(kTokenChars, random_),
                   crypto::random_token(kTokenChars, random_),
                   crypto::random_token(kFamilyIdChars, random_)};
  internal::submit_op<IssuedApiTokens>(
      store_,
      [merchant_id, lifetimes, texts = std::move(texts), at](WriteTx& tx)
          -> Result<IssuedApiTokens> {
        PAYOUTD_RETURN_IF_ERROR(require_active(tx, merchant_id));
        return insert_pair(tx, merchant_id, texts, texts.family_id, lifetimes, at);
      },
      std::move(done));
}

Result<IssuedApiTokens> Commands::issue_api_tokens(int64_t merchant_id,
                                                   ApiTokenLifetimes lifetimes) {
  return internal::wait_for<IssuedApiTokens>([&](Callback<IssuedApiTokens> done) {
    issue_api_tokens_async(merchant_id, lifetimes, std::move(done));
  });
}

void Commands::refresh_api_tokens_async(std::string refresh_token, ApiTokenLifetimes lifetimes,
                                        Callback<ApiTokenRefresh> done) {
  const Status invalid = Status::error(ErrorKind::kUnauthenticated, "Invalid refresh token");
  if (Status valid = validate_lifetimes(lifetimes); !valid.is_ok()) {
    done(std::move(valid));
    return;
  }
  if (!plausible_token(refresh_token)) {
    done(invalid);
    return;
  }
  const int64_t at = clock_.now_micros();
  TokenTexts texts{crypto::random_token(kTokenChars, random_),
                   crypto::random_token(kTokenChars, random_), ""};
  internal::submit_op<ApiTokenRefresh>(
      store_,
      [hash = crypto::sha256(refresh_token), lifetimes, texts = std::move(texts), at,
       invalid](WriteTx& tx) -> Result<ApiTokenRefresh> {
        Result<ApiToken> token = tx.api_token_by_hash(hash);
        if (!token.is_ok()) {
          if (token.status().kind() == ErrorKind::kNotFound) return invalid;
          return std::move(token).status();
        }
        if (token->kind != ApiTokenKind::kRefresh) return invalid;
        if (token->revoked_at || token->replaced_by_hash) {
          // A refresh token presented after it was rotated out (or revoked): someone else may
          // hold a copy. Revoke the whole family; the revocation must commit, so this is a
          // successful op whose result tells the caller to refuse.
          PAYOUTD_RETURN_IF_ERROR(tx.revoke_api_token_family(token->family_id, at));
          return ApiTokenRefresh{std::nullopt, true};
        }
        if (token->expires_at <= at) return invalid;
        PAYOUTD_RETURN_IF_ERROR(require_active(tx, token->merchant_id));
        PAYOUTD_RETURN_IF_ERROR(tx.rotate_api_token(hash, crypto::sha256(texts.refresh), at));
        Result<IssuedApiTokens> issued =
            insert_pair(tx, token->merchant_id, texts, token->family_id, lifetimes, at);
        if (!issued.is_ok()) return std::move(issued).status();
        return ApiTokenRefresh{std::move(issued).value(), false};
      },
      std::move(done));
}

Result<ApiTokenRefresh> Commands::refresh_api_tokens(std::string refresh_token,
                                                     ApiTokenLifetimes lifetimes) {
  return internal::wait_for<ApiTokenRefresh>([&](Callback<ApiTokenRefresh> done) {
    refresh_api_tokens_async(std::move(refresh_token), lifetimes, std::move(done));
  });
}

void Commands::revoke_api_tokens_async(int64_t merchant_id, Callback<int64_t> done) {
  const int64_t at = clock_.now_micros();
  internal::submit_op<int64_t>(
      store_,
      [merchant_id, at](CredentialWrites& tx) { return tx.revoke_merchant_api_tokens(merchant_id, at); },
      std::move(done));
}

Result<int64_t> Commands::revoke_api_tokens(int64_t merchant_id) {
  return internal::wait_for<int64_t>([&](Callback<int64_t> done) {
    revoke_api_tokens_async(merchant_id, std::move(done));
  });
}

Result<Merchant> Commands::authenticate_api_token(std::string_view access_token) {
  const Status invalid = Status::error(ErrorKind::kUnauthenticated, "Authentication required");
  if (!plausible_token(access_token)) return invalid;
  const std::string hash = crypto::sha256(access_token);
  const int64_t now = clock_.now_micros();
  // The hash lookup is an exact index match on a 256-bit digest of a secret: its timing says
  // nothing useful about other tokens, so no constant-time compare is needed here. One statement
  // (token and merchant joined): one round trip on PostgreSQL, on every v1 request.
  Result<Merchant> merchant = internal::read_value<Merchant>(
      store_, [&hash, now](CredentialReads& tx) { return tx.merchant_by_access_token(hash, now); },
      internal::ReadShape::kSingleStatement);
  if (!merchant.is_ok() && merchant.status().kind() == ErrorKind::kNotFound) return invalid;
  return merchant;
}

}  // namespace payoutd::commands
