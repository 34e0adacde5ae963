// Read queries shared by ReadTx (pooled read connection) and WriteTx (the writer's connection).
#include <algorithm>
#include <array>
#include <functional>
#include <string>
#include <utility>
#include <variant>

#include "store/sql/list_queries.h"
#include "store/sql/transactions.h"

namespace payoutd::sql {

namespace queries {
namespace {

constexpr std::string_view kMerchantSelect =
    "SELECT id, name, status, login, pass_salt, pass_hash, secret_key_sealed, api_username, "
    "api_password_salt, api_password_hash, ip_allow, notification_url, created_at, updated_at "
    "FROM merchants";

// The text of `select` between `begin` and `end` (a SELECT's column list). REQUIRES: both occur.
std::string_view listed_between(std::string_view select, std::string_view begin,
                                std::string_view end) {
  PAYOUTD_ASSERT(select.starts_with(begin));
  const size_t stop = select.find(end);
  PAYOUTD_ASSERT(stop != std::string_view::npos);
  return select.substr(begin.size(), stop - begin.size());
}

// A row's columns from `first` on, numbered from 0: the read_* functions below read one entity's
// columns of a row that holds several (group_prefetch). Reading only.
class ColumnsFrom final : public Statement {
 public:
  ColumnsFrom(const Statement& row, int first) : row_(row), first_(first) {}
  void bind(int, int64_t) override { PAYOUTD_ASSERT(false && "ColumnsFrom is read-only"); }
  void bind(int, std::string_view) override { PAYOUTD_ASSERT(false && "ColumnsFrom is read-only"); }
  void bind_blob(int, std::string_view) override {
    PAYOUTD_ASSERT(false && "ColumnsFrom is read-only");
  }
  void bind_null(int, SqlType) override { PAYOUTD_ASSERT(false && "ColumnsFrom is read-only"); }
  Result<bool> step() override {
    PAYOUTD_ASSERT(false && "ColumnsFrom is read-only");
    return false;
  }
  bool column_is_null(int column) const override { return row_.column_is_null(first_ + column); }
  int64_t column_int64(int column) const override { return row_.column_int64(first_ + column); }
  std::string column_text(int column) const override { return row_.column_text(first_ + column); }
  std::string column_blob(int column) const override { return row_.column_blob(first_ + column); }
  const DatabaseError& last_error() const override { return row_.last_error(); }
  int64_t changes() const override { return 0; }
  void reset() override { PAYOUTD_ASSERT(false && "ColumnsFrom is read-only"); }

