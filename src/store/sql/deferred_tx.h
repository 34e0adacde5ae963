// A WriteTx that runs a group of ops of one batch with their writes buffered, then writes the whole
// group with one statement (PostgreSQL; a writable CTE per table). Why: on PostgreSQL the writer's
// limit is executing statements one round trip after another (a cancel is ~15), not commits; the
// same rows written set-wise cost a fraction (docs/benchmarks.md: 625 vs 3,850 cancels/s on one
// connection).
//
// Only what a client cancel of a not-yet-submitted payout does is supported: reads of the payout
// (from the database), of wallets, merchants and webhook endpoints (from the database once per
// group, then from memory: the writer holds the database's writer lock, so nobody else changes
// them), and the buffered writes of the transition — the status change, the refund journal (the
// payout's movement), the wallet transaction, the event, the outbox rows. Wallet reads show the group's
// pending balance changes, as the per-op path's reads would. Anything else, and any read that
// could miss a buffered row, *refuses*: the writer then rolls the group back and runs its ops one
// by one on the ordinary path, which decides every edge case as before. flush() fails the same
// way when a statement fails or changes another number of rows than buffered (a lost claim, a
// constraint), so the ordinary path stays the only one that ever answers an edge case.
//
// Ids of the journal transactions and wallet transactions are taken from their identity
// sequences ahead (one of each per prefetched payout, in the prefetch's statement; more, when an
// op needs them, one round trip for both), so an op gets them at once as on the per-op path.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/sql/transactions.h"

namespace payoutd::sql {

class DeferredWriteTx final : public SqlReader<WriteTx> {
 public:
  // REQUIRES: connection.dialect() == Dialect::kPostgresql, inside the writer's transaction.
  DeferredWriteTx(Connection& connection, size_t group_ops);

  // Brackets one op: begin_op() before its apply; discard_op() when the apply refused (returned
  // non-ok), dropping what it buffered, as the per-op savepoint's rollback would.
  void begin_op();
  void discard_op();
  // Reads these payouts with one statement, with their merchants and wallets and one id of each
  // identity sequence per payout (queries::group_prefetch); find_payout by one of these ids, and
  // the reads of those merchants and wallets, are then answered from memory. REQUIRES: before the
  // first op.
  Status prefetch_payouts(std::vector<int64_t> cashout_ids);
  // True once an op asked for something this transaction cannot defer: the group must fall back.
  bool refused() const { return refused_; }
  // Writes every buffered row. REQUIRES: !refused(). A non-ok Status means the group must fall
  // back (after a rollback to the group's savepoint: a failed statement aborts the transaction).
  Status flush();

  // Reads.
  Result<Merchant> merchant_by_id(int64_t merchant_id) override;
  Result<Wallet> wallet_by_id(int64_t merchant_id, int64_t wallet_id) override;
  Result<Wallet> wallet_by_currency(int64_t merchant_id, std::string_view currency) override;
  Result<Payout> find_payout(int64_t merchant_id, const PayoutRef& ref) override;
  Result<std::vector<WebhookEndpoint>> webhook_endpoints(int64_t merchant_id) override;
  // Reads that could miss a buffered row: refused.
  Result<WalletPage> list_wallets(const WalletQuery& query) override;
  Result<std::vector<PayoutEvent>> payout_events(int64_t cashout_id) override;
  Result<PayoutPage> list_payouts(const PayoutQuery& query) override;
  Result<WalletTransactionPage> list_wallet_transactions(
      const WalletTransactionQuery& query) override;
  Result<LedgerReport> check_ledger() override;
  Result<EngineTask> engine_task(int64_t cashout_id) override;
  Result<std::vector<EngineTask>> engine_due(const EngineDueQuery& query) override;
  Result<std::vector<OutboxMessage>> outbox_due(const OutboxDueQuery& query) override;
  Result<OutboxMessage> outbox_message(int64_t outbox_id) override;
  Result<std::vector<OutboxMessage>> list_outbox(const OutboxQuery& query) override;
  Result<OutboxCounts> outbox_counts() override;
  Result<DeliveryAttemptPage> delivery_attempts(const DeliveryAttemptQuery& query) override;

