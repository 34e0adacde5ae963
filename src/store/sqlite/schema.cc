#include "store/sqlite/schema.h"

#include <array>
#include <charconv>
#include <string>

namespace payoutd::sqlite {
namespace {

// Money columns are integers in the currency's minor unit; timestamps are integers in unix
// microseconds. Every table is STRICT so a wrongly typed value is an error, not a silent coercion.
constexpr std::string_view kMigration1 = R"sql(
CREATE TABLE merchants (
  id                  INTEGER PRIMARY KEY,
  name                TEXT NOT NULL,
  status              TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
  login               TEXT NOT NULL UNIQUE,
  pass_salt           BLOB NOT NULL,
  pass_hash           BLOB NOT NULL,
  secret_key_sealed   BLOB NOT NULL,
  api_username        TEXT NOT NULL UNIQUE,
  api_password_salt   BLOB NOT NULL,
  api_password_hash   BLOB NOT NULL,
  ip_allow            TEXT NOT NULL DEFAULT '',  -- comma-separated CIDRs; '' = any address
  notification_url    TEXT NOT NULL DEFAULT '',
  created_at          INTEGER NOT NULL,
  updated_at          INTEGER NOT NULL
) STRICT;

CREATE TABLE merchant_fees (
  merchant_id  INTEGER NOT NULL REFERENCES merchants (id),
  currency     TEXT NOT NULL CHECK (length(currency) = 3),
  fixed_minor  INTEGER NOT NULL CHECK (fixed_minor >= 0),
  percent_bps  INTEGER NOT NULL CHECK (percent_bps BETWEEN 0 AND 10000),
  updated_at   INTEGER NOT NULL,
  PRIMARY KEY (merchant_id, currency)
) STRICT, WITHOUT ROWID;

CREATE TABLE wallets (
  id           INTEGER PRIMARY KEY,
  merchant_id  INTEGER NOT NULL REFERENCES merchants (id),
  currency     TEXT NOT NULL CHECK (length(currency) = 3),
  is_active    INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  UNIQUE (merchant_id, currency)
) STRICT;

-- Double-entry accounts: available/held per wallet, funding/settlement per currency (platform).
CREATE TABLE accounts (
  id          INTEGER PRIMARY KEY,
  kind        TEXT NOT NULL CHECK (kind IN ('available', 'held', 'funding', 'settlement')),
  currency    TEXT NOT NULL CHECK (length(currency) = 3),
  wallet_id   INTEGER REFERENCES wallets (id),
  balance     INTEGER NOT NULL DEFAULT 0,
  updated_at  INTEGER NOT NULL,
  CONSTRAINT available_balance_non_negative CHECK (kind <> 'available' OR balance >= 0),
  CONSTRAINT held_balance_non_negative CHECK (kind <> 'held' OR balance >= 0),
  CONSTRAINT platform_accounts_have_no_wallet
    CHECK ((wallet_id IS NULL) = (kind IN ('funding', 'settlement'))),
  UNIQUE (wallet_id, kind)
) STRICT;
CREATE UNIQUE INDEX accounts_platform ON accounts (kind, currency) WHERE wallet_id IS NULL;

CREATE TABLE journal_transactions (
  id          INTEGER PRIMARY KEY,
  kind        TEXT NOT NULL CHECK (kind <> ''),
  cashout_id  INTEGER REFERENCES payouts (cashout_id),
  currency    TEXT NOT NULL CHECK (length(currency) = 3),
  created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE journal_entries (
  id          INTEGER PRIMARY KEY,
  journal_id  INTEGER NOT NULL REFERENCES journal_transactions (id),
  account_id  INTEGER NOT NULL REFERENCES accounts (id),
  amount      INTEGER NOT NULL CHECK (amount <> 0),
  currency    TEXT NOT NULL CHECK (length(currency) = 3)
) STRICT;
CREATE INDEX journal_entries_by_account ON journal_entries (account_id);
CREATE INDEX journal_entries_by_journal ON journal_entries (journal_id);

CREATE TABLE wallet_transactions (
  id                INTEGER PRIMARY KEY,
  wallet_id         INTEGER NOT NULL REFERENCES wallets (id),
  journal_id        INTEGER NOT NULL REFERENCES journal_transactions (id),
  type              TEXT NOT NULL CHECK (type IN ('DEPOSIT', 'ADJUSTMENT', 'PAYOUT', 'PAYOUT_REFUND')),
  transaction_type  TEXT NOT NULL CHECK (transaction_type IN ('CREDIT', 'DEBIT')),
  amount            INTEGER NOT NULL CHECK (amount > 0),
  currency          TEXT NOT NULL CHECK (length(currency) = 3),
  balance_after     INTEGER NOT NULL,
  reference_type    TEXT NOT NULL CHECK (reference_type IN ('payout', 'manual')),
  reference_id      TEXT,
  remarks           TEXT,
  created_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX wallet_transactions_by_wallet ON wallet_transactions (wallet_id, id);
CREATE INDEX wallet_transactions_by_reference ON wallet_transactions (wallet_id, reference_id);
CREATE INDEX wallet_transactions_by_type ON wallet_transactions (wallet_id, type, id);

-- AUTOINCREMENT: a cashout_id is never reused, even after the highest row is gone.
CREATE TABLE payouts (
  cashout_id                INTEGER PRIMARY KEY AUTOINCREMENT,
  public_id                 TEXT NOT NULL UNIQUE,
  merchant_id               INTEGER NOT NULL REFERENCES merchants (id),
  wallet_id                 INTEGER NOT NULL REFERENCES wallets (id),
  external_id               TEXT NOT NULL,
  amount                    INTEGER NOT NULL CHECK (amount > 0),
  fees                      INTEGER NOT NULL CHECK (fees >= 0),
  total_amount              INTEGER NOT NULL,
  currency                  TEXT NOT NULL CHECK (length(currency) = 3),
  country                   TEXT NOT NULL,
  beneficiary_first_name    TEXT,
  beneficiary_last_name     TEXT,
  beneficiary_email         TEXT,
  beneficiary_phone         TEXT,
  beneficiary_country       TEXT,
  beneficiary_document_id   TEXT,
  beneficiary_document_type TEXT,
  beneficiary_bank_code     TEXT,
  beneficiary_bank_account  TEXT,
  beneficiary_bank_branch   TEXT,
  beneficiary_account_type  TEXT,
  beneficiary_routing_number TEXT,
  beneficiary_address       TEXT,
  beneficiary_city          TEXT,
  beneficiary_postal_code   TEXT,
  beneficiary_birthdate     TEXT,
  description               TEXT,
  metadata                  TEXT NOT NULL DEFAULT '{}',
  notification_url          TEXT,
  status                    TEXT NOT NULL CHECK (status IN ('created', 'queued', 'on_hold',
                              'processing', 'settling', 'action_required', 'completed', 'failed',
                              'cancelled', 'expired')),
  failure_code              INTEGER,
  failure_reason            TEXT,
  bank_reference_id         TEXT,
  connector                 TEXT,
  connector_reference       TEXT,
  created_at                INTEGER NOT NULL,
  queued_at                 INTEGER,
  submitted_at              INTEGER,
  completed_at              INTEGER,
  failed_at                 INTEGER,
  cancelled_at              INTEGER,
  expired_at                INTEGER,
  cancel_requested_at       INTEGER,
  updated_at                INTEGER NOT NULL,
  event_seq                 INTEGER NOT NULL CHECK (event_seq >= 0),
  request_fingerprint       TEXT NOT NULL DEFAULT '',
  CONSTRAINT total_is_amount_plus_fees CHECK (total_amount = amount + fees),
  UNIQUE (merchant_id, external_id)
) STRICT;
CREATE INDEX payouts_by_merchant_status ON payouts (merchant_id, status, created_at, cashout_id);
CREATE INDEX payouts_by_merchant_created ON payouts (merchant_id, created_at, cashout_id);
CREATE INDEX payouts_by_merchant_currency ON payouts (merchant_id, currency, created_at);
CREATE INDEX payouts_by_merchant_email ON payouts (merchant_id, beneficiary_email);
CREATE INDEX payouts_by_merchant_amount ON payouts (merchant_id, amount, cashout_id);
CREATE INDEX payouts_by_wallet_status ON payouts (wallet_id, status);

CREATE TABLE payout_events (
  cashout_id   INTEGER NOT NULL REFERENCES payouts (cashout_id),
  seq          INTEGER NOT NULL CHECK (seq >= 1),
  event_type   TEXT NOT NULL,
  from_status  TEXT,
  to_status    TEXT NOT NULL,
  actor_type   TEXT NOT NULL CHECK (actor_type IN ('system', 'client', 'operator', 'provider')),
  message      TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (cashout_id, seq)
) STRICT, WITHOUT ROWID;

-- At most one hold, one post and one refund per payout: the primary key is the database-level
-- "refunded at most once" guarantee of domain.md invariant 4.
CREATE TABLE payout_movements (
  cashout_id  INTEGER NOT NULL REFERENCES payouts (cashout_id),
  kind        TEXT NOT NULL CHECK (kind IN ('hold', 'post', 'refund')),
  journal_id  INTEGER NOT NULL UNIQUE REFERENCES journal_transactions (id),
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (cashout_id, kind)
) STRICT, WITHOUT ROWID;

CREATE TABLE outbox (
  id               INTEGER PRIMARY KEY,
  cashout_id       INTEGER NOT NULL REFERENCES payouts (cashout_id),
  event_seq        INTEGER NOT NULL,
  channel          TEXT NOT NULL CHECK (channel IN ('v3', 'v1')),
  endpoint_id      INTEGER,
  target_url       TEXT NOT NULL,
  payload          TEXT NOT NULL,
  status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  INTEGER NOT NULL,
  claimed_by       TEXT,
  lease_until      INTEGER,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_by_payout ON outbox (cashout_id, event_seq);

-- History is append-only: events, the journal, wallet transactions and payout movements are never
-- changed or removed, and payouts are never deleted.
CREATE TRIGGER payout_events_append_only_update BEFORE UPDATE ON payout_events
BEGIN SELECT RAISE(ABORT, 'payout_events is append-only'); END;
CREATE TRIGGER payout_events_append_only_delete BEFORE DELETE ON payout_events
BEGIN SELECT RAISE(ABORT, 'payout_events is append-only'); END;
CREATE TRIGGER journal_transactions_append_only_update BEFORE UPDATE ON journal_transactions
BEGIN SELECT RAISE(ABORT, 'journal_transactions is append-only'); END;
CREATE TRIGGER journal_transactions_append_only_delete BEFORE DELETE ON journal_transactions
BEGIN SELECT RAISE(ABORT, 'journal_transactions is append-only'); END;
CREATE TRIGGER journal_entries_append_only_update BEFORE UPDATE ON journal_entries
BEGIN SELECT RAISE(ABORT, 'journal_entries is append-only'); END;
CREATE TRIGGER journal_entries_append_only_delete BEFORE DELETE ON journal_entries
BEGIN SELECT RAISE(ABORT, 'journal_entries is append-only'); END;
CREATE TRIGGER wallet_transactions_append_only_update BEFORE UPDATE ON wallet_transactions
BEGIN SELECT RAISE(ABORT, 'wallet_transactions is append-only'); END;
CREATE TRIGGER wallet_transactions_append_only_delete BEFORE DELETE ON wallet_transactions
BEGIN SELECT RAISE(ABORT, 'wallet_transactions is append-only'); END;
CREATE TRIGGER payout_movements_append_only_update BEFORE UPDATE ON payout_movements
BEGIN SELECT RAISE(ABORT, 'payout_movements is append-only'); END;
CREATE TRIGGER payout_movements_append_only_delete BEFORE DELETE ON payout_movements
BEGIN SELECT RAISE(ABORT, 'payout_movements is append-only'); END;
CREATE TRIGGER payouts_never_deleted BEFORE DELETE ON payouts
BEGIN SELECT RAISE(ABORT, 'payouts are never deleted'); END;

-- A payout draws on a wallet of its own merchant in its own currency.
CREATE TRIGGER payouts_wallet_matches BEFORE INSERT ON payouts
WHEN NOT EXISTS (SELECT 1 FROM wallets
                 WHERE id = NEW.wallet_id AND merchant_id = NEW.merchant_id
                   AND currency = NEW.currency)
BEGIN SELECT RAISE(ABORT, 'payout wallet does not match merchant and currency'); END;
)sql";

// Migration 2: the payouts-v1 dialect's bearer tokens and Idempotency-Key records. Tokens are
// stored only as SHA-256 hashes; rotated-out refresh tokens stay until they expire so that
// presenting one again is recognised (and revokes its family).
constexpr std::string_view kMigration2 = R"sql(
CREATE TABLE api_tokens (
  token_hash        BLOB NOT NULL PRIMARY KEY CHECK (length(token_hash) = 32),
  merchant_id       INTEGER NOT NULL REFERENCES merchants (id),
  family_id         TEXT NOT NULL CHECK (family_id <> ''),
  kind              TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
  expires_at        INTEGER NOT NULL,
  revoked_at        INTEGER,
  replaced_by_hash  BLOB CHECK (replaced_by_hash IS NULL OR length(replaced_by_hash) = 32),
  created_at        INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX api_tokens_by_family ON api_tokens (family_id);
CREATE INDEX api_tokens_by_merchant_expiry ON api_tokens (merchant_id, expires_at);

CREATE TABLE idempotency_keys (
  merchant_id      INTEGER NOT NULL REFERENCES merchants (id),
  "key"            TEXT NOT NULL CHECK (length("key") BETWEEN 1 AND 256),
  request_hash     TEXT NOT NULL,
  response_status  INTEGER NOT NULL CHECK (response_status BETWEEN 100 AND 599),
  response_body    BLOB NOT NULL,
  created_at       INTEGER NOT NULL,
  expires_at       INTEGER NOT NULL,
  PRIMARY KEY (merchant_id, "key")
) STRICT, WITHOUT ROWID;
CREATE INDEX idempotency_keys_by_merchant_expiry ON idempotency_keys (merchant_id, expires_at);
)sql";

// Migration 3: the engine's bookkeeping in the payouts row (lease, next look, what the connector
// said), the indexes its due-work queries use, and the simulated rail of the sandbox connector.
constexpr std::string_view kMigration3 = R"sql(
ALTER TABLE payouts ADD COLUMN engine_next_at INTEGER;
ALTER TABLE payouts ADD COLUMN engine_claimed_by TEXT;
ALTER TABLE payouts ADD COLUMN engine_lease_until INTEGER;
ALTER TABLE payouts ADD COLUMN engine_attempts INTEGER NOT NULL DEFAULT 0 CHECK (engine_attempts >= 0);
ALTER TABLE payouts ADD COLUMN connector_state TEXT NOT NULL DEFAULT 'none'
  CHECK (connector_state IN ('none', 'submitting', 'accepted', 'unknown'));
ALTER TABLE payouts ADD COLUMN cancel_state TEXT NOT NULL DEFAULT 'none'
  CHECK (cancel_state IN ('none', 'pending', 'refused'));
-- Screening, submission and expiry scan by status, oldest status change first.
CREATE INDEX payouts_by_status_updated ON payouts (status, updated_at, cashout_id);
-- Follow-ups (polls, reconciliation, answers to cancel requests) scan by due time.
CREATE INDEX payouts_engine_due ON payouts (engine_next_at, cashout_id)
  WHERE engine_next_at IS NOT NULL;

CREATE TABLE rail_records (
  connector           TEXT NOT NULL,
  payout_key          TEXT NOT NULL,
  reference           TEXT NOT NULL,
  submitted_at        INTEGER NOT NULL,
  submissions         INTEGER NOT NULL CHECK (submissions >= 1),
  cancel_requested_at INTEGER,
  updated_at          INTEGER NOT NULL,
  PRIMARY KEY (connector, payout_key)
) STRICT, WITHOUT ROWID;
CREATE INDEX rail_records_duplicates ON rail_records (connector, submissions);
)sql";

// Migration 4: notifications. v1 webhook endpoints (secrets sealed), the outbox's event id and
// retry window, one row per (event, destination) as a constraint, and the delivery log.
constexpr std::string_view kMigration4 = R"sql(
CREATE TABLE webhook_endpoints (
  id             INTEGER PRIMARY KEY,
  public_id      TEXT NOT NULL UNIQUE,
  merchant_id    INTEGER NOT NULL REFERENCES merchants (id),
  url            TEXT NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
  events         TEXT NOT NULL,
  secret_sealed  BLOB NOT NULL,
  created_at     INTEGER NOT NULL,
  deleted_at     INTEGER
) STRICT;
CREATE INDEX webhook_endpoints_by_merchant ON webhook_endpoints (merchant_id, id)
  WHERE deleted_at IS NULL;

ALTER TABLE outbox ADD COLUMN event_id TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN give_up_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN last_error TEXT;
ALTER TABLE outbox ADD COLUMN delivered_at INTEGER;
ALTER TABLE outbox ADD COLUMN destination TEXT NOT NULL DEFAULT '';
-- Rows written before this migration: an event id from the payout's public id, 72 h to go.
UPDATE outbox SET
  event_id = 'evt_' || substr((SELECT public_id FROM payouts p WHERE p.cashout_id = outbox.cashout_id), 5)
             || '_' || event_seq,
  give_up_at = created_at + 259200000000,
  destination = lower(target_url);
-- At most one row per event and destination: a notification is never invented twice.
CREATE UNIQUE INDEX outbox_one_per_destination
  ON outbox (cashout_id, event_seq, channel, coalesce(endpoint_id, 0));
-- The per-destination sequence of a payout (ordering check, follower push).
CREATE INDEX outbox_sequence ON outbox (cashout_id, channel, coalesce(endpoint_id, 0), status, event_seq);
-- outbox_one_per_destination starts with (cashout_id, event_seq): the older index is redundant,
-- and every index is paid for on every insert.
DROP INDEX outbox_by_payout;
CREATE INDEX outbox_by_endpoint ON outbox (endpoint_id, id) WHERE endpoint_id IS NOT NULL;
CREATE INDEX outbox_by_status_id ON outbox (status, id);

CREATE TABLE delivery_attempts (
  id           INTEGER PRIMARY KEY,
  outbox_id    INTEGER NOT NULL REFERENCES outbox (id),
  endpoint_id  INTEGER,
  event_id     TEXT NOT NULL,
  channel      TEXT NOT NULL CHECK (channel IN ('v3', 'v1')),
  attempt      INTEGER NOT NULL CHECK (attempt >= 1),
  started_at   INTEGER NOT NULL,
  http_status  INTEGER,
  latency_ms   INTEGER NOT NULL CHECK (latency_ms >= 0),
  result       TEXT NOT NULL CHECK (result IN ('delivered', 'failed', 'refused')),
  error        TEXT NOT NULL CHECK (length(error) <= 300)
) STRICT;
CREATE INDEX delivery_attempts_by_endpoint ON delivery_attempts (endpoint_id, id)
  WHERE endpoint_id IS NOT NULL;
CREATE INDEX delivery_attempts_by_event ON delivery_attempts (event_id, id);
CREATE INDEX delivery_attempts_by_outbox ON delivery_attempts (outbox_id, id);
CREATE TRIGGER delivery_attempts_append_only_update BEFORE UPDATE ON delivery_attempts
BEGIN SELECT RAISE(ABORT, 'delivery_attempts is append-only'); END;
CREATE TRIGGER delivery_attempts_append_only_delete BEFORE DELETE ON delivery_attempts
BEGIN SELECT RAISE(ABORT, 'delivery_attempts is append-only'); END;
)sql";

// Migration 5: the journal is the record of a payout's movements. A journal of a payout is one of
// its three movements (kind payout_hold, payout_post or payout_refund; a trigger, as SQLite
// cannot add a CHECK to a table), and a unique index on (cashout_id, kind) is the database-level
// "refunded at most once" guarantee of domain.md invariant 4. payout_movements said the same in a
// second row per movement; it goes (its triggers with it), once its rows are proved to agree with
// the journal: the temporary table's CHECK fails the migration if any row disagrees. Also gone:
// two indexes no query uses, each paid for on every write of its table.
constexpr std::string_view kMigration5 = R"sql(
CREATE TEMP TABLE migration_5_movements_agree_with_journal (
  disagreements INTEGER NOT NULL CHECK (disagreements = 0)
) STRICT;
INSERT INTO migration_5_movements_agree_with_journal
SELECT (SELECT count(*) FROM payout_movements m JOIN journal_transactions j ON j.id = m.journal_id
        WHERE j.cashout_id IS NOT m.cashout_id OR j.kind <> 'payout_' || m.kind)
     + (SELECT count(*) FROM journal_transactions j WHERE j.cashout_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM payout_movements m WHERE m.journal_id = j.id));
DROP TABLE migration_5_movements_agree_with_journal;
CREATE TRIGGER payout_journals_are_movements BEFORE INSERT ON journal_transactions
WHEN (NEW.cashout_id IS NOT NULL) <> (NEW.kind IN ('payout_hold', 'payout_post', 'payout_refund'))
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: payout_journals_are_movements'); END;
CREATE UNIQUE INDEX journal_one_movement_per_payout ON journal_transactions (cashout_id, kind)
  WHERE cashout_id IS NOT NULL;
DROP TABLE payout_movements;
DROP INDEX payouts_by_wallet_status;
DROP INDEX journal_entries_by_account;
)sql";

