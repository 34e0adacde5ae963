// SQLite's raw rate for the statements of one v3 cancel, against payoutd's own schema (the
// migrations of src/store/sqlite/schema.cc), with payoutd's pragmas (WAL, synchronous=FULL,
// foreign_keys=ON). No HTTP, no JSON, no payoutd code in the timed loop: this is the ceiling the
// storage layer puts on cancels.
//
// One cancel = read the payout; UPDATE payouts (status, timestamps, event_seq); INSERT
// journal_transactions (kind payout_refund with the cashout_id: the refund movement, checked
// refund-once by the journal's unique (cashout_id, kind) index); 2 x INSERT journal_entries;
// 2 x UPDATE accounts (held -> available); read the wallet balance; INSERT wallet_transactions
// (PAYOUT_REFUND); INSERT payout_events; INSERT outbox (the v3 notification).
//
//   payoutd_sqlite_cancel_rate DIR [SECONDS_PER_MODE=3] [BATCH=64]
// prints "unbatched_per_s=<rate> batched_per_s=<rate> batch=<n>"
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

#include "store/sqlite/schema.h"

namespace {

sqlite3* db = nullptr;

void check(int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

void exec(const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::fprintf(stderr, "%s\n  in: %.200s\n", error, sql.c_str());
    std::exit(1);
  }
}

struct Stmt {
  sqlite3_stmt* s = nullptr;
  explicit Stmt(const char* sql) { check(sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr), sql); }
  ~Stmt() { sqlite3_finalize(s); }
  Stmt& bind(int i, int64_t v) { sqlite3_bind_int64(s, i, v); return *this; }
  Stmt& bind(int i, const char* v) { sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT); return *this; }
  bool step() {
    const int rc = sqlite3_step(s);
    check(rc, sqlite3_sql(s));
    return rc == SQLITE_ROW;
  }
  int64_t col(int i) { return sqlite3_column_int64(s, i); }
  void done() { sqlite3_reset(s); sqlite3_clear_bindings(s); }
};

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr int64_t kWallet = 1;
constexpr int64_t kAvailable = 1;
constexpr int64_t kHeld = 2;
constexpr int64_t kTotal = 10000;

void seed(int64_t payouts) {
  exec("PRAGMA synchronous=OFF");
  exec("BEGIN");
  const int64_t at = now_us();
  const std::string t = std::to_string(at);
  exec("INSERT INTO merchants (id, name, status, login, pass_salt, pass_hash, secret_key_sealed, "
       "api_username, api_password_salt, api_password_hash, created_at, updated_at) VALUES "
       "(1, 'm', 'active', 'l', x'00', x'00', x'00', 'u', x'00', x'00', " + t + ", " + t + ")");
  exec("INSERT INTO wallets (id, merchant_id, currency, created_at, updated_at) VALUES (1, 1, 'BRL', " + t + ", " + t + ")");
  exec("INSERT INTO accounts (id, kind, currency, wallet_id, balance, updated_at) VALUES "
       "(1, 'available', 'BRL', 1, 0, " + t + "), (2, 'held', 'BRL', 1, " +
       std::to_string(kTotal * payouts) + ", " + t + ")");
  exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " + std::to_string(payouts) +
       ") INSERT INTO payouts (cashout_id, public_id, merchant_id, wallet_id, external_id, amount, fees, "
       "total_amount, currency, country, beneficiary_first_name, beneficiary_last_name, "
       "beneficiary_email, notification_url, status, created_at, updated_at, event_seq) "
       "SELECT i, 'pyt_' || printf('%016d', i), 1, 1, 'ext-' || i, " + std::to_string(kTotal) + ", 0, " +
       std::to_string(kTotal) + ", 'BRL', 'BR', 'Maria', 'Silva', 'm@example.com', "
       "'https://merchant.example.com/notify', 'created', " + t + ", " + t + ", 1 FROM n");
  exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " + std::to_string(payouts) +
       ") INSERT INTO payout_events (cashout_id, seq, event_type, from_status, to_status, actor_type, "
       "message, created_at) SELECT i, 1, 'status_change', NULL, 'created', 'system', 'Payout created', " + t + " FROM n");
  exec("COMMIT");
  exec("PRAGMA synchronous=FULL");
  exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