 private:
  const Statement& row_;
  const int first_;
};

// The beneficiary fields in the column order of payout_columns() (columns 10..25).
constexpr std::array<std::optional<std::string> Beneficiary::*, 16> kBeneficiaryFields = {
    &Beneficiary::first_name,  &Beneficiary::last_name,     &Beneficiary::email,
    &Beneficiary::phone,       &Beneficiary::country,       &Beneficiary::document_id,
    &Beneficiary::document_type, &Beneficiary::bank_code,   &Beneficiary::bank_account,
    &Beneficiary::bank_branch, &Beneficiary::account_type,  &Beneficiary::routing_number,
    &Beneficiary::address,     &Beneficiary::city,          &Beneficiary::postal_code,
    &Beneficiary::birthdate,
};

std::vector<std::string> split_cidrs(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    if (comma > start) out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

Result<Merchant> read_merchant(const Statement& row) {
  Merchant merchant;
  merchant.id = row.column_int64(0);
  merchant.name = row.column_text(1);
  const std::string status = row.column_text(2);
  if (status == "active") {
    merchant.status = MerchantStatus::kActive;
  } else if (status == "disabled") {
    merchant.status = MerchantStatus::kDisabled;
  } else {
    return Status::error(ErrorKind::kCorruption, "merchant " + std::to_string(merchant.id) +
                                                     " has unknown status '" + status + "'");
  }
  merchant.login = row.column_text(3);
  merchant.pass_salt = row.column_blob(4);
  merchant.pass_hash = row.column_blob(5);
  merchant.secret_key_sealed = row.column_blob(6);
  merchant.api_username = row.column_text(7);
  merchant.api_password_salt = row.column_blob(8);
  merchant.api_password_hash = row.column_blob(9);
  merchant.ip_allow = split_cidrs(row.column_text(10));
  merchant.notification_url = row.column_text(11);
  merchant.created_at = row.column_int64(12);
  merchant.updated_at = row.column_int64(13);
  return merchant;
}

Result<Merchant> one_merchant(Connection& connection, std::string_view sql,
                              const std::function<void(Statement&)>& bind) {
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, connection.prepare(sql));
  bind(*statement);
  PAYOUTD_ASSIGN_OR_RETURN(bool row, statement->step());
  if (!row) return Status::not_found("merchant not found");
  return read_merchant(*statement);
}

Wallet read_wallet(const Statement& row) {
  Wallet wallet;
  wallet.id = row.column_int64(0);
  wallet.merchant_id = row.column_int64(1);
  wallet.currency = row.column_text(2);
  wallet.is_active = row.column_int64(3) != 0;
  wallet.created_at = row.column_int64(4);
  wallet.updated_at = row.column_int64(5);
  wallet.available_account_id = row.column_int64(6);
  wallet.available_minor = row.column_int64(7);
  wallet.held_account_id = row.column_int64(8);
  wallet.held_minor = row.column_int64(9);
  return wallet;
}

Result<PayoutStatus> parse_stored_status(const std::string& name, int64_t cashout_id) {
  std::optional<PayoutStatus> status = parse_status_name(name);
  if (!status) {
    return Status::error(ErrorKind::kCorruption, "payout " + std::to_string(cashout_id) +
                                                     " has unknown status '" + name + "'");
  }
  return *status;
}

std::optional<int> optional_int(const Statement& row, int column) {
  std::optional<int64_t> value = row.column_optional_int64(column);
  if (!value) return std::nullopt;
  return static_cast<int>(*value);
}

Result<Payout> read_payout(const Statement& row) {
  Payout payout;
  payout.cashout_id = row.column_int64(0);
  payout.public_id = row.column_text(1);
  payout.merchant_id = row.column_int64(2);
  payout.wallet_id = row.column_int64(3);
  payout.external_id = row.column_text(4);
  payout.amount_minor = row.column_int64(5);
  payout.fees_minor = row.column_int64(6);
  payout.total_minor = row.column_int64(7);
  payout.currency = row.column_text(8);
  payout.country = row.column_text(9);
  int column = 10;
  for (auto field : kBeneficiaryFields) payout.beneficiary.*field = row.column_optional_text(column++);
  payout.description = row.column_optional_text(26);
  payout.metadata_json = row.column_text(27);
  payout.notification_url = row.column_optional_text(28);
  PAYOUTD_ASSIGN_OR_RETURN(PayoutStatus status,
                           parse_stored_status(row.column_text(29), payout.cashout_id));
  payout.status = status;
  payout.failure_code = optional_int(row, 30);
  payout.failure_reason = row.column_optional_text(31);
  payout.bank_reference_id = row.column_optional_text(32);
  payout.connector = row.column_optional_text(33);
  payout.connector_reference = row.column_optional_text(34);
  payout.created_at = row.column_int64(35);
  payout.queued_at = row.column_optional_int64(36);
  payout.submitted_at = row.column_optional_int64(37);
  payout.completed_at = row.column_optional_int64(38);
  payout.failed_at = row.column_optional_int64(39);
  payout.cancelled_at = row.column_optional_int64(40);
  payout.expired_at = row.column_optional_int64(41);
  payout.cancel_requested_at = row.column_optional_int64(42);
  payout.updated_at = row.column_int64(43);
  payout.event_seq = static_cast<int32_t>(row.column_int64(44));
  payout.request_fingerprint = row.column_text(45);
  return payout;
}

void bind_values(Statement& statement, const std::vector<SqlValue>& values) {
  int index = 1;
  for (const SqlValue& value : values) {
    if (const int64_t* number = std::get_if<int64_t>(&value)) {
      statement.bind(index++, *number);
    } else {
      statement.bind(index++, std::get<std::string>(value));
    }
  }
}

Result<int64_t> count_rows(Connection& connection, const ListSql& sql) {
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, connection.prepare(sql.count_sql));
  bind_values(*statement, sql.filter_values);
  PAYOUTD_ASSIGN_OR_RETURN(bool row, statement->step());
  PAYOUTD_ASSERT(row);  // COUNT(*) always yields one row
  return statement->column_int64(0);
}

// Runs a listing: the page of rows (read by `read_row`) and the total count.
template <typename T, typename ReadRow>
Result<std::pair<std::vector<T>, int64_t>> run_list(Connection& connection, const ListSql& sql,
                                                    ReadRow read_row) {
  std::vector<T> items;
  {
    PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, connection.prepare(sql.select_sql));
    bind_values(*statement, sql.filter_values);
    const int next = static_cast<int>(sql.filter_values.size()) + 1;
    statement->bind(next, sql.limit);
    statement->bind(next + 1, sql.offset);
    items.reserve(static_cast<size_t>(sql.limit));
    for (int64_t i = 0; i <= sql.limit; ++i) {  // bounded by LIMIT
      PAYOUTD_ASSIGN_OR_RETURN(bool row, statement->step());
      if (!row) break;
      PAYOUTD_ASSIGN_OR_RETURN(T item, read_row(*statement));
      items.push_back(std::move(item));
    }
  }
  PAYOUTD_ASSIGN_OR_RETURN(int64_t total, count_rows(connection, sql));
  return std::make_pair(std::move(items), total);
}

}  // namespace

