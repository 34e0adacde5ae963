// Write primitives. Each maps the constraint failures it can meet to the precise domain error;
// a primitive of several statements runs inside its own savepoint so a failure leaves nothing
// half-written even if the caller carries on.
#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "store/sql/list_queries.h"
#include "core/url.h"
#include "store/sql/transactions.h"

namespace payoutd::sql {
namespace {

// Default for constraint failures nobody maps: a caller passed values the commands layer should
// have refused, which is a bug, not a client error.
Status unmapped(const Statement& statement, std::string_view context) {
  return status_of(statement.last_error(), context);
}

std::string join_cidrs(const std::vector<std::string>& cidrs) {
  std::string out;
  for (const std::string& cidr : cidrs) {
    if (!out.empty()) out += ',';
    out += cidr;
  }
  return out;
}

std::string_view merchant_status_sql(MerchantStatus status) {
  return status == MerchantStatus::kActive ? "active" : "disabled";
}

const std::string& insert_payout_sql() {
  static const std::string sql = [] {
    std::string_view columns = payout_columns();
    constexpr std::string_view kFirst = "cashout_id, ";
    PAYOUTD_ASSERT(columns.substr(0, kFirst.size()) == kFirst);
    columns.remove_prefix(kFirst.size());
    std::string placeholders;
    for (int i = 1; i <= 45; ++i) {
      if (i > 1) placeholders += ", ";
      placeholders += '$';
      placeholders += std::to_string(i);
    }
    return "INSERT INTO payouts (" + std::string(columns) + ") VALUES (" + placeholders +
           ") RETURNING cashout_id";
  }();
  return sql;
}

// The timestamp column a status sets when entered; empty for statuses without one.
std::string_view timestamp_column_for(PayoutStatus status) {
  switch (status) {
    case PayoutStatus::kQueued:
      return "queued_at";
    case PayoutStatus::kProcessing:
      return "submitted_at";
    case PayoutStatus::kCompleted:
      return "completed_at";
    case PayoutStatus::kFailed:
      return "failed_at";
    case PayoutStatus::kCancelled:
      return "cancelled_at";
    case PayoutStatus::kExpired:
      return "expired_at";
    case PayoutStatus::kCreated:
    case PayoutStatus::kOnHold:
    case PayoutStatus::kSettling:
    case PayoutStatus::kActionRequired:
      return "";
  }
  return "";
}

int64_t wall_clock_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<int64_t> SqlWriteTx::insert_merchant(const Merchant& merchant) {
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "INSERT INTO merchants (name, status, login, pass_salt, pass_hash, secret_key_sealed, "
          "api_username, api_password_salt, api_password_hash, ip_allow, notification_url, "
          "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
          "RETURNING id"));
  Statement& s = *statement;
  s.bind(1, merchant.name);
  s.bind(2, merchant_status_sql(merchant.status));
  s.bind(3, merchant.login);
  s.bind_blob(4, merchant.pass_salt);
  s.bind_blob(5, merchant.pass_hash);
  s.bind_blob(6, merchant.secret_key_sealed);
  s.bind(7, merchant.api_username);
  s.bind_blob(8, merchant.api_password_salt);
  s.bind_blob(9, merchant.api_password_hash);
  s.bind(10, join_cidrs(merchant.ip_allow));
  s.bind(11, merchant.notification_url);
  s.bind(12, merchant.created_at);
  s.bind(13, merchant.updated_at);
  Result<int64_t> inserted = insert_returning_id(s);
  if (!inserted.is_ok()) {
    const DatabaseError& error = s.last_error();
    if (error.violated(Constraint::kMerchantLogin)) {
      return Status::error(ErrorKind::kAlreadyExists, "merchant login already taken");
    }
    if (error.violated(Constraint::kMerchantApiUsername)) {
      return Status::error(ErrorKind::kAlreadyExists, "merchant api username already taken");
    }
    return unmapped(s, "insert merchant");
  }
  return *inserted;
}

