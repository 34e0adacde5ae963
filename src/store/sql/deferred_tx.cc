#include "store/sql/deferred_tx.h"

#include <algorithm>
#include <array>
#include <utility>

#include "core/payout_status.h"
#include "core/url.h"
#include "store/sql/list_queries.h"

namespace payoutd::sql {
namespace {

// Calls visit(name, type) for each column of a column list "name type, name type, …".
template <typename Visit>
void for_each_column(std::string_view columns, Visit visit) {
  for_each_listed(columns, [&visit](std::string_view column) {
    const size_t space = column.find(' ');
    PAYOUTD_ASSERT(space != std::string_view::npos);
    visit(column.substr(0, space), column.substr(space + 1));
  });
}

// The rows of one table of a flush as PostgreSQL array literals, one per column (read back by
// unnest). Why arrays and not one JSON document of the rows: PostgreSQL parses a typed array in
// about half the time json_to_recordset takes for the same rows (measured: docs/decisions.md),
// and the writer's connection is the serial part of every write. A row names its columns with
// key() in the same order every time (asserted), so the code that fills a table reads like the
// column list of its statement.
class Columns {
 public:
  explicit Columns(size_t columns) : literals_(columns) {
    PAYOUTD_ASSERT(columns > 0);
    names_.reserve(columns);
  }
  Columns& row() {
    PAYOUTD_ASSERT(rows_ == 0 || next_ == literals_.size());  // the last row named every column
    ++rows_;
    next_ = 0;
    return *this;
  }
  Columns& key(std::string_view name) {
    PAYOUTD_ASSERT(rows_ > 0 && next_ < literals_.size());
    if (rows_ == 1) {
      names_.push_back(name);
    } else {
      PAYOUTD_ASSERT(names_[next_] == name);
    }
    current_ = next_++;
    return *this;
  }
  void integer(int64_t value) { element() += std::to_string(value); }
  void null() { element() += "NULL"; }
  void string(std::string_view value) {
    // Inside double quotes only `"` and `\` need a backslash; commas, braces, spaces, newlines and
    // any UTF-8 stay as they are.
    std::string& out = element();
    out.push_back('"');
    for (char c : value) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  void string_or_null(const std::optional<std::string>& value) {
    if (value) {
      string(*value);
    } else {
      null();
    }
  }
  size_t count() const { return rows_; }
  // True when the keys of the first row are the names in `columns` ("name type, …"), in order.
  bool names_match(std::string_view columns) const {
    size_t index = 0;
    bool match = true;
    for_each_column(columns, [&](std::string_view name, std::string_view) {
      match = match && index < names_.size() && names_[index] == name;
      ++index;
    });
    return match && index == names_.size();
  }
  // One literal per column, `{}` for a table without rows.
  std::vector<std::string> take() {
    PAYOUTD_ASSERT(rows_ == 0 || next_ == literals_.size());
    for (std::string& literal : literals_) {
      if (literal.empty()) literal.push_back('{');
      literal.push_back('}');
    }
    return std::move(literals_);
  }

 private:
  std::string& element() {
    std::string& literal = literals_[current_];
    literal.push_back(literal.empty() ? '{' : ',');
    return literal;
  }

  std::vector<std::string> literals_;
  std::vector<std::string_view> names_;  // the keys of the first row (string literals)
  size_t rows_ = 0;
  size_t next_ = 0;
  size_t current_ = 0;
};

void optional_integer(Columns& columns, const std::optional<int64_t>& value) {
  if (value) {
    columns.integer(*value);
  } else {
    columns.null();
  }
}

// `unnest(CAST($N AS type[]), …) AS r(name, …)` for `columns` ("name type, …"), its parameters
// numbered from `next_parameter` on (advanced past them): one array literal per column, in the
// order Columns::take() gives them.
std::string unnest_rows(std::string_view columns, int& next_parameter) {
  std::string arrays;
  std::string names;
  for_each_column(columns, [&](std::string_view name, std::string_view type) {
    if (!arrays.empty()) arrays += ", ", names += ", ";
    arrays += "CAST($" + std::to_string(next_parameter++) + " AS " + std::string(type) + "[])";
    names += name;
  });
  return "unnest(" + arrays + ") AS r(" + names + ")";
}

// The columns of each table's rows, in the order flush() fills them.
constexpr std::array<std::string_view, 7> kFlushColumns = {
    "cashout_id bigint, from_status text, expected_seq bigint, at bigint",
    "id bigint, kind text, cashout_id bigint, currency text, created_at bigint",
    "journal_id bigint, account_id bigint, amount bigint, currency text",
    "id bigint, delta bigint, currency text, at bigint",
    "id bigint, wallet_id bigint, journal_id bigint, type text, transaction_type text, "
    "amount bigint, currency text, balance_after bigint, reference_type text, reference_id text, "
    "remarks text, created_at bigint",
    "cashout_id bigint, seq bigint, event_type text, from_status text, to_status text, "
    "actor_type text, message text, created_at bigint",
    "cashout_id bigint, event_seq bigint, channel text, endpoint_id bigint, target_url text, "
    "payload text, status text, created_at bigint, event_id text, give_up_at bigint, "
    "destination text"};

size_t column_count(std::string_view columns) { return count_listed(columns); }

// The whole group in one statement: one writable CTE per table, each reading its rows from its
// columns' arrays (unnest), and the number of rows each wrote. Why one statement: a group's seven
// writes were seven round trips and seven executor start-ups on the writer's connection, the
// serial part of every write (docs/benchmarks.md). The CTEs see one snapshot and none sees
// another's rows; that is enough because no write here reads a row another writes (the UPDATEs
// join only their own rows), and the foreign keys between them (entries -> journals, wallet
// transactions -> journals) are checked at the end of the statement, when
// every row is in. Each table appears once, so no row is modified twice by one statement.
//
// The tables, in kFlushColumns' order: the status changes — what SqlWriteTx::apply_status_change
// writes for a client cancel (to = cancelled, no failure code, reason, bank reference or cancel
// request): the timestamp column, the engine bookkeeping cleared (a terminal status), the event
// sequence advanced, claimed on (status, event_seq); journal transactions; journal entries;
// balances, one row per account (the group's legs summed: what the per-op UPDATEs add up to);
// wallet transactions; payout events; outbox rows. (A journal of a payout is its movement: the
// journals' unique (cashout_id, kind) index refuses a second refund here as on the per-op path.)
const std::string& flush_group_sql() {
  static const std::string sql = [] {
    // Numbered in table order here, not inside the expression below: the operands of `+` have
    // no defined order of evaluation.
    int next = 1;
    std::array<std::string, kFlushColumns.size()> sources;
    for (size_t table = 0; table < sources.size(); ++table) {
      sources[table] = unnest_rows(kFlushColumns[table], next);
    }
    auto rows = [&sources](size_t table) { return sources[table]; };
    return "WITH changes AS ("
           "UPDATE payouts AS p SET status = 'cancelled', updated_at = r.at, cancelled_at = r.at, "
           "engine_next_at = NULL, engine_claimed_by = NULL, engine_lease_until = NULL, "
           "event_seq = p.event_seq + 1 FROM " + rows(0) + " "
           "WHERE p.cashout_id = r.cashout_id AND p.status = r.from_status AND "
           "p.event_seq = r.expected_seq RETURNING 1), "
           "journals AS ("
           "INSERT INTO journal_transactions (id, kind, cashout_id, currency, created_at) "
           "SELECT id, kind, cashout_id, currency, created_at FROM " + rows(1) + " RETURNING 1), "
           "entries AS ("
           "INSERT INTO journal_entries (journal_id, account_id, amount, currency) "
           "SELECT journal_id, account_id, amount, currency FROM " + rows(2) + " RETURNING 1), "
           "balances AS ("
           "UPDATE accounts AS a SET balance = a.balance + r.delta, updated_at = r.at FROM " +
           rows(3) + " WHERE a.id = r.id AND a.currency = r.currency RETURNING 1), "
           "wallet_rows AS ("
           "INSERT INTO wallet_transactions (id, wallet_id, journal_id, type, transaction_type, "
           "amount, currency, balance_after, reference_type, reference_id, remarks, created_at) "
           "SELECT id, wallet_id, journal_id, type, transaction_type, amount, currency, "
           "balance_after, reference_type, reference_id, remarks, created_at FROM " + rows(4) +
           " RETURNING 1), "
           "events AS ("
           "INSERT INTO payout_events (cashout_id, seq, event_type, from_status, to_status, "
           "actor_type, message, created_at) "
           "SELECT cashout_id, seq, event_type, from_status, to_status, actor_type, message, "
           "created_at FROM " + rows(5) + " RETURNING 1), "
           "outbox_rows AS ("
           "INSERT INTO outbox (cashout_id, event_seq, channel, endpoint_id, target_url, payload, "
           "status, attempts, next_attempt_at, created_at, updated_at, event_id, give_up_at, "
           "destination) "
           "SELECT cashout_id, event_seq, channel, endpoint_id, target_url, payload, status, 0, "
           "created_at, created_at, created_at, event_id, give_up_at, destination FROM " + rows(6) +
           " RETURNING 1) "
           "SELECT (SELECT count(*) FROM changes), (SELECT count(*) FROM journals), "
           "(SELECT count(*) FROM entries), (SELECT count(*) FROM balances), "
           "(SELECT count(*) FROM wallet_rows), "
           "(SELECT count(*) FROM events), (SELECT count(*) FROM outbox_rows)";
  }();
  return sql;
}

constexpr size_t kFlushTables = kFlushColumns.size();
const std::array<std::string_view, kFlushTables> kFlushWhat = {
    "claim the group's payouts", "insert journal transactions", "insert journal entries",
    "update balances",           "insert wallet transactions",
    "insert payout events",      "insert outbox messages"};

// Both identity sequences the group takes ids from, `$1` of each per row (the sequences looked
// up once per statement, not once per row).
const std::string kTakeIds =
    "SELECT nextval(s.journals), nextval(s.wallet_rows) FROM "
    "(SELECT CAST(pg_get_serial_sequence('journal_transactions', 'id') AS regclass) AS journals, "
    "CAST(pg_get_serial_sequence('wallet_transactions', 'id') AS regclass) AS wallet_rows "
    "OFFSET 0) AS s, "
    "generate_series(1, $1)";

}  // namespace

DeferredWriteTx::DeferredWriteTx(Connection& connection, size_t group_ops)
    : SqlReader<WriteTx>(connection), group_ops_(std::max<size_t>(group_ops, 1)) {
  PAYOUTD_ASSERT(connection.dialect() == Dialect::kPostgresql);
}

void DeferredWriteTx::begin_op() {
  mark_ = Mark{changes_.size(),  journals_.size(), entries_.size(), wallet_transactions_.size(),
               events_.size(), outbox_.size()};
}

void DeferredWriteTx::discard_op() {
  changes_.resize(mark_.changes);
  journals_.resize(mark_.journals);
  entries_.resize(mark_.entries);
  wallet_transactions_.resize(mark_.wallet_transactions);
  events_.resize(mark_.events);
  outbox_.resize(mark_.outbox);
}

Status DeferredWriteTx::refuse(std::string_view what) {
  refused_ = true;
  return Status::unavailable("not deferrable in a write group: " + std::string(what));
}

Result<int64_t> DeferredWriteTx::next_id(std::deque<int64_t>& taken) {
  PAYOUTD_ASSERT(&taken == &journal_ids_ || &taken == &wallet_transaction_ids_);
  if (taken.empty()) {
    // Both sequences at once (a cancel takes one id of each): one round trip per group.
    // Sequences are not transactional: ids of a group that falls back, or not used, are skipped,
    // never reused.
    PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, connection_.prepare(kTakeIds));
    statement->bind(1, static_cast<int64_t>(group_ops_));
    size_t rows = 0;
    for (;;) {
      PAYOUTD_ASSIGN_OR_RETURN(bool row, statement->step());
      if (!row) break;
      journal_ids_.push_back(statement->column_int64(0));
      wallet_transaction_ids_.push_back(statement->column_int64(1));
      ++rows;
    }
    PAYOUTD_ASSERT(rows == group_ops_);
    // Bounded: each op of the group takes at most a few ids of each, so the unused ones of the
    // other sequence never pile up beyond a few group sizes.
    PAYOUTD_ASSERT(journal_ids_.size() <= 16 * group_ops_ &&
                   wallet_transaction_ids_.size() <= 16 * group_ops_);
  }
  const int64_t id = taken.front();
  taken.pop_front();
  return id;
}

std::pair<int64_t, int64_t> DeferredWriteTx::pending(int64_t account_id) const {
  int64_t sum = 0;
  int64_t latest = 0;
  for (const Entry& entry : entries_) {
    if (entry.account_id != account_id) continue;
    PAYOUTD_ASSERT(!__builtin_add_overflow(sum, entry.amount_minor, &sum));
    latest = std::max(latest, entry.at);
  }
  return {sum, latest};
}

Wallet DeferredWriteTx::with_pending(Wallet wallet) const {
  const auto [available, available_at] = pending(wallet.available_account_id);
  const auto [held, held_at] = pending(wallet.held_account_id);
  wallet.available_minor += available;
  wallet.held_minor += held;
  wallet.updated_at = std::max({wallet.updated_at, available_at, held_at});
  return wallet;
}

const Wallet* DeferredWriteTx::wallet_of_account(int64_t account_id) const {
  for (const Wallet& wallet : wallets_) {
    if (wallet.available_account_id == account_id || wallet.held_account_id == account_id) {
      return &wallet;
    }
  }
  return nullptr;
}

bool DeferredWriteTx::changes_payout(int64_t cashout_id) const {
  return std::any_of(changes_.begin(), changes_.end(),
                     [cashout_id](const Change& change) { return change.cashout_id == cashout_id; });
}

// ---- reads ----

Result<Merchant> DeferredWriteTx::merchant_by_id(int64_t merchant_id) {
  for (const Merchant& merchant : merchants_) {
    if (merchant.id == merchant_id) return merchant;
  }
  Result<Merchant> read = queries::merchant_by_id(connection_, merchant_id);
  if (read.is_ok()) merchants_.push_back(*read);
  return read;
}

Result<Wallet> DeferredWriteTx::wallet_by_id(int64_t merchant_id, int64_t wallet_id) {
  for (const Wallet& wallet : wallets_) {
    if (wallet.id == wallet_id && wallet.merchant_id == merchant_id) return with_pending(wallet);
  }
  Result<Wallet> read = queries::wallet_by_id(connection_, merchant_id, wallet_id);
  if (!read.is_ok()) return read;
  wallets_.push_back(*read);
  return with_pending(*read);
}

Result<Wallet> DeferredWriteTx::wallet_by_currency(int64_t merchant_id,
                                                   std::string_view currency) {
  for (const Wallet& wallet : wallets_) {
    if (wallet.merchant_id == merchant_id && wallet.currency == currency) {
      return with_pending(wallet);
    }
  }
  Result<Wallet> read = queries::wallet_by_currency(connection_, merchant_id, currency);
  if (!read.is_ok()) return read;
  wallets_.push_back(*read);
  return with_pending(*read);
}

Status DeferredWriteTx::prefetch_payouts(std::vector<int64_t> cashout_ids) {
  PAYOUTD_ASSERT(changes_.empty() && prefetched_ids_.empty());
  std::sort(cashout_ids.begin(), cashout_ids.end());
  cashout_ids.erase(std::unique(cashout_ids.begin(), cashout_ids.end()), cashout_ids.end());
  if (cashout_ids.empty()) return Status::ok();
  if (cashout_ids.size() > static_cast<size_t>(queries::kMaxPayoutsByIds)) {
    cashout_ids.resize(static_cast<size_t>(queries::kMaxPayoutsByIds));
  }
  // The payouts with their merchants, wallets and ids for what the ops will write: one round trip
  // (the ops' first reads of these would otherwise be one each).
  PAYOUTD_ASSERT(merchants_.empty() && wallets_.empty() && journal_ids_.empty() &&
                 wallet_transaction_ids_.empty());
  PAYOUTD_ASSIGN_OR_RETURN(queries::GroupPrefetch read,
                           queries::group_prefetch(connection_, cashout_ids));
  prefetched_ids_ = std::move(cashout_ids);
  prefetched_ = std::move(read.payouts);
  merchants_ = std::move(read.merchants);
  wallets_ = std::move(read.wallets);
  journal_ids_.assign(read.journal_ids.begin(), read.journal_ids.end());
  wallet_transaction_ids_.assign(read.wallet_transaction_ids.begin(),
                                 read.wallet_transaction_ids.end());
  return Status::ok();
}

Result<Payout> DeferredWriteTx::find_payout(int64_t merchant_id, const PayoutRef& ref) {
  if (ref.cashout_id && merchant_id >= 0 && !ref.public_id && !ref.external_id &&
      std::binary_search(prefetched_ids_.begin(), prefetched_ids_.end(), *ref.cashout_id)) {
    if (changes_payout(*ref.cashout_id)) return refuse("a payout changed twice");
    // As queries::find_payout answers: this merchant's (or, with 0, anyone's) payout, or none.
    for (const Payout& payout : prefetched_) {
      if (payout.cashout_id == *ref.cashout_id &&
          (merchant_id == 0 || payout.merchant_id == merchant_id)) {
        return payout;
      }
    }
    return Status::not_found("Payout not found");
  }
  Result<Payout> read = queries::find_payout(connection_, merchant_id, ref);
  // The database's row would not show this group's change of it.
  if (read.is_ok() && changes_payout(read->cashout_id)) return refuse("a payout changed twice");
  return read;
}

Result<std::vector<WebhookEndpoint>> DeferredWriteTx::webhook_endpoints(int64_t merchant_id) {
  for (const auto& [merchant, endpoints] : endpoints_) {
    if (merchant == merchant_id) return endpoints;
  }
  Result<std::vector<WebhookEndpoint>> read = queries::webhook_endpoints(connection_, merchant_id);
  if (read.is_ok()) endpoints_.emplace_back(merchant_id, *read);
  return read;
}

Result<WalletPage> DeferredWriteTx::list_wallets(const WalletQuery&) {
  return refuse("list_wallets");
}
Result<std::vector<PayoutEvent>> DeferredWriteTx::payout_events(int64_t) {
  return refuse("payout_events");
}
Result<PayoutPage> DeferredWriteTx::list_payouts(const PayoutQuery&) {
  return refuse("list_payouts");
}
Result<WalletTransactionPage> DeferredWriteTx::list_wallet_transactions(
    const WalletTransactionQuery&) {
  return refuse("list_wallet_transactions");
}
Result<LedgerReport> DeferredWriteTx::check_ledger() { return refuse("check_ledger"); }
Result<EngineTask> DeferredWriteTx::engine_task(int64_t) { return refuse("engine_task"); }
Result<std::vector<EngineTask>> DeferredWriteTx::engine_due(const EngineDueQuery&) {
  return refuse("engine_due");
}
Result<std::vector<OutboxMessage>> DeferredWriteTx::outbox_due(const OutboxDueQuery&) {
  return refuse("outbox_due");
}
Result<OutboxMessage> DeferredWriteTx::outbox_message(int64_t) {
  return refuse("outbox_message");
}
Result<std::vector<OutboxMessage>> DeferredWriteTx::list_outbox(const OutboxQuery&) {
  return refuse("list_outbox");
}
Result<OutboxCounts> DeferredWriteTx::outbox_counts() { return refuse("outbox_counts"); }
Result<DeliveryAttemptPage> DeferredWriteTx::delivery_attempts(const DeliveryAttemptQuery&) {
  return refuse("delivery_attempts");
}

// ---- buffered writes ----

Status DeferredWriteTx::apply_status_change(const StatusChange& change) {
  if (change.to != PayoutStatus::kCancelled || change.failure_code || change.failure_reason ||
      change.bank_reference_id || change.cancel_requested_at) {
    return refuse("a status change other than a plain cancel");
  }
  if (changes_payout(change.cashout_id)) return refuse("a payout changed twice");
  changes_.push_back(Change{change.cashout_id, change.from, change.expected_event_seq, change.at});
  return Status::ok();
}

Result<int64_t> DeferredWriteTx::post_journal(const JournalPosting& posting) {
  // A journal that does not balance is a bug in the caller's movement table, never input.
  PAYOUTD_ASSERT(posting.legs.size() >= 2);
  int64_t sum = 0;
  for (const JournalLeg& leg : posting.legs) {
    PAYOUTD_ASSERT(!__builtin_add_overflow(sum, leg.amount_minor, &sum));
  }
  PAYOUTD_ASSERT(sum == 0);
  PAYOUTD_ASSERT(posting.cashout_id.has_value() == is_payout_movement_journal(posting.kind));
  if (!posting.cashout_id) return refuse("a journal of no payout");
  for (const Journal& journal : journals_) {
    if (journal.cashout_id == *posting.cashout_id && journal.kind == posting.kind) {
      return refuse("a second movement of one kind");
    }
  }
  // Every leg on an account of a wallet this group read, so that the per-op path's CHECKs (no
  // balance below zero after any one UPDATE) can be decided here; otherwise fall back.
  for (const JournalLeg& leg : posting.legs) {
    const Wallet* wallet = wallet_of_account(leg.account_id);
    if (wallet == nullptr || wallet->currency != posting.currency) {
      return refuse("a journal leg on an account this group has not read");
    }
    const int64_t before = leg.account_id == wallet->available_account_id ? wallet->available_minor
                                                                          : wallet->held_minor;
    int64_t after = before + pending(leg.account_id).first;
    if (__builtin_add_overflow(after, leg.amount_minor, &after) || after < 0) {
      return refuse("a balance that would go below zero");
    }
  }
  Result<int64_t> id = next_id(journal_ids_);
  if (!id.is_ok()) return id;
  journals_.push_back(
      Journal{*id, posting.kind, *posting.cashout_id, posting.currency, posting.created_at});
  std::vector<JournalLeg> ordered = posting.legs;  // in account order, as the per-op path
  std::sort(ordered.begin(), ordered.end(), [](const JournalLeg& a, const JournalLeg& b) {
    return a.account_id < b.account_id;
  });
  for (const JournalLeg& leg : ordered) {
    entries_.push_back(
        Entry{*id, leg.account_id, leg.amount_minor, posting.currency, posting.created_at});
  }
  return *id;
}

Result<int64_t> DeferredWriteTx::insert_wallet_transaction(const WalletTransaction& transaction) {
  Result<int64_t> id = next_id(wallet_transaction_ids_);
  if (!id.is_ok()) return id;
  WalletTransaction row = transaction;
  row.id = *id;
  wallet_transactions_.push_back(std::move(row));
  return *id;
}

Status DeferredWriteTx::insert_event(const PayoutEvent& event) {
  events_.push_back(event);
  return Status::ok();
}

Status DeferredWriteTx::insert_outbox(const OutboxMessage& message) {
  outbox_.push_back(message);
  if (outbox_.back().destination.empty()) {
    outbox_.back().destination = notification_destination(message.target_url);
  }
  return Status::ok();
}

// ---- flush ----

Status DeferredWriteTx::flush() {
  PAYOUTD_ASSERT(!refused_);
  std::array<std::vector<std::string>, kFlushTables> arrays;
  std::array<size_t, kFlushTables> expected{};
  auto table = [&](size_t index, Columns& columns) {
    PAYOUTD_ASSERT(index < kFlushTables && arrays[index].empty());
    // The keys a row named are the statement's columns, in its order.
    PAYOUTD_ASSERT(columns.count() == 0 || columns.names_match(kFlushColumns[index]));
    expected[index] = columns.count();
    arrays[index] = columns.take();
  };
  {
    Columns rows(column_count(kFlushColumns[0]));
    for (const Change& change : changes_) {
      Columns& w = rows.row();
      w.key("cashout_id"), w.integer(change.cashout_id);
      w.key("from_status"), w.string(status_name(change.from));
      w.key("expected_seq"), w.integer(change.expected_event_seq);
      w.key("at"), w.integer(change.at);
    }
    table(0, rows);
  }
  {
    Columns rows(column_count(kFlushColumns[1]));
    for (const Journal& journal : journals_) {
      Columns& w = rows.row();
      w.key("id"), w.integer(journal.id);
      w.key("kind"), w.string(journal.kind);
      w.key("cashout_id"), w.integer(journal.cashout_id);
      w.key("currency"), w.string(journal.currency);
      w.key("created_at"), w.integer(journal.created_at);
    }
    table(1, rows);
  }
  {
    Columns rows(column_count(kFlushColumns[2]));
    // Per account: the sum of its legs and the time of the last one (what the per-op UPDATEs,
    // applied in op order, leave in the row), in account order.
    std::vector<Entry> per_account;
    for (const Entry& entry : entries_) {
      Columns& w = rows.row();
      w.key("journal_id"), w.integer(entry.journal_id);
      w.key("account_id"), w.integer(entry.account_id);
      w.key("amount"), w.integer(entry.amount_minor);
      w.key("currency"), w.string(entry.currency);
      auto found = std::find_if(per_account.begin(), per_account.end(), [&](const Entry& a) {
        return a.account_id == entry.account_id;
      });
      if (found == per_account.end()) {
        per_account.push_back(entry);
      } else {
        PAYOUTD_ASSERT(!__builtin_add_overflow(found->amount_minor, entry.amount_minor,
                                               &found->amount_minor));
        found->at = entry.at;
      }
    }
    table(2, rows);
    std::sort(per_account.begin(), per_account.end(),
              [](const Entry& a, const Entry& b) { return a.account_id < b.account_id; });
    Columns balances(column_count(kFlushColumns[3]));
    for (const Entry& account : per_account) {
      Columns& w = balances.row();
      w.key("id"), w.integer(account.account_id);
      w.key("delta"), w.integer(account.amount_minor);
      w.key("currency"), w.string(account.currency);
      w.key("at"), w.integer(account.at);
    }
    table(3, balances);
  }
  {
    Columns rows(column_count(kFlushColumns[4]));
    for (const WalletTransaction& t : wallet_transactions_) {
      Columns& w = rows.row();
      w.key("id"), w.integer(t.id);
      w.key("wallet_id"), w.integer(t.wallet_id);
      w.key("journal_id"), w.integer(t.journal_id);
      w.key("type"), w.string(t.type);
      w.key("transaction_type"), w.string(t.transaction_type);
      w.key("amount"), w.integer(t.amount_minor);
      w.key("currency"), w.string(t.currency);
      w.key("balance_after"), w.integer(t.balance_after_minor);
      w.key("reference_type"), w.string(t.reference_type);
      w.key("reference_id"), w.string_or_null(t.reference_id);
      w.key("remarks"), w.string_or_null(t.remarks);
      w.key("created_at"), w.integer(t.created_at);
    }
    table(4, rows);
  }
  {
    Columns rows(column_count(kFlushColumns[5]));
    for (const PayoutEvent& event : events_) {
      Columns& w = rows.row();
      w.key("cashout_id"), w.integer(event.cashout_id);
      w.key("seq"), w.integer(event.seq);
      w.key("event_type"), w.string(event.event_type);
      w.key("from_status");
      if (event.from_status) {
        w.string(status_name(*event.from_status));
      } else {
        w.null();
      }
      w.key("to_status"), w.string(status_name(event.to_status));
      w.key("actor_type"), w.string(actor_name(event.actor));
      w.key("message"), w.string(event.message);
      w.key("created_at"), w.integer(event.created_at);
    }
    table(5, rows);
  }
  {
    Columns rows(column_count(kFlushColumns[6]));
    for (const OutboxMessage& message : outbox_) {
      Columns& w = rows.row();
      w.key("cashout_id"), w.integer(message.cashout_id);
      w.key("event_seq"), w.integer(message.event_seq);
      w.key("channel"), w.string(message.channel);
      w.key("endpoint_id"), optional_integer(w, message.endpoint_id);
      w.key("target_url"), w.string(message.target_url);
      w.key("payload"), w.string(message.payload);
      w.key("status"), w.string(outbox_status_name(message.status));
      w.key("created_at"), w.integer(message.created_at);
      w.key("event_id"), w.string(message.event_id);
      w.key("give_up_at"), w.integer(message.give_up_at);
      w.key("destination"), w.string(message.destination);
    }
    table(6, rows);
  }
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, connection_.prepare(flush_group_sql()));
  Statement& s = *statement;
  int parameter = 0;
  for (size_t k = 0; k < kFlushTables; ++k) {
    PAYOUTD_ASSERT(arrays[k].size() == column_count(kFlushColumns[k]));
    for (const std::string& array : arrays[k]) s.bind(++parameter, array);
  }
  Result<bool> row = s.step();
  if (!row.is_ok()) return status_of(s.last_error(), "write the group");
  PAYOUTD_ASSERT(*row);  // a SELECT of counts: always one row
  for (size_t k = 0; k < kFlushTables; ++k) {
    const int64_t written = s.column_int64(static_cast<int>(k));
    if (written != static_cast<int64_t>(expected[k])) {
      return Status::error(ErrorKind::kConflict,
                           std::string(kFlushWhat[k]) + ": " + std::to_string(written) +
                               " rows of " + std::to_string(expected[k]));
    }
  }
  return Status::ok();
}