Result<Merchant> merchant_by_id(Connection& connection, int64_t merchant_id) {
  static const std::string sql = std::string(kMerchantSelect) + " WHERE id = $1";
  return one_merchant(connection, sql, [&](Statement& s) { s.bind(1, merchant_id); });
}

Result<Merchant> merchant_by_login(Connection& connection, std::string_view login) {
  static const std::string sql = std::string(kMerchantSelect) + " WHERE login = $1";
  return one_merchant(connection, sql, [&](Statement& s) { s.bind(1, login); });
}

Result<Merchant> merchant_by_api_username(Connection& connection, std::string_view username) {
  static const std::string sql = std::string(kMerchantSelect) + " WHERE api_username = $1";
  return one_merchant(connection, sql, [&](Statement& s) { s.bind(1, username); });
}

Result<Merchant> merchant_by_access_token(Connection& connection, std::string_view token_hash,
                                          int64_t now) {
  if (token_hash.size() != 32) {
    return Status::invalid_argument("token_hash", "token_hash must be a 32-byte SHA-256 digest");
  }
  // The token row by its primary key, then the merchant by its: two index lookups, one statement.
  static const std::string sql =
      std::string(kMerchantSelect) +
      " WHERE id = (SELECT merchant_id FROM api_tokens WHERE token_hash = $1 AND kind = 'access' "
      "AND revoked_at IS NULL AND expires_at > $2)";
  return one_merchant(connection, sql, [&](Statement& s) {
    s.bind_blob(1, token_hash);
    s.bind(2, now);
  });
}

Result<std::vector<Merchant>> list_merchants(Connection& connection) {
  static const std::string sql = std::string(kMerchantSelect) + " ORDER BY id";
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, connection.prepare(sql));
  std::vector<Merchant> merchants;
  while (true) {
    PAYOUTD_ASSIGN_OR_RETURN(bool row, statement->step());
    if (!row) break;
    PAYOUTD_ASSIGN_OR_RETURN(Merchant merchant, read_merchant(*statement));
    merchants.push_back(std::move(merchant));
  }
  return merchants;
}

Result<FeeSchedule> fee_schedule(Connection& connection, int64_t merchant_id,
                                 std::string_view currency) {
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement,
                           connection.prepare("SELECT fixed_minor, percent_bps FROM merchant_fees "
                                              "WHERE merchant_id = $1 AND currency = $2"));
  statement->bind(1, merchant_id);
  statement->bind(2, currency);
  PAYOUTD_ASSIGN_OR_RETURN(bool row, statement->step());
  FeeSchedule schedule;
  if (row) {
    schedule.fixed_minor = statement->column_int64(0);
    schedule.percent_bps = static_cast<int32_t>(statement->column_int64(1));
  }
  return schedule;
}

Result<Wallet> wallet_by_id(Connection& connection, int64_t merchant_id, int64_t wallet_id) {
  static const std::string sql =
      std::string(wallet_select()) + " WHERE w.id = $1 AND w.merchant_id = $2";
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, connection.prepare(sql));
  statement->bind(1, wallet_id);
  statement->bind(2, merchant_id);
  PAYOUTD_ASSIGN_OR_RETURN(bool row, statement->step());
  if (!row) return Status::not_found("wallet not found");
  return read_wallet(*statement);
}

Result<Wallet> wallet_by_currency(Connection& connection, int64_t merchant_id,
                                  std::string_view currency) {
  static const std::string sql =
      std::string(wallet_select()) + " WHERE w.merchant_id = $1 AND w.currency = $2";
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, connection.prepare(sql));
  statement->bind(1, merchant_id);
  statement->bind(2, currency);
  PAYOUTD_ASSIGN_OR_RETURN(bool row, statement->step());
  if (!row) return Status::not_found("wallet not found");
  return read_wallet(*statement);
}

Result<WalletPage> list_wallets(Connection& connection, const WalletQuery& query) {
  PAYOUTD_ASSIGN_OR_RETURN(ListSql sql, build_wallet_list(query));
  auto listed = run_list<Wallet>(
      connection, sql, [](const Statement& row) -> Result<Wallet> { return read_wallet(row); });
  if (!listed.is_ok()) return std::move(listed).status();
  WalletPage page;
  page.items = std::move(listed->first);
  page.total_count = listed->second;
  return page;
}