Status SqlWriteTx::update_merchant_status(int64_t merchant_id, MerchantStatus status,
                                             int64_t at) {
  Result<StatementLease> statement =
      connection_.prepare("UPDATE merchants SET status = $1, updated_at = $2 WHERE id = $3");
  if (!statement.is_ok()) return std::move(statement).status();
  (*statement)->bind(1, merchant_status_sql(status));
  (*statement)->bind(2, at);
  (*statement)->bind(3, merchant_id);
  Status updated = (*statement)->execute();
  if (!updated.is_ok()) return unmapped(**statement, "update merchant status");
  if ((*statement)->changes() != 1) return Status::not_found("merchant not found");
  return Status::ok();
}

Status SqlWriteTx::update_merchant_credentials(const Merchant& merchant) {
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "UPDATE merchants SET login = $1, pass_salt = $2, pass_hash = $3, secret_key_sealed = "
          "$4, "
          "api_username = $5, api_password_salt = $6, api_password_hash = $7, updated_at = $8 "
          "WHERE id = $9"));
  Statement& s = *statement;
  s.bind(1, merchant.login);
  s.bind_blob(2, merchant.pass_salt);
  s.bind_blob(3, merchant.pass_hash);
  s.bind_blob(4, merchant.secret_key_sealed);
  s.bind(5, merchant.api_username);
  s.bind_blob(6, merchant.api_password_salt);
  s.bind_blob(7, merchant.api_password_hash);
  s.bind(8, merchant.updated_at);
  s.bind(9, merchant.id);
  Status updated = s.execute();
  if (!updated.is_ok()) {
    if (s.last_error().violated(Constraint::kMerchantLogin) ||
        s.last_error().violated(Constraint::kMerchantApiUsername)) {
      return Status::error(ErrorKind::kAlreadyExists, "merchant credentials already taken");
    }
    return unmapped(s, "update merchant credentials");
  }
  if (s.changes() != 1) return Status::not_found("merchant not found");
  return Status::ok();
}

Status SqlWriteTx::upsert_fee_schedule(int64_t merchant_id, std::string_view currency,
                                          const FeeSchedule& schedule, int64_t at) {
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "INSERT INTO merchant_fees (merchant_id, currency, fixed_minor, percent_bps, updated_at) "
          "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (merchant_id, currency) DO UPDATE SET "
          "fixed_minor = excluded.fixed_minor, percent_bps = excluded.percent_bps, "
          "updated_at = excluded.updated_at"));
  Statement& s = *statement;
  s.bind(1, merchant_id);
  s.bind(2, currency);
  s.bind(3, schedule.fixed_minor);
  s.bind(4, static_cast<int64_t>(schedule.percent_bps));
  s.bind(5, at);
  Status upserted = s.execute();
  if (!upserted.is_ok()) {
    if (s.last_error().is_foreign_key()) return Status::not_found("merchant not found");
    if (s.last_error().is_check()) {
      return Status::invalid_argument("fees", "fee schedule out of range: " + s.last_error().message);
    }
    return unmapped(s, "upsert fee schedule");
  }
  return Status::ok();
}