  // Buffered writes.
  Status apply_status_change(const StatusChange& change) override;
  Result<int64_t> post_journal(const JournalPosting& posting) override;
  Result<int64_t> insert_wallet_transaction(const WalletTransaction& transaction) override;
  Status insert_event(const PayoutEvent& event) override;
  Status insert_outbox(const OutboxMessage& message) override;

  // Every other write: refused.
  Result<int64_t> insert_merchant(const Merchant& merchant) override;
  Status update_merchant_status(int64_t merchant_id, MerchantStatus status, int64_t at) override;
  Status update_merchant_credentials(const Merchant& merchant) override;
  Status upsert_fee_schedule(int64_t merchant_id, std::string_view currency,
                             const FeeSchedule& schedule, int64_t at) override;
  Result<Wallet> insert_wallet(int64_t merchant_id, std::string_view currency,
                               int64_t at) override;
  Result<int64_t> platform_account(std::string_view currency, AccountKind kind) override;
  Result<int64_t> insert_payout(const Payout& payout) override;
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
  Result<int64_t> insert_webhook_endpoint(const WebhookEndpoint& endpoint) override;
  Status delete_webhook_endpoint(int64_t merchant_id, std::string_view public_id,
                                 int64_t at) override;
  Status claim_outbox_message(int64_t outbox_id, std::string_view owner, int64_t now,
                              int64_t lease_until) override;
  Result<bool> record_delivery(const DeliveryRecord& record) override;
  Result<int64_t> redeliver_event(int64_t cashout_id, int32_t event_seq,
                                  std::optional<std::string_view> channel, int64_t now,
                                  int64_t give_up_at) override;

 private:
  struct Change {
    int64_t cashout_id;
    PayoutStatus from;
    int32_t expected_event_seq;
    int64_t at;
  };
  struct Journal {
    int64_t id;
    std::string kind;
    int64_t cashout_id;
    std::string currency;
    int64_t created_at;
  };
  struct Entry {
    int64_t journal_id;
    int64_t account_id;
    int64_t amount_minor;
    std::string currency;
    int64_t at;
  };
  // Where each buffer stood when the current op began (discard_op truncates back to it).
  struct Mark {
    size_t changes, journals, entries, wallet_transactions, events, outbox;
  };

  Status refuse(std::string_view what);
  // The next id of a sequence (`taken` is journal_ids_ or wallet_transaction_ids_), taken ahead
  // in chunks of the group's size, both sequences with one statement.
  Result<int64_t> next_id(std::deque<int64_t>& taken);
  // The sum of the buffered entries of `account_id`, and the latest time one was posted.
  std::pair<int64_t, int64_t> pending(int64_t account_id) const;
  Wallet with_pending(Wallet wallet) const;
  // The cached wallet owning `account_id` (as its available or held account), or null.
  const Wallet* wallet_of_account(int64_t account_id) const;
  bool changes_payout(int64_t cashout_id) const;

  const size_t group_ops_;
  bool refused_ = false;
  Mark mark_{};

  std::vector<int64_t> prefetched_ids_;  // asked for (sorted), found or not
  std::vector<Payout> prefetched_;
  std::vector<Merchant> merchants_;
  std::vector<Wallet> wallets_;  // as read from the database (before this group's changes)
  std::vector<std::pair<int64_t, std::vector<WebhookEndpoint>>> endpoints_;
  std::deque<int64_t> journal_ids_;
  std::deque<int64_t> wallet_transaction_ids_;

  std::vector<Change> changes_;
  std::vector<Journal> journals_;
  std::vector<Entry> entries_;
  std::vector<WalletTransaction> wallet_transactions_;
  std::vector<PayoutEvent> events_;
  std::vector<OutboxMessage> outbox_;
};

}  // namespace payoutd::sql
