// The PostgreSQL connection: placeholder rewriting, typed prepared statements, value round trips,
// error mapping, SQLite's statement semantics inside transactions, conflicts, the statement cache
// bound, reconnects, and what a statement costs.
#include <chrono>
#include <cstdio>
#include <limits>
#include <thread>

#include "pg_test_support.h"
#include "store/postgres/schema.h"
#include "support/test_support.h"

namespace payoutd::testing {
namespace {

using postgres::PgConnection;
using postgres::PgConnectionOptions;
using sql::FailureKind;
using sql::StatementLease;

// ---- pure helpers ----

// changes_data is what FailureScope::kStatement requires: PgConnection::prepare() asserts it (a
// statement savepoint is for an op that carries on from a constraint failure, which only a
// data-changing statement meets). What counts is the first keyword, or a WITH wrapping an
// INSERT / UPDATE / DELETE; not a keyword inside an identifier, nor a later FOR UPDATE.
TEST(PgChangesDataTest, DecidesWhichStatementsChangeData) {
  EXPECT_TRUE(postgres::changes_data("INSERT INTO t VALUES ($1)"));
  EXPECT_TRUE(postgres::changes_data("  update t SET a = 1"));
  EXPECT_TRUE(postgres::changes_data("DELETE FROM t"));
  EXPECT_TRUE(postgres::changes_data("MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE"));
  EXPECT_TRUE(postgres::changes_data("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x"));
  EXPECT_TRUE(postgres::changes_data("WITH c AS (UPDATE t SET a = 1 RETURNING 1) SELECT count(*) FROM c"));
  EXPECT_FALSE(postgres::changes_data("WITH x AS (SELECT 1) SELECT * FROM x"));
  EXPECT_FALSE(postgres::changes_data("WITH x AS (SELECT updated_at, last_insert FROM t) SELECT 1"));
  EXPECT_FALSE(postgres::changes_data("SELECT * FROM t FOR UPDATE"));
  EXPECT_FALSE(postgres::changes_data("SELECT inserted_at FROM t"));
  EXPECT_FALSE(postgres::changes_data(""));
}

TEST(PgByteaTest, DecodesHexAndRefusesGarbage) {
  std::string out;
  EXPECT_TRUE(postgres::decode_bytea_hex("\\x00ff10Ab", &out));
  EXPECT_EQ(out, std::string("\x00\xff\x10\xab", 4));
  EXPECT_TRUE(postgres::decode_bytea_hex("\\x", &out));
  EXPECT_EQ(out, "");
  EXPECT_FALSE(postgres::decode_bytea_hex("\\x0", &out));
  EXPECT_FALSE(postgres::decode_bytea_hex("\\xzz", &out));
  EXPECT_FALSE(postgres::decode_bytea_hex("00", &out));
}

// ---- against a server ----

using PgConnectionTest = PgTest;

TEST_F(PgConnectionTest, OpensWithTheSessionSettings) {
  EXPECT_EQ(connection_->dialect(), sql::Dialect::kPostgresql);
  EXPECT_EQ(*connection_->query_text("SHOW application_name"), "payoutd");
  EXPECT_EQ(*connection_->query_text("SHOW statement_timeout"), "30s");
  EXPECT_EQ(*connection_->query_text("SHOW lock_timeout"), "10s");
  EXPECT_EQ(*connection_->query_text("SHOW idle_in_transaction_session_timeout"), "1min");
  EXPECT_EQ(*connection_->query_text("SHOW synchronous_commit"), "on");
  EXPECT_EQ(*connection_->query_text("SHOW client_encoding"), "UTF8");
  EXPECT_EQ(*connection_->query_text("SHOW default_transaction_read_only"), "off");
  EXPECT_FALSE(connection_->in_transaction());

  PgConnectionOptions options;
  options.read_only = true;
  options.statement_timeout_ms = 1500;
  std::unique_ptr<PgConnection> reader = database_.connect(options);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(*reader->query_text("SHOW default_transaction_read_only"), "on");
  EXPECT_EQ(*reader->query_text("SHOW statement_timeout"), "1500ms");
  Status refused = reader->execute_script("CREATE TABLE nope (a BIGINT)");
  EXPECT_FALSE(refused.is_ok());
  EXPECT_NE(refused.message().find("25006"), std::string::npos) << refused.message();
}

TEST_F(PgConnectionTest, NeverShowsTheConnectionStringOrPassword) {
  // Nothing listens on port 1: the connection is refused.
  Result<std::unique_ptr<PgConnection>> refused = PgConnection::open(
      "postgresql://payoutd:s3cretPW@127.0.0.1:1/payoutd?connect_timeout=2", {});
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().kind(), ErrorKind::kUnavailable);
  EXPECT_EQ(refused.status().message().find("s3cretPW"), std::string::npos)
      << refused.status().message();