Result<Wallet> SqlWriteTx::insert_wallet(int64_t merchant_id, std::string_view currency,
                                            int64_t at) {
  Savepoint savepoint(connection_, "insert_wallet");
  PAYOUTD_RETURN_IF_ERROR(savepoint.begin_status());
  int64_t wallet_id = 0;
  {
    PAYOUTD_ASSIGN_OR_RETURN(
        StatementLease statement,
        connection_.prepare(
            "INSERT INTO wallets (merchant_id, currency, is_active, created_at, updated_at) "
            "VALUES ($1, $2, 1, $3, $3) RETURNING id"));
    Statement& s = *statement;
    s.bind(1, merchant_id);
    s.bind(2, currency);
    s.bind(3, at);
    Result<int64_t> inserted = insert_returning_id(s);
    if (!inserted.is_ok()) {
      if (s.last_error().violated(Constraint::kWalletPerCurrency)) {
        return Status::error(ErrorKind::kAlreadyExists,
                             "merchant already has a " + std::string(currency) + " wallet");
      }
      if (s.last_error().is_foreign_key()) return Status::not_found("merchant not found");
      return unmapped(s, "insert wallet");
    }
    wallet_id = *inserted;
  }
  {
    PAYOUTD_ASSIGN_OR_RETURN(
        StatementLease statement,
        connection_.prepare("INSERT INTO accounts (kind, currency, wallet_id, balance, updated_at) "
                            "VALUES ('available', $1, $2, 0, $3), ('held', $1, $2, 0, $3)"));
    statement->bind(1, currency);
    statement->bind(2, wallet_id);
    statement->bind(3, at);
    Status inserted = statement->execute();
    if (!inserted.is_ok()) return unmapped(*statement, "insert wallet accounts");
  }
  PAYOUTD_RETURN_IF_ERROR(savepoint.commit());
  return wallet_by_id(merchant_id, wallet_id);
}

Result<int64_t> SqlWriteTx::platform_account(std::string_view currency, AccountKind kind) {
  if (kind != AccountKind::kFunding && kind != AccountKind::kSettlement) {
    return Status::invalid_argument("kind", "platform accounts are funding or settlement");
  }
  // Two attempts: the row exists (read it), or create it. Another node's writer may create the
  // same account at the same moment (PostgreSQL, several nodes): the insert then does nothing
  // and the second read finds that node's row.
  for (int attempt = 0; attempt < 2; ++attempt) {
    {
      PAYOUTD_ASSIGN_OR_RETURN(
          StatementLease statement,
          connection_.prepare(
              "SELECT id FROM accounts WHERE kind = $1 AND currency = $2 AND wallet_id IS NULL"));
      statement->bind(1, account_kind_sql(kind));
      statement->bind(2, currency);
      PAYOUTD_ASSIGN_OR_RETURN(bool row, statement->step());
      if (row) return statement->column_int64(0);
    }
    if (attempt == 1) break;
    PAYOUTD_ASSIGN_OR_RETURN(
        StatementLease statement,
        connection_.prepare(
            "INSERT INTO accounts (kind, currency, wallet_id, balance, updated_at) "
            "VALUES ($1, $2, NULL, 0, $3) "
            "ON CONFLICT (kind, currency) WHERE wallet_id IS NULL DO NOTHING RETURNING id"));
    statement->bind(1, account_kind_sql(kind));
    statement->bind(2, currency);
    statement->bind(3, wall_clock_micros());
    Result<bool> row = statement->step();
    if (!row.is_ok()) return unmapped(*statement, "insert platform account");
    if (*row) return statement->column_int64(0);
  }
  return Status::internal("platform account for " + std::string(currency) +
                          " neither found nor created");
}

