// ReadTx and WriteTx over one SQL connection (either backend). The caller (BatchingStore) owns
// the transaction boundaries: reads run inside a read transaction on a pooled connection, writes
// inside the writer's batch transaction and the op's savepoint.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/sql/connection.h"
#include "store/store.h"

namespace payoutd::sql {

// kInvalidArgument unless 1 <= limit <= kMaxPageSize: every bounded read or cleanup checks it.
inline Status check_row_limit(int limit) {
  if (limit < 1 || limit > kMaxPageSize) {
    return Status::invalid_argument("limit",
                                    "limit must be between 1 and " + std::to_string(kMaxPageSize));
  }
  return Status::ok();
}

// Runs an INSERT ... RETURNING <id> and reads the id. On failure the statement's last_error()
// tells what happened, as with execute().
inline Result<int64_t> insert_returning_id(Statement& statement) {
  PAYOUTD_ASSIGN_OR_RETURN(bool row, statement.step());
  PAYOUTD_ASSERT(row);  // RETURNING yields the inserted row
  return statement.column_int64(0);
}

// The read queries as functions of a connection, shared by both transaction kinds.
namespace queries {
Result<Merchant> merchant_by_id(Connection& connection, int64_t merchant_id);
Result<Merchant> merchant_by_login(Connection& connection, std::string_view login);
Result<Merchant> merchant_by_api_username(Connection& connection, std::string_view username);
Result<Merchant> merchant_by_access_token(Connection& connection, std::string_view token_hash,
                                          int64_t now);
Result<std::vector<Merchant>> list_merchants(Connection& connection);
Result<FeeSchedule> fee_schedule(Connection& connection, int64_t merchant_id,
                                 std::string_view currency);
Result<Wallet> wallet_by_id(Connection& connection, int64_t merchant_id, int64_t wallet_id);
Result<Wallet> wallet_by_currency(Connection& connection, int64_t merchant_id,
                                  std::string_view currency);
Result<WalletPage> list_wallets(Connection& connection, const WalletQuery& query);
Result<Payout> find_payout(Connection& connection, int64_t merchant_id, const PayoutRef& ref);
// What a write group reads before its first op (DeferredWriteTx::prefetch_payouts): the payouts
// of these ids that exist, in no order; their merchants and wallets, each once; and one id from
// each identity sequence (journal transactions, wallet transactions) per payout found.
struct GroupPrefetch {
  std::vector<Payout> payouts;
  std::vector<Merchant> merchants;
  std::vector<Wallet> wallets;
  std::vector<int64_t> journal_ids;
  std::vector<int64_t> wallet_transaction_ids;
};
// PostgreSQL only (an array parameter, sequences): one statement.
inline constexpr int kMaxPayoutsByIds = 1024;
Result<GroupPrefetch> group_prefetch(Connection& connection,
                                     const std::vector<int64_t>& cashout_ids);
Result<std::vector<PayoutEvent>> payout_events(Connection& connection, int64_t cashout_id);
Result<PayoutPage> list_payouts(Connection& connection, const PayoutQuery& query);
Result<WalletTransactionPage> list_wallet_transactions(Connection& connection,
                                                       const WalletTransactionQuery& query);
Result<LedgerReport> check_ledger(Connection& connection);
Result<ApiToken> api_token_by_hash(Connection& connection, std::string_view token_hash);
Result<IdempotencyRecord> idempotency_record(Connection& connection, int64_t merchant_id,
                                             std::string_view key);
// Engine bookkeeping (engine_tables.cc). engine_due_sql: the statement text of each kind of due
// work (exposed for the query-plan tests).
const std::string& engine_due_sql(EngineWork work);
Result<EngineTask> engine_task(Connection& connection, int64_t cashout_id);
Result<std::vector<EngineTask>> engine_due(Connection& connection, const EngineDueQuery& query);
// Notifications (notify_tables.cc). outbox_due_sql: exposed for the query-plan tests.
const std::string& outbox_due_sql(Dialect dialect = Dialect::kSqlite);
Result<std::vector<WebhookEndpoint>> webhook_endpoints(Connection& connection,
                                                       int64_t merchant_id);
Result<WebhookEndpoint> webhook_endpoint(Connection& connection, int64_t merchant_id,
                                         std::string_view public_id);
Result<WebhookEndpoint> webhook_endpoint_by_id(Connection& connection, int64_t endpoint_id);
Result<std::vector<OutboxMessage>> outbox_due(Connection& connection, const OutboxDueQuery& query);
Result<OutboxMessage> outbox_message(Connection& connection, int64_t outbox_id);
Result<std::vector<OutboxMessage>> list_outbox(Connection& connection, const OutboxQuery& query);
Result<OutboxCounts> outbox_counts(Connection& connection);
Result<DeliveryAttemptPage> delivery_attempts(Connection& connection,
                                              const DeliveryAttemptQuery& query);
}  // namespace queries

template <typename Interface>
class SqlReader : public Interface {
 public:
  explicit SqlReader(Connection& connection) : connection_(connection) {}

