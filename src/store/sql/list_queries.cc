#include "store/sql/list_queries.h"

#include <array>
#include <utility>

#include "core/payout_status.h"

namespace payoutd::sql {
namespace {

constexpr std::string_view kPayoutColumns =
    "cashout_id, public_id, merchant_id, wallet_id, external_id, amount, fees, total_amount, "
    "currency, country, beneficiary_first_name, beneficiary_last_name, beneficiary_email, "
    "beneficiary_phone, beneficiary_country, beneficiary_document_id, beneficiary_document_type, "
    "beneficiary_bank_code, beneficiary_bank_account, beneficiary_bank_branch, "
    "beneficiary_account_type, beneficiary_routing_number, beneficiary_address, beneficiary_city, "
    "beneficiary_postal_code, beneficiary_birthdate, description, metadata, notification_url, "
    "status, failure_code, failure_reason, bank_reference_id, connector, connector_reference, "
    "created_at, queued_at, submitted_at, completed_at, failed_at, cancelled_at, expired_at, "
    "cancel_requested_at, updated_at, event_seq, request_fingerprint";

// Wallet updated_at shows the latest balance change too, not only changes to the wallet row.
constexpr std::string_view kWalletSelect =
    "SELECT w.id, w.merchant_id, w.currency, w.is_active, w.created_at, "
    // The greatest of the three (written as CASE: SQLite's max(a, b, c) is PostgreSQL's
    // greatest(), and neither has the other's).
    "CASE WHEN w.updated_at >= a.updated_at AND w.updated_at >= h.updated_at THEN w.updated_at "
    "WHEN a.updated_at >= h.updated_at THEN a.updated_at ELSE h.updated_at END, "
    "a.id, a.balance, h.id, h.balance "
    "FROM wallets w "
    "JOIN accounts a ON a.wallet_id = w.id AND a.kind = 'available' "
    "JOIN accounts h ON h.wallet_id = w.id AND h.kind = 'held'";

constexpr std::string_view kWalletTransactionSelect =
    "SELECT t.id, t.wallet_id, t.journal_id, t.type, t.transaction_type, t.amount, t.currency, "
    "t.balance_after, t.reference_type, t.reference_id, t.remarks, t.created_at "
    "FROM wallet_transactions t JOIN wallets w ON w.id = t.wallet_id";

// Accumulates "AND ..." terms and their positional parameters.
class WhereBuilder {
 public:
  // Registers a value and returns its placeholder ($N); a placeholder may appear in several terms.
  std::string parameter(SqlValue value) {
    values_.push_back(std::move(value));
    std::string placeholder = "$";
    placeholder += std::to_string(values_.size());
    return placeholder;
  }
  void add(std::string term) {
    where_ += where_.empty() ? " WHERE " : " AND ";
    where_ += term;
  }
  const std::string& where() const { return where_; }
  std::vector<SqlValue> take_values() { return std::move(values_); }
  size_t value_count() const { return values_.size(); }