Result<int64_t> SqlWriteTx::post_journal(const JournalPosting& posting) {
  // A journal that does not balance is a bug in the caller's movement table, never input.
  PAYOUTD_ASSERT(posting.legs.size() >= 2);
  int64_t sum = 0;
  for (const JournalLeg& leg : posting.legs) {
    PAYOUTD_ASSERT(!__builtin_add_overflow(sum, leg.amount_minor, &sum));
  }
  PAYOUTD_ASSERT(sum == 0);
  // The schema refuses it too (payout_journals_are_movements); a mismatch is the caller's bug.
  PAYOUTD_ASSERT(posting.cashout_id.has_value() == is_payout_movement_journal(posting.kind));

  Savepoint savepoint(connection_, "post_journal");
  PAYOUTD_RETURN_IF_ERROR(savepoint.begin_status());
  int64_t journal_id = 0;
  {
    PAYOUTD_ASSIGN_OR_RETURN(
        StatementLease statement,
        connection_.prepare(
            "INSERT INTO journal_transactions (kind, cashout_id, currency, created_at) "
            "VALUES ($1, $2, $3, $4) RETURNING id"));
    Statement& s = *statement;
    s.bind(1, posting.kind);
    s.bind(2, posting.cashout_id);
    s.bind(3, posting.currency);
    s.bind(4, posting.created_at);
    Result<int64_t> inserted = insert_returning_id(s);
    if (!inserted.is_ok()) {
      const DatabaseError& error = s.last_error();
      if (error.is_foreign_key()) return Status::not_found("payout not found");
      if (is_second_movement(error)) return second_movement(posting);
      return unmapped(s, "insert journal transaction");
    }
    journal_id = *inserted;
  }
  // Legs are applied in account order, whatever order the caller listed them in: two writers
  // (PostgreSQL, several nodes) moving money between the same two accounts then lock the rows in
  // the same order and cannot deadlock on them.
  std::vector<const JournalLeg*> ordered;
  ordered.reserve(posting.legs.size());
  for (const JournalLeg& leg : posting.legs) ordered.push_back(&leg);
  std::sort(ordered.begin(), ordered.end(), [](const JournalLeg* a, const JournalLeg* b) {
    return a->account_id < b->account_id;
  });
  for (const JournalLeg* ordered_leg : ordered) {
    const JournalLeg& leg = *ordered_leg;
    {
      PAYOUTD_ASSIGN_OR_RETURN(
          StatementLease statement,
          connection_.prepare(
              "INSERT INTO journal_entries (journal_id, account_id, amount, currency) "
              "VALUES ($1, $2, $3, $4)"));
      Statement& s = *statement;
      s.bind(1, journal_id);
      s.bind(2, leg.account_id);
      s.bind(3, leg.amount_minor);
      s.bind(4, posting.currency);
      Status inserted = s.execute();
      if (!inserted.is_ok()) {
        if (s.last_error().is_foreign_key()) {
          return Status::not_found("account " + std::to_string(leg.account_id) + " not found");
        }
        return unmapped(s, "insert journal entry");
      }
    }
    PAYOUTD_ASSIGN_OR_RETURN(
        StatementLease statement,
        connection_.prepare("UPDATE accounts SET balance = balance + $1, updated_at = $2 "
                            "WHERE id = $3 AND currency = $4"));
    Statement& s = *statement;
    s.bind(1, leg.amount_minor);
    s.bind(2, posting.created_at);
    s.bind(3, leg.account_id);
    s.bind(4, posting.currency);
    Status updated = s.execute();
    if (!updated.is_ok()) {
      const DatabaseError& error = s.last_error();
      if (error.violated(Constraint::kAvailableBalanceNonNegative)) {
        return Status::error(ErrorKind::kInsufficientFunds, "insufficient wallet balance");
      }
      if (error.violated(Constraint::kHeldBalanceNonNegative)) {
        return Status::internal("held balance of account " + std::to_string(leg.account_id) +
                                " would become negative");
      }
      return unmapped(s, "update account balance");
    }
    if (s.changes() != 1) {
      // The entry insert proved the account exists, so its currency differs from the journal's.
      return Status::internal("account " + std::to_string(leg.account_id) +
                              " is not denominated in " + posting.currency);
    }
  }
  PAYOUTD_RETURN_IF_ERROR(savepoint.commit());
  return journal_id;
}

Result<int64_t> SqlWriteTx::insert_wallet_transaction(const WalletTransaction& transaction) {
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "INSERT INTO wallet_transactions (wallet_id, journal_id, type, transaction_type, amount, "
          "currency, balance_after, reference_type, reference_id, remarks, created_at) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id"));
  Statement& s = *statement;
  s.bind(1, transaction.wallet_id);
  s.bind(2, transaction.journal_id);
  s.bind(3, transaction.type);
  s.bind(4, transaction.transaction_type);
  s.bind(5, transaction.amount_minor);
  s.bind(6, transaction.currency);
  s.bind(7, transaction.balance_after_minor);
  s.bind(8, transaction.reference_type);
  s.bind(9, transaction.reference_id);
  s.bind(10, transaction.remarks);
  s.bind(11, transaction.created_at);
  Result<int64_t> inserted = insert_returning_id(s);
  if (!inserted.is_ok()) {
    if (s.last_error().is_foreign_key()) return Status::not_found("wallet or journal not found");
    return unmapped(s, "insert wallet transaction");
  }
  return *inserted;
}