struct Cancel {
  Stmt read{"SELECT status, total_amount, wallet_id, event_seq, public_id FROM payouts WHERE cashout_id = $1 AND merchant_id = 1"};
  Stmt update{"UPDATE payouts SET status = 'cancelled', cancelled_at = $2, updated_at = $2, "
              "event_seq = event_seq + 1 WHERE cashout_id = $1 AND status IN ('created', 'queued', 'action_required')"};
  Stmt journal{"INSERT INTO journal_transactions (kind, cashout_id, currency, created_at) VALUES ('payout_refund', $1, 'BRL', $2)"};
  Stmt entry{"INSERT INTO journal_entries (journal_id, account_id, amount, currency) VALUES ($1, $2, $3, 'BRL')"};
  Stmt balance{"UPDATE accounts SET balance = balance + $1, updated_at = $2 WHERE id = $3 AND currency = 'BRL'"};
  Stmt wallet{"SELECT balance FROM accounts WHERE wallet_id = $1 AND kind = 'available'"};
  Stmt wallet_tx{"INSERT INTO wallet_transactions (wallet_id, journal_id, type, transaction_type, amount, currency, "
                 "balance_after, reference_type, reference_id, remarks, created_at) VALUES "
                 "($1, $2, 'PAYOUT_REFUND', 'CREDIT', $3, 'BRL', $4, 'payout', $5, 'Refund of payout ' || $5, $6)"};
  Stmt event{"INSERT INTO payout_events (cashout_id, seq, event_type, from_status, to_status, actor_type, message, created_at) "
             "VALUES ($1, $2, 'status_change', 'created', 'cancelled', 'client', 'Payout cancelled by client', $3)"};
  Stmt outbox{"INSERT INTO outbox (cashout_id, event_seq, channel, target_url, payload, next_attempt_at, created_at, updated_at) "
              "VALUES ($1, $2, 'v3', 'https://merchant.example.com/notify', '{\"cashout_id\":' || $1 || ',\"status\":2}', $3, $3, $3)"};

  void run(int64_t id) {
    const int64_t at = now_us();
    read.bind(1, id);
    if (!read.step()) { std::fprintf(stderr, "payout %lld missing\n", static_cast<long long>(id)); std::exit(1); }
    const int64_t total = read.col(1);
    const int64_t seq = read.col(3) + 1;
    const std::string public_id = reinterpret_cast<const char*>(sqlite3_column_text(read.s, 4));
    read.done();
    update.bind(1, id).bind(2, at).step();
    update.done();
    if (sqlite3_changes(db) != 1) { std::fprintf(stderr, "payout %lld not cancellable\n", static_cast<long long>(id)); std::exit(1); }
    journal.bind(1, id).bind(2, at).step();
    journal.done();
    const int64_t journal_id = sqlite3_last_insert_rowid(db);
    entry.bind(1, journal_id).bind(2, kHeld).bind(3, -total).step(); entry.done();
    entry.bind(1, journal_id).bind(2, kAvailable).bind(3, total).step(); entry.done();
    balance.bind(1, -total).bind(2, at).bind(3, kHeld).step(); balance.done();
    balance.bind(1, total).bind(2, at).bind(3, kAvailable).step(); balance.done();
    wallet.bind(1, kWallet).step();
    const int64_t after = wallet.col(0);
    wallet.done();
    wallet_tx.bind(1, kWallet).bind(2, journal_id).bind(3, total).bind(4, after).bind(5, public_id.c_str()).bind(6, at).step();
    wallet_tx.done();
    event.bind(1, id).bind(2, seq).bind(3, at).step(); event.done();
    outbox.bind(1, id).bind(2, seq).bind(3, at).step(); outbox.done();
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [SECONDS_PER_MODE] [BATCH]\n", argv[0]);
    return 2;
  }
  const std::string path = std::string(argv[1]) + "/sqlite_cancel_rate.db";
  const double seconds = argc > 2 ? std::atof(argv[2]) : 3.0;
  const int batch = argc > 3 ? std::atoi(argv[3]) : 64;
  for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((path + suffix).c_str());
  check(sqlite3_open(path.c_str(), &db), "open");
  exec("PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000");
  exec("BEGIN");
  for (const payoutd::sqlite::Migration& migration : payoutd::sqlite::migrations()) {
    exec(std::string(migration.sql));
  }
  exec("COMMIT");
  // Enough payouts for a fast machine; each mode cancels distinct ones.
  const int64_t payouts = argc > 4 ? std::atoll(argv[4]) : 400000;
  seed(payouts);

  int64_t next = 1;
  double rates[2] = {0, 0};
  for (int mode = 0; mode < 2; ++mode) {
    Cancel cancel;
    const int per_tx = mode == 0 ? 1 : batch;
    const auto start = std::chrono::steady_clock::now();
    const auto end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                 std::chrono::duration<double>(seconds));
    int64_t done = 0;
    auto now = start;
    while (now < end) {
      if (next + per_tx > payouts) {
        std::fprintf(stderr, "ran out of seeded payouts (%lld); pass a larger count\n", static_cast<long long>(payouts));
        return 1;
      }
      exec("BEGIN IMMEDIATE");
      for (int i = 0; i < per_tx; ++i) cancel.run(next++);
      exec("COMMIT");
      done += per_tx;
      now = std::chrono::steady_clock::now();
    }
    rates[mode] = static_cast<double>(done) / std::chrono::duration<double>(now - start).count();
  }
  sqlite3_close(db);
  for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((path + suffix).c_str());
  std::printf("unbatched_per_s=%.0f batched_per_s=%.0f batch=%d\n", rates[0], rates[1], batch);
  return 0;
}
