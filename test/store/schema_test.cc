// Database URLs, opening, connection settings and migrations.
#include <filesystem>
#include <fstream>
#include <thread>

#include "store/database_url.h"
#include "store/sql/constraints.h"
#include "store/sqlite/connection.h"
#include "store/sqlite/schema.h"
#include "store_fixture.h"

namespace payoutd::testing {
namespace {

struct UrlCase {
  std::string url;
  bool ok;
  DatabaseBackend backend;
  std::string path_or_message;  // path when ok, a fragment of the error message otherwise
};

TEST(DatabaseUrlTest, ParsesTheDocumentedForms) {
  const std::vector<UrlCase> cases = {
      {"sqlite:///var/lib/payoutd.db", true, DatabaseBackend::kSqlite, "/var/lib/payoutd.db"},
      {"sqlite://./var/payoutd.db", true, DatabaseBackend::kSqlite, "./var/payoutd.db"},
      {"sqlite://payoutd.db", true, DatabaseBackend::kSqlite, "payoutd.db"},
      {"sqlite://data/x.db", true, DatabaseBackend::kSqlite, "data/x.db"},
      {"SQLite:///tmp/upper.db", true, DatabaseBackend::kSqlite, "/tmp/upper.db"},
      {"sqlite://../up.db", true, DatabaseBackend::kSqlite, "../up.db"},
      {"postgresql://user:pass@host:5432/db", true, DatabaseBackend::kPostgresql, ""},
      {"postgres://host/db", true, DatabaseBackend::kPostgresql, ""},
      {"", false, DatabaseBackend::kSqlite, "empty"},
      {"sqlite://", false, DatabaseBackend::kSqlite, "no file path"},
      {"sqlite:/one/slash.db", false, DatabaseBackend::kSqlite, "malformed"},
      {"sqlite:relative.db", false, DatabaseBackend::kSqlite, "malformed"},
      {"mysql://host/db", false, DatabaseBackend::kSqlite, "unsupported database scheme 'mysql'"},
      {"/just/a/path.db", false, DatabaseBackend::kSqlite, "malformed"},
      {"sqlite:///tmp/dir/", false, DatabaseBackend::kSqlite, "names a directory"},
      {"sqlite://.", false, DatabaseBackend::kSqlite, "names a directory"},
      {"sqlite:///tmp/x.db?mode=ro", false, DatabaseBackend::kSqlite, "query parameters"},
      {"sqlite://:memory:", false, DatabaseBackend::kSqlite, "in-memory"},
      {std::string("sqlite:///tmp/a\0b.db", 20), false, DatabaseBackend::kSqlite, "NUL"},
  };
  for (const UrlCase& test : cases) {
    SCOPED_TRACE(test.url);
    Result<DatabaseUrl> parsed = parse_database_url(test.url);
    ASSERT_EQ(parsed.is_ok(), test.ok) << (parsed.is_ok() ? "" : parsed.status().to_string());
    if (test.ok) {
      EXPECT_EQ(parsed->backend, test.backend);
      if (test.backend == DatabaseBackend::kSqlite) {
        EXPECT_EQ(parsed->path, test.path_or_message);
      }
    } else {
      EXPECT_EQ(parsed.status().kind(), ErrorKind::kInvalidArgument);
      EXPECT_EQ(parsed.status().field(), "database");
      EXPECT_NE(parsed.status().message().find(test.path_or_message), std::string::npos)
          << parsed.status().message();
    }
  }
}

TEST(OpenStoreTest, UnreachablePostgresqlIsUnavailableAndKeepsThePasswordOut) {
  // Port 1 on loopback: nothing listens there, so the connection is refused at once.
  Result<std::unique_ptr<Store>> store =
      open_store("postgresql://payoutd:pw-secret-4711@127.0.0.1:1/payoutd?connect_timeout=2", {});
  ASSERT_FALSE(store.is_ok());
  EXPECT_EQ(store.status().kind(), ErrorKind::kUnavailable) << store.status().message();
  EXPECT_EQ(store.status().message().find("pw-secret-4711"), std::string::npos)
      << store.status().message();
}

TEST(OpenStoreTest, GarbageUrlIsInvalidArgument) {
  Result<std::unique_ptr<Store>> store = open_store("redis://localhost", {});
  ASSERT_FALSE(store.is_ok());
  EXPECT_EQ(status_of(store).kind(), ErrorKind::kInvalidArgument);
}

TEST(OpenStoreTest, AbsolutePathCreatesMissingParentDirectories) {
  TempDir dir;
  const std::filesystem::path file = dir.path() / "a" / "b" / "payoutd.db";
  Result<std::unique_ptr<Store>> store = open_store("sqlite://" + file.string(), {});
  ASSERT_TRUE(store.is_ok()) << store.status().to_string();
  EXPECT_TRUE(std::filesystem::exists(file));
  ASSERT_TRUE((*store)->migrate().is_ok());
  (*store)->close();
}

TEST(OpenStoreTest, RelativePathIsRelativeToTheCurrentDirectory) {
  TempDir dir;
  const std::filesystem::path file = dir.path() / "rel" / "payoutd.db";
  const std::filesystem::path relative =
      std::filesystem::relative(file, std::filesystem::current_path());
  ASSERT_TRUE(relative.is_relative());
  for (const std::string& url : {"sqlite://" + relative.string(),
                                 "sqlite://./" + relative.string()}) {
    SCOPED_TRACE(url);
    Result<std::unique_ptr<Store>> store = open_store(url, {});
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    ASSERT_TRUE((*store)->migrate().is_ok());
    (*store)->close();
    EXPECT_TRUE(std::filesystem::exists(file));
  }
}

TEST(OpenStoreTest, InvalidOptionsAreRefused) {
  TempDir dir;
  StoreOptions options;
  options.read_connections = 0;
  Result<std::unique_ptr<Store>> store = open_store("sqlite://" + dir.file("x.db"), options);
  ASSERT_FALSE(store.is_ok());
  EXPECT_EQ(status_of(store).kind(), ErrorKind::kInvalidArgument);
}

TEST(OpenStoreTest, UnopenablePathIsAStatusNotACrash) {
  TempDir dir;
  // A directory where the file should be.
  std::filesystem::create_directories(dir.path() / "taken.db");
  Result<std::unique_ptr<Store>> store = open_store("sqlite://" + dir.file("taken.db"), {});
  ASSERT_FALSE(store.is_ok());
  EXPECT_NE(status_of(store).kind(), ErrorKind::kOk);
}

TEST(ConnectionSettingsTest, EveryConnectionHasTheRequiredPragmas) {
  TempDir dir;
  StoreOptions options;
  options.busy_timeout_ms = 4321;
  options.read_connections = 2;
  std::unique_ptr<sqlite::SqliteStore> store = open_migrated(dir.file("p.db"), options);
  ASSERT_NE(store, nullptr);
  struct Expected {
    std::string pragma;
    std::string value;
  };
  const std::vector<Expected> expected = {
      {"PRAGMA journal_mode", "wal"},   {"PRAGMA synchronous", "2"},  // 2 = FULL
      {"PRAGMA foreign_keys", "1"},     {"PRAGMA trusted_schema", "0"},
      {"PRAGMA busy_timeout", "4321"},
  };
  for (const Expected& item : expected) {
    SCOPED_TRACE(item.pragma);
    Result<std::string> writer = store->query_on_writer_for_testing(item.pragma);
    ASSERT_TRUE(writer.is_ok()) << writer.status().to_string();
    EXPECT_EQ(*writer, item.value);
    Result<std::string> reader = store->query_on_reader_for_testing(item.pragma);
    ASSERT_TRUE(reader.is_ok()) << reader.status().to_string();
    EXPECT_EQ(*reader, item.value);
  }
  // Read connections cannot write even by mistake.
  Result<std::string> query_only = store->query_on_reader_for_testing("PRAGMA query_only");
  ASSERT_TRUE(query_only.is_ok());
  EXPECT_EQ(*query_only, "1");
  Result<std::string> writer_query_only = store->query_on_writer_for_testing("PRAGMA query_only");
  ASSERT_TRUE(writer_query_only.is_ok());
  EXPECT_EQ(*writer_query_only, "0");
  store->close();
}

// Every constraint a query answers for (store/sql/constraints.h) is in the schema under the key
// SQLite's diagnostic gives it: a unique index or key on exactly those columns, a unique index of
// that name, or a named CHECK. (PostgreSQL's names: test/store_postgres/connection_test.cc.)
TEST(ConstraintIdentityTest, EveryListedConstraintIsInTheSqliteSchemaUnderItsKey) {
  TempDir dir;
  std::unique_ptr<sqlite::SqliteStore> store = open_migrated(dir.file("c.db"));
  ASSERT_NE(store, nullptr);
  store->close();
  RawDatabase raw(dir.file("c.db"));
  size_t checked = 0;
  for (const sql::ConstraintName& entry : sql::constraint_names()) {
    const std::string key(entry.sqlite_key);
    SCOPED_TRACE(key);
    EXPECT_EQ(sql::constraint_of_sqlite_key(key), entry.id);
    EXPECT_EQ(sql::constraint_of_postgres_name(entry.postgres_name), entry.id);
    if (key.starts_with("index '")) {
      const std::string name = key.substr(7, key.size() - 8);
      EXPECT_EQ(raw.text("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = '" +
                         name + "' AND sql LIKE 'CREATE UNIQUE INDEX%'"),
                "1");
    } else if (key.find('.') != std::string::npos) {
      // "t.a, t.b": a unique index of t whose columns are a, b in that order.
      const std::string table = key.substr(0, key.find('.'));
      std::string columns;
      for (size_t at = 0; at < key.size();) {
        const size_t dot = key.find('.', at);
        const size_t end = std::min(key.find(", ", at), key.size());
        if (!columns.empty()) columns += ",";
        columns += key.substr(dot + 1, end - dot - 1);
        at = end == key.size() ? end : end + 2;
      }
      std::vector<std::string> matching;
      for (const std::string& index : raw.column(
               "SELECT name FROM pragma_index_list('" + table + "') WHERE \"unique\" = 1")) {
        std::string names;
        for (const std::string& column :
             raw.column("SELECT name FROM pragma_index_info('" + index + "') ORDER BY seqno")) {
          names += (names.empty() ? "" : ",") + column;
        }
        if (names == columns) matching.push_back(index);
      }
      EXPECT_EQ(matching.size(), 1u) << table << " (" << columns << ")";
    } else {
      EXPECT_EQ(raw.text("SELECT count(*) FROM sqlite_master WHERE sql LIKE '%CONSTRAINT " + key +
                         " CHECK%'"),
                "1");
    }
    ++checked;
  }
  EXPECT_EQ(checked, 13u);
  EXPECT_EQ(sql::constraint_of_sqlite_key("payouts.external_id"), sql::Constraint::kUnlisted);
  EXPECT_EQ(sql::constraint_of_postgres_name(""), sql::Constraint::kUnlisted);
}

// What SQLite reports is turned into the identity: the diagnostic's shape, read whole.
TEST(ConstraintIdentityTest, SqliteFailuresCarryTheIdentityOfTheirConstraint) {
  using sqlite::database_error;
  constexpr int kUnique = 2067;      // SQLITE_CONSTRAINT_UNIQUE
  constexpr int kPrimaryKey = 1555;  // SQLITE_CONSTRAINT_PRIMARYKEY
  constexpr int kCheck = 275;        // SQLITE_CONSTRAINT_CHECK
  constexpr int kTrigger = 1811;     // SQLITE_CONSTRAINT_TRIGGER
  EXPECT_EQ(database_error(kUnique, "UNIQUE constraint failed: payouts.merchant_id, payouts.external_id")
                .constraint,
            sql::Constraint::kPayoutExternalId);
  EXPECT_EQ(database_error(kPrimaryKey, "UNIQUE constraint failed: api_tokens.token_hash").constraint,
            sql::Constraint::kApiTokenHash);
  EXPECT_EQ(database_error(kUnique, "UNIQUE constraint failed: index 'outbox_one_per_destination'")
                .constraint,
            sql::Constraint::kOutboxOnePerDestination);
  EXPECT_EQ(database_error(kCheck, "CHECK constraint failed: held_balance_non_negative").constraint,
            sql::Constraint::kHeldBalanceNonNegative);
  // Not a prefix match: a longer column list is another constraint.
  EXPECT_EQ(database_error(kUnique, "UNIQUE constraint failed: payouts.public_id, payouts.x").constraint,
            sql::Constraint::kUnlisted);
  EXPECT_EQ(database_error(kTrigger, "payouts are never deleted").constraint,
            sql::Constraint::kUnlisted);
  EXPECT_EQ(database_error(1 /* SQLITE_ERROR */, "UNIQUE constraint failed: payouts.public_id")
                .constraint,
            sql::Constraint::kNone);
}

// Texts name their parameters `$N`; SQLite numbers them in order of appearance, and the statement
// binds by the number in the name.
TEST(SqliteParametersTest, DollarParametersBindByTheirNumberWhereverTheyAppear) {
  TempDir dir;
  Result<std::unique_ptr<sqlite::SqliteConnection>> connection =
      sqlite::SqliteConnection::open(dir.file("p.db"), {});
  ASSERT_TRUE(connection.is_ok()) << connection.status().to_string();
  {
    Result<sql::StatementLease> s = (*connection)->prepare("SELECT $3, $1, $3 || $2");
    ASSERT_TRUE(s.is_ok());
    (*s)->bind(1, "one");
    (*s)->bind(2, int64_t{2});
    (*s)->bind(3, "three");
    ASSERT_TRUE(*(*s)->step());
    EXPECT_EQ((*s)->column_text(0), "three");
    EXPECT_EQ((*s)->column_text(1), "one");
    EXPECT_EQ((*s)->column_text(2), "three2");
  }
  {
    // A number the text does not use is accepted and ignored (as on PostgreSQL); one out of
    // range is a bind error, reported by step().
    Result<sql::StatementLease> s = (*connection)->prepare("SELECT $1, $3");
    ASSERT_TRUE(s.is_ok());
    (*s)->bind(1, int64_t{1});
    (*s)->bind(2, int64_t{2});
    (*s)->bind(3, int64_t{3});
    ASSERT_TRUE(*(*s)->step());
    EXPECT_EQ((*s)->column_int64(1), 3);
    (*s)->reset();
    (*s)->bind(0, int64_t{0});
    EXPECT_FALSE((*s)->step().is_ok());
    EXPECT_NE((*s)->last_error().message.find("out of range"), std::string::npos)
        << (*s)->last_error().message;
  }
  {
    // Every parameter is bound, a NULL too: a missing one is refused, not read as NULL.
    Result<sql::StatementLease> s = (*connection)->prepare("SELECT $1, $2");
    ASSERT_TRUE(s.is_ok());
    (*s)->bind(2, int64_t{2});
    EXPECT_FALSE((*s)->step().is_ok());
    EXPECT_NE((*s)->last_error().message.find("parameter $1 is not bound"), std::string::npos)
        << (*s)->last_error().message;
  }
  {
    Result<sql::StatementLease> s = (*connection)->prepare("SELECT $1 IS NULL");
    ASSERT_TRUE(s.is_ok());
    (*s)->bind_null(1, sql::SqlType::kInt);
    ASSERT_TRUE(*(*s)->step());
    EXPECT_EQ((*s)->column_int64(0), 1);
  }
}

TEST(MigrationTest, OpenDoesNotMigrateAndQueriesBeforeMigrateFailCleanly) {
  TempDir dir;
  Result<std::unique_ptr<sqlite::SqliteStore>> store =
      sqlite::SqliteStore::open(dir.file("m.db"), {});
  ASSERT_TRUE(store.is_ok());
  Status status = (*store)->read([](ReadTx& tx) { return status_of(tx.merchant_by_id(1)); });
  EXPECT_EQ(status.kind(), ErrorKind::kInternal) << status.to_string();
  EXPECT_NE(status.message().find("no such table"), std::string::npos) << status.message();
  ASSERT_TRUE((*store)->migrate().is_ok());
  status = (*store)->read([](ReadTx& tx) { return status_of(tx.merchant_by_id(1)); });
  EXPECT_EQ(status.kind(), ErrorKind::kNotFound) << status.to_string();
  (*store)->close();
}

TEST(MigrationTest, MigrateIsIdempotent) {
  TempDir dir;
  std::unique_ptr<sqlite::SqliteStore> store = open_migrated(dir.file("m.db"));
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store->migrate().is_ok());
  store->close();
  RawDatabase raw(dir.file("m.db"));
  EXPECT_EQ(raw.integer("SELECT count(*) FROM schema_migrations"),
            sqlite::latest_schema_version());
  EXPECT_EQ(raw.integer("SELECT max(version) FROM schema_migrations"),
            sqlite::latest_schema_version());
  EXPECT_EQ(raw.text("SELECT name FROM schema_migrations WHERE version = 1"), "initial schema");
  EXPECT_GT(raw.integer("SELECT applied_at FROM schema_migrations WHERE version = 1"), kT0);
}

TEST(MigrationTest, ConcurrentMigrationsFromTwoStoresApplyOnce) {
  for (int round = 0; round < 5; ++round) {
    TempDir dir;
    const std::string path = dir.file("race.db");
    std::vector<Status> results(4);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < results.size(); ++i) {
      threads.emplace_back([&, i] {
        Result<std::unique_ptr<sqlite::SqliteStore>> store = sqlite::SqliteStore::open(path, {});
        if (!store.is_ok()) {
          results[i] = std::move(store).status();
          return;
        }
        results[i] = (*store)->migrate();
        (*store)->close();
      });
    }
    for (std::thread& thread : threads) thread.join();
    for (const Status& result : results) EXPECT_TRUE(result.is_ok()) << result.to_string();
    RawDatabase raw(path);
    EXPECT_EQ(raw.integer("SELECT count(*) FROM schema_migrations"),
              sqlite::latest_schema_version());
    EXPECT_EQ(raw.integer("SELECT count(*) FROM sqlite_schema WHERE name = 'payouts'"), 1);
  }
}

