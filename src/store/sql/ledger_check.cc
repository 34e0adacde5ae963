// `ledger check`: the six invariants of domain.md as set-based SQL over the whole database.
//
// Each invariant is one or more queries that return one human-readable line per violation; the
// violation count is the sum of their row counts and the first ten lines are the samples.
#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/sql/transactions.h"

namespace payoutd::sql::queries {
namespace {

constexpr size_t kMaxSamples = 10;

struct InvariantCheck {
  int number;
  std::string_view name;
  std::vector<std::string_view> queries;
};

// Statuses whose payouts still hold their total_amount (status_holds_funds()).
#define PAYOUTD_HOLDING_STATUSES \
  "('created', 'queued', 'on_hold', 'processing', 'settling', 'action_required')"

const std::array<InvariantCheck, 6>& invariant_checks() {
  static const std::array<InvariantCheck, 6> checks = {{
      {1,
       "journal transactions balance",
       {
           // Legs of one journal sum to zero per currency.
           "SELECT 'journal ' || journal_id || ' sums to ' || total || ' ' || currency "
           "FROM (SELECT journal_id, currency, sum(amount) AS total FROM journal_entries "
           "GROUP BY journal_id, currency) AS sums WHERE total <> 0",
           // A journal has at least two legs.
           "SELECT 'journal ' || j.id || ' has ' || count(e.id) || ' entries' "
           "FROM journal_transactions j LEFT JOIN journal_entries e ON e.journal_id = j.id "
           "GROUP BY j.id HAVING count(e.id) < 2",
           // An entry is in its account's currency and in its journal's currency.
           "SELECT 'journal entry ' || e.id || ' is in ' || e.currency || ' but account ' || a.id "
           "|| ' is in ' || a.currency FROM journal_entries e JOIN accounts a ON a.id = e.account_id "
           "WHERE e.currency <> a.currency",
           "SELECT 'journal entry ' || e.id || ' is in ' || e.currency || ' but journal ' || j.id "
           "|| ' is in ' || j.currency FROM journal_entries e "
           "JOIN journal_transactions j ON j.id = e.journal_id WHERE e.currency <> j.currency",
       }},
      {2,
       "account balances equal the sum of their entries",
       {
           "SELECT 'account ' || a.id || ' (' || a.kind || ' ' || a.currency || ') has balance ' "
           "|| a.balance || ' but its entries sum to ' || coalesce(s.total, 0) "
           "FROM accounts a LEFT JOIN (SELECT account_id, sum(amount) AS total "
           "FROM journal_entries GROUP BY account_id) s ON s.account_id = a.id "
           "WHERE a.balance <> coalesce(s.total, 0)",
       }},
      {3,
       "held equals the total of non-terminal payouts",
       {
           "SELECT 'wallet ' || w.id || ' holds ' || coalesce(CAST(h.balance AS TEXT), 'nothing (no held account)') "
           "|| ' but its non-terminal payouts total ' || coalesce(p.total, 0) "
           "FROM wallets w "
           "LEFT JOIN accounts h ON h.wallet_id = w.id AND h.kind = 'held' "
           "LEFT JOIN (SELECT wallet_id, sum(total_amount) AS total FROM payouts "
           "WHERE status IN " PAYOUTD_HOLDING_STATUSES " GROUP BY wallet_id) p "
           "ON p.wallet_id = w.id "
           "WHERE h.id IS NULL OR h.balance <> coalesce(p.total, 0)",
       }},
      {4,
       "each payout held once, posted and refunded as its status requires",
       {
           "SELECT 'payout ' || cashout_id || ' (' || status || ') has ' || holds || ' hold, ' "
           "|| posts || ' post and ' || refunds || ' refund movements' "
           "FROM (SELECT p.cashout_id, p.status, "
           "coalesce(m.holds, 0) AS holds, coalesce(m.posts, 0) AS posts, "
           "coalesce(m.refunds, 0) AS refunds FROM payouts p LEFT JOIN "
           "(SELECT cashout_id, sum(CASE WHEN kind = 'payout_hold' THEN 1 ELSE 0 END) AS holds, "
           "sum(CASE WHEN kind = 'payout_post' THEN 1 ELSE 0 END) AS posts, "
           "sum(CASE WHEN kind = 'payout_refund' THEN 1 ELSE 0 END) AS refunds "
           "FROM journal_transactions WHERE cashout_id IS NOT NULL GROUP BY cashout_id) m "
           "ON m.cashout_id = p.cashout_id) AS counted "
           "WHERE NOT (holds = 1 AND refunds <= 1 AND CASE "
           "WHEN status IN ('cancelled', 'expired') THEN refunds = 1 AND posts = 0 "
           // failed before completion: refund from held; after completion (reversal): post+refund.
           "WHEN status = 'failed' THEN refunds = 1 "
           "WHEN status = 'completed' THEN posts = 1 AND refunds = 0 "
           "ELSE posts = 0 AND refunds = 0 END)",
           // A movement moves exactly the payout's total_amount.
           "SELECT 'payout ' || p.cashout_id || ' ' || j.kind || ' journal ' || j.id "
           "|| ' moves ' || coalesce((SELECT sum(e.amount) FROM journal_entries e "
           "WHERE e.journal_id = j.id AND e.amount > 0), 0) "
           "|| ' instead of total_amount ' || p.total_amount "
           "FROM journal_transactions j JOIN payouts p ON p.cashout_id = j.cashout_id "
           "WHERE coalesce((SELECT sum(e.amount) FROM journal_entries e "
           "WHERE e.journal_id = j.id AND e.amount > 0), 0) <> p.total_amount",
           // Money moved for a payout by a journal that is not one of its movements (the schema
           // refuses such a row; checked because the check is what proves the schema held).
           "SELECT 'journal ' || id || ' (' || kind || ') moves money for payout ' "
           "|| cashout_id || ' but is not a payout movement' "
           "FROM journal_transactions WHERE cashout_id IS NOT NULL "
           "AND kind NOT IN ('payout_hold', 'payout_post', 'payout_refund')",
       }},
      {5,
       "no available balance is negative",
       {
           "SELECT 'account ' || id || ' (available ' || currency || ', wallet ' "
           "|| coalesce(CAST(wallet_id AS TEXT), '-') || ') has balance ' || balance "
           "FROM accounts WHERE kind = 'available' AND balance < 0",
       }},
      {6,
       "payout events are contiguous and end in the payout's status",
       {
           "SELECT 'payout ' || p.cashout_id || ' has ' || coalesce(e.n, 0) "
           "|| ' events (highest seq ' || coalesce(e.max_seq, 0) || ') but event_seq ' "
           "|| p.event_seq FROM payouts p LEFT JOIN (SELECT cashout_id, count(*) AS n, "
           "max(seq) AS max_seq FROM payout_events GROUP BY cashout_id) e "
           "ON e.cashout_id = p.cashout_id "
           "WHERE coalesce(e.n, 0) = 0 OR e.n <> e.max_seq OR e.n <> p.event_seq",
           "SELECT 'payout ' || p.cashout_id || ' is ' || p.status || ' but its last event (seq ' "
           "|| e.seq || ') says ' || e.to_status FROM payouts p JOIN payout_events e "
           "ON e.cashout_id = p.cashout_id AND e.seq = (SELECT max(seq) FROM payout_events x "
           "WHERE x.cashout_id = p.cashout_id) WHERE e.to_status <> p.status",
           // The first event creates the payout; each later one starts where the previous ended.
           "SELECT 'payout ' || cashout_id || ' first event goes from ' "
           "|| coalesce(from_status, 'null') || ' to ' || to_status "
           "FROM payout_events WHERE seq = 1 AND (from_status IS NOT NULL OR to_status <> 'created')",
           "SELECT 'payout ' || e.cashout_id || ' event ' || e.seq || ' starts from ' "
           "|| coalesce(e.from_status, 'null') || ' but event ' || prev.seq || ' ended in ' "
           "|| prev.to_status FROM payout_events e JOIN payout_events prev "
           "ON prev.cashout_id = e.cashout_id AND prev.seq = e.seq - 1 "
           "WHERE e.from_status IS DISTINCT FROM prev.to_status",
       }},
  }};
  return checks;
}

#undef PAYOUTD_HOLDING_STATUSES

Result<int64_t> count_violations(Connection& connection, std::string_view query) {
  Result<StatementLease> statement =
      connection.prepare("SELECT count(*) FROM (" + std::string(query) + ") AS violations");
  if (!statement.is_ok()) return std::move(statement).status();
  PAYOUTD_ASSIGN_OR_RETURN(bool row, (*statement)->step());
  PAYOUTD_ASSERT(row);
  return (*statement)->column_int64(0);
}

Status collect_samples(Connection& connection, std::string_view query,
                       std::vector<std::string>& samples) {
  if (samples.size() >= kMaxSamples) return Status::ok();
  Result<StatementLease> statement =
      connection.prepare("SELECT * FROM (" + std::string(query) + ") AS violations LIMIT $1");
  if (!statement.is_ok()) return std::move(statement).status();
  (*statement)->bind(1, static_cast<int64_t>(kMaxSamples - samples.size()));
  while (samples.size() < kMaxSamples) {
    PAYOUTD_ASSIGN_OR_RETURN(bool row, (*statement)->step());
    if (!row) break;
    samples.push_back((*statement)->column_text(0));
  }
  return Status::ok();
}

}  // namespace

Result<LedgerReport> check_ledger(Connection& connection) {
  LedgerReport report;
  for (const InvariantCheck& check : invariant_checks()) {
    InvariantResult result;
    result.number = check.number;
    result.name = std::string(check.name);
    for (std::string_view query : check.queries) {
      PAYOUTD_ASSIGN_OR_RETURN(int64_t count, count_violations(connection, query));
      result.violations += count;
      if (count > 0) PAYOUTD_RETURN_IF_ERROR(collect_samples(connection, query, result.samples));
    }
    report.invariants.push_back(std::move(result));
  }
  return report;
}

}  // namespace payoutd::sql::queries