Result<Payout> find_payout(Connection& connection, int64_t merchant_id, const PayoutRef& ref) {
  const int set = (ref.cashout_id ? 1 : 0) + (ref.public_id ? 1 : 0) + (ref.external_id ? 1 : 0);
  if (set != 1) return Status::invalid_argument("id", "a payout reference names exactly one id");
  if (merchant_id < 0) return Status::invalid_argument("merchant_id", "negative merchant id");

  static const std::string by_cashout_id = "SELECT " + std::string(payout_columns()) +
                                           " FROM payouts WHERE cashout_id = $1"
                                           " AND ($2 = 0 OR merchant_id = $2)";
  static const std::string by_public_id = "SELECT " + std::string(payout_columns()) +
                                          " FROM payouts WHERE public_id = $1"
                                          " AND ($2 = 0 OR merchant_id = $2)";
  static const std::string by_external_id = "SELECT " + std::string(payout_columns()) +
                                            " FROM payouts WHERE external_id = $1"
                                            " AND merchant_id = $2";
  const std::string* sql = nullptr;
  if (ref.cashout_id) {
    sql = &by_cashout_id;
  } else if (ref.public_id) {
    sql = &by_public_id;
  } else {
    // external ids are unique only per merchant: without one the answer is ambiguous.
    if (merchant_id == 0) {
      return Status::invalid_argument("external_id", "an external_id needs a merchant scope");
    }
    sql = &by_external_id;
  }
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, connection.prepare(*sql));
  if (ref.cashout_id) {
    statement->bind(1, *ref.cashout_id);
  } else if (ref.public_id) {
    statement->bind(1, *ref.public_id);
  } else {
    statement->bind(1, *ref.external_id);
  }
  statement->bind(2, merchant_id);
  PAYOUTD_ASSIGN_OR_RETURN(bool row, statement->step());
  if (!row) return Status::not_found("Payout not found");
  return read_payout(*statement);
}

Result<GroupPrefetch> group_prefetch(Connection& connection,
                                     const std::vector<int64_t>& cashout_ids) {
  PAYOUTD_ASSERT(connection.dialect() == Dialect::kPostgresql);  // an array parameter, sequences
  PAYOUTD_ASSERT(cashout_ids.size() <= static_cast<size_t>(kMaxPayoutsByIds));
  // One row per payout: its columns, its merchant's (as kMerchantSelect), its wallet's (as
  // wallet_select()), and the next value of both identity sequences (resolved once per statement).
  // Why one statement: these were four round trips per group (payouts, merchant, wallet, ids) on
  // the connection every write waits for. A merchant's and a wallet's columns repeat on each of
  // their payouts' rows; they are read from the first.
  static const std::string sql = [] {
    std::string select = "SELECT ";
    for_each_listed(payout_columns(), [&select](std::string_view column) {
      select += "p.";
      select += column;
      select += ", ";
    });
    for_each_listed(listed_between(kMerchantSelect, "SELECT ", " FROM merchants"),
                    [&select](std::string_view column) {
                      select += "m.";
                      select += column;
                      select += ", ";
                    });
    select += listed_between(wallet_select(), "SELECT ", " FROM wallets w");
    std::string from(wallet_select().substr(wallet_select().find(" FROM wallets w")));
    return select +
           ", nextval(s.journals), nextval(s.wallet_rows)" + from +
           " JOIN payouts p ON p.wallet_id = w.id JOIN merchants m ON m.id = p.merchant_id, "
           "(SELECT CAST(pg_get_serial_sequence('journal_transactions', 'id') AS regclass) AS "
           "journals, CAST(pg_get_serial_sequence('wallet_transactions', 'id') AS regclass) AS "
           "wallet_rows OFFSET 0) AS s "
           "WHERE p.cashout_id = ANY(CAST($1 AS bigint[]))";
  }();
  static const int merchant_first = static_cast<int>(count_listed(payout_columns()));
  static const int wallet_first =
      merchant_first +
      static_cast<int>(count_listed(listed_between(kMerchantSelect, "SELECT ", " FROM merchants")));
  static const int ids_first =
      wallet_first +
      static_cast<int>(count_listed(listed_between(wallet_select(), "SELECT ", " FROM wallets w")));
  std::string array = "{";
  for (size_t i = 0; i < cashout_ids.size(); ++i) {
    if (i > 0) array += ',';
    array += std::to_string(cashout_ids[i]);
  }
  array += '}';
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, connection.prepare(sql));
  Statement& row = *statement;
  row.bind(1, array);
  GroupPrefetch prefetch;
  for (;;) {
    PAYOUTD_ASSIGN_OR_RETURN(bool stepped, row.step());
    if (!stepped) break;
    PAYOUTD_ASSIGN_OR_RETURN(Payout payout, read_payout(row));
    const auto known_merchant = [&](const Merchant& m) { return m.id == payout.merchant_id; };
    if (std::none_of(prefetch.merchants.begin(), prefetch.merchants.end(), known_merchant)) {
      PAYOUTD_ASSIGN_OR_RETURN(Merchant merchant, read_merchant(ColumnsFrom(row, merchant_first)));
      prefetch.merchants.push_back(std::move(merchant));
    }
    const auto known_wallet = [&](const Wallet& w) { return w.id == payout.wallet_id; };
    if (std::none_of(prefetch.wallets.begin(), prefetch.wallets.end(), known_wallet)) {
      prefetch.wallets.push_back(read_wallet(ColumnsFrom(row, wallet_first)));
      PAYOUTD_ASSERT(prefetch.wallets.back().merchant_id == payout.merchant_id);
    }
    prefetch.journal_ids.push_back(row.column_int64(ids_first));
    prefetch.wallet_transaction_ids.push_back(row.column_int64(ids_first + 1));
    prefetch.payouts.push_back(std::move(payout));
  }
  return prefetch;
}

