// The PostgreSQL migrations: versioned, forward-only, idempotent, safe from several processes at
// once, with SQLite's names, constraints and refusals.
#include <algorithm>
#include <thread>

#include "core/payout_status.h"
#include "core/types.h"
#include "pg_test_support.h"
#include "store/postgres/schema.h"
#include "store/sqlite/connection.h"
#include "store/sqlite/schema.h"
#include "support/test_support.h"

namespace payoutd::testing {
namespace {

using postgres::apply_migrations;
using postgres::PgConnection;
using postgres::schema_version;
using sql::StatementLease;

using PgSchemaTest = PgTest;

std::vector<std::string> sorted(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  return values;
}

TEST_F(PgSchemaTest, MigratesOnceAndIsIdempotent) {
  Result<int> before = schema_version(*connection_);
  ASSERT_TRUE(before.is_ok()) << before.status().to_string();
  EXPECT_EQ(*before, 0);
  ASSERT_EQ(postgres::latest_schema_version(), 5);
  ASSERT_EQ(postgres::migrations().size(), 5u);

  Status first = apply_migrations(*connection_, 1'700'000'000'000'000);
  ASSERT_TRUE(first.is_ok()) << first.to_string();
  EXPECT_EQ(*schema_version(*connection_), 5);
  EXPECT_FALSE(connection_->in_transaction());
  Status second = apply_migrations(*connection_, 1'700'000'000'000'001);
  ASSERT_TRUE(second.is_ok()) << second.to_string();
  EXPECT_EQ(*schema_version(*connection_), 5);
  RawPg raw(database_.url());
  EXPECT_EQ(raw.column("SELECT version || ':' || applied_at FROM schema_migrations ORDER BY version"),
            (std::vector<std::string>{"1:1700000000000000", "2:1700000000000000",
                                      "3:1700000000000000", "4:1700000000000000",
                                      "5:1700000000000000"}));
  EXPECT_TRUE(connection_->take_hard_error().is_ok());
}

TEST_F(PgSchemaTest, ConcurrentMigratorsSerialize) {
  constexpr int kMigrators = 4;
  std::vector<std::unique_ptr<PgConnection>> connections;
  for (int i = 0; i < kMigrators; ++i) {
    connections.push_back(database_.connect());
    ASSERT_NE(connections.back(), nullptr);
  }
  std::vector<Status> results(kMigrators);
  std::vector<std::thread> threads;
  for (int i = 0; i < kMigrators; ++i) {
    threads.emplace_back([&, i] { results[i] = apply_migrations(*connections[i], 100 + i); });
  }
  for (std::thread& thread : threads) thread.join();
  for (const Status& status : results) EXPECT_TRUE(status.is_ok()) << status.to_string();
  RawPg raw(database_.url());
  EXPECT_EQ(raw.value("SELECT count(*) FROM schema_migrations"), "5");
  EXPECT_EQ(raw.value("SELECT count(DISTINCT applied_at) FROM schema_migrations"), "1");
}

TEST_F(PgSchemaTest, RefusesANewerSchema) {
  ASSERT_TRUE(apply_migrations(*connection_, 1).is_ok());
  exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 2)");
  Status refused = apply_migrations(*connection_, 3);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.kind(), ErrorKind::kInternal);
  EXPECT_NE(refused.message().find("newer"), std::string::npos) << refused.message();
  EXPECT_FALSE(connection_->in_transaction());
  EXPECT_EQ(*schema_version(*connection_), 99);
}

TEST_F(PgSchemaTest, HasSQLitesNames) {
  ASSERT_TRUE(apply_migrations(*connection_, 1).is_ok());
  RawPg raw(database_.url());
  EXPECT_EQ(raw.column("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                       "ORDER BY tablename"),
            sorted({"accounts", "api_tokens", "delivery_attempts", "idempotency_keys",
                    "journal_entries", "journal_transactions", "merchant_fees", "merchants",
                    "outbox", "payout_events", "payouts", "rail_records",
                    "schema_migrations", "wallet_transactions", "wallets", "webhook_endpoints"}));
  // Named indexes (the implicit ones of keys are named by PostgreSQL).
  const std::vector<std::string> indexes =
      raw.column("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'");
  for (const char* name :
       {"accounts_platform", "journal_entries_by_journal", "journal_one_movement_per_payout",
        "wallet_transactions_by_wallet", "wallet_transactions_by_reference",
        "wallet_transactions_by_type", "payouts_by_merchant_status", "payouts_by_merchant_created",
        "payouts_by_merchant_currency", "payouts_by_merchant_email", "payouts_by_merchant_amount",
        "outbox_due", "api_tokens_by_family",
        "api_tokens_by_merchant_expiry", "idempotency_keys_by_merchant_expiry",
        "payouts_by_status_updated", "payouts_engine_due", "rail_records_duplicates",
        "webhook_endpoints_by_merchant", "outbox_one_per_destination", "outbox_sequence",
        "outbox_by_endpoint", "outbox_by_status_id", "delivery_attempts_by_endpoint",
        "delivery_attempts_by_event", "delivery_attempts_by_outbox"}) {
    EXPECT_NE(std::find(indexes.begin(), indexes.end(), name), indexes.end()) << name;
  }
  for (const char* dropped :
       {"outbox_by_payout", "payouts_by_wallet_status", "journal_entries_by_account"}) {
    EXPECT_EQ(std::find(indexes.begin(), indexes.end(), dropped), indexes.end()) << dropped;
  }
  EXPECT_EQ(raw.value("SELECT indexdef FROM pg_indexes WHERE indexname = 'payouts_engine_due'"),
            "CREATE INDEX payouts_engine_due ON public.payouts USING btree (engine_next_at, "
            "cashout_id) WHERE (engine_next_at IS NOT NULL)");
  const std::vector<std::string> triggers = raw.column(
      "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname");
  EXPECT_EQ(triggers.size(), 12u);
  for (const char* name : {"payout_events_append_only_update", "payouts_never_deleted",
                           "payouts_wallet_matches", "delivery_attempts_append_only_delete"}) {
    EXPECT_NE(std::find(triggers.begin(), triggers.end(), name), triggers.end()) << name;
  }
  for (const char* name : {"available_balance_non_negative", "held_balance_non_negative",
                           "platform_accounts_have_no_wallet", "total_is_amount_plus_fees",
                           "payout_journals_are_movements"}) {
    EXPECT_EQ(raw.value(std::string("SELECT count(*) FROM pg_constraint WHERE conname = '") + name +
                        "'"),
              "1")
        << name;
  }
  // No boolean and no int4 columns: the shared queries compare 0/1 integers and 64-bit values.
  EXPECT_EQ(raw.value("SELECT count(*) FROM information_schema.columns WHERE table_schema = "
                      "'public' AND data_type NOT IN ('bigint', 'text', 'bytea')"),
            "0");
  EXPECT_EQ(raw.value("SELECT count(*) FROM information_schema.columns WHERE table_schema = "
                      "'public' AND table_name = 'payouts'"),
            "52");
}

// Every row of a one-column query through the shared SQL layer, sorted here (the two backends'
// collations differ).
std::vector<std::string> sorted_rows(sql::Connection& connection, const std::string& query) {
  std::vector<std::string> out;
  Result<StatementLease> statement = connection.prepare(query);
  EXPECT_TRUE(statement.is_ok()) << query << ": " << statement.status().to_string();
  if (!statement.is_ok()) return out;
  for (;;) {
    Result<bool> row = (*statement)->step();
    EXPECT_TRUE(row.is_ok()) << query << ": " << (*statement)->last_error().message;
    if (!row.is_ok() || !*row) break;
    out.push_back((*statement)->column_text(0));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The quoted names of the first `column IN ('a', 'b', ...)` (SQLite) or `column = ANY
// (ARRAY['a'::text, ...])` (PostgreSQL) of a CHECK text, in their order.
std::vector<std::string> quoted_names_after(const std::string& text, const std::string& start) {
  std::vector<std::string> names;
  size_t at = text.find(start);
  if (at == std::string::npos) return names;
  const size_t end = text.find(')', at);
  for (at = text.find('\'', at); at < end;) {
    const size_t close = text.find('\'', at + 1);
    names.push_back(text.substr(at + 1, close - at - 1));
    at = text.find('\'', close + 1);
  }
  return names;
}

// The two schemas are written twice (store/sqlite/schema.cc, store/postgres/schema.cc): this proves
// them one catalog — every table and column with its type and nullability, every named index,
// trigger and named CHECK — and the status lists of their CHECKs equal to core's enums.
TEST_F(PgSchemaTest, CatalogIsSQLitesColumnForColumnAndStatusListsAreCoresEnums) {
  ASSERT_TRUE(apply_migrations(*connection_, 1).is_ok());
  TempDir dir;
  Result<std::unique_ptr<sqlite::SqliteConnection>> lite =
      sqlite::SqliteConnection::open(dir.file("catalog.db"), {});
  ASSERT_TRUE(lite.is_ok()) << lite.status().to_string();
  ASSERT_TRUE(sqlite::apply_migrations(**lite, 1).is_ok());
  EXPECT_EQ(sqlite::latest_schema_version(), postgres::latest_schema_version());

  const std::vector<std::string> lite_columns = sorted_rows(
      **lite,
      "SELECT m.name || '.' || p.name || ' ' || CASE lower(p.type) WHEN 'integer' THEN 'bigint' "
      "WHEN 'blob' THEN 'bytea' ELSE lower(p.type) END || CASE WHEN p.\"notnull\" = 1 OR p.pk > 0 "
      "THEN ' not null' ELSE ' null' END FROM sqlite_master m, pragma_table_info(m.name) p "
      "WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'");
  const std::vector<std::string> pg_columns = sorted_rows(
      *connection_,
      "SELECT table_name || '.' || column_name || ' ' || data_type || CASE WHEN is_nullable = 'NO' "
      "THEN ' not null' ELSE ' null' END FROM information_schema.columns "
      "WHERE table_schema = current_schema()");
  EXPECT_GT(lite_columns.size(), 150u);
  EXPECT_EQ(lite_columns, pg_columns);

  // Named indexes (not those PostgreSQL makes for keys and UNIQUE constraints, nor SQLite's
  // automatic ones), triggers, named CHECKs.
  EXPECT_EQ(sorted_rows(**lite, "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"),
            sorted_rows(*connection_,
                        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND "
                        "indexname NOT IN (SELECT conname FROM pg_constraint)"));
  // One rule is written differently: SQLite cannot add a CHECK to a table that exists, so its
  // migration 5 made `payout_journals_are_movements` a trigger where PostgreSQL's is a CHECK.
  constexpr std::string_view kTriggerInSqlite = "payout_journals_are_movements";
  std::vector<std::string> lite_triggers =
      sorted_rows(**lite, "SELECT name FROM sqlite_master WHERE type = 'trigger'");
  ASSERT_EQ(std::erase(lite_triggers, std::string(kTriggerInSqlite)), 1u);
  EXPECT_EQ(lite_triggers,
            sorted_rows(*connection_, "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"));
  const std::vector<std::string> lite_checks = sorted_rows(
      **lite, "SELECT DISTINCT c.name FROM sqlite_master m, (SELECT 'available_balance_non_negative' "
              "AS name UNION ALL SELECT 'held_balance_non_negative' UNION ALL SELECT "
              "'platform_accounts_have_no_wallet' UNION ALL SELECT 'total_is_amount_plus_fees' "
              "UNION ALL SELECT 'payout_journals_are_movements') c "
              "WHERE instr(m.sql, 'CONSTRAINT ' || c.name) > 0 OR (m.type = 'trigger' AND m.name = c.name)");
  EXPECT_EQ(lite_checks,
            sorted_rows(*connection_,
                        "SELECT conname FROM pg_constraint WHERE contype = 'c' AND conname IN "
                        "('available_balance_non_negative', 'held_balance_non_negative', "
                        "'platform_accounts_have_no_wallet', 'total_is_amount_plus_fees', "
                        "'payout_journals_are_movements')"));
  EXPECT_EQ(lite_checks.size(), 5u);

  // The status lists: core's names, in core's order, on both.
  std::vector<std::string> payout_statuses;
  for (PayoutStatus status : kAllPayoutStatuses) payout_statuses.emplace_back(status_name(status));
  const std::string lite_payouts = (*lite)->query_text(
      "SELECT sql FROM sqlite_master WHERE name = 'payouts'").value();
  EXPECT_EQ(quoted_names_after(lite_payouts, "CHECK (status IN ("), payout_statuses);
  const std::string pg_payouts = connection_->query_text(
      "SELECT string_agg(pg_get_constraintdef(oid), ' ') FROM pg_constraint WHERE conrelid = "
      "'payouts'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE 'CHECK ((status =%'")
      .value();
  EXPECT_EQ(quoted_names_after(pg_payouts, "CHECK ((status = ANY"), payout_statuses);
  std::vector<std::string> outbox_statuses;
  for (OutboxStatus status : {OutboxStatus::kPending, OutboxStatus::kDelivered, OutboxStatus::kFailed}) {
    outbox_statuses.emplace_back(outbox_status_name(status));
  }
  const std::string lite_outbox =
      (*lite)->query_text("SELECT sql FROM sqlite_master WHERE name = 'outbox'").value();
  EXPECT_EQ(quoted_names_after(lite_outbox, "CHECK (status IN ("), outbox_statuses);
  const std::string pg_outbox = connection_->query_text(
      "SELECT string_agg(pg_get_constraintdef(oid), ' ') FROM pg_constraint WHERE conrelid = "
      "'outbox'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE 'CHECK ((status =%'")
      .value();
  EXPECT_EQ(quoted_names_after(pg_outbox, "CHECK ((status = ANY"), outbox_statuses);
}

// Migration 4's back-fill of outbox rows written before it.
TEST_F(PgSchemaTest, Migration4BackFillsTheOutbox) {
  ASSERT_TRUE(connection_->begin_write().is_ok());
  exec("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, "
       "applied_at BIGINT NOT NULL)");
  for (const postgres::Migration& migration : postgres::migrations()) {
    if (migration.version > 3) break;
    exec(std::string(migration.sql));
    exec("INSERT INTO schema_migrations VALUES (" + std::to_string(migration.version) + ", 'm', 1)");
  }
  exec(R"sql(
    INSERT INTO merchants (name, status, login, pass_salt, pass_hash, secret_key_sealed,
                           api_username, api_password_salt, api_password_hash, created_at, updated_at)
    VALUES ('m', 'active', 'l', '\x00', '\x00', '\x00', 'a', '\x00', '\x00', 1, 1);
    INSERT INTO wallets (merchant_id, currency, created_at, updated_at) VALUES (1, 'EUR', 1, 1);
    INSERT INTO payouts (public_id, merchant_id, wallet_id, external_id, amount, fees, total_amount,
                         currency, country, status, created_at, updated_at, event_seq)
    VALUES ('pay_0123456789ab', 1, 1, 'e', 100, 0, 100, 'EUR', 'DE', 'created', 1, 1, 2);
    INSERT INTO outbox (cashout_id, event_seq, channel, target_url, payload, next_attempt_at,
                        created_at, updated_at)
    VALUES (1, 2, 'v3', 'HTTPS://Example.COM/Hook', '{}', 5, 1000, 1000);
  )sql");
  ASSERT_TRUE(connection_->commit().is_ok());
  EXPECT_EQ(*schema_version(*connection_), 3);
  ASSERT_TRUE(apply_migrations(*connection_, 7).is_ok());
  EXPECT_EQ(*connection_->query_text("SELECT event_id || ' ' || give_up_at || ' ' || destination "
                                     "FROM outbox"),
            "evt_0123456789ab_2 259200001000 https://example.com/hook");
}

// Migration 5 on a database at version 4 with a payout, its hold journal and the payout_movements
// row that recorded it: the journal stays the movement and the table goes; a movement that
// disagrees with its journal stops the migration, which leaves everything as it was.
TEST_F(PgSchemaTest, Migration5MakesTheJournalTheRecordOfMovements) {
  for (const std::string movement_kind : {"post", "hold"}) {  // "post": the journal says hold
    SCOPED_TRACE(movement_kind);
    exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    ASSERT_TRUE(connection_->begin_write().is_ok());
    exec("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, "
         "applied_at BIGINT NOT NULL)");
    for (const postgres::Migration& migration : postgres::migrations()) {
      if (migration.version > 4) break;
      exec(std::string(migration.sql));
      exec("INSERT INTO schema_migrations VALUES (" + std::to_string(migration.version) +
           ", 'm', 1)");
    }
    exec(R"sql(
      INSERT INTO merchants (name, status, login, pass_salt, pass_hash, secret_key_sealed,
                             api_username, api_password_salt, api_password_hash, created_at,
                             updated_at)
      VALUES ('m', 'active', 'l', '\x00', '\x00', '\x00', 'a', '\x00', '\x00', 1, 1);
      INSERT INTO wallets (merchant_id, currency, created_at, updated_at) VALUES (1, 'EUR', 1, 1);
      INSERT INTO payouts (public_id, merchant_id, wallet_id, external_id, amount, fees,
                           total_amount, currency, country, status, created_at, updated_at,
                           event_seq)
      VALUES ('pyt_0123456789ab', 1, 1, 'e', 100, 0, 100, 'EUR', 'DE', 'created', 1, 1, 1);
      INSERT INTO journal_transactions (kind, cashout_id, currency, created_at)
      VALUES ('payout_hold', 1, 'EUR', 1), ('deposit', NULL, 'EUR', 1);
    )sql");
    exec("INSERT INTO payout_movements (cashout_id, kind, journal_id, created_at) VALUES (1, '" +
         movement_kind + "', 1, 1)");
    ASSERT_TRUE(connection_->commit().is_ok());
    Status migrated = apply_migrations(*connection_, 7);
    if (movement_kind == "post") {
      EXPECT_EQ(migrated.kind(), ErrorKind::kInternal);
      EXPECT_NE(migrated.message().find("migration 5"), std::string::npos) << migrated.message();
      EXPECT_EQ(*schema_version(*connection_), 4);
      EXPECT_EQ(*connection_->query_text("SELECT count(*) FROM payout_movements"), "1");
      continue;
    }
    ASSERT_TRUE(migrated.is_ok()) << migrated.to_string();
    EXPECT_EQ(*schema_version(*connection_), 5);
    EXPECT_EQ(*connection_->query_text("SELECT to_regclass('payout_movements') IS NULL"), "t");
    EXPECT_EQ(*connection_->query_text("SELECT count(*) FROM journal_transactions"), "2");
  }
}

TEST_F(PgSchemaTest, ConstraintsBehaveLikeSQLite) {
  ASSERT_TRUE(apply_migrations(*connection_, 1).is_ok());
  exec(R"sql(
    INSERT INTO merchants (name, status, login, pass_salt, pass_hash, secret_key_sealed,
                           api_username, api_password_salt, api_password_hash, created_at, updated_at)
    VALUES ('m', 'active', 'l', '\x00', '\x00', '\x00', 'a', '\x00', '\x00', 1, 1);
    INSERT INTO wallets (merchant_id, currency, created_at, updated_at) VALUES (1, 'EUR', 1, 1);
    INSERT INTO payouts (public_id, merchant_id, wallet_id, external_id, amount, fees, total_amount,
                         currency, country, status, created_at, updated_at, event_seq)
    VALUES ('po_1', 1, 1, 'e', 100, 0, 100, 'EUR', 'DE', 'created', 1, 1, 1);
  )sql");
  ASSERT_TRUE(connection_->begin_write().is_ok());
  auto journal = [this](std::string_view kind) {
    Result<StatementLease> s = connection_->prepare(
        "INSERT INTO journal_transactions (kind, cashout_id, currency, created_at) "
        "VALUES ($1, 1, 'EUR', 1)", sql::FailureScope::kStatement);
    PAYOUTD_ASSERT(s.is_ok());
    (*s)->bind(1, kind);
    Status status = (*s)->execute();
    return std::make_pair(status, (*s)->last_error());
  };
  ASSERT_TRUE(journal("payout_refund").first.is_ok());
  // The refund-once guarantee: the unique index on (cashout_id, kind), reported with its
  // identity (the store's mapping compares that).
  auto second_refund = journal("payout_refund");
  EXPECT_FALSE(second_refund.first.is_ok());
  EXPECT_TRUE(second_refund.second.is_unique());
  EXPECT_EQ(second_refund.second.constraint, sql::Constraint::kOneMovementPerPayout)
      << second_refund.second.message;
  // A journal of a payout is one of its movements.
  auto not_a_movement = journal("adjustment");
  EXPECT_FALSE(not_a_movement.first.is_ok());
  EXPECT_TRUE(not_a_movement.second.is_check());
  EXPECT_NE(not_a_movement.second.message.find("payout_journals_are_movements"), std::string::npos)
      << not_a_movement.second.message;
  // One notification per event and destination (an expression index).
  auto outbox = [this]() {
    Result<StatementLease> s = connection_->prepare(
        "INSERT INTO outbox (cashout_id, event_seq, channel, endpoint_id, target_url, payload, "
        "next_attempt_at, created_at, updated_at) VALUES (1, 1, 'v3', $1, 'u', '{}', 1, 1, 1) "
        "RETURNING id", sql::FailureScope::kStatement);
    PAYOUTD_ASSERT(s.is_ok());
    (*s)->bind_null(1, sql::SqlType::kInt);
    Result<bool> row = (*s)->step();
    return std::make_pair(row.is_ok() && *row ? (*s)->column_int64(0) : -1, (*s)->last_error());
  };
  EXPECT_GT(outbox().first, 0);
  auto duplicate = outbox();
  EXPECT_EQ(duplicate.first, -1);
  EXPECT_TRUE(duplicate.second.is_unique());
  EXPECT_EQ(duplicate.second.constraint, sql::Constraint::kOutboxOnePerDestination)
      << duplicate.second.message;
  // CHECKs carried over.
  Status bad_status = connection_->execute_script(
      "SAVEPOINT s; UPDATE payouts SET status = 'nonsense'; ");
  EXPECT_FALSE(bad_status.is_ok());
  EXPECT_TRUE(connection_->execute_script("ROLLBACK TO s; RELEASE s").is_ok());
  (void)connection_->take_hard_error();
  ASSERT_TRUE(connection_->commit().is_ok());
  // Identity values are never reused.
  exec("DELETE FROM wallets WHERE id = 999");
  exec("INSERT INTO merchants (name, status, login, pass_salt, pass_hash, secret_key_sealed, "
       "api_username, api_password_salt, api_password_hash, created_at, updated_at) VALUES ('n', "
       "'active', 'l2', '\\x00', '\\x00', '\\x00', 'a2', '\\x00', '\\x00', 1, 1)");
  exec("DELETE FROM merchants WHERE id = 2");
  EXPECT_EQ(*connection_->query_text(
                "INSERT INTO merchants (name, status, login, pass_salt, pass_hash, "
                "secret_key_sealed, api_username, api_password_salt, api_password_hash, "
                "created_at, updated_at) VALUES ('n', 'active', 'l3', '\\x00', '\\x00', '\\x00', "
                "'a3', '\\x00', '\\x00', 1, 1) RETURNING id"),
            "3");
}

}  // namespace
}  // namespace payoutd::testing
