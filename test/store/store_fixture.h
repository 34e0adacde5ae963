// Helpers for store tests: a migrated SQLite store in a temp directory, a raw sqlite3 handle for
// looking underneath (and corrupting on purpose), and ledger movements written with the store's
// primitives the way the domain commands write them.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/payout_status.h"
#include "store/sqlite/sqlite_store.h"
#include "store/store.h"
#include "support/test_support.h"

namespace payoutd::testing {

// A plain sqlite3 connection, outside the store.
class RawDatabase {
 public:
  explicit RawDatabase(const std::string& path) {
    int rc = sqlite3_open_v2(path.c_str(), &database_, SQLITE_OPEN_READWRITE, nullptr);
    EXPECT_EQ(rc, SQLITE_OK) << path;
    sqlite3_busy_timeout(database_, 10000);
    sqlite3_extended_result_codes(database_, 1);
  }
  ~RawDatabase() { sqlite3_close(database_); }
  RawDatabase(const RawDatabase&) = delete;
  RawDatabase& operator=(const RawDatabase&) = delete;

  // Returns the sqlite3 result code; the error message lands in `error` when given.
  int exec(const std::string& sql, std::string* error = nullptr) {
    char* message = nullptr;
    int rc = sqlite3_exec(database_, sql.c_str(), nullptr, nullptr, &message);
    if (error != nullptr) *error = message != nullptr ? message : "";
    sqlite3_free(message);
    return rc;
  }
  void must_exec(const std::string& sql) {
    std::string error;
    ASSERT_EQ(exec(sql, &error), SQLITE_OK) << sql << ": " << error;
  }
  // Column `index` of every row of `sql`, as text ("NULL" for NULL).
  std::vector<std::string> column(const std::string& sql, int index = 0) {
    std::vector<std::string> out;
    sqlite3_stmt* statement = nullptr;
    int rc = sqlite3_prepare_v2(database_, sql.c_str(), -1, &statement, nullptr);
    EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << sqlite3_errmsg(database_);
    if (rc != SQLITE_OK) return out;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(statement, index);
      out.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "NULL");
    }
    EXPECT_EQ(rc, SQLITE_DONE) << sql << ": " << sqlite3_errmsg(database_);
    sqlite3_finalize(statement);
    return out;
  }
  std::string text(const std::string& sql) {
    std::vector<std::string> values = column(sql);
    return values.empty() ? std::string("<no row>") : values.front();
  }
  int64_t integer(const std::string& sql) { return std::stoll(text(sql)); }
  sqlite3* handle() { return database_; }

 private:
  sqlite3* database_ = nullptr;
};

// The Status of a Result, ok included (Result::status() requires an error).
template <typename T>
Status status_of(const Result<T>& result) {
  return result.is_ok() ? Status::ok() : result.status();
}

inline std::unique_ptr<sqlite::SqliteStore> open_migrated(const std::string& path,
                                                          const StoreOptions& options = {}) {
  Result<std::unique_ptr<sqlite::SqliteStore>> store = sqlite::SqliteStore::open(path, options);
  EXPECT_TRUE(store.is_ok()) << store.status().to_string();
  if (!store.is_ok()) return nullptr;
  Status migrated = (*store)->migrate();
  EXPECT_TRUE(migrated.is_ok()) << migrated.to_string();
  return std::move(store).value();
}

inline constexpr int64_t kT0 = 1'700'000'000'000'000;  // unix micros

