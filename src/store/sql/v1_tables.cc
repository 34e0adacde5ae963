// The payouts-v1 dialect's tables (migration 2): bearer tokens (stored as SHA-256 hashes) and
// Idempotency-Key records. Reads shared by both transaction kinds, and the write primitives.
#include <string>
#include <utility>

#include "store/sql/transactions.h"

namespace payoutd::sql {
namespace {

constexpr size_t kTokenHashBytes = 32;

std::string_view token_kind_sql(ApiTokenKind kind) {
  return kind == ApiTokenKind::kAccess ? "access" : "refresh";
}

Status check_token_hash(std::string_view token_hash, std::string_view field) {
  if (token_hash.size() != kTokenHashBytes) {
    return Status::invalid_argument(std::string(field),
                                    std::string(field) + " must be a 32-byte SHA-256 digest");
  }
  return Status::ok();
}

}  // namespace

namespace queries {

Result<ApiToken> api_token_by_hash(Connection& connection, std::string_view token_hash) {
  PAYOUTD_RETURN_IF_ERROR(check_token_hash(token_hash, "token_hash"));
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement,
                           connection.prepare("SELECT merchant_id, family_id, kind, expires_at, "
                                              "revoked_at, replaced_by_hash, created_at "
                                              "FROM api_tokens WHERE token_hash = $1"));
  Statement& s = *statement;
  s.bind_blob(1, token_hash);
  PAYOUTD_ASSIGN_OR_RETURN(bool row, s.step());
  if (!row) return Status::not_found("token not found");
  ApiToken token;
  token.token_hash = std::string(token_hash);
  token.merchant_id = s.column_int64(0);
  token.family_id = s.column_text(1);
  const std::string kind = s.column_text(2);
  if (kind == "access") {
    token.kind = ApiTokenKind::kAccess;
  } else if (kind == "refresh") {
    token.kind = ApiTokenKind::kRefresh;
  } else {
    return Status::error(ErrorKind::kCorruption, "api token has unknown kind '" + kind + "'");
  }
  token.expires_at = s.column_int64(3);
  token.revoked_at = s.column_optional_int64(4);
  if (!s.column_is_null(5)) token.replaced_by_hash = s.column_blob(5);
  token.created_at = s.column_int64(6);
  return token;
}

Result<IdempotencyRecord> idempotency_record(Connection& connection, int64_t merchant_id,
                                             std::string_view key) {
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection.prepare(
          "SELECT request_hash, response_status, response_body, created_at, expires_at "
          "FROM idempotency_keys WHERE merchant_id = $1 AND \"key\" = $2"));
  Statement& s = *statement;
  s.bind(1, merchant_id);
  s.bind(2, key);
  PAYOUTD_ASSIGN_OR_RETURN(bool row, s.step());
  if (!row) return Status::not_found("idempotency key not found");
  IdempotencyRecord record;
  record.merchant_id = merchant_id;
  record.key = std::string(key);
  record.request_hash = s.column_text(0);
  record.response_status = static_cast<int>(s.column_int64(1));
  record.response_body = s.column_blob(2);
  record.created_at = s.column_int64(3);
  record.expires_at = s.column_int64(4);
  return record;
}

}  // namespace queries

Status SqlWriteTx::insert_api_token(const ApiToken& token) {
  PAYOUTD_RETURN_IF_ERROR(check_token_hash(token.token_hash, "token_hash"));
  if (token.replaced_by_hash) {
    PAYOUTD_RETURN_IF_ERROR(check_token_hash(*token.replaced_by_hash, "replaced_by_hash"));
  }
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare("INSERT INTO api_tokens (token_hash, merchant_id, family_id, kind, "
                          "expires_at, revoked_at, "
                          "replaced_by_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"));
  Statement& s = *statement;
  s.bind_blob(1, token.token_hash);
  s.bind(2, token.merchant_id);
  s.bind(3, token.family_id);
  s.bind(4, token_kind_sql(token.kind));
  s.bind(5, token.expires_at);
  s.bind(6, token.revoked_at);
  if (token.replaced_by_hash) {
    s.bind_blob(7, *token.replaced_by_hash);
  } else {
    s.bind_null(7, SqlType::kBlob);
  }
  s.bind(8, token.created_at);
  Status inserted = s.execute();
  if (!inserted.is_ok()) {
    const DatabaseError& error = s.last_error();
    if (error.violated(Constraint::kApiTokenHash)) {
      return Status::error(ErrorKind::kAlreadyExists, "token already exists");
    }
    if (error.is_foreign_key()) return Status::not_found("merchant not found");
    if (error.is_check()) {
      return Status::invalid_argument("token", "invalid api token row: " + error.message);
    }
    return status_of(error, "insert api token");
  }
  return Status::ok();
}