 private:
  std::string where_;
  std::vector<SqlValue> values_;
};

ListSql finish(std::string select_prefix, std::string count_prefix, WhereBuilder& where,
               const std::string& order_by, int page, int limit) {
  ListSql sql;
  const size_t next = where.value_count() + 1;
  sql.select_sql = std::move(select_prefix) + where.where() + " ORDER BY " + order_by +
                   " LIMIT $" + std::to_string(next) + " OFFSET $" + std::to_string(next + 1);
  sql.count_sql = std::move(count_prefix) + where.where();
  sql.filter_values = where.take_values();
  sql.limit = limit;
  sql.offset = static_cast<int64_t>(page - 1) * limit;
  return sql;
}

Status require_merchant(int64_t merchant_id) {
  if (merchant_id <= 0) {
    return Status::invalid_argument("merchant_id", "listings are scoped to one merchant");
  }
  return Status::ok();
}

}  // namespace

Status validate_page(int page, int limit) {
  if (page < 1) return Status::invalid_argument("page", "page must be at least 1");
  if (limit < 1 || limit > kMaxPageSize) {
    return Status::invalid_argument(
        "limit", "limit must be between 1 and " + std::to_string(kMaxPageSize));
  }
  if (static_cast<int64_t>(page - 1) * limit > kMaxListOffset) {
    return Status::invalid_argument("page", "page is too deep; narrow the filters instead");
  }
  return Status::ok();
}

std::string_view payout_columns() { return kPayoutColumns; }
std::string_view wallet_select() { return kWalletSelect; }

Result<ListSql> build_payout_list(const PayoutQuery& query) {
  PAYOUTD_RETURN_IF_ERROR(require_merchant(query.merchant_id));
  PAYOUTD_RETURN_IF_ERROR(validate_page(query.page, query.limit));

  WhereBuilder where;
  const std::string merchant = where.parameter(query.merchant_id);
  if (query.search) {
    // A search is selective by nature (an exact id or e-mail): drive it from the two indexes that
    // answer it, then sort the few matches. Written as an IN list over rowids, with the merchant
    // term made unindexable (+merchant_id), so the planner cannot prefer walking the merchant's
    // whole created_at index in ORDER BY order, which it otherwise does without statistics.
    const std::string value = where.parameter(*query.search);
    where.add("+merchant_id = " + merchant);
    where.add("cashout_id IN (SELECT cashout_id FROM payouts WHERE merchant_id = " + merchant +
              " AND external_id = " + value +
              " UNION ALL SELECT cashout_id FROM payouts WHERE merchant_id = " + merchant +
              " AND beneficiary_email = " + value + ")");
  } else {
    where.add("merchant_id = " + merchant);
  }
  if (query.statuses) {
    std::vector<std::string> selected;
    for (size_t i = 0; i < kAllPayoutStatuses.size(); ++i) {
      if ((*query.statuses)[i]) selected.emplace_back(status_name(kAllPayoutStatuses[i]));
    }
    if (selected.empty()) {
      where.add("1 = 0");  // no status selected: nothing matches
    } else if (selected.size() < kAllPayoutStatuses.size()) {
      std::string list;
      for (std::string& name : selected) {
        if (!list.empty()) list += ", ";
        list += where.parameter(std::move(name));
      }
      where.add("status IN (" + list + ")");
    }
    // Every status selected is the same as no status filter.
  }
  if (query.currency) where.add("currency = " + where.parameter(*query.currency));
  if (query.external_id) where.add("external_id = " + where.parameter(*query.external_id));
  if (query.created_from) where.add("created_at >= " + where.parameter(*query.created_from));
  if (query.created_to) where.add("created_at <= " + where.parameter(*query.created_to));

  const std::string direction = query.descending ? " DESC" : " ASC";
  std::string order_by;
  switch (query.sort_key) {
    case PayoutSortKey::kCreatedAt:
      order_by = "created_at" + direction + ", cashout_id" + direction;
      break;
    case PayoutSortKey::kAmount:
      order_by = "amount" + direction + ", cashout_id" + direction;
      break;
    case PayoutSortKey::kStatus:
      // Within one status, newest (or oldest) first: the (merchant, status, created_at) index.
      order_by = "status" + direction + ", created_at" + direction + ", cashout_id" + direction;
      break;
  }
  return finish("SELECT " + std::string(kPayoutColumns) + " FROM payouts",
                "SELECT count(*) FROM payouts", where, order_by, query.page, query.limit);
}

Result<ListSql> build_wallet_transaction_list(const WalletTransactionQuery& query) {
  PAYOUTD_RETURN_IF_ERROR(require_merchant(query.merchant_id));
  PAYOUTD_RETURN_IF_ERROR(validate_page(query.page, query.limit));
  static constexpr std::array<std::string_view, 4> kTypes = {"DEPOSIT", "ADJUSTMENT", "PAYOUT",
                                                             "PAYOUT_REFUND"};
  if (query.type) {
    bool known = false;
    for (std::string_view type : kTypes) known = known || type == *query.type;
    if (!known) {
      return Status::invalid_argument(
          "type", "type must be DEPOSIT, ADJUSTMENT, PAYOUT or PAYOUT_REFUND");
    }
  }
  if (query.transaction_type && *query.transaction_type != "CREDIT" &&
      *query.transaction_type != "DEBIT") {
    return Status::invalid_argument("transaction_type", "transaction_type must be CREDIT or DEBIT");
  }

  WhereBuilder where;
  where.add("w.merchant_id = " + where.parameter(query.merchant_id));
  if (query.wallet_id) where.add("t.wallet_id = " + where.parameter(*query.wallet_id));
  if (query.type) where.add("t.type = " + where.parameter(*query.type));
  if (query.transaction_type) {
    where.add("t.transaction_type = " + where.parameter(*query.transaction_type));
  }
  if (query.reference_id) where.add("t.reference_id = " + where.parameter(*query.reference_id));
  return finish(std::string(kWalletTransactionSelect),
                "SELECT count(*) FROM wallet_transactions t JOIN wallets w ON w.id = t.wallet_id",
                where, "t.id DESC", query.page, query.limit);
}

Result<ListSql> build_wallet_list(const WalletQuery& query) {
  PAYOUTD_RETURN_IF_ERROR(require_merchant(query.merchant_id));
  PAYOUTD_RETURN_IF_ERROR(validate_page(query.page, query.limit));
  WhereBuilder where;
  where.add("w.merchant_id = " + where.parameter(query.merchant_id));
  if (query.currency) where.add("w.currency = " + where.parameter(*query.currency));
  return finish(std::string(kWalletSelect), "SELECT count(*) FROM wallets w", where, "w.id ASC",
                query.page, query.limit);
}

}  // namespace payoutd::sql