Result<int64_t> SqlWriteTx::insert_payout(const Payout& payout) {
  // A taken external id is an answer the create carries on from (it reads the earlier payout for
  // a safe retry), so the insert's failure must leave the op usable.
  Result<StatementLease> statement =
      connection_.prepare(insert_payout_sql(), FailureScope::kStatement);
  if (!statement.is_ok()) return std::move(statement).status();
  Statement& s = **statement;
  s.bind(1, payout.public_id);
  s.bind(2, payout.merchant_id);
  s.bind(3, payout.wallet_id);
  s.bind(4, payout.external_id);
  s.bind(5, payout.amount_minor);
  s.bind(6, payout.fees_minor);
  s.bind(7, payout.total_minor);
  s.bind(8, payout.currency);
  s.bind(9, payout.country);
  const Beneficiary& b = payout.beneficiary;
  const std::optional<std::string>* beneficiary_fields[] = {
      &b.first_name,   &b.last_name,    &b.email,      &b.phone,          &b.country,
      &b.document_id,  &b.document_type, &b.bank_code, &b.bank_account,   &b.bank_branch,
      &b.account_type, &b.routing_number, &b.address,  &b.city,           &b.postal_code,
      &b.birthdate,
  };
  int index = 10;
  for (const std::optional<std::string>* field : beneficiary_fields) s.bind(index++, *field);
  PAYOUTD_ASSERT(index == 26);
  s.bind(26, payout.description);
  s.bind(27, payout.metadata_json.empty() ? std::string("{}") : payout.metadata_json);
  s.bind(28, payout.notification_url);
  s.bind(29, status_name(payout.status));
  s.bind(30, payout.failure_code);
  s.bind(31, payout.failure_reason);
  s.bind(32, payout.bank_reference_id);
  s.bind(33, payout.connector);
  s.bind(34, payout.connector_reference);
  s.bind(35, payout.created_at);
  s.bind(36, payout.queued_at);
  s.bind(37, payout.submitted_at);
  s.bind(38, payout.completed_at);
  s.bind(39, payout.failed_at);
  s.bind(40, payout.cancelled_at);
  s.bind(41, payout.expired_at);
  s.bind(42, payout.cancel_requested_at);
  s.bind(43, payout.updated_at);
  s.bind(44, static_cast<int64_t>(payout.event_seq));
  s.bind(45, payout.request_fingerprint);
  Result<int64_t> inserted = insert_returning_id(s);
  if (!inserted.is_ok()) {
    const DatabaseError& error = s.last_error();
    if (error.violated(Constraint::kPayoutExternalId)) {
      return Status::error(ErrorKind::kAlreadyExists, "External ID already used");
    }
    if (error.violated(Constraint::kPayoutPublicId)) {
      return Status::error(ErrorKind::kAlreadyExists, "payout public id already in use");
    }
    if (error.is_trigger() || error.is_foreign_key()) {
      return Status::not_found("wallet not found");
    }
    return unmapped(s, "insert payout");
  }
  return *inserted;
}

