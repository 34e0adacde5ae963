// Port: wallets, their accounts, the double-entry journal and the wallet transactions the
// merchant sees; the ledger check.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/types.h"
#include "store/ports/paging.h"

namespace payoutd {

struct WalletTransactionQuery {
  int64_t merchant_id = 0;  // required
  std::optional<int64_t> wallet_id;
  std::optional<std::string> type;              // DEPOSIT | ADJUSTMENT | PAYOUT | PAYOUT_REFUND
  std::optional<std::string> transaction_type;  // CREDIT | DEBIT
  std::optional<std::string> reference_id;
  int page = 1;
  int limit = 20;
};

using WalletTransactionPage = Page<WalletTransaction>;  // items newest first

struct WalletQuery {
  int64_t merchant_id = 0;
  std::optional<std::string> currency;
  int page = 1;
  int limit = 20;
};

using WalletPage = Page<Wallet>;

// One ledger invariant of domain.md and what `ledger check` found for it.
struct InvariantResult {
  int number = 0;          // 1..6 as numbered in domain.md
  std::string name;        // "journal transactions balance", ...
  int64_t violations = 0;  // 0 = holds
  std::vector<std::string> samples;  // up to 10 human-readable violations
};

struct LedgerReport {
  std::vector<InvariantResult> invariants;  // all six, in order
  bool all_hold() const {
    for (const auto& invariant : invariants) {
      if (invariant.violations != 0) return false;
    }
    return !invariants.empty();
  }
};

class LedgerReads {
 public:
  virtual ~LedgerReads() = default;
  virtual Result<Wallet> wallet_by_id(int64_t merchant_id, int64_t wallet_id) = 0;
  virtual Result<Wallet> wallet_by_currency(int64_t merchant_id, std::string_view currency) = 0;
  virtual Result<WalletPage> list_wallets(const WalletQuery& query) = 0;
  virtual Result<WalletTransactionPage> list_wallet_transactions(
      const WalletTransactionQuery& query) = 0;
  // All six invariants of domain.md, computed with set-based SQL over the whole database.
  virtual Result<LedgerReport> check_ledger() = 0;
};

class LedgerWrites : public virtual LedgerReads {
 public:
  // Creates the wallet with its available and held accounts. kAlreadyExists if one exists.
  virtual Result<Wallet> insert_wallet(int64_t merchant_id, std::string_view currency,
                                       int64_t at) = 0;
  // The platform's funding or settlement account for a currency, created on first use.
  virtual Result<int64_t> platform_account(std::string_view currency, AccountKind kind) = 0;
  // Inserts the journal transaction and its legs and applies them to account balances.
  // REQUIRES: legs sum to zero; posting.cashout_id is set exactly when posting.kind is a payout
  // movement (is_payout_movement_journal). An `available` balance going negative violates a CHECK
  // constraint and returns kInsufficientFunds; a payout movement the payout already has (a second
  // hold, post or refund) violates the unique (cashout_id, kind) index and returns kAlreadyExists.
  virtual Result<int64_t> post_journal(const JournalPosting& posting) = 0;
  virtual Result<int64_t> insert_wallet_transaction(const WalletTransaction& transaction) = 0;
};

}  // namespace payoutd
