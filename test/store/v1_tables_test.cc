// Migration 2 (payouts-v1 tokens and idempotency keys) and its store primitives, on a real file.
#include "crypto/hash.h"
#include "store/sqlite/schema.h"
#include "store_fixture.h"

namespace payoutd::testing {
namespace {

class V1TablesTest : public StoreTest {
 protected:
  static ApiToken token(int64_t merchant_id, const std::string& text, const std::string& family,
                        ApiTokenKind kind, int64_t expires_at) {
    ApiToken value;
    value.token_hash = crypto::sha256(text);
    value.merchant_id = merchant_id;
    value.family_id = family;
    value.kind = kind;
    value.expires_at = expires_at;
    value.created_at = kT0;
    return value;
  }

  Status insert(const ApiToken& value) {
    return store_->write([&](WriteTx& tx) { return tx.insert_api_token(value); });
  }

  Result<ApiToken> find(const std::string& text) {
    std::optional<ApiToken> found;
    Status status = store_->read([&](ReadTx& tx) -> Status {
      Result<ApiToken> result = tx.api_token_by_hash(crypto::sha256(text));
      if (!result.is_ok()) return std::move(result).status();
      found = *result;
      return Status::ok();
    });
    if (!status.is_ok()) return status;
    return *found;
  }

  Result<int64_t> count(const std::function<Result<int64_t>(WriteTx&)>& body) {
    int64_t value = 0;
    Status status = store_->write([&](WriteTx& tx) -> Status {
      Result<int64_t> result = body(tx);
      if (!result.is_ok()) return std::move(result).status();
      value = *result;
      return Status::ok();
    });
    if (!status.is_ok()) return status;
    return value;
  }

  static IdempotencyRecord record(int64_t merchant_id, const std::string& key,
                                  const std::string& body, int64_t expires_at) {
    IdempotencyRecord value;
    value.merchant_id = merchant_id;
    value.key = key;
    value.request_hash = "hash-" + body;
    value.response_status = 201;
    value.response_body = body;
    value.created_at = kT0;
    value.expires_at = expires_at;
    return value;
  }