TEST(MigrationTest, NewerDatabaseIsRefusedAndLeftAlone) {
  TempDir dir;
  const std::string path = dir.file("future.db");
  std::unique_ptr<sqlite::SqliteStore> store = open_migrated(path);
  ASSERT_NE(store, nullptr);
  {
    RawDatabase raw(path);
    raw.must_exec("INSERT INTO schema_migrations VALUES (99, 'from the future', 1)");
  }
  Status status = store->migrate();
  EXPECT_EQ(status.kind(), ErrorKind::kInternal);
  EXPECT_NE(status.message().find("newer"), std::string::npos) << status.message();
  store->close();
  RawDatabase raw(path);
  EXPECT_EQ(raw.integer("SELECT max(version) FROM schema_migrations"), 99);
}

// A database at version 4 with a payout, its hold journal and the payout_movements row that
// recorded it: migration 5 keeps the journal as the movement and drops the table; a movement that
// disagrees with its journal stops the migration, which leaves the database as it was.
void write_version_4_database(const std::string& path, std::string_view movement_kind) {
  std::ofstream(path).close();  // an empty file is an empty database
  RawDatabase raw(path);
  raw.must_exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                "applied_at INTEGER NOT NULL) STRICT");
  for (const sqlite::Migration& migration : sqlite::migrations()) {
    if (migration.version > 4) break;
    raw.must_exec(std::string(migration.sql));
    raw.must_exec("INSERT INTO schema_migrations VALUES (" + std::to_string(migration.version) +
                  ", 'm', 1)");
  }
  raw.must_exec(
      "INSERT INTO merchants (name, status, login, pass_salt, pass_hash, secret_key_sealed, "
      "api_username, api_password_salt, api_password_hash, created_at, updated_at) "
      "VALUES ('m', 'active', 'l', X'00', X'00', X'00', 'a', X'00', X'00', 1, 1);"
      "INSERT INTO wallets (merchant_id, currency, created_at, updated_at) VALUES (1, 'EUR', 1, 1);"
      "INSERT INTO payouts (public_id, merchant_id, wallet_id, external_id, amount, fees, "
      "total_amount, currency, country, status, created_at, updated_at, event_seq) "
      "VALUES ('pyt_0123456789ab', 1, 1, 'e', 100, 0, 100, 'EUR', 'DE', 'created', 1, 1, 1);"
      "INSERT INTO journal_transactions (kind, cashout_id, currency, created_at) "
      "VALUES ('payout_hold', 1, 'EUR', 1);"
      "INSERT INTO journal_transactions (kind, cashout_id, currency, created_at) "
      "VALUES ('deposit', NULL, 'EUR', 1);"
      "INSERT INTO payout_movements (cashout_id, kind, journal_id, created_at) VALUES (1, '" +
      std::string(movement_kind) + "', 1, 1);");
}