// Ledger movements written with the primitives, as commands/ writes them.
namespace ledger {

inline Merchant merchant_value(const std::string& name) {
  Merchant merchant;
  merchant.name = name;
  merchant.login = "login-" + name;
  merchant.pass_salt = std::string("\x00\x01salt", 6);  // embedded NUL survives as a blob
  merchant.pass_hash = std::string(32, '\x7f');
  merchant.secret_key_sealed = std::string(60, '\x02');
  merchant.api_username = "user-" + name;
  merchant.api_password_salt = "";
  merchant.api_password_hash = std::string(32, '\x03');
  merchant.ip_allow = {"10.0.0.0/8", "2001:db8::/32"};
  merchant.notification_url = "https://merchant.example/notify";
  merchant.created_at = kT0;
  merchant.updated_at = kT0;
  return merchant;
}

inline Result<int64_t> deposit(WriteTx& tx, const Wallet& wallet, int64_t amount, int64_t at) {
  Result<int64_t> funding = tx.platform_account(wallet.currency, AccountKind::kFunding);
  if (!funding.is_ok()) return funding;
  JournalPosting posting;
  posting.kind = "deposit";
  posting.currency = wallet.currency;
  posting.created_at = at;
  posting.legs = {{*funding, -amount}, {wallet.available_account_id, amount}};
  Result<int64_t> journal = tx.post_journal(posting);
  if (!journal.is_ok()) return journal;
  Result<Wallet> after = tx.wallet_by_id(wallet.merchant_id, wallet.id);
  if (!after.is_ok()) return std::move(after).status();
  WalletTransaction transaction;
  transaction.wallet_id = wallet.id;
  transaction.journal_id = *journal;
  transaction.type = "DEPOSIT";
  transaction.transaction_type = "CREDIT";
  transaction.amount_minor = amount;
  transaction.currency = wallet.currency;
  transaction.balance_after_minor = after->available_minor;
  transaction.reference_type = "manual";
  transaction.remarks = "test deposit";
  transaction.created_at = at;
  return tx.insert_wallet_transaction(transaction);
}

inline Payout payout_value(int64_t merchant_id, const Wallet& wallet, const std::string& external_id,
                           int64_t amount, int64_t fees, int64_t at) {
  static std::atomic<int64_t> counter{0};
  std::string serial = std::to_string(counter.fetch_add(1));
  Payout payout;
  payout.public_id = "pyt_" + std::string(16 - serial.size(), '0') + serial;
  payout.merchant_id = merchant_id;
  payout.wallet_id = wallet.id;
  payout.external_id = external_id;
  payout.amount_minor = amount;
  payout.fees_minor = fees;
  payout.total_minor = amount + fees;
  payout.currency = wallet.currency;
  payout.country = "US";
  payout.beneficiary.first_name = "John";
  payout.beneficiary.last_name = "Doe";
  payout.beneficiary.email = "john.doe@example.com";
  payout.status = PayoutStatus::kCreated;
  payout.created_at = at;
  payout.updated_at = at;
  payout.event_seq = 1;
  return payout;
}

// Creates a payout with its hold, its PAYOUT wallet transaction and its first event.
inline Result<Payout> create_payout(WriteTx& tx, Payout payout) {
  Result<int64_t> cashout_id = tx.insert_payout(payout);
  if (!cashout_id.is_ok()) return std::move(cashout_id).status();
  payout.cashout_id = *cashout_id;
  Result<Wallet> wallet = tx.wallet_by_id(payout.merchant_id, payout.wallet_id);
  if (!wallet.is_ok()) return std::move(wallet).status();
  JournalPosting posting;
  posting.kind = "payout_hold";
  posting.cashout_id = payout.cashout_id;
  posting.currency = payout.currency;
  posting.created_at = payout.created_at;
  posting.legs = {{wallet->available_account_id, -payout.total_minor},
                  {wallet->held_account_id, payout.total_minor}};
  Result<int64_t> journal = tx.post_journal(posting);
  if (!journal.is_ok()) return std::move(journal).status();
  WalletTransaction debit;
  debit.wallet_id = payout.wallet_id;
  debit.journal_id = *journal;
  debit.type = "PAYOUT";
  debit.transaction_type = "DEBIT";
  debit.amount_minor = payout.total_minor;
  debit.currency = payout.currency;
  debit.balance_after_minor = wallet->available_minor - payout.total_minor;
  debit.reference_type = "payout";
  debit.reference_id = payout.public_id;
  debit.created_at = payout.created_at;
  Result<int64_t> debit_id = tx.insert_wallet_transaction(debit);
  if (!debit_id.is_ok()) return std::move(debit_id).status();
  PayoutEvent event;
  event.cashout_id = payout.cashout_id;
  event.seq = 1;
  event.to_status = PayoutStatus::kCreated;
  event.message = "Payout created";
  event.created_at = payout.created_at;
  PAYOUTD_RETURN_IF_ERROR(tx.insert_event(event));
  return payout;
}

// One transition with its movement and event (no outbox).
inline Status transition(WriteTx& tx, int64_t cashout_id, PayoutStatus to, int64_t at) {
  Result<Payout> current = tx.find_payout(0, PayoutRef::by_cashout_id(cashout_id));
  if (!current.is_ok()) return std::move(current).status();
  const Payout& payout = *current;
  StatusChange change;
  change.cashout_id = cashout_id;
  change.from = payout.status;
  change.to = to;
  change.expected_event_seq = payout.event_seq;
  change.at = at;
  if (to == PayoutStatus::kFailed) change.failure_code = 808;
  PAYOUTD_RETURN_IF_ERROR(tx.apply_status_change(change));

  const LedgerMovement movement = ledger_movement_for(payout.status, to);
  if (movement != LedgerMovement::kNone) {
    Result<Wallet> wallet = tx.wallet_by_id(payout.merchant_id, payout.wallet_id);
    if (!wallet.is_ok()) return std::move(wallet).status();
    Result<int64_t> settlement = tx.platform_account(payout.currency, AccountKind::kSettlement);
    if (!settlement.is_ok()) return std::move(settlement).status();
    JournalPosting posting;
    posting.cashout_id = cashout_id;
    posting.currency = payout.currency;
    posting.created_at = at;
    if (movement == LedgerMovement::kPostHoldToSettlement) {
      posting.kind = "payout_post";
      posting.legs = {{wallet->held_account_id, -payout.total_minor},
                      {*settlement, payout.total_minor}};
    } else if (movement == LedgerMovement::kRefundHeldToAvailable) {
      posting.kind = "payout_refund";
      posting.legs = {{wallet->held_account_id, -payout.total_minor},
                      {wallet->available_account_id, payout.total_minor}};
    } else {
      posting.kind = "payout_refund";
      posting.legs = {{*settlement, -payout.total_minor},
                      {wallet->available_account_id, payout.total_minor}};
    }
    Result<int64_t> journal = tx.post_journal(posting);
    if (!journal.is_ok()) return std::move(journal).status();
  }
  PayoutEvent event;
  event.cashout_id = cashout_id;
  event.seq = payout.event_seq + 1;
  event.from_status = payout.status;
  event.to_status = to;
  event.actor = Actor::kOperator;
  event.message = "test transition";
  event.created_at = at;
  return tx.insert_event(event);
}

}  // namespace ledger

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("store.db");
    store_ = open_migrated(path_);
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    if (store_) store_->close();
  }

  int64_t add_merchant(const std::string& name) {
    int64_t id = 0;
    Status status = store_->write([&](WriteTx& tx) -> Status {
      Result<int64_t> inserted = tx.insert_merchant(ledger::merchant_value(name));
      if (!inserted.is_ok()) return std::move(inserted).status();
      id = *inserted;
      return Status::ok();
    });
    EXPECT_TRUE(status.is_ok()) << status.to_string();
    return id;
  }

  Wallet add_wallet(int64_t merchant_id, const std::string& currency, int64_t deposit_minor) {
    Wallet wallet;
    Status status = store_->write([&](WriteTx& tx) -> Status {
      Result<Wallet> inserted = tx.insert_wallet(merchant_id, currency, kT0);
      if (!inserted.is_ok()) return std::move(inserted).status();
      if (deposit_minor > 0) {
        Result<int64_t> deposited = ledger::deposit(tx, *inserted, deposit_minor, kT0);
        if (!deposited.is_ok()) return std::move(deposited).status();
      }
      Result<Wallet> after = tx.wallet_by_id(merchant_id, inserted->id);
      if (!after.is_ok()) return std::move(after).status();
      wallet = *after;
      return Status::ok();
    });
    EXPECT_TRUE(status.is_ok()) << status.to_string();
    return wallet;
  }

  Payout add_payout(int64_t merchant_id, const Wallet& wallet, const std::string& external_id,
                    int64_t amount, int64_t fees = 0, int64_t at = kT0) {
    Payout created;
    Status status = store_->write([&](WriteTx& tx) -> Status {
      Result<Payout> payout = ledger::create_payout(
          tx, ledger::payout_value(merchant_id, wallet, external_id, amount, fees, at));
      if (!payout.is_ok()) return std::move(payout).status();
      created = *payout;
      return Status::ok();
    });
    EXPECT_TRUE(status.is_ok()) << status.to_string();
    return created;
  }

  Status move(int64_t cashout_id, PayoutStatus to, int64_t at = kT0 + 1000) {
    return store_->write(
        [&](WriteTx& tx) { return ledger::transition(tx, cashout_id, to, at); });
  }

  Result<Wallet> wallet(int64_t merchant_id, int64_t wallet_id) {
    std::optional<Wallet> found;
    Status status = store_->read([&](ReadTx& tx) -> Status {
      Result<Wallet> result = tx.wallet_by_id(merchant_id, wallet_id);
      if (!result.is_ok()) return std::move(result).status();
      found = *result;
      return Status::ok();
    });
    if (!status.is_ok()) return status;
    return *found;
  }

  Result<Payout> payout(int64_t merchant_id, const PayoutRef& ref) {
    std::optional<Payout> found;
    Status status = store_->read([&](ReadTx& tx) -> Status {
      Result<Payout> result = tx.find_payout(merchant_id, ref);
      if (!result.is_ok()) return std::move(result).status();
      found = *result;
      return Status::ok();
    });
    if (!status.is_ok()) return status;
    return *found;
  }

  LedgerReport check() {
    LedgerReport report;
    Status status = store_->read([&](ReadTx& tx) -> Status {
      Result<LedgerReport> result = tx.check_ledger();
      if (!result.is_ok()) return std::move(result).status();
      report = *result;
      return Status::ok();
    });
    EXPECT_TRUE(status.is_ok()) << status.to_string();
    return report;
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<sqlite::SqliteStore> store_;
};

}  // namespace payoutd::testing