Status SqlWriteTx::apply_status_change(const StatusChange& change) {
  // One statement text per target status (the timestamp column differs); each is cached.
  const std::string_view column = timestamp_column_for(change.to);
  std::string sql = "UPDATE payouts SET status = $1, updated_at = $2, ";
  if (!column.empty()) sql += std::string(column) + " = $2, ";
  // A terminal payout has nothing left for the engine: no follow-up, no lease.
  if (status_is_terminal(change.to)) {
    sql += "engine_next_at = NULL, engine_claimed_by = NULL, engine_lease_until = NULL, ";
  }
  sql +=
      "failure_code = coalesce($3, failure_code), failure_reason = coalesce($4, failure_reason), "
      "bank_reference_id = coalesce($5, bank_reference_id), "
      "cancel_requested_at = coalesce($6, cancel_requested_at), event_seq = event_seq + 1 "
      "WHERE cashout_id = $7 AND status = $8 AND event_seq = $9";
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, connection_.prepare(sql));
  Statement& s = *statement;
  s.bind(1, status_name(change.to));
  s.bind(2, change.at);
  s.bind(3, change.failure_code);
  s.bind(4, change.failure_reason);
  s.bind(5, change.bank_reference_id);
  s.bind(6, change.cancel_requested_at);
  s.bind(7, change.cashout_id);
  s.bind(8, status_name(change.from));
  s.bind(9, static_cast<int64_t>(change.expected_event_seq));
  Status updated = s.execute();
  if (!updated.is_ok()) return unmapped(s, "apply status change");
  if (s.changes() != 1) {
    return Status::error(ErrorKind::kConflict,
                         "payout " + std::to_string(change.cashout_id) +
                             " is no longer in the expected status or event sequence");
  }
  return Status::ok();
}

Status SqlWriteTx::insert_event(const PayoutEvent& event) {
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "INSERT INTO payout_events (cashout_id, seq, event_type, from_status, to_status, "
          "actor_type, message, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"));
  Statement& s = *statement;
  s.bind(1, event.cashout_id);
  s.bind(2, static_cast<int64_t>(event.seq));
  s.bind(3, event.event_type);
  if (event.from_status) {
    s.bind(4, status_name(*event.from_status));
  } else {
    s.bind_null(4, SqlType::kText);
  }
  s.bind(5, status_name(event.to_status));
  s.bind(6, actor_name(event.actor));
  s.bind(7, event.message);
  s.bind(8, event.created_at);
  Status inserted = s.execute();
  if (!inserted.is_ok()) {
    if (s.last_error().violated(Constraint::kPayoutEventSeq)) {
      return Status::error(ErrorKind::kConflict, "payout " + std::to_string(event.cashout_id) +
                                                     " already has event " +
                                                     std::to_string(event.seq));
    }
    if (s.last_error().is_foreign_key()) return Status::not_found("payout not found");
    return unmapped(s, "insert payout event");
  }
  return Status::ok();
}

Status SqlWriteTx::insert_outbox(const OutboxMessage& message) {
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "INSERT INTO outbox (cashout_id, event_seq, channel, endpoint_id, target_url, payload, "
          "status, attempts, next_attempt_at, created_at, updated_at, event_id, give_up_at, "
          "destination) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8, $8, $9, $10, $11)"));
  Statement& s = *statement;
  s.bind(1, message.cashout_id);
  s.bind(2, static_cast<int64_t>(message.event_seq));
  s.bind(3, message.channel);
  s.bind(4, message.endpoint_id);
  s.bind(5, message.target_url);
  s.bind(6, message.payload);
  s.bind(7, outbox_status_name(message.status));
  s.bind(8, message.created_at);
  s.bind(9, message.event_id);
  s.bind(10, message.give_up_at);
  s.bind(11, message.destination.empty() ? notification_destination(message.target_url)
                                         : message.destination);
  Status inserted = s.execute();
  if (!inserted.is_ok()) {
    if (s.last_error().is_foreign_key()) return Status::not_found("payout not found");
    if (s.last_error().violated(Constraint::kOutboxOnePerDestination)) {
      return Status::error(ErrorKind::kAlreadyExists,
                           "event " + message.event_id + " already has a notification to " +
                               message.channel + " destination");
    }
    return unmapped(s, "insert outbox message");
  }
  return Status::ok();
}

}  // namespace payoutd::sql