Status SqlWriteTx::rotate_api_token(std::string_view token_hash,
                                       std::string_view replaced_by_hash, int64_t at) {
  PAYOUTD_RETURN_IF_ERROR(check_token_hash(token_hash, "token_hash"));
  PAYOUTD_RETURN_IF_ERROR(check_token_hash(replaced_by_hash, "replaced_by_hash"));
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "UPDATE api_tokens SET revoked_at = $1, replaced_by_hash = $2 "
          "WHERE token_hash = $3 AND revoked_at IS NULL AND replaced_by_hash IS NULL"));
  Statement& s = *statement;
  s.bind(1, at);
  s.bind_blob(2, replaced_by_hash);
  s.bind_blob(3, token_hash);
  Status updated = s.execute();
  if (!updated.is_ok()) return status_of(s.last_error(), "rotate api token");
  if (s.changes() == 1) return Status::ok();
  // Nothing changed: tell a missing token from one that is no longer live.
  PAYOUTD_RETURN_IF_ERROR(api_token_by_hash(token_hash));
  return Status::error(ErrorKind::kConflict, "token is already revoked or rotated");
}

Result<int64_t> SqlWriteTx::revoke_api_token_family(std::string_view family_id, int64_t at) {
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "UPDATE api_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL"));
  statement->bind(1, at);
  statement->bind(2, family_id);
  Status updated = statement->execute();
  if (!updated.is_ok()) return status_of(statement->last_error(), "revoke family");
  return statement->changes();
}

Result<int64_t> SqlWriteTx::revoke_merchant_api_tokens(int64_t merchant_id, int64_t at) {
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "UPDATE api_tokens SET revoked_at = $1 WHERE merchant_id = $2 AND revoked_at IS NULL"));
  statement->bind(1, at);
  statement->bind(2, merchant_id);
  Status updated = statement->execute();
  if (!updated.is_ok()) {
    return status_of(statement->last_error(), "revoke merchant tokens");
  }
  return statement->changes();
}

Result<int64_t> SqlWriteTx::delete_expired_api_tokens(int64_t merchant_id, int64_t now,
                                                         int limit) {
  PAYOUTD_RETURN_IF_ERROR(check_row_limit(limit));
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "DELETE FROM api_tokens WHERE token_hash IN (SELECT token_hash FROM api_tokens "
          "WHERE merchant_id = $1 AND expires_at < $2 LIMIT $3)"));
  statement->bind(1, merchant_id);
  statement->bind(2, now);
  statement->bind(3, static_cast<int64_t>(limit));
  Status deleted = statement->execute();
  if (!deleted.is_ok()) {
    return status_of(statement->last_error(), "delete expired api tokens");
  }
  return statement->changes();
}

Status SqlWriteTx::insert_idempotency_record(const IdempotencyRecord& record) {
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "INSERT INTO idempotency_keys (merchant_id, \"key\", request_hash, response_status, "
          "response_body, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"));
  Statement& s = *statement;
  s.bind(1, record.merchant_id);
  s.bind(2, record.key);
  s.bind(3, record.request_hash);
  s.bind(4, static_cast<int64_t>(record.response_status));
  s.bind_blob(5, record.response_body);
  s.bind(6, record.created_at);
  s.bind(7, record.expires_at);
  Status inserted = s.execute();
  if (!inserted.is_ok()) {
    const DatabaseError& error = s.last_error();
    if (error.violated(Constraint::kIdempotencyKey)) {
      return Status::error(ErrorKind::kAlreadyExists, "idempotency key already used");
    }
    if (error.is_foreign_key()) return Status::not_found("merchant not found");
    if (error.is_check()) {
      return Status::invalid_argument("idempotency_key",
                                      "invalid idempotency record: " + error.message);
    }
    return status_of(error, "insert idempotency record");
  }
  return Status::ok();
}

Status SqlWriteTx::delete_idempotency_record(int64_t merchant_id, std::string_view key) {
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare("DELETE FROM idempotency_keys WHERE merchant_id = $1 AND \"key\" = $2"));
  statement->bind(1, merchant_id);
  statement->bind(2, key);
  Status deleted = statement->execute();
  if (!deleted.is_ok()) {
    return status_of(statement->last_error(), "delete idempotency record");
  }
  return Status::ok();
}

Result<int64_t> SqlWriteTx::delete_expired_idempotency_records(int64_t merchant_id,
                                                                  int64_t now, int limit) {
  PAYOUTD_RETURN_IF_ERROR(check_row_limit(limit));
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "DELETE FROM idempotency_keys WHERE merchant_id = $1 AND \"key\" IN (SELECT \"key\" "
          "FROM idempotency_keys WHERE merchant_id = $1 AND expires_at < $2 LIMIT $3)"));
  statement->bind(1, merchant_id);
  statement->bind(2, now);
  statement->bind(3, static_cast<int64_t>(limit));
  Status deleted = statement->execute();
  if (!deleted.is_ok()) {
    return status_of(statement->last_error(), "delete expired idempotency records");
  }
  return statement->changes();
}

}  // namespace payoutd::sql