Result<std::vector<PayoutEvent>> payout_events(Connection& connection, int64_t cashout_id) {
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection.prepare(
          "SELECT seq, event_type, from_status, to_status, actor_type, message, created_at "
          "FROM payout_events WHERE cashout_id = $1 ORDER BY seq"));
  statement->bind(1, cashout_id);
  std::vector<PayoutEvent> events;
  while (true) {
    PAYOUTD_ASSIGN_OR_RETURN(bool row, statement->step());
    if (!row) break;
    const Statement& s = *statement;
    PayoutEvent event;
    event.cashout_id = cashout_id;
    event.seq = static_cast<int32_t>(s.column_int64(0));
    event.event_type = s.column_text(1);
    if (std::optional<std::string> from = s.column_optional_text(2)) {
      PAYOUTD_ASSIGN_OR_RETURN(PayoutStatus parsed, parse_stored_status(*from, cashout_id));
      event.from_status = parsed;
    }
    PAYOUTD_ASSIGN_OR_RETURN(PayoutStatus to, parse_stored_status(s.column_text(3), cashout_id));
    event.to_status = to;
    std::optional<Actor> actor = parse_actor_name(s.column_text(4));
    if (!actor) {
      return Status::error(ErrorKind::kCorruption,
                           "payout " + std::to_string(cashout_id) + " event has unknown actor");
    }
    event.actor = *actor;
    event.message = s.column_text(5);
    event.created_at = s.column_int64(6);
    events.push_back(std::move(event));
  }
  return events;
}

Result<PayoutPage> list_payouts(Connection& connection, const PayoutQuery& query) {
  PAYOUTD_ASSIGN_OR_RETURN(ListSql sql, build_payout_list(query));
  auto listed = run_list<Payout>(connection, sql, read_payout);
  if (!listed.is_ok()) return std::move(listed).status();
  PayoutPage page;
  page.items = std::move(listed->first);
  page.total_count = listed->second;
  return page;
}

Result<WalletTransactionPage> list_wallet_transactions(Connection& connection,
                                                       const WalletTransactionQuery& query) {
  PAYOUTD_ASSIGN_OR_RETURN(ListSql sql, build_wallet_transaction_list(query));
  auto read_row = [](const Statement& row) -> Result<WalletTransaction> {
    WalletTransaction transaction;
    transaction.id = row.column_int64(0);
    transaction.wallet_id = row.column_int64(1);
    transaction.journal_id = row.column_int64(2);
    transaction.type = row.column_text(3);
    transaction.transaction_type = row.column_text(4);
    transaction.amount_minor = row.column_int64(5);
    transaction.currency = row.column_text(6);
    transaction.balance_after_minor = row.column_int64(7);
    transaction.reference_type = row.column_text(8);
    transaction.reference_id = row.column_optional_text(9);
    transaction.remarks = row.column_optional_text(10);
    transaction.created_at = row.column_int64(11);
    return transaction;
  };
  auto listed = run_list<WalletTransaction>(connection, sql, read_row);
  if (!listed.is_ok()) return std::move(listed).status();
  WalletTransactionPage page;
  page.items = std::move(listed->first);
  page.total_count = listed->second;
  return page;
}

}  // namespace queries
}  // namespace payoutd::sql