  Result<Merchant> merchant_by_id(int64_t merchant_id) override {
    return queries::merchant_by_id(connection_, merchant_id);
  }
  Result<Merchant> merchant_by_login(std::string_view login) override {
    return queries::merchant_by_login(connection_, login);
  }
  Result<Merchant> merchant_by_api_username(std::string_view username) override {
    return queries::merchant_by_api_username(connection_, username);
  }
  Result<Merchant> merchant_by_access_token(std::string_view token_hash, int64_t now) override {
    return queries::merchant_by_access_token(connection_, token_hash, now);
  }
  Result<std::vector<Merchant>> list_merchants() override {
    return queries::list_merchants(connection_);
  }
  Result<FeeSchedule> fee_schedule(int64_t merchant_id, std::string_view currency) override {
    return queries::fee_schedule(connection_, merchant_id, currency);
  }
  Result<Wallet> wallet_by_id(int64_t merchant_id, int64_t wallet_id) override {
    return queries::wallet_by_id(connection_, merchant_id, wallet_id);
  }
  Result<Wallet> wallet_by_currency(int64_t merchant_id, std::string_view currency) override {
    return queries::wallet_by_currency(connection_, merchant_id, currency);
  }
  Result<WalletPage> list_wallets(const WalletQuery& query) override {
    return queries::list_wallets(connection_, query);
  }
  Result<Payout> find_payout(int64_t merchant_id, const PayoutRef& ref) override {
    return queries::find_payout(connection_, merchant_id, ref);
  }
  Result<std::vector<PayoutEvent>> payout_events(int64_t cashout_id) override {
    return queries::payout_events(connection_, cashout_id);
  }
  Result<PayoutPage> list_payouts(const PayoutQuery& query) override {
    return queries::list_payouts(connection_, query);
  }
  Result<WalletTransactionPage> list_wallet_transactions(
      const WalletTransactionQuery& query) override {
    return queries::list_wallet_transactions(connection_, query);
  }
  Result<LedgerReport> check_ledger() override { return queries::check_ledger(connection_); }
  Result<ApiToken> api_token_by_hash(std::string_view token_hash) override {
    return queries::api_token_by_hash(connection_, token_hash);
  }
  Result<IdempotencyRecord> idempotency_record(int64_t merchant_id,
                                               std::string_view key) override {
    return queries::idempotency_record(connection_, merchant_id, key);
  }
  Result<EngineTask> engine_task(int64_t cashout_id) override {
    return queries::engine_task(connection_, cashout_id);
  }
  Result<std::vector<EngineTask>> engine_due(const EngineDueQuery& query) override {
    return queries::engine_due(connection_, query);
  }
  Result<std::vector<WebhookEndpoint>> webhook_endpoints(int64_t merchant_id) override {
    return queries::webhook_endpoints(connection_, merchant_id);
  }
  Result<WebhookEndpoint> webhook_endpoint(int64_t merchant_id,
                                           std::string_view public_id) override {
    return queries::webhook_endpoint(connection_, merchant_id, public_id);
  }
  Result<WebhookEndpoint> webhook_endpoint_by_id(int64_t endpoint_id) override {
    return queries::webhook_endpoint_by_id(connection_, endpoint_id);
  }
  Result<std::vector<OutboxMessage>> outbox_due(const OutboxDueQuery& query) override {
    return queries::outbox_due(connection_, query);
  }
  Result<OutboxMessage> outbox_message(int64_t outbox_id) override {
    return queries::outbox_message(connection_, outbox_id);
  }
  Result<std::vector<OutboxMessage>> list_outbox(const OutboxQuery& query) override {
    return queries::list_outbox(connection_, query);
  }
  Result<OutboxCounts> outbox_counts() override { return queries::outbox_counts(connection_); }
  Result<DeliveryAttemptPage> delivery_attempts(const DeliveryAttemptQuery& query) override {
    return queries::delivery_attempts(connection_, query);
  }