  Result<IdempotencyRecord> find_record(int64_t merchant_id, const std::string& key) {
    std::optional<IdempotencyRecord> found;
    Status status = store_->read([&](ReadTx& tx) -> Status {
      Result<IdempotencyRecord> result = tx.idempotency_record(merchant_id, key);
      if (!result.is_ok()) return std::move(result).status();
      found = *result;
      return Status::ok();
    });
    if (!status.is_ok()) return status;
    return *found;
  }
};

TEST_F(V1TablesTest, MigrationTwoIsRecordedAndCreatesBothTables) {
  RawDatabase raw(path_);
  EXPECT_GE(sqlite::latest_schema_version(), 2);
  EXPECT_EQ(raw.text("SELECT name FROM schema_migrations WHERE version = 2"),
            "v1 api tokens and idempotency keys");
  EXPECT_EQ(raw.integer("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                        "('api_tokens', 'idempotency_keys')"),
            2);
  // The lookups are index-driven, not scans.
  const std::vector<std::string> family_plan =
      raw.column("EXPLAIN QUERY PLAN UPDATE api_tokens SET revoked_at = 1 WHERE family_id = 'x' "
                 "AND revoked_at IS NULL",
                 3);
  ASSERT_FALSE(family_plan.empty());
  EXPECT_NE(family_plan.back().find("api_tokens_by_family"), std::string::npos)
      << family_plan.back();
  const std::vector<std::string> merchant_plan =
      raw.column("EXPLAIN QUERY PLAN UPDATE api_tokens SET revoked_at = 1 WHERE merchant_id = 1 "
                 "AND revoked_at IS NULL",
                 3);
  ASSERT_FALSE(merchant_plan.empty());
  EXPECT_NE(merchant_plan.back().find("api_tokens_by_merchant_expiry"), std::string::npos)
      << merchant_plan.back();
}

TEST_F(V1TablesTest, TokensAreStoredOnlyAsHashes) {
  const int64_t merchant = add_merchant("a");
  ASSERT_TRUE(insert(token(merchant, "secret-access-text", "fam1", ApiTokenKind::kAccess,
                           kT0 + 1000))
                  .is_ok());
  RawDatabase raw(path_);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM api_tokens"), 1);
  EXPECT_EQ(raw.integer("SELECT length(token_hash) FROM api_tokens"), 32);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM api_tokens WHERE instr(CAST(token_hash AS TEXT), "
                        "'secret') > 0"),
            0);
  EXPECT_EQ(raw.text("SELECT lower(hex(token_hash)) FROM api_tokens"),
            crypto::hex_lower(crypto::sha256("secret-access-text")));

  Result<ApiToken> found = find("secret-access-text");
  ASSERT_TRUE(found.is_ok()) << found.status().to_string();
  EXPECT_EQ(found->merchant_id, merchant);
  EXPECT_EQ(found->family_id, "fam1");
  EXPECT_EQ(found->kind, ApiTokenKind::kAccess);
  EXPECT_EQ(found->expires_at, kT0 + 1000);
  EXPECT_FALSE(found->revoked_at.has_value());
  EXPECT_FALSE(found->replaced_by_hash.has_value());
  EXPECT_EQ(found->created_at, kT0);

  EXPECT_EQ(status_of(find("another")).kind(), ErrorKind::kNotFound);
}

// The per-request v1 authentication: one statement (it runs under read_single, whose REQUIRES of
// at most one statement is asserted), answering only for a valid access token.
TEST_F(V1TablesTest, MerchantByAccessTokenAnswersOnlyForAValidAccessToken) {
  const int64_t merchant = add_merchant("a");
  const int64_t other = add_merchant("b");
  ASSERT_TRUE(insert(token(merchant, "access", "fam1", ApiTokenKind::kAccess, kT0 + 1000)).is_ok());
  ASSERT_TRUE(insert(token(merchant, "refresh", "fam1", ApiTokenKind::kRefresh, kT0 + 1000)).is_ok());
  ASSERT_TRUE(insert(token(other, "other", "fam2", ApiTokenKind::kAccess, kT0 + 1000)).is_ok());
  ASSERT_TRUE(insert(token(other, "revoked", "fam3", ApiTokenKind::kAccess, kT0 + 1000)).is_ok());
  ASSERT_TRUE(count([](WriteTx& tx) { return tx.revoke_api_token_family("fam3", kT0); }).is_ok());

  auto who = [this](const std::string& text, int64_t now,
                    std::string_view hash = {}) -> Result<int64_t> {
    std::optional<int64_t> id;
    const std::string digest = hash.empty() ? crypto::sha256(text) : std::string(hash);
    Status status = store_->read_single([&](ReadTx& tx) -> Status {
      Result<Merchant> found = tx.merchant_by_access_token(digest, now);
      if (!found.is_ok()) return std::move(found).status();
      id = found->id;
      return Status::ok();
    });
    if (!status.is_ok()) return status;
    return *id;
  };
  EXPECT_EQ(*who("access", kT0), merchant);
  EXPECT_EQ(*who("other", kT0 + 999), other);
  EXPECT_EQ(status_of(who("access", kT0 + 1000)).kind(), ErrorKind::kNotFound);  // exclusive
  EXPECT_EQ(status_of(who("refresh", kT0)).kind(), ErrorKind::kNotFound);
  EXPECT_EQ(status_of(who("revoked", kT0)).kind(), ErrorKind::kNotFound);
  EXPECT_EQ(status_of(who("never issued", kT0)).kind(), ErrorKind::kNotFound);
  EXPECT_EQ(status_of(who("", kT0, "short")).kind(), ErrorKind::kInvalidArgument);
}

TEST_F(V1TablesTest, InsertRefusals) {
  const int64_t merchant = add_merchant("a");
  ApiToken value = token(merchant, "t1", "fam", ApiTokenKind::kRefresh, kT0 + 5);
  ASSERT_TRUE(insert(value).is_ok());
  EXPECT_EQ(insert(value).kind(), ErrorKind::kAlreadyExists);

  ApiToken orphan = token(merchant + 100, "t2", "fam", ApiTokenKind::kAccess, kT0 + 5);
  EXPECT_EQ(insert(orphan).kind(), ErrorKind::kNotFound);

  ApiToken short_hash = token(merchant, "t3", "fam", ApiTokenKind::kAccess, kT0 + 5);
  short_hash.token_hash = "abc";
  EXPECT_EQ(insert(short_hash).kind(), ErrorKind::kInvalidArgument);

  ApiToken no_family = token(merchant, "t4", "", ApiTokenKind::kAccess, kT0 + 5);
  EXPECT_EQ(insert(no_family).kind(), ErrorKind::kInvalidArgument);

  Status bad_lookup = store_->read([](ReadTx& tx) -> Status {
    Result<ApiToken> found = tx.api_token_by_hash("too short");
    return found.is_ok() ? Status::ok() : found.status();
  });
  EXPECT_EQ(bad_lookup.kind(), ErrorKind::kInvalidArgument);
}

TEST_F(V1TablesTest, RotateIsAConditionalWrite) {
  const int64_t merchant = add_merchant("a");
  ASSERT_TRUE(insert(token(merchant, "r1", "fam", ApiTokenKind::kRefresh, kT0 + 5)).is_ok());
  const std::string successor = crypto::sha256("r2");
  Status rotated = store_->write(
      [&](WriteTx& tx) { return tx.rotate_api_token(crypto::sha256("r1"), successor, kT0 + 1); });
  ASSERT_TRUE(rotated.is_ok()) << rotated.to_string();
  Result<ApiToken> found = find("r1");
  ASSERT_TRUE(found.is_ok());
  EXPECT_EQ(found->revoked_at, kT0 + 1);
  EXPECT_EQ(found->replaced_by_hash, successor);

  // A second rotation of the same token loses: the token is no longer live.
  Status again = store_->write(
      [&](WriteTx& tx) { return tx.rotate_api_token(crypto::sha256("r1"), successor, kT0 + 2); });
  EXPECT_EQ(again.kind(), ErrorKind::kConflict);
  found = find("r1");
  ASSERT_TRUE(found.is_ok());
  EXPECT_EQ(found->revoked_at, kT0 + 1);  // unchanged

  Status missing = store_->write(
      [&](WriteTx& tx) { return tx.rotate_api_token(crypto::sha256("nope"), successor, kT0); });
  EXPECT_EQ(missing.kind(), ErrorKind::kNotFound);
}

TEST_F(V1TablesTest, RevokeFamilyAndMerchantTouchOnlyTheirRows) {
  const int64_t a = add_merchant("a");
  const int64_t b = add_merchant("b");
  ASSERT_TRUE(insert(token(a, "a1", "famA1", ApiTokenKind::kAccess, kT0 + 9)).is_ok());
  ASSERT_TRUE(insert(token(a, "a2", "famA1", ApiTokenKind::kRefresh, kT0 + 9)).is_ok());
  ASSERT_TRUE(insert(token(a, "a3", "famA2", ApiTokenKind::kAccess, kT0 + 9)).is_ok());
  ASSERT_TRUE(insert(token(b, "b1", "famB", ApiTokenKind::kAccess, kT0 + 9)).is_ok());

  Result<int64_t> family =
      count([](WriteTx& tx) { return tx.revoke_api_token_family("famA1", kT0 + 1); });
  ASSERT_TRUE(family.is_ok());
  EXPECT_EQ(*family, 2);
  EXPECT_EQ(find("a1")->revoked_at, kT0 + 1);
  EXPECT_EQ(find("a2")->revoked_at, kT0 + 1);
  EXPECT_FALSE(find("a3")->revoked_at.has_value());

  // Already revoked rows keep their first revocation time and are not counted again.
  Result<int64_t> merchant =
      count([a](WriteTx& tx) { return tx.revoke_merchant_api_tokens(a, kT0 + 2); });
  ASSERT_TRUE(merchant.is_ok());
  EXPECT_EQ(*merchant, 1);
  EXPECT_EQ(find("a1")->revoked_at, kT0 + 1);
  EXPECT_EQ(find("a3")->revoked_at, kT0 + 2);
  EXPECT_FALSE(find("b1")->revoked_at.has_value());
}

TEST_F(V1TablesTest, ExpiredTokensAreDeletedInBoundedSteps) {
  const int64_t a = add_merchant("a");
  const int64_t b = add_merchant("b");
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(insert(token(a, "old" + std::to_string(i), "f", ApiTokenKind::kAccess, kT0 + i))
                    .is_ok());
  }
  ASSERT_TRUE(insert(token(a, "live", "f", ApiTokenKind::kAccess, kT0 + 100)).is_ok());
  ASSERT_TRUE(insert(token(b, "b-old", "g", ApiTokenKind::kAccess, kT0)).is_ok());