TEST(MigrationTest, Migration5MakesTheJournalTheRecordOfMovements) {
  TempDir dir;
  const std::string path = dir.file("v4.db");
  write_version_4_database(path, "hold");
  Result<std::unique_ptr<sqlite::SqliteStore>> store = sqlite::SqliteStore::open(path, {});
  ASSERT_TRUE(store.is_ok());
  ASSERT_TRUE((*store)->migrate().is_ok());
  (*store)->close();
  RawDatabase raw(path);
  EXPECT_EQ(raw.integer("SELECT max(version) FROM schema_migrations"), 5);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM sqlite_schema WHERE name = 'payout_movements'"), 0);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM journal_transactions"), 2);
  // The hold it had is the hold it keeps: a second one is refused by the new unique index.
  std::string error;
  EXPECT_NE(raw.exec("INSERT INTO journal_transactions (kind, cashout_id, currency, created_at) "
                     "VALUES ('payout_hold', 1, 'EUR', 2)",
                     &error),
            SQLITE_OK);
  EXPECT_NE(error.find("journal_transactions.cashout_id, journal_transactions.kind"),
            std::string::npos)
      << error;
}

TEST(MigrationTest, Migration5RefusesMovementsThatDisagreeWithTheJournal) {
  TempDir dir;
  const std::string path = dir.file("v4.db");
  write_version_4_database(path, "post");  // the journal says hold
  Result<std::unique_ptr<sqlite::SqliteStore>> store = sqlite::SqliteStore::open(path, {});
  ASSERT_TRUE(store.is_ok());
  Status migrated = (*store)->migrate();
  EXPECT_EQ(migrated.kind(), ErrorKind::kInternal);
  EXPECT_NE(migrated.message().find("migration 5"), std::string::npos) << migrated.message();
  (*store)->close();
  RawDatabase raw(path);
  EXPECT_EQ(raw.integer("SELECT max(version) FROM schema_migrations"), 4);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM payout_movements"), 1);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM sqlite_schema WHERE name = "
                        "'journal_one_movement_per_payout'"),
            0);
}