  // The underlying connection (store internals and tests only).
  Connection& connection() { return connection_; }

 protected:
  Connection& connection_;
};

class SqlReadTx final : public SqlReader<ReadTx> {
 public:
  using SqlReader<ReadTx>::SqlReader;
};

class SqlWriteTx final : public SqlReader<WriteTx> {
 public:
  using SqlReader<WriteTx>::SqlReader;

  Result<int64_t> insert_merchant(const Merchant& merchant) override;
  Status update_merchant_status(int64_t merchant_id, MerchantStatus status, int64_t at) override;
  Status update_merchant_credentials(const Merchant& merchant) override;
  Status upsert_fee_schedule(int64_t merchant_id, std::string_view currency,
                             const FeeSchedule& schedule, int64_t at) override;
  Result<Wallet> insert_wallet(int64_t merchant_id, std::string_view currency,
                               int64_t at) override;
  Result<int64_t> platform_account(std::string_view currency, AccountKind kind) override;
  Result<int64_t> post_journal(const JournalPosting& posting) override;
  Result<int64_t> insert_wallet_transaction(const WalletTransaction& transaction) override;
  Result<int64_t> insert_payout(const Payout& payout) override;
  Status apply_status_change(const StatusChange& change) override;
  Status insert_event(const PayoutEvent& event) override;
  Status insert_outbox(const OutboxMessage& message) override;
  // v1 tokens and idempotency keys (v1_tables.cc).
  Status insert_api_token(const ApiToken& token) override;
  Status rotate_api_token(std::string_view token_hash, std::string_view replaced_by_hash,
                          int64_t at) override;
  Result<int64_t> revoke_api_token_family(std::string_view family_id, int64_t at) override;
  Result<int64_t> revoke_merchant_api_tokens(int64_t merchant_id, int64_t at) override;
  Result<int64_t> delete_expired_api_tokens(int64_t merchant_id, int64_t now, int limit) override;
  Status insert_idempotency_record(const IdempotencyRecord& record) override;
  Status delete_idempotency_record(int64_t merchant_id, std::string_view key) override;
  Result<int64_t> delete_expired_idempotency_records(int64_t merchant_id, int64_t now,
                                                     int limit) override;
  // Engine bookkeeping (engine_tables.cc).
  Status claim_engine_lease(int64_t cashout_id, PayoutStatus expected_status,
                            std::string_view owner, int64_t now, int64_t lease_until) override;
  Status update_engine_task(const EngineTaskUpdate& update) override;
  Status request_cancel(int64_t cashout_id, int64_t at) override;
  Status begin_processing_cancel(int64_t cashout_id, std::string_view owner, int64_t now,
                                 int64_t lease_until) override;
  Status withdraw_processing_cancel(int64_t cashout_id, std::string_view owner,
                                    CancelRequestState previous_state,
                                    std::optional<int64_t> previous_requested_at) override;
  Status poke_engine_task(int64_t cashout_id, int64_t at) override;
  // Notifications (notify_tables.cc).
  Result<int64_t> insert_webhook_endpoint(const WebhookEndpoint& endpoint) override;
  Status delete_webhook_endpoint(int64_t merchant_id, std::string_view public_id,
                                 int64_t at) override;
  Status claim_outbox_message(int64_t outbox_id, std::string_view owner, int64_t now,
                              int64_t lease_until) override;
  Result<bool> record_delivery(const DeliveryRecord& record) override;
  Result<int64_t> redeliver_event(int64_t cashout_id, int32_t event_seq,
                                  std::optional<std::string_view> channel, int64_t now,
                                  int64_t give_up_at) override;
};

// Database vocabulary for enums the schema stores as text.
// The stored names are the core's names (core/types.h), so the schema's CHECK lists and the
// domain agree by construction.
inline std::string_view account_kind_sql(AccountKind kind) { return account_kind_name(kind); }

// The journal insert of a payout movement the payout already has: the unique (cashout_id, kind)
// index journal_one_movement_per_payout.
inline bool is_second_movement(const DatabaseError& error) {
  return error.violated(Constraint::kOneMovementPerPayout);
}
inline Status second_movement(const JournalPosting& posting) {
  return Status::error(ErrorKind::kAlreadyExists,
                       "payout " + std::to_string(posting.cashout_id.value_or(0)) +
                           " already has its " + posting.kind + " movement");
}

}  // namespace payoutd::sql