  Result<int64_t> first = count([a](WriteTx& tx) { return tx.delete_expired_api_tokens(a, kT0 + 50, 3); });
  ASSERT_TRUE(first.is_ok());
  EXPECT_EQ(*first, 3);
  Result<int64_t> second =
      count([a](WriteTx& tx) { return tx.delete_expired_api_tokens(a, kT0 + 50, 3); });
  ASSERT_TRUE(second.is_ok());
  EXPECT_EQ(*second, 2);
  EXPECT_TRUE(find("live").is_ok());
  EXPECT_TRUE(find("b-old").is_ok());  // another merchant's rows are not touched

  Result<int64_t> bad = count([a](WriteTx& tx) { return tx.delete_expired_api_tokens(a, kT0, 0); });
  EXPECT_EQ(status_of(bad).kind(), ErrorKind::kInvalidArgument);
}

TEST_F(V1TablesTest, IdempotencyRecordsKeepTheBodyByteForByte) {
  const int64_t a = add_merchant("a");
  const int64_t b = add_merchant("b");
  const std::string body = std::string("{\"x\":\"\xC3\xA9\\u0000\"}\n") + std::string(1, '\0') + "tail";
  ASSERT_TRUE(store_
                  ->write([&](WriteTx& tx) {
                    return tx.insert_idempotency_record(record(a, "key-0001", body, kT0 + 10));
                  })
                  .is_ok());
  Result<IdempotencyRecord> found = find_record(a, "key-0001");
  ASSERT_TRUE(found.is_ok()) << found.status().to_string();
  EXPECT_EQ(found->response_body, body);
  EXPECT_EQ(found->response_status, 201);
  EXPECT_EQ(found->request_hash, "hash-" + body);
  EXPECT_EQ(found->expires_at, kT0 + 10);

  // Scoped per merchant: b may use the same key, and does not see a's record.
  EXPECT_EQ(status_of(find_record(b, "key-0001")).kind(), ErrorKind::kNotFound);
  ASSERT_TRUE(store_
                  ->write([&](WriteTx& tx) {
                    return tx.insert_idempotency_record(record(b, "key-0001", "other", kT0 + 10));
                  })
                  .is_ok());
  // a cannot store the key twice.
  Status duplicate = store_->write([&](WriteTx& tx) {
    return tx.insert_idempotency_record(record(a, "key-0001", "again", kT0 + 10));
  });
  EXPECT_EQ(duplicate.kind(), ErrorKind::kAlreadyExists);
  EXPECT_EQ(find_record(a, "key-0001")->response_body, body);

  ASSERT_TRUE(store_->write([&](WriteTx& tx) { return tx.delete_idempotency_record(a, "key-0001"); })
                  .is_ok());
  EXPECT_EQ(status_of(find_record(a, "key-0001")).kind(), ErrorKind::kNotFound);
  EXPECT_TRUE(find_record(b, "key-0001").is_ok());
  // Deleting what is not there is fine.
  EXPECT_TRUE(store_->write([&](WriteTx& tx) { return tx.delete_idempotency_record(a, "none"); })
                  .is_ok());
}

TEST_F(V1TablesTest, ExpiredIdempotencyRecordsAreDeletedInBoundedSteps) {
  const int64_t a = add_merchant("a");
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(store_
                    ->write([&](WriteTx& tx) {
                      return tx.insert_idempotency_record(
                          record(a, "expired-" + std::to_string(i), "b", kT0 + i));
                    })
                    .is_ok());
  }
  ASSERT_TRUE(store_
                  ->write([&](WriteTx& tx) {
                    return tx.insert_idempotency_record(record(a, "live-key", "b", kT0 + 100));
                  })
                  .is_ok());
  Result<int64_t> first =
      count([a](WriteTx& tx) { return tx.delete_expired_idempotency_records(a, kT0 + 50, 3); });
  ASSERT_TRUE(first.is_ok());
  EXPECT_EQ(*first, 3);
  Result<int64_t> second =
      count([a](WriteTx& tx) { return tx.delete_expired_idempotency_records(a, kT0 + 50, 3); });
  ASSERT_TRUE(second.is_ok());
  EXPECT_EQ(*second, 1);
  EXPECT_TRUE(find_record(a, "live-key").is_ok());

  // Bad rows are refused by the schema.
  Status bad_status = store_->write([&](WriteTx& tx) {
    IdempotencyRecord value = record(a, "bad-status", "b", kT0 + 100);
    value.response_status = 42;
    return tx.insert_idempotency_record(value);
  });
  EXPECT_EQ(bad_status.kind(), ErrorKind::kInvalidArgument);
}

}  // namespace
}  // namespace payoutd::testing