TEST(MigrationTest, MigrationsAreContiguousFromOne) {
  int expected = 1;
  for (const sqlite::Migration& migration : sqlite::migrations()) {
    EXPECT_EQ(migration.version, expected++);
    EXPECT_FALSE(migration.name.empty());
  }
}

TEST(MigrationTest, SchemaIsStrictAndHasTheIndexesListingsNeed) {
  TempDir dir;
  std::unique_ptr<sqlite::SqliteStore> store = open_migrated(dir.file("s.db"));
  ASSERT_NE(store, nullptr);
  store->close();
  RawDatabase raw(dir.file("s.db"));
  for (const char* table : {"merchants", "merchant_fees", "wallets", "accounts",
                            "journal_transactions", "journal_entries", "wallet_transactions",
                            "payouts", "payout_events", "outbox"}) {
    SCOPED_TRACE(table);
    EXPECT_EQ(raw.integer(std::string("SELECT strict FROM pragma_table_list WHERE name = '") +
                          table + "'"),
              1);
  }
  for (const char* index :
       {"payouts_by_merchant_status", "payouts_by_merchant_created", "payouts_by_merchant_currency",
        "payouts_by_merchant_email", "accounts_platform", "journal_one_movement_per_payout",
        "journal_entries_by_journal", "wallet_transactions_by_wallet",
        "wallet_transactions_by_reference", "wallet_transactions_by_type", "outbox_due",
        "outbox_one_per_destination", "outbox_sequence"}) {
    SCOPED_TRACE(index);
    EXPECT_EQ(raw.integer(std::string("SELECT count(*) FROM sqlite_schema WHERE type = 'index' "
                                      "AND name = '") +
                          index + "'"),
              1);
  }
  // Migration 5 dropped these: no query needs them, and every index is paid for on every write.
  for (const char* index : {"payouts_by_wallet_status", "journal_entries_by_account"}) {
    SCOPED_TRACE(index);
    EXPECT_EQ(raw.integer(std::string("SELECT count(*) FROM sqlite_schema WHERE name = '") +
                          index + "'"),
              0);
  }
  EXPECT_EQ(raw.integer("SELECT count(*) FROM sqlite_schema WHERE name = 'payout_movements'"), 0);
  // Every internal status name of core is accepted by the CHECK constraint, and nothing else.
  const std::string sql = raw.text("SELECT sql FROM sqlite_schema WHERE name = 'payouts'");
  for (PayoutStatus status : kAllPayoutStatuses) {
    EXPECT_NE(sql.find("'" + std::string(status_name(status)) + "'"), std::string::npos)
        << status_name(status);
  }
}

}  // namespace
}  // namespace payoutd::testing