// ---- every other write: refused ----

Result<int64_t> DeferredWriteTx::insert_merchant(const Merchant&) {
  return refuse("insert_merchant");
}
Status DeferredWriteTx::update_merchant_status(int64_t, MerchantStatus, int64_t) {
  return refuse("update_merchant_status");
}
Status DeferredWriteTx::update_merchant_credentials(const Merchant&) {
  return refuse("update_merchant_credentials");
}
Status DeferredWriteTx::upsert_fee_schedule(int64_t, std::string_view, const FeeSchedule&,
                                            int64_t) {
  return refuse("upsert_fee_schedule");
}
Result<Wallet> DeferredWriteTx::insert_wallet(int64_t, std::string_view, int64_t) {
  return refuse("insert_wallet");
}
Result<int64_t> DeferredWriteTx::platform_account(std::string_view, AccountKind) {
  return refuse("platform_account");
}
Result<int64_t> DeferredWriteTx::insert_payout(const Payout&) { return refuse("insert_payout"); }
Status DeferredWriteTx::insert_api_token(const ApiToken&) { return refuse("insert_api_token"); }
Status DeferredWriteTx::rotate_api_token(std::string_view, std::string_view, int64_t) {
  return refuse("rotate_api_token");
}
Result<int64_t> DeferredWriteTx::revoke_api_token_family(std::string_view, int64_t) {
  return refuse("revoke_api_token_family");
}
Result<int64_t> DeferredWriteTx::revoke_merchant_api_tokens(int64_t, int64_t) {
  return refuse("revoke_merchant_api_tokens");
}
Result<int64_t> DeferredWriteTx::delete_expired_api_tokens(int64_t, int64_t, int) {
  return refuse("delete_expired_api_tokens");
}
Status DeferredWriteTx::insert_idempotency_record(const IdempotencyRecord&) {
  return refuse("insert_idempotency_record");
}
Status DeferredWriteTx::delete_idempotency_record(int64_t, std::string_view) {
  return refuse("delete_idempotency_record");
}
Result<int64_t> DeferredWriteTx::delete_expired_idempotency_records(int64_t, int64_t, int) {
  return refuse("delete_expired_idempotency_records");
}
Status DeferredWriteTx::claim_engine_lease(int64_t, PayoutStatus, std::string_view, int64_t,
                                           int64_t) {
  return refuse("claim_engine_lease");
}
Status DeferredWriteTx::update_engine_task(const EngineTaskUpdate&) {
  return refuse("update_engine_task");
}
Status DeferredWriteTx::request_cancel(int64_t, int64_t) { return refuse("request_cancel"); }
Status DeferredWriteTx::begin_processing_cancel(int64_t, std::string_view, int64_t, int64_t) {
  return refuse("begin_processing_cancel");
}
Status DeferredWriteTx::withdraw_processing_cancel(int64_t, std::string_view, CancelRequestState,
                                                   std::optional<int64_t>) {
  return refuse("withdraw_processing_cancel");
}
Status DeferredWriteTx::poke_engine_task(int64_t, int64_t) { return refuse("poke_engine_task"); }
Result<int64_t> DeferredWriteTx::insert_webhook_endpoint(const WebhookEndpoint&) {
  return refuse("insert_webhook_endpoint");
}
Status DeferredWriteTx::delete_webhook_endpoint(int64_t, std::string_view, int64_t) {
  return refuse("delete_webhook_endpoint");
}
Status DeferredWriteTx::claim_outbox_message(int64_t, std::string_view, int64_t, int64_t) {
  return refuse("claim_outbox_message");
}
Result<bool> DeferredWriteTx::record_delivery(const DeliveryRecord&) {
  return refuse("record_delivery");
}
Result<int64_t> DeferredWriteTx::redeliver_event(int64_t, int32_t,
                                                 std::optional<std::string_view>, int64_t,
                                                 int64_t) {
  return refuse("redeliver_event");
}

}  // namespace payoutd::sql