constexpr std::array<Migration, 5> kMigrations = {{
    {1, "initial schema", kMigration1},
    {2, "v1 api tokens and idempotency keys", kMigration2},
    {3, "engine bookkeeping and the sandbox rail", kMigration3},
    {4, "webhook endpoints, outbox retry window and the delivery log", kMigration4},
    {5, "the journal records payout movements; unused indexes dropped", kMigration5},
}};

constexpr std::string_view kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at INTEGER NOT NULL) STRICT";

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

int latest_schema_version() { return kMigrations.back().version; }

Result<int> schema_version(SqliteConnection& connection) {
  PAYOUTD_ASSIGN_OR_RETURN(std::string exists,
                           connection.query_text("SELECT count(*) FROM sqlite_schema WHERE type = "
                                                 "'table' AND name = 'schema_migrations'"));
  if (exists == "0") return 0;
  Result<std::string> version =
      connection.query_text("SELECT coalesce(max(version), 0) FROM schema_migrations");
  if (!version.is_ok()) return std::move(version).status();
  int parsed = 0;
  const std::string& text = *version;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  if (error != std::errc() || end != text.data() + text.size()) {
    return Status::error(ErrorKind::kCorruption, "unreadable schema version '" + text + "'");
  }
  return parsed;
}

Status apply_migrations(SqliteConnection& connection, int64_t now_micros) {
  for (size_t i = 0; i < kMigrations.size(); ++i) {
    // Versions are contiguous from 1: a gap would make "newer than known" ambiguous.
    PAYOUTD_ASSERT(kMigrations[i].version == static_cast<int>(i) + 1);
  }
  PAYOUTD_RETURN_IF_ERROR(connection.begin_write());
  auto rollback = [&connection](Status status) {
    (void)connection.execute_script("ROLLBACK");
    (void)connection.take_hard_error();
    return status;
  };

  Status created = connection.execute_script(kCreateMigrationsTable);
  if (!created.is_ok()) return rollback(created);
  Result<int> current = schema_version(connection);
  if (!current.is_ok()) return rollback(std::move(current).status());
  if (*current > latest_schema_version()) {
    return rollback(Status::internal(
        "database schema version " + std::to_string(*current) +
        " is newer than this payoutd knows (" + std::to_string(latest_schema_version()) +
        "); upgrade payoutd"));
  }
  for (const Migration& migration : kMigrations) {
    if (migration.version <= *current) continue;
    Status applied = connection.execute_script(migration.sql);
    if (!applied.is_ok()) {
      return rollback(Status::internal("migration " + std::to_string(migration.version) + " (" +
                                       std::string(migration.name) +
                                       ") failed: " + applied.message()));
    }
    Result<StatementLease> record = connection.prepare(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)");
    if (!record.is_ok()) return rollback(std::move(record).status());
    (*record)->bind(1, static_cast<int64_t>(migration.version));
    (*record)->bind(2, migration.name);
    (*record)->bind(3, now_micros);
    Status inserted = (*record)->execute();
    if (!inserted.is_ok()) return rollback(inserted);
  }
  Status committed = connection.execute_script("COMMIT");
  if (!committed.is_ok()) return rollback(committed);
  (void)connection.take_hard_error();
  return Status::ok();
}

}  // namespace payoutd::sqlite