  Result<std::unique_ptr<PgConnection>> malformed =
      PgConnection::open("host=127.0.0.1 password=s3cretPW bogus", {});
  ASSERT_FALSE(malformed.is_ok());
  EXPECT_EQ(malformed.status().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(malformed.status().message().find("s3cretPW"), std::string::npos)
      << malformed.status().message();
  EXPECT_EQ(malformed.status().message().find("bogus"), std::string::npos)
      << malformed.status().message();
}

TEST_F(PgConnectionTest, Int64BoundsRoundTripAndArithmeticStaysInt8) {
  exec("CREATE TABLE numbers (id BIGINT PRIMARY KEY, value BIGINT)");
  const std::vector<int64_t> values = {0,
                                       1,
                                       -1,
                                       2147483647,
                                       2147483648,
                                       -2147483649,
                                       1'700'000'000'000'000,
                                       std::numeric_limits<int64_t>::max(),
                                       std::numeric_limits<int64_t>::min()};
  for (size_t i = 0; i < values.size(); ++i) {
    Result<StatementLease> insert =
        connection_->prepare("INSERT INTO numbers (id, value) VALUES ($1, $2)");
    ASSERT_TRUE(insert.is_ok());
    (*insert)->bind(1, static_cast<int64_t>(i));
    (*insert)->bind(2, values[i]);
    ASSERT_TRUE((*insert)->execute().is_ok()) << (*insert)->last_error().message;
    EXPECT_EQ((*insert)->changes(), 1);
  }
  for (size_t i = 0; i < values.size(); ++i) {
    Result<StatementLease> select = connection_->prepare("SELECT value FROM numbers WHERE id = $1");
    ASSERT_TRUE(select.is_ok());
    (*select)->bind(1, static_cast<int64_t>(i));
    Result<bool> row = (*select)->step();
    ASSERT_TRUE(row.is_ok() && *row);
    EXPECT_EQ((*select)->column_int64(0), values[i]);
    EXPECT_FALSE((*select)->column_is_null(0));
    EXPECT_FALSE(*(*select)->step());
  }
  // `$1 + 1` with a micros value: int8 arithmetic, not int4 (which would overflow).
  Result<StatementLease> sum = connection_->prepare("SELECT $1 + 1, $1 * 1000");
  ASSERT_TRUE(sum.is_ok());
  (*sum)->bind(1, int64_t{1'700'000'000'000'000});
  ASSERT_TRUE(*(*sum)->step()) << (*sum)->last_error().message;
  EXPECT_EQ((*sum)->column_int64(0), 1'700'000'000'000'001);
  EXPECT_EQ((*sum)->column_int64(1), 1'700'000'000'000'000'000);
}

TEST_F(PgConnectionTest, TextBlobNullAndBooleanRoundTrips) {
  exec("CREATE TABLE things (id BIGINT PRIMARY KEY, t TEXT, b BYTEA, n BIGINT)");
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  const std::string unicode = "Ünïcødé ✓ 日本 'quoted' \"dq\" \\ back";
  {
    Result<StatementLease> insert =
        connection_->prepare("INSERT INTO things (id, t, b, n) VALUES ($1, $2, $3, $4)");
    ASSERT_TRUE(insert.is_ok());
    (*insert)->bind(1, int64_t{1});
    (*insert)->bind(2, unicode);
    (*insert)->bind_blob(3, all_bytes);
    (*insert)->bind_null(4, sql::SqlType::kInt);
    ASSERT_TRUE((*insert)->execute().is_ok()) << (*insert)->last_error().message;
  }
  {
    // Empty text and empty blob are values, not NULL; a NULL is bound as one, with its type.
    Result<StatementLease> insert =
        connection_->prepare("INSERT INTO things (id, t, b, n) VALUES ($1, $2, $3, $4)");
    ASSERT_TRUE(insert.is_ok());
    (*insert)->bind(1, int64_t{2});
    (*insert)->bind(2, std::string_view());
    (*insert)->bind_blob(3, std::string_view());
    (*insert)->bind_null(4, sql::SqlType::kInt);
    ASSERT_TRUE((*insert)->execute().is_ok()) << (*insert)->last_error().message;
  }
  const std::string kSelect =
      "SELECT t, b, n, t IS NULL, b IS NULL, n IS NULL, length(b) FROM things WHERE id = $1";
  {
    Result<StatementLease> select = connection_->prepare(kSelect);
    ASSERT_TRUE(select.is_ok());
    (*select)->bind(1, int64_t{1});
    ASSERT_TRUE(*(*select)->step());
    EXPECT_EQ((*select)->column_text(0), unicode);
    EXPECT_EQ((*select)->column_blob(1), all_bytes);
    EXPECT_TRUE((*select)->column_is_null(2));
    EXPECT_EQ((*select)->column_int64(2), 0);
    EXPECT_EQ((*select)->column_text(2), "");
    EXPECT_EQ((*select)->column_optional_int64(2), std::nullopt);
    EXPECT_EQ((*select)->column_int64(3), 0);  // boolean 'f'
    EXPECT_EQ((*select)->column_int64(5), 1);  // boolean 't'
    EXPECT_EQ((*select)->column_text(5), "1");  // as SQLite reads a comparison
    EXPECT_EQ((*select)->column_text(3), "0");
    EXPECT_EQ((*select)->column_int64(6), 256);
    EXPECT_FALSE(*(*select)->step());
  }
  {
    Result<StatementLease> again = connection_->prepare(kSelect);
    ASSERT_TRUE(again.is_ok());
    (*again)->bind(1, int64_t{2});
    ASSERT_TRUE(*(*again)->step());
    EXPECT_EQ((*again)->column_optional_text(0), std::optional<std::string>(""));
    EXPECT_FALSE((*again)->column_is_null(1));
    EXPECT_EQ((*again)->column_blob(1), "");
    EXPECT_EQ((*again)->column_int64(3), 0);
    EXPECT_EQ((*again)->column_int64(4), 0);
    EXPECT_EQ((*again)->column_int64(5), 1);
  }
  // Bytes written by the server itself read back the same.
  EXPECT_EQ(*connection_->query_text(
                "SELECT b = decode(string_agg(lpad(to_hex(i), 2, '0'), '' ORDER BY i), 'hex') "
                "FROM things, generate_series(0, 255) i WHERE id = 1 GROUP BY b"),
            "t");
}

TEST_F(PgConnectionTest, OneTextTypedByWhatIsBound) {
  // The same text prepared once per parameter-type signature.
  for (int round = 0; round < 2; ++round) {
    {
      Result<StatementLease> s = connection_->prepare("SELECT $1");
      ASSERT_TRUE(s.is_ok());
      (*s)->bind(1, int64_t{42});
      ASSERT_TRUE(*(*s)->step());
      EXPECT_EQ((*s)->column_int64(0), 42);
    }
    {
      Result<StatementLease> s = connection_->prepare("SELECT $1");
      ASSERT_TRUE(s.is_ok());
      (*s)->bind(1, "forty-two");
      ASSERT_TRUE(*(*s)->step());
      EXPECT_EQ((*s)->column_text(0), "forty-two");
    }
  }
  EXPECT_EQ(connection_->prepared_statement_count(), 2u);
  EXPECT_EQ(connection_->cached_statement_count(), 1u);
  // A NULL shares the statement of its type's values: no third prepare.
  {
    Result<StatementLease> s = connection_->prepare("SELECT $1");
    ASSERT_TRUE(s.is_ok());
    (*s)->bind_null(1, sql::SqlType::kInt);
    ASSERT_TRUE(*(*s)->step());
    EXPECT_TRUE((*s)->column_is_null(0));
  }
  EXPECT_EQ(connection_->prepared_statement_count(), 2u);
  // A number the text skips (never bound) is sent as a NULL typed text: the server need not
  // infer it.
  Result<StatementLease> gap = connection_->prepare("SELECT $1, $3");
  ASSERT_TRUE(gap.is_ok());
  (*gap)->bind(1, int64_t{1});
  (*gap)->bind(3, "three");
  ASSERT_TRUE(*(*gap)->step()) << (*gap)->last_error().message;
  EXPECT_EQ((*gap)->column_text(1), "three");
}

TEST_F(PgConnectionTest, NullsTakeTheirTypeFromTheContext) {
  exec("CREATE TABLE t (id BIGINT, name TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b')");
  ASSERT_TRUE(connection_->begin_write().is_ok());
  const std::string optional_filter =
      "SELECT count(*) FROM t WHERE ($1 IS NULL OR name = $1) AND ($2 IS NULL OR id = $2)";
  auto run = [&](std::optional<std::string> name, std::optional<int64_t> id) -> int64_t {
    Result<StatementLease> s = connection_->prepare(optional_filter);
    PAYOUTD_ASSERT(s.is_ok());
    (*s)->bind(1, name);
    (*s)->bind(2, id);
    Result<bool> row = (*s)->step();
    EXPECT_TRUE(row.is_ok()) << (*s)->last_error().message;
    return row.is_ok() && *row ? (*s)->column_int64(0) : -1;
  };
  // `$N IS NULL` alone cannot type a NULL: the binder's type does (text for the optional
  // string, bigint for the optional number), so the server infers nothing and nothing is retried.
  EXPECT_EQ(run(std::nullopt, std::nullopt), 2);
  EXPECT_EQ(run("a", std::nullopt), 1);
  EXPECT_EQ(run(std::nullopt, 2), 1);
  EXPECT_EQ(run("a", 2), 0);
  EXPECT_EQ(run(std::nullopt, std::nullopt), 2);
  EXPECT_TRUE(connection_->take_hard_error().is_ok());
  // A NULL and a value of the same type share one server-side statement: 4 shapes above (two
  // NULLs, one, the other, none), one prepared statement.
  EXPECT_EQ(connection_->prepared_statement_count(), 1u);
  // A NULL typed as bigint in a bigint expression.
  Result<StatementLease> update = connection_->prepare("UPDATE t SET id = coalesce($1, id) + 1");
  ASSERT_TRUE(update.is_ok());
  (*update)->bind_null(1, sql::SqlType::kInt);
  ASSERT_TRUE((*update)->execute().is_ok()) << (*update)->last_error().message;
  EXPECT_EQ((*update)->changes(), 2);
  ASSERT_TRUE(connection_->commit().is_ok());
  EXPECT_EQ(*connection_->query_text("SELECT sum(id) FROM t"), "5");
}

TEST_F(PgConnectionTest, BindErrorsAreReportedByStep) {
  Result<StatementLease> s = connection_->prepare("SELECT $1");
  ASSERT_TRUE(s.is_ok());
  for (int index : {0, 65536}) {
    SCOPED_TRACE(index);
    (*s)->reset();
    (*s)->bind(index, int64_t{1});
    Result<bool> stepped = (*s)->step();
    ASSERT_FALSE(stepped.is_ok());
    EXPECT_EQ((*s)->last_error().kind, FailureKind::kOther);
    EXPECT_NE((*s)->last_error().message.find("out of range"), std::string::npos);
    EXPECT_FALSE(connection_->take_hard_error().is_ok());
  }

  // The parameters are the ones bound: a text referring past them is refused by the server.
  Result<StatementLease> past = connection_->prepare("SELECT $1, $2");
  ASSERT_TRUE(past.is_ok());
  (*past)->bind(1, int64_t{1});
  EXPECT_FALSE((*past)->step().is_ok());
  EXPECT_NE((*past)->last_error().message.find("requires 2"), std::string::npos)
      << (*past)->last_error().message;
  (void)connection_->take_hard_error();

  (*s)->reset();
  (*s)->bind(1, std::string_view("a\0b", 3));
  EXPECT_FALSE((*s)->step().is_ok());
  EXPECT_NE((*s)->last_error().message.find("NUL"), std::string::npos);
  (void)connection_->take_hard_error();

  (*s)->reset();
  (*s)->bind(1, "fine");
  ASSERT_TRUE(*(*s)->step());
  EXPECT_EQ((*s)->column_text(0), "fine");
  EXPECT_TRUE(connection_->take_hard_error().is_ok());
}

TEST_F(PgConnectionTest, QueryTextAndChanges) {
  exec("CREATE TABLE t (a BIGINT); INSERT INTO t VALUES (1), (2), (3)");
  EXPECT_EQ(*connection_->query_text("SELECT count(*) FROM t"), "3");
  EXPECT_EQ(*connection_->query_text("SELECT NULL"), "");
  EXPECT_EQ(*connection_->query_text("SELECT a FROM t WHERE a > 10"), "");
  Result<StatementLease> update = connection_->prepare("UPDATE t SET a = a + $1 WHERE a >= $2");
  ASSERT_TRUE(update.is_ok());
  (*update)->bind(1, int64_t{10});
  (*update)->bind(2, int64_t{2});
  ASSERT_TRUE((*update)->execute().is_ok());
  EXPECT_EQ((*update)->changes(), 2);
  Result<std::string> bad = connection_->query_text("SELECT nope FROM t");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().kind(), ErrorKind::kInternal);
  EXPECT_NE(bad.status().message().find("42703"), std::string::npos) << bad.status().message();
}

// A migrated schema with one merchant (id 1), its EUR wallet (id 1), the wallet's accounts and a
// payout (cashout_id 1, external_id "ext-1").
class PgSchemaFixture : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(postgres::apply_migrations(*connection_, 1).is_ok());
    exec(R"sql(
      INSERT INTO merchants (name, status, login, pass_salt, pass_hash, secret_key_sealed,
                             api_username, api_password_salt, api_password_hash, created_at,
                             updated_at)
      VALUES ('m', 'active', 'login1', '\x00', '\x00', '\x00', 'api1', '\x00', '\x00', 1, 1);
      INSERT INTO wallets (merchant_id, currency, created_at, updated_at) VALUES (1, 'EUR', 1, 1);
      INSERT INTO accounts (kind, currency, wallet_id, balance, updated_at)
        VALUES ('available', 'EUR', 1, 1000, 1), ('held', 'EUR', 1, 0, 1);
    )sql");
    Status inserted = insert_payout("ext-1", "po_000000000001");
    ASSERT_TRUE(inserted.is_ok()) << inserted.to_string();
  }

  static constexpr const char* kInsertPayout =
      "INSERT INTO payouts (public_id, merchant_id, wallet_id, external_id, amount, fees, "
      "total_amount, currency, country, status, created_at, updated_at, event_seq) "
      "VALUES ($1, $2, $3, $4, 100, 0, 100, $5, 'DE', 'created', 1, 1, 1)";

  Status insert_payout(const std::string& external_id, const std::string& public_id,
                       int64_t wallet = 1, const std::string& currency = "EUR") {
    Result<StatementLease> insert = connection_->prepare(kInsertPayout, sql::FailureScope::kStatement);
    if (!insert.is_ok()) return std::move(insert).status();
    (*insert)->bind(1, public_id);
    (*insert)->bind(2, int64_t{1});
    (*insert)->bind(3, wallet);
    (*insert)->bind(4, external_id);
    (*insert)->bind(5, currency);
    last_error_ = sql::DatabaseError{};
    Status status = (*insert)->execute();
    last_error_ = (*insert)->last_error();
    return status;
  }

  int64_t count(const std::string& table) {
    return std::stoll(*connection_->query_text("SELECT count(*) FROM " + table));
  }

  sql::DatabaseError last_error_;
};

TEST_F(PgSchemaFixture, UniqueViolationInsideATransactionLeavesItUsable) {
  ASSERT_TRUE(connection_->begin_write().is_ok());
  ASSERT_TRUE(insert_payout("ext-2", "po_000000000002").is_ok());
  Status duplicate = insert_payout("ext-2", "po_000000000003");
  ASSERT_FALSE(duplicate.is_ok());
  EXPECT_EQ(duplicate.kind(), ErrorKind::kInternal);
  EXPECT_TRUE(last_error_.is_unique());
  EXPECT_TRUE(last_error_.is_constraint());
  EXPECT_EQ(last_error_.constraint, sql::Constraint::kPayoutExternalId) << last_error_.message;
  EXPECT_TRUE(last_error_.violated(sql::Constraint::kPayoutExternalId));
  EXPECT_FALSE(last_error_.violated(sql::Constraint::kPayoutPublicId));
  EXPECT_EQ(last_error_.message,
            "duplicate key value violates unique constraint \"payouts_merchant_id_external_id_key\"");
  EXPECT_EQ(last_error_.message.find("ext-2"), std::string::npos);  // key values never appear
  EXPECT_EQ(duplicate.message().find("ext-2"), std::string::npos) << duplicate.message();
  // A constraint failure is an answer, not a hard error, and the transaction goes on.
  EXPECT_TRUE(connection_->take_hard_error().is_ok());
  EXPECT_FALSE(connection_->take_conflict());
  EXPECT_TRUE(connection_->in_transaction());
  ASSERT_TRUE(insert_payout("ext-3", "po_000000000003").is_ok());
  Status public_id_taken = insert_payout("ext-4", "po_000000000003");
  EXPECT_FALSE(public_id_taken.is_ok());
  EXPECT_EQ(last_error_.constraint, sql::Constraint::kPayoutPublicId) << last_error_.message;
  ASSERT_TRUE(connection_->commit().is_ok());
  EXPECT_FALSE(connection_->in_transaction());
  EXPECT_EQ(count("payouts"), 3);
}

// Every constraint a query answers for (store/sql/constraints.h) exists in PostgreSQL's catalog
// under its name, on the table SQLite's key names. (SQLite: test/store/schema_test.cc.)
TEST_F(PgSchemaFixture, EveryListedConstraintIsInTheCatalogUnderItsName) {
  size_t checked = 0;
  for (const sql::ConstraintName& entry : sql::constraint_names()) {
    SCOPED_TRACE(std::string(entry.postgres_name));
    const std::string name(entry.postgres_name);
    const std::string key(entry.sqlite_key);
    const size_t dot = key.find('.');
    const std::string table = dot != std::string::npos ? key.substr(0, dot) : "";
    const std::string found = *connection_->query_text(
        "SELECT count(*) FROM (SELECT conrelid::regclass::text AS t FROM pg_constraint WHERE conname = '" +
        name + "' UNION ALL SELECT tablename FROM pg_indexes WHERE indexname = '" + name +
        "' AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = '" + name + "')) AS c" +
        (table.empty() ? std::string() : " WHERE t = '" + table + "'"));
    EXPECT_EQ(found, "1");
    ++checked;
  }
  EXPECT_EQ(checked, 13u);
}

TEST_F(PgSchemaFixture, ConstraintKindsAreMapped) {
  ASSERT_TRUE(connection_->begin_write().is_ok());
  {
    Result<StatementLease> debit =
        connection_->prepare("UPDATE accounts SET balance = balance - $1 WHERE id = $2", sql::FailureScope::kStatement);
    ASSERT_TRUE(debit.is_ok());
    (*debit)->bind(1, int64_t{5000});
    (*debit)->bind(2, int64_t{1});
    Status refused = (*debit)->execute();
    ASSERT_FALSE(refused.is_ok());
    EXPECT_TRUE((*debit)->last_error().is_check());
    EXPECT_EQ((*debit)->last_error().constraint, sql::Constraint::kAvailableBalanceNonNegative)
        << (*debit)->last_error().message;
    // The refused statement changed nothing; a smaller debit in the same transaction works.
    (*debit)->reset();
    (*debit)->bind(1, int64_t{300});
    (*debit)->bind(2, int64_t{1});
    ASSERT_TRUE((*debit)->execute().is_ok());
    EXPECT_EQ((*debit)->changes(), 1);
  }
  // Trigger: the wallet must be the merchant's in the payout's currency.
  EXPECT_FALSE(insert_payout("ext-x", "po_x", 1, "USD").is_ok());
  EXPECT_TRUE(last_error_.is_trigger());
  EXPECT_EQ(last_error_.message, "payout wallet does not match merchant and currency");
  // Foreign key (the wallet does not exist: the trigger lets it through to the FK).
  {
    Result<StatementLease> s = connection_->prepare(
        "INSERT INTO payout_events (cashout_id, seq, event_type, to_status, actor_type, message, "
        "created_at) VALUES ($1, 1, 'created', 'created', 'system', '', 1)", sql::FailureScope::kStatement);
    ASSERT_TRUE(s.is_ok());
    (*s)->bind(1, int64_t{999});
    EXPECT_FALSE((*s)->execute().is_ok());
    EXPECT_TRUE((*s)->last_error().is_foreign_key()) << (*s)->last_error().message;
  }
  // Not null.
  {
    Result<StatementLease> s = connection_->prepare(
        "INSERT INTO payout_events (cashout_id, seq, event_type, to_status, actor_type, message, "
        "created_at) VALUES (1, 1, 'created', $1, 'system', '', 1)", sql::FailureScope::kStatement);
    ASSERT_TRUE(s.is_ok());
    (*s)->bind_null(1, sql::SqlType::kText);
    EXPECT_FALSE((*s)->execute().is_ok());
    EXPECT_EQ((*s)->last_error().kind, FailureKind::kNotNull);
    EXPECT_EQ((*s)->last_error().constraint, sql::Constraint::kUnlisted);
  }
  EXPECT_TRUE(connection_->take_hard_error().is_ok());
  ASSERT_TRUE(connection_->commit().is_ok());
  EXPECT_EQ(*connection_->query_text("SELECT balance FROM accounts WHERE id = 1"), "700");
}

TEST_F(PgSchemaFixture, AppendOnlyTriggersRefuse) {
  exec("INSERT INTO payout_events (cashout_id, seq, event_type, to_status, actor_type, message, "
       "created_at) VALUES (1, 1, 'created', 'created', 'system', 'hello', 1)");
  ASSERT_TRUE(connection_->begin_write().is_ok());
  {
    Result<StatementLease> s =
        connection_->prepare("UPDATE payout_events SET message = $1 WHERE cashout_id = 1", sql::FailureScope::kStatement);
    ASSERT_TRUE(s.is_ok());
    (*s)->bind(1, "rewritten");
    EXPECT_FALSE((*s)->execute().is_ok());
    EXPECT_TRUE((*s)->last_error().is_trigger());
    EXPECT_EQ((*s)->last_error().message, "payout_events is append-only");
  }
  {
    Result<StatementLease> s = connection_->prepare("DELETE FROM payouts WHERE cashout_id = $1", sql::FailureScope::kStatement);
    ASSERT_TRUE(s.is_ok());
    (*s)->bind(1, int64_t{1});
    EXPECT_FALSE((*s)->execute().is_ok());
    EXPECT_TRUE((*s)->last_error().is_trigger());
    EXPECT_EQ((*s)->last_error().message, "payouts are never deleted");
  }
  ASSERT_TRUE(connection_->commit().is_ok());
  EXPECT_EQ(*connection_->query_text("SELECT message FROM payout_events"), "hello");
}

TEST_F(PgSchemaFixture, OutsideATransactionNoSavepoint) {
  const uint64_t before = connection_->round_trips();
  ASSERT_TRUE(insert_payout("ext-5", "po_5").is_ok());  // warm: already prepared
  EXPECT_EQ(connection_->round_trips() - before, 1u);
  EXPECT_FALSE(insert_payout("ext-5", "po_6").is_ok());
  EXPECT_TRUE(last_error_.is_unique());
  EXPECT_EQ(count("payouts"), 2);
}

TEST_F(PgSchemaFixture, AStatementInsideATransactionCostsOneRoundTrip) {
  ASSERT_TRUE(connection_->begin_write().is_ok());
  const uint64_t before = connection_->round_trips();
  ASSERT_TRUE(insert_payout("ext-6", "po_6").is_ok());
  EXPECT_EQ(connection_->round_trips() - before, 1u);  // savepoint + insert + release, pipelined
  EXPECT_FALSE(insert_payout("ext-6", "po_7").is_ok());
  EXPECT_EQ(connection_->round_trips() - before, 3u);  // + undo on failure
  ASSERT_TRUE(connection_->commit().is_ok());
}

// The default scope: a failing statement fails its op. It costs no savepoint of its own, and the
// transaction stays aborted until the writer rolls back to the op's savepoint, after which it
// goes on (what BatchingStore does for every failed op).
TEST_F(PgSchemaFixture, AnOpScopedFailureAbortsUntilTheOpIsRolledBack) {
  ASSERT_TRUE(connection_->begin_write().is_ok());
  ASSERT_TRUE(connection_->execute_cached("SAVEPOINT op").is_ok());
  Result<StatementLease> debit =
      connection_->prepare("UPDATE accounts SET balance = balance - $1 WHERE id = $2");
  ASSERT_TRUE(debit.is_ok());
  (*debit)->bind(1, int64_t{1});
  (*debit)->bind(2, int64_t{1});
  ASSERT_TRUE((*debit)->execute().is_ok());  // first execution: parsed under a savepoint
  (*debit)->reset();
  const uint64_t before = connection_->round_trips();
  (*debit)->bind(1, int64_t{5000});
  (*debit)->bind(2, int64_t{1});
  EXPECT_FALSE((*debit)->execute().is_ok());
  EXPECT_EQ(connection_->round_trips() - before, 1u);  // no savepoint, no undo
  EXPECT_TRUE((*debit)->last_error().is_check());
  // The transaction is aborted: the next statement fails as a hard error.
  EXPECT_FALSE(connection_->query_text("SELECT 1").is_ok());
  EXPECT_FALSE(connection_->take_hard_error().is_ok());
  ASSERT_TRUE(connection_->execute_script("ROLLBACK TO op").is_ok());
  ASSERT_TRUE(connection_->execute_cached("RELEASE op").is_ok());
  EXPECT_TRUE(connection_->query_text("SELECT 1").is_ok());
  // The op is undone as a whole (its successful debit of 1 too); the transaction commits.
  (*debit)->reset();
  (*debit)->bind(1, int64_t{2});
  (*debit)->bind(2, int64_t{1});
  ASSERT_TRUE((*debit)->execute().is_ok());
  ASSERT_TRUE(connection_->commit().is_ok());
  EXPECT_EQ(*connection_->query_text("SELECT balance FROM accounts WHERE id = 1"), "998");
}

// FailureScope::kStatement on a text that changes no data is a programming error: prepare()
// aborts, whether the text is new or already cached. A data-modifying CTE is data-changing.
using PgConnectionDeathTest = PgTest;
TEST_F(PgConnectionDeathTest, StatementScopeOnAReadAborts) {
  EXPECT_DEATH((void)connection_->prepare("SELECT 1", sql::FailureScope::kStatement),
               "changes_data");
  {
    Result<StatementLease> read = connection_->prepare("SELECT 2");
    ASSERT_TRUE(read.is_ok());
  }
  EXPECT_DEATH((void)connection_->prepare("SELECT 2", sql::FailureScope::kStatement),
               "changes_data");
  exec("CREATE TABLE t (a BIGINT)");
  Result<StatementLease> insert = connection_->prepare(
      "WITH v AS (SELECT 1 AS a) INSERT INTO t SELECT a FROM v", sql::FailureScope::kStatement);
  ASSERT_TRUE(insert.is_ok());
  EXPECT_TRUE((*insert)->execute().is_ok());
}

// SAVEPOINT and RELEASE inside a transaction wait for the next statement and travel in its round
// trip; what they do is unchanged (the savepoint exists, RELEASE ends it, a failed command is
// reported by the statement that carried it).
TEST_F(PgSchemaFixture, SavepointCommandsTravelWithTheNextStatement) {
  ASSERT_TRUE(connection_->begin_write().is_ok());
  ASSERT_TRUE(connection_->query_text("SELECT 1").is_ok());  // BEGIN is behind us
  Result<StatementLease> credit =
      connection_->prepare("UPDATE accounts SET balance = balance + $1 WHERE id = $2");
  ASSERT_TRUE(credit.is_ok());
  (*credit)->bind(1, int64_t{1});
  (*credit)->bind(2, int64_t{1});
  ASSERT_TRUE((*credit)->execute().is_ok());  // prepared now
  (*credit)->reset();

  const uint64_t before = connection_->round_trips();
  ASSERT_TRUE(connection_->execute_cached("SAVEPOINT op").is_ok());
  EXPECT_EQ(connection_->round_trips(), before);  // deferred
  (*credit)->bind(1, int64_t{10});
  (*credit)->bind(2, int64_t{1});
  ASSERT_TRUE((*credit)->execute().is_ok());
  EXPECT_EQ(connection_->round_trips() - before, 1u);  // SAVEPOINT op + UPDATE, one round trip
  (*credit)->reset();
  // The savepoint is real: rolling back to it undoes the credit.
  ASSERT_TRUE(connection_->execute_script("ROLLBACK TO op").is_ok());
  ASSERT_TRUE(connection_->execute_cached("RELEASE op").is_ok());
  // A deferred RELEASE of a savepoint that does not exist fails the statement that carries it.
  ASSERT_TRUE(connection_->execute_cached("RELEASE nonexistent").is_ok());
  (*credit)->bind(1, int64_t{100});
  (*credit)->bind(2, int64_t{1});
  EXPECT_FALSE((*credit)->execute().is_ok());
  (*credit)->reset();
  connection_->rollback();
  EXPECT_FALSE(connection_->in_transaction());
  EXPECT_EQ(*connection_->query_text("SELECT balance FROM accounts WHERE id = 1"), "1000");

  // Committed work is kept; deferred commands before COMMIT ride on it.
  ASSERT_TRUE(connection_->begin_write().is_ok());
  ASSERT_TRUE(connection_->execute_cached("SAVEPOINT op").is_ok());
  (*credit)->bind(1, int64_t{5});
  (*credit)->bind(2, int64_t{1});
  ASSERT_TRUE((*credit)->execute().is_ok());
  (*credit)->reset();
  ASSERT_TRUE(connection_->execute_cached("RELEASE op").is_ok());
  ASSERT_TRUE(connection_->commit().is_ok());
  EXPECT_EQ(*connection_->query_text("SELECT balance FROM accounts WHERE id = 1"), "1005");
}

TEST_F(PgConnectionTest, FailedParseInsideATransactionIsUndoneToo) {
  exec("CREATE TABLE t (a BIGINT)");
  ASSERT_TRUE(connection_->begin_write().is_ok());
  Result<StatementLease> bad = connection_->prepare("INSERT INTO t (nope) VALUES ($1)");
  ASSERT_TRUE(bad.is_ok());
  (*bad)->bind(1, int64_t{1});
  EXPECT_FALSE((*bad)->execute().is_ok());
  EXPECT_EQ((*bad)->last_error().kind, FailureKind::kOther);
  EXPECT_FALSE(connection_->take_hard_error().is_ok());  // a hard error, yet the transaction lives
  Result<StatementLease> good = connection_->prepare("INSERT INTO t (a) VALUES ($1)");
  (*good)->bind(1, int64_t{1});
  ASSERT_TRUE((*good)->execute().is_ok());
  ASSERT_TRUE(connection_->commit().is_ok());
  EXPECT_EQ(*connection_->query_text("SELECT count(*) FROM t"), "1");
}

TEST_F(PgConnectionTest, CommittingAnAbortedTransactionFails) {
  exec("CREATE TABLE t (a BIGINT)");
  ASSERT_TRUE(connection_->begin_write().is_ok());
  exec("INSERT INTO t VALUES (1)");
  // A failing read (no statement savepoint) aborts the whole transaction, as PostgreSQL does.
  EXPECT_FALSE(connection_->query_text("SELECT 1 / 0").is_ok());
  EXPECT_FALSE(connection_->take_hard_error().is_ok());
  EXPECT_TRUE(connection_->in_transaction());
  Status committed = connection_->commit();
  EXPECT_FALSE(committed.is_ok());
  EXPECT_NE(committed.message().find("rolled back"), std::string::npos) << committed.message();
  EXPECT_FALSE(connection_->take_hard_error().is_ok());
  EXPECT_FALSE(connection_->in_transaction());
  connection_->rollback();  // harmless
  EXPECT_EQ(*connection_->query_text("SELECT count(*) FROM t"), "0");
}

TEST_F(PgConnectionTest, RollbackAndReadTransactions) {
  exec("CREATE TABLE t (a BIGINT)");
  ASSERT_TRUE(connection_->begin_write().is_ok());
  EXPECT_FALSE(connection_->begin_write().is_ok());  // no nested BEGIN
  (void)connection_->take_hard_error();
  exec("INSERT INTO t VALUES (1)");
  connection_->rollback();
  EXPECT_FALSE(connection_->in_transaction());
  ASSERT_TRUE(connection_->begin_read().is_ok());
  EXPECT_EQ(*connection_->query_text("SHOW transaction_isolation"), "repeatable read");
  EXPECT_EQ(*connection_->query_text("SHOW transaction_read_only"), "on");
  Status write = connection_->execute_script("INSERT INTO t VALUES (2)");
  EXPECT_FALSE(write.is_ok());
  connection_->rollback();
  ASSERT_TRUE(connection_->begin_write().is_ok());
  EXPECT_EQ(*connection_->query_text("SHOW transaction_isolation"), "read committed");
  ASSERT_TRUE(connection_->commit().is_ok());
  EXPECT_EQ(*connection_->query_text("SELECT count(*) FROM t"), "0");
}

TEST_F(PgConnectionTest, SavepointClassWorks) {
  exec("CREATE TABLE t (a BIGINT)");
  ASSERT_TRUE(connection_->begin_write().is_ok());
  {
    sql::Savepoint op(*connection_, "op");
    ASSERT_TRUE(op.begin_status().is_ok());
    exec("INSERT INTO t VALUES (1)");
  }  // rolled back
  {
    sql::Savepoint op(*connection_, "op");
    exec("INSERT INTO t VALUES (2)");
    ASSERT_TRUE(op.commit().is_ok());
  }
  ASSERT_TRUE(connection_->execute_cached("SAVEPOINT op").is_ok());
  ASSERT_TRUE(connection_->execute_cached("RELEASE op").is_ok());
  ASSERT_TRUE(connection_->commit().is_ok());
  EXPECT_EQ(*connection_->query_text("SELECT string_agg(a::text, ',') FROM t"), "2");
}

TEST_F(PgConnectionTest, SerializationFailureIsAConflict) {
  exec("CREATE TABLE t (id BIGINT PRIMARY KEY, a BIGINT); INSERT INTO t VALUES (1, 0)");
  std::unique_ptr<PgConnection> other = database_.connect();
  ASSERT_NE(other, nullptr);
  exec("BEGIN ISOLATION LEVEL REPEATABLE READ");
  EXPECT_EQ(*connection_->query_text("SELECT a FROM t WHERE id = 1"), "0");  // snapshot taken
  exec(*other, "UPDATE t SET a = 5 WHERE id = 1");
  Result<StatementLease> update = connection_->prepare("UPDATE t SET a = a + $1 WHERE id = 1");
  ASSERT_TRUE(update.is_ok());
  (*update)->bind(1, int64_t{1});
  Status status = (*update)->execute();
  ASSERT_FALSE(status.is_ok());
  EXPECT_EQ(status.kind(), ErrorKind::kUnavailable);
  EXPECT_TRUE((*update)->last_error().is_conflict());
  EXPECT_TRUE(connection_->take_conflict());
  EXPECT_FALSE(connection_->take_conflict());  // taken
  EXPECT_FALSE(connection_->take_hard_error().is_ok());
  connection_->rollback();
  EXPECT_EQ(*connection_->query_text("SELECT a FROM t WHERE id = 1"), "5");
}

TEST_F(PgConnectionTest, DeadlockIsAConflict) {
  exec("CREATE TABLE t (id BIGINT PRIMARY KEY, a BIGINT); INSERT INTO t VALUES (1, 0), (2, 0)");
  std::unique_ptr<PgConnection> other = database_.connect();
  ASSERT_NE(other, nullptr);
  exec(*other, "SET deadlock_timeout = '100ms'");
  exec("SET deadlock_timeout = '100ms'");
  ASSERT_TRUE(connection_->begin_write().is_ok());
  ASSERT_TRUE(other->begin_write().is_ok());
  auto update = [](PgConnection& connection, int64_t id) {
    Result<StatementLease> s = connection.prepare("UPDATE t SET a = a + 1 WHERE id = $1", sql::FailureScope::kStatement);
    PAYOUTD_ASSERT(s.is_ok());
    (*s)->bind(1, id);
    Status status = (*s)->execute();
    return std::make_pair(status, (*s)->last_error());
  };
  ASSERT_TRUE(update(*connection_, 1).first.is_ok());
  ASSERT_TRUE(update(*other, 2).first.is_ok());
  // Whichever side is chosen as the deadlock victim keeps its transaction (its statement was
  // rolled back to the statement savepoint) and the locks it took before: it must roll back for
  // the other side to go on, which is what the writer does on take_conflict().
  struct Outcome {
    Status status;
    sql::DatabaseError error;
    bool conflict_taken = false;
    bool still_in_transaction = false;
    bool still_usable = false;
  };
  auto settle = [](PgConnection& connection, std::pair<Status, sql::DatabaseError> result) {
    Outcome outcome{result.first, result.second};
    if (!outcome.status.is_ok()) {
      outcome.conflict_taken = connection.take_conflict();
      outcome.still_in_transaction = connection.in_transaction();
      outcome.still_usable = connection.query_text("SELECT 1").is_ok();
      connection.rollback();
    }
    return outcome;
  };
  Outcome from_thread;
  const int waiter_pid = other->backend_pid();  // read before the thread uses `other`
  std::thread waiter([&] { from_thread = settle(*other, update(*other, 1)); });  // waits on row 1
  // The server shows the waiter blocked on row 1's lock before this side closes the cycle.
  const bool waiter_blocked = eventually(
      [&] {
        return database_.admin().value("SELECT count(*) FROM pg_stat_activity WHERE pid = " +
                                       std::to_string(waiter_pid) +
                                       " AND wait_event_type = 'Lock'") == "1";
      },
      10'000, 5);
  EXPECT_TRUE(waiter_blocked) << "the other session never waited for row 1";
  Outcome here = settle(*connection_, update(*connection_, 2));  // closes the cycle
  waiter.join();
  ASSERT_NE(here.status.is_ok(), from_thread.status.is_ok()) << "exactly one victim";
  const Outcome& failed = here.status.is_ok() ? from_thread : here;
  PgConnection& survivor = here.status.is_ok() ? *connection_ : *other;
  EXPECT_EQ(failed.status.kind(), ErrorKind::kUnavailable);
  EXPECT_TRUE(failed.error.is_conflict()) << failed.error.message;
  EXPECT_NE(failed.status.message().find("40P01"), std::string::npos) << failed.status.message();
  EXPECT_TRUE(failed.conflict_taken);
  EXPECT_TRUE(failed.still_in_transaction);
  EXPECT_TRUE(failed.still_usable);
  EXPECT_FALSE(survivor.take_conflict());
  ASSERT_TRUE(survivor.commit().is_ok());
}

TEST_F(PgConnectionTest, StatementCachesAreBounded) {
  const size_t texts = PgConnection::kMaxPreparedStatements + 60;
  for (size_t i = 0; i < texts; ++i) {
    Result<StatementLease> s = connection_->prepare("SELECT $1 + " + std::to_string(i));
    ASSERT_TRUE(s.is_ok());
    (*s)->bind(1, int64_t{1});
    ASSERT_TRUE(*(*s)->step()) << (*s)->last_error().message;
    EXPECT_EQ((*s)->column_int64(0), static_cast<int64_t>(i) + 1);
  }
  EXPECT_LE(connection_->prepared_statement_count(), PgConnection::kMaxPreparedStatements);
  EXPECT_LE(connection_->cached_statement_count(), PgConnection::kMaxCachedStatements);
  // The server holds no more than the bound (evicted ones were DEALLOCATEd).
  const int64_t on_server = std::stoll(*connection_->query_text("SELECT count(*) FROM pg_prepared_statements"));
  EXPECT_LE(on_server, static_cast<int64_t>(PgConnection::kMaxPreparedStatements));
  // An evicted text is prepared again when needed.
  Result<StatementLease> first = connection_->prepare("SELECT $1 + 0");
  ASSERT_TRUE(first.is_ok());
  (*first)->bind(1, int64_t{7});
  ASSERT_TRUE(*(*first)->step()) << (*first)->last_error().message;
  EXPECT_EQ((*first)->column_int64(0), 7);
}

TEST_F(PgConnectionTest, EvictionInsideATransactionWaitsForIdle) {
  ASSERT_TRUE(connection_->begin_write().is_ok());
  for (size_t i = 0; i < PgConnection::kMaxPreparedStatements + 10; ++i) {
    Result<StatementLease> s = connection_->prepare("SELECT $1 - " + std::to_string(i));
    ASSERT_TRUE(s.is_ok());
    (*s)->bind(1, int64_t{100});
    ASSERT_TRUE(*(*s)->step()) << (*s)->last_error().message;
  }
  ASSERT_TRUE(connection_->commit().is_ok());
  Result<StatementLease> s = connection_->prepare("SELECT $1");
  (*s)->bind(1, int64_t{1});
  ASSERT_TRUE(*(*s)->step());  // idle: the pending DEALLOCATEs go first
  const int64_t on_server = std::stoll(*connection_->query_text("SELECT count(*) FROM pg_prepared_statements"));
  EXPECT_LE(on_server, static_cast<int64_t>(PgConnection::kMaxPreparedStatements));
}

TEST_F(PgConnectionTest, ReconnectsAfterTheServerEndsTheSession) {
  exec("CREATE TABLE t (a BIGINT)");
  auto insert = [this](int64_t value) {
    Result<StatementLease> s = connection_->prepare("INSERT INTO t (a) VALUES ($1)");
    PAYOUTD_ASSERT(s.is_ok());
    (*s)->bind(1, value);
    return (*s)->execute();
  };
  ASSERT_TRUE(insert(1).is_ok());
  const int pid = connection_->backend_pid();
  // Outside a transaction.
  database_.admin().must_exec("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  Status lost = insert(2);
  EXPECT_FALSE(lost.is_ok());
  EXPECT_EQ(lost.kind(), ErrorKind::kUnavailable) << lost.to_string();
  EXPECT_FALSE(connection_->take_hard_error().is_ok());
  EXPECT_FALSE(connection_->in_transaction());
  ASSERT_TRUE(connection_->ensure_connected().is_ok());
  EXPECT_NE(connection_->backend_pid(), pid);
  EXPECT_EQ(*connection_->query_text("SHOW application_name"), "payoutd");
  ASSERT_TRUE(insert(3).is_ok());  // prepared again on the new session

  // Inside a transaction, on the pipelined path.
  ASSERT_TRUE(connection_->begin_write().is_ok());
  ASSERT_TRUE(insert(4).is_ok());
  database_.admin().must_exec("SELECT pg_terminate_backend(" +
                              std::to_string(connection_->backend_pid()) + ")");
  lost = insert(5);
  EXPECT_FALSE(lost.is_ok());
  EXPECT_EQ(lost.kind(), ErrorKind::kUnavailable) << lost.to_string();
  EXPECT_FALSE(connection_->in_transaction());
  EXPECT_FALSE(connection_->commit().is_ok());
  connection_->rollback();
  (void)connection_->take_hard_error();
  ASSERT_TRUE(connection_->ensure_connected().is_ok());
  ASSERT_TRUE(connection_->begin_write().is_ok());
  ASSERT_TRUE(insert(6).is_ok());
  ASSERT_TRUE(connection_->commit().is_ok());
  EXPECT_EQ(*connection_->query_text("SELECT string_agg(a::text, ',' ORDER BY a) FROM t"), "1,3,6");
  EXPECT_TRUE(connection_->ensure_connected().is_ok());  // a no-op when healthy
}

TEST_F(PgConnectionTest, StatementTimeoutIsUnavailable) {
  PgConnectionOptions options;
  options.statement_timeout_ms = 100;
  std::unique_ptr<PgConnection> quick = database_.connect(options);
  ASSERT_NE(quick, nullptr);
  Result<std::string> slept = quick->query_text("SELECT pg_sleep(2)");
  ASSERT_FALSE(slept.is_ok());
  EXPECT_EQ(slept.status().kind(), ErrorKind::kUnavailable);
  EXPECT_NE(slept.status().message().find("57014"), std::string::npos);
}

// Not a pass/fail test: prints what one INSERT costs under the statement savepoint, pipelined
// (one round trip) and as three separate round trips, on this server.
TEST_F(PgSchemaFixture, MeasuresTheStatementSavepointCost) {
  constexpr int kRows = 2000;
  exec("CREATE TABLE bench (id BIGINT PRIMARY KEY, a BIGINT, b TEXT)");
  auto per_row_us = [](std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
               .count() /
           kRows;
  };
  const char* kInsert = "INSERT INTO bench (id, a, b) VALUES ($1, $2, $3)";
  auto run = [&](int64_t base) {
    for (int i = 0; i < kRows; ++i) {
      Result<StatementLease> s = connection_->prepare(kInsert);
      (*s)->bind(1, base + i);
      (*s)->bind(2, int64_t{i});
      (*s)->bind(3, "payload");
      PAYOUTD_ASSERT((*s)->execute().is_ok());
    }
  };
  // Pipelined, inside a transaction.
  ASSERT_TRUE(connection_->begin_write().is_ok());
  run(0);  // warm
  uint64_t trips = connection_->round_trips();
  auto start = std::chrono::steady_clock::now();
  run(kRows);
  const double pipelined = per_row_us(start);
  const double trips_per_row =
      static_cast<double>(connection_->round_trips() - trips) / kRows;
  ASSERT_TRUE(connection_->commit().is_ok());
  // Outside a transaction (autocommit: one round trip and a durable commit each).
  constexpr int kAutocommitRows = 100;
  start = std::chrono::steady_clock::now();
  for (int i = 0; i < kAutocommitRows; ++i) {
    Result<StatementLease> s = connection_->prepare(kInsert);
    (*s)->bind(1, int64_t{2 * kRows + i});
    (*s)->bind(2, int64_t{i});
    (*s)->bind(3, "payload");
    ASSERT_TRUE((*s)->execute().is_ok());
  }
  const double autocommit =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
      kAutocommitRows;

  // For comparison: the same three statements as three round trips, with raw libpq.
  RawPg raw(database_.url());
  raw.must_exec("BEGIN");
  PGresult* prepared =
      PQprepare(raw.handle(), "bench_insert", "INSERT INTO bench (id, a, b) VALUES ($1::int8, $2::int8, $3::text)", 3, nullptr);
  ASSERT_EQ(PQresultStatus(prepared), PGRES_COMMAND_OK);
  PQclear(prepared);
  start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRows; ++i) {
    const std::string id = std::to_string(3 * kRows + i);
    const std::string a = std::to_string(i);
    const char* values[3] = {id.c_str(), a.c_str(), "payload"};
    PQclear(PQexec(raw.handle(), "SAVEPOINT payoutd_statement"));
    PGresult* r = PQexecPrepared(raw.handle(), "bench_insert", 3, values, nullptr, nullptr, 0);
    ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQclear(PQexec(raw.handle(), "RELEASE SAVEPOINT payoutd_statement"));
  }
  const double three_trips = per_row_us(start);
  start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRows; ++i) {
    const std::string id = std::to_string(4 * kRows + i);
    const std::string a = std::to_string(i);
    const char* values[3] = {id.c_str(), a.c_str(), "payload"};
    PGresult* r = PQexecPrepared(raw.handle(), "bench_insert", 3, values, nullptr, nullptr, 0);
    ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
  }
  const double bare = per_row_us(start);
  raw.must_exec("COMMIT");
  std::printf(
      "[ cost     ] INSERT in a transaction under the statement savepoint, pipelined: %.1f us "
      "(%.2f round trips)\n"
      "[ cost     ] same, three round trips (raw libpq): %.1f us\n"
      "[ cost     ] bare prepared INSERT in a transaction, no savepoint (raw libpq): %.1f us\n"
      "[ cost     ] INSERT outside a transaction (autocommit, synchronous commit): %.1f us\n",
      pipelined, trips_per_row, three_trips, bare, autocommit);
  EXPECT_DOUBLE_EQ(trips_per_row, 1.0);
}

}  // namespace
}  // namespace payoutd::testing
