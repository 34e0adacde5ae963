// The store interface. Two backends implement it with the same semantics over one shared SQL
// layer (store/sql/): SQLite (store/sqlite/, the embedded default) and PostgreSQL
// (store/postgres/, several nodes on one database). The database is the single source of truth: nothing here caches
// a balance or a status in memory.
//
// Reads run in a read transaction (a consistent snapshot) on a pooled read connection.
// Writes are WriteOps submitted to the backend's writer, which merges concurrent ops into one
// database transaction and one fsync (group commit). Each op runs inside its own savepoint: an op
// that returns a non-ok Status rolls back only its own changes and keeps its refusal as a value.
// An op's complete() runs only after the transaction's commit is durable, so no caller can answer
// 2xx before its commit.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/payout_status.h"
#include "core/status.h"
#include "core/types.h"

namespace payoutd {

// How a caller names a payout. Exactly one of the fields is set.
struct PayoutRef {
  std::optional<int64_t> cashout_id;
  std::optional<std::string> public_id;
  std::optional<std::string> external_id;  // needs a merchant scope

  static PayoutRef by_cashout_id(int64_t id) { return {id, std::nullopt, std::nullopt}; }
  static PayoutRef by_public_id(std::string id) { return {std::nullopt, std::move(id), std::nullopt}; }
  static PayoutRef by_external_id(std::string id) {
    return {std::nullopt, std::nullopt, std::move(id)};
  }
};

enum class PayoutSortKey : uint8_t { kCreatedAt = 0, kAmount, kStatus };

// Hard bounds on every page: the store refuses larger requests with kInvalidArgument.
inline constexpr int kMaxPageSize = 1000;

struct PayoutQuery {
  int64_t merchant_id = 0;  // required: every query is tenant-scoped
  std::optional<std::array<bool, kPayoutStatusCount>> statuses;  // nullopt = any
  std::optional<std::string> currency;
  std::optional<std::string> external_id;
  std::optional<std::string> search;  // external_id or beneficiary email, exact match
  std::optional<int64_t> created_from;  // inclusive, unix micros
  std::optional<int64_t> created_to;    // inclusive, unix micros
  PayoutSortKey sort_key = PayoutSortKey::kCreatedAt;
  bool descending = true;
  int page = 1;    // >= 1
  int limit = 20;  // 1..kMaxPageSize
};

struct PayoutPage {
  std::vector<Payout> items;
  int64_t total_count = 0;
};

struct WalletTransactionQuery {
  int64_t merchant_id = 0;  // required
  std::optional<int64_t> wallet_id;
  std::optional<std::string> type;              // DEPOSIT | ADJUSTMENT | PAYOUT | PAYOUT_REFUND
  std::optional<std::string> transaction_type;  // CREDIT | DEBIT
  std::optional<std::string> reference_id;
  int page = 1;
  int limit = 20;
};

struct WalletTransactionPage {
  std::vector<WalletTransaction> items;  // newest first
  int64_t total_count = 0;
};

struct WalletQuery {
  int64_t merchant_id = 0;
  std::optional<std::string> currency;
  int page = 1;
  int limit = 20;
};

struct WalletPage {
  std::vector<Wallet> items;
  int64_t total_count = 0;
};

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

// A status change claimed by compare-and-set: applied only if the row's status is still `from`.
struct StatusChange {
  int64_t cashout_id = 0;
  PayoutStatus from = PayoutStatus::kCreated;
  PayoutStatus to = PayoutStatus::kCreated;
  int32_t expected_event_seq = 0;  // the row's event_seq must still be this; becomes +1
  int64_t at = 0;                  // unix micros; sets updated_at and the status's timestamp column
  std::optional<int> failure_code;
  std::optional<std::string> failure_reason;
  std::optional<std::string> bank_reference_id;
  std::optional<int64_t> cancel_requested_at;
};

// ---- Payouts v1 dialect: bearer tokens and Idempotency-Key records (schema migration 2) ----

enum class ApiTokenKind : uint8_t { kAccess = 0, kRefresh };

// A v1 bearer token as stored: never the token text, only its SHA-256.
struct ApiToken {
  std::string token_hash;  // raw SHA-256 of the token text, 32 bytes
  int64_t merchant_id = 0;
  // Every token issued by one login and its refreshes shares a family: presenting a rotated-out
  // refresh token revokes the family.
  std::string family_id;
  ApiTokenKind kind = ApiTokenKind::kAccess;
  int64_t expires_at = 0;  // unix micros
  std::optional<int64_t> revoked_at;
  std::optional<std::string> replaced_by_hash;  // refresh tokens: the hash of their successor
  int64_t created_at = 0;
};

// The first response to a create carrying an Idempotency-Key, kept so that a retry gets the same
// bytes back.
struct IdempotencyRecord {
  int64_t merchant_id = 0;
  std::string key;           // the header value, 1..256 bytes
  std::string request_hash;  // fingerprint of the request that used the key first
  int response_status = 0;
  std::string response_body;  // exact bytes
  int64_t created_at = 0;
  int64_t expires_at = 0;  // unix micros; an expired record is as good as absent
};

// ---- Engine bookkeeping (schema migration 3) ----
// Kept in the payouts row beside the payout but never shown on either wire.

// What the payout's connector has told us about the submission.
enum class ConnectorState : uint8_t {
  kNone = 0,     // not handed to a connector
  kSubmitting,   // claimed for submission; the connector's answer is not recorded yet
  kAccepted,     // the connector has it (connector_reference set)
  kUnknown,      // a call timed out: the outcome is unknown until a query answers (reconciliation)
};
std::string_view connector_state_name(ConnectorState state);
std::optional<ConnectorState> parse_connector_state_name(std::string_view name);

// A merchant's cancel of a `processing` payout that the connector answers later.
enum class CancelRequestState : uint8_t { kNone = 0, kPending, kRefused };
std::string_view cancel_request_state_name(CancelRequestState state);
std::optional<CancelRequestState> parse_cancel_request_state_name(std::string_view name);

// The engine's view of one payout.
struct EngineTask {
  int64_t cashout_id = 0;
  PayoutStatus status = PayoutStatus::kCreated;
  int32_t event_seq = 0;
  int64_t updated_at = 0;
  ConnectorState connector_state = ConnectorState::kNone;
  CancelRequestState cancel_state = CancelRequestState::kNone;
  std::optional<int64_t> next_at;        // when the engine must look again; null = nothing timed
  std::optional<std::string> claimed_by;  // lease owner (an engine instance id)
  std::optional<int64_t> lease_until;
  int32_t attempts = 0;                   // consecutive unknown answers (reconciliation backoff)
};

// The kinds of due work, each one indexed query.
enum class EngineWork : uint8_t {
  kScreen = 0,  // status created (oldest first)
  kSubmit,      // status queued, lease free or expired
  kFollow,      // next_at <= now, lease free or expired (processing, settling, completed, ...)
  kExpire,      // status on_hold / action_required entered before the given cut-off
};

struct EngineDueQuery {
  EngineWork work = EngineWork::kScreen;
  int64_t now = 0;
  // kExpire only: payouts whose status was entered at or before these instants (unix micros).
  int64_t on_hold_cutoff = 0;
  int64_t action_required_cutoff = 0;
  int limit = 100;  // 1..kMaxPageSize
};

// New engine bookkeeping for a payout whose lease `owner` holds (or, with an empty owner, for a
// payout nobody may hold a live lease on). Every field is written as given; `release` clears the
// lease.
struct EngineTaskUpdate {
  int64_t cashout_id = 0;
  std::string owner;  // the lease holder; must match claimed_by (kConflict otherwise)
  int64_t now = 0;
  ConnectorState connector_state = ConnectorState::kNone;
  CancelRequestState cancel_state = CancelRequestState::kNone;
  std::optional<int64_t> next_at;
  int32_t attempts = 0;
  bool release = true;                // clear claimed_by / lease_until
  std::optional<int64_t> lease_until;  // when !release: the renewed lease
  std::optional<std::string> connector;            // set when given
  std::optional<std::string> connector_reference;  // set when given
};

// A simulated rail's own record of one payout (the sandbox connector keeps its rail in the same
// database so that every payoutd process sees one rail). `submissions` counts submit calls: more
// than one means a payout was submitted twice, which the tests look for.
struct RailRecord {
  std::string connector;   // "sandbox"
  std::string payout_key;  // the payout's public id: the idempotency key of the submission
  std::string reference;   // the rail's reference
  int64_t submitted_at = 0;
  int32_t submissions = 0;
  std::optional<int64_t> cancel_requested_at;
  int64_t updated_at = 0;
};

// ---- Notifications (migration 4) ----
// A bound on webhook endpoints per merchant (the v1 API refuses more).
inline constexpr int kMaxWebhookEndpointsPerMerchant = 16;

// Rows the dispatcher may send now (ReadTx::outbox_due).
struct OutboxDueQuery {
  int64_t now = 0;
  int limit = 100;                 // 1..kMaxPageSize
  int per_destination_limit = 4;   // at most this many rows of one destination in the answer
  // Destinations whose in-flight limit is reached: none of their rows is returned, so their
  // backlog cannot crowd other destinations out of the answer.
  std::vector<std::string> excluded_destinations;
};

// The outbox rows a listing shows (CLI `notifications list`), newest first.
struct OutboxQuery {
  std::optional<OutboxStatus> status;
  std::optional<int64_t> merchant_id;
  std::optional<std::string> event_id;
  int limit = 100;  // 1..kMaxPageSize
};

// The delivery log of one endpoint (or of every v3 notification of a merchant), newest first.
struct DeliveryAttemptQuery {
  std::optional<int64_t> endpoint_id;
  std::optional<std::string> event_id;
  int page = 1;
  int limit = 20;  // 1..kMaxPageSize
};

struct DeliveryAttemptPage {
  std::vector<DeliveryAttempt> items;
  int64_t total_count = 0;
};

struct OutboxCounts {
  int64_t pending = 0;
  int64_t failed = 0;
};

// The outcome of one attempt for the row whose lease `owner` holds.
struct DeliveryRecord {
  int64_t outbox_id = 0;
  std::string owner;
  DeliveryAttempt attempt;        // appended to the log (outbox_id, event_id, channel filled in)
  OutboxStatus next_status = OutboxStatus::kPending;
  int64_t next_attempt_at = 0;    // when next_status is pending
  int64_t now = 0;
};

// Reads. Implemented by a backend over one connection inside one transaction.
class ReadTx {
 public:
  virtual ~ReadTx() = default;

  virtual Result<Merchant> merchant_by_id(int64_t merchant_id) = 0;
  virtual Result<Merchant> merchant_by_login(std::string_view login) = 0;
  virtual Result<Merchant> merchant_by_api_username(std::string_view username) = 0;
  // The merchant of the v1 access token whose SHA-256 is `token_hash`, if that token is valid at
  // `now` (an access token, not revoked, expires_at > now); kNotFound otherwise. One statement,
  // so that per-request authentication can run under Store::read_single.
  virtual Result<Merchant> merchant_by_access_token(std::string_view token_hash, int64_t now) = 0;
  virtual Result<std::vector<Merchant>> list_merchants() = 0;
  // Default (all zero) when the merchant has none for that currency.
  virtual Result<FeeSchedule> fee_schedule(int64_t merchant_id, std::string_view currency) = 0;

  virtual Result<Wallet> wallet_by_id(int64_t merchant_id, int64_t wallet_id) = 0;
  virtual Result<Wallet> wallet_by_currency(int64_t merchant_id, std::string_view currency) = 0;
  virtual Result<WalletPage> list_wallets(const WalletQuery& query) = 0;

  // merchant_id 0 = any merchant (operator tools only). external_id refs need a merchant.
  virtual Result<Payout> find_payout(int64_t merchant_id, const PayoutRef& ref) = 0;
  virtual Result<std::vector<PayoutEvent>> payout_events(int64_t cashout_id) = 0;
  virtual Result<PayoutPage> list_payouts(const PayoutQuery& query) = 0;
  virtual Result<WalletTransactionPage> list_wallet_transactions(
      const WalletTransactionQuery& query) = 0;

  // All six invariants of domain.md, computed with set-based SQL over the whole database.
  virtual Result<LedgerReport> check_ledger() = 0;

  // v1 tokens and idempotency keys. kNotFound when absent. Expired or revoked rows are returned
  // as they are: the caller decides what they mean.
  virtual Result<ApiToken> api_token_by_hash(std::string_view token_hash) = 0;
  virtual Result<IdempotencyRecord> idempotency_record(int64_t merchant_id,
                                                       std::string_view key) = 0;

  // Engine. kNotFound when there is no such payout.
  virtual Result<EngineTask> engine_task(int64_t cashout_id) = 0;
  // Due work of one kind, oldest first, at most query.limit rows.
  virtual Result<std::vector<EngineTask>> engine_due(const EngineDueQuery& query) = 0;
  // A simulated rail's record; kNotFound when the rail never saw the payout.
  virtual Result<RailRecord> rail_record(std::string_view connector,
                                         std::string_view payout_key) = 0;
  // Payout keys the rail saw more than once (a double submission: always a bug), up to `limit`.
  virtual Result<std::vector<RailRecord>> rail_duplicate_submissions(std::string_view connector,
                                                                     int limit) = 0;
  virtual Result<int64_t> rail_record_count(std::string_view connector) = 0;

  // Notifications. A merchant's live webhook endpoints (not deleted), oldest first.
  virtual Result<std::vector<WebhookEndpoint>> webhook_endpoints(int64_t merchant_id) = 0;
  // One endpoint by its public id; kNotFound when absent, deleted, or another merchant's.
  virtual Result<WebhookEndpoint> webhook_endpoint(int64_t merchant_id,
                                                   std::string_view public_id) = 0;
  // One endpoint by row id, deleted or not (the dispatcher); kNotFound when absent.
  virtual Result<WebhookEndpoint> webhook_endpoint_by_id(int64_t endpoint_id) = 0;
  // Rows the dispatcher may send now, oldest due first, at most `query.limit`: pending, due, not
  // under a live lease, the earliest pending row of their (payout, destination) sequence (so that
  // notifications of one payout to one destination go out in event order), at most
  // `per_destination_limit` per destination and none of an excluded destination (so that one
  // destination's backlog never hides another's due rows).
  virtual Result<std::vector<OutboxMessage>> outbox_due(const OutboxDueQuery& query) = 0;
  virtual Result<OutboxMessage> outbox_message(int64_t outbox_id) = 0;
  virtual Result<std::vector<OutboxMessage>> list_outbox(const OutboxQuery& query) = 0;
  virtual Result<OutboxCounts> outbox_counts() = 0;
  virtual Result<DeliveryAttemptPage> delivery_attempts(const DeliveryAttemptQuery& query) = 0;
};

// Write primitives used by the domain commands (commands/). Runs inside the writer's transaction
// and the op's savepoint; every read here sees the transaction's own writes.
class WriteTx : public ReadTx {
 public:
  // Merchants. kAlreadyExists when login or api_username is taken.
  virtual Result<int64_t> insert_merchant(const Merchant& merchant) = 0;
  virtual Status update_merchant_status(int64_t merchant_id, MerchantStatus status, int64_t at) = 0;
  // Replaces login, pass, secret_key and v1 credentials (fields of `merchant`).
  virtual Status update_merchant_credentials(const Merchant& merchant) = 0;
  virtual Status upsert_fee_schedule(int64_t merchant_id, std::string_view currency,
                                     const FeeSchedule& schedule, int64_t at) = 0;

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

  // Assigns payout.cashout_id (returned). kAlreadyExists when (merchant, external_id) is taken.
  virtual Result<int64_t> insert_payout(const Payout& payout) = 0;
  // Conditional update: kConflict when the row's status or event_seq changed (a lost race).
  virtual Status apply_status_change(const StatusChange& change) = 0;
  virtual Status insert_event(const PayoutEvent& event) = 0;
  virtual Status insert_outbox(const OutboxMessage& message) = 0;

  // v1 tokens. kAlreadyExists when a token with that hash exists (a CSPRNG collision: a bug).
  virtual Status insert_api_token(const ApiToken& token) = 0;
  // Rotates a live token out: sets revoked_at and replaced_by_hash. kConflict when the token is
  // already revoked or rotated (a lost race), kNotFound when there is no such token.
  virtual Status rotate_api_token(std::string_view token_hash, std::string_view replaced_by_hash,
                                  int64_t at) = 0;
  // Revoke every not yet revoked token of a family / of a merchant; the number revoked.
  virtual Result<int64_t> revoke_api_token_family(std::string_view family_id, int64_t at) = 0;
  virtual Result<int64_t> revoke_merchant_api_tokens(int64_t merchant_id, int64_t at) = 0;
  // Deletes up to `limit` of the merchant's tokens whose expires_at is before `now`; the number
  // deleted. Bounded so that no request pays for an unbounded cleanup.
  virtual Result<int64_t> delete_expired_api_tokens(int64_t merchant_id, int64_t now,
                                                    int limit) = 0;

  // Idempotency keys. kAlreadyExists when (merchant, key) is taken.
  virtual Status insert_idempotency_record(const IdempotencyRecord& record) = 0;
  // Ok whether or not the record existed.
  virtual Status delete_idempotency_record(int64_t merchant_id, std::string_view key) = 0;
  // As delete_expired_api_tokens, for the merchant's idempotency records.
  virtual Result<int64_t> delete_expired_idempotency_records(int64_t merchant_id, int64_t now,
                                                             int limit) = 0;

  // ---- Engine ----
  // Takes the lease on a payout for `owner` until `lease_until`: only while the payout is still
  // in `expected_status` and no other owner holds a live lease (claimed_by null, lease_until <=
  // now, or already `owner`). kConflict otherwise (someone else has it, or it moved on).
  virtual Status claim_engine_lease(int64_t cashout_id, PayoutStatus expected_status,
                                    std::string_view owner, int64_t now, int64_t lease_until) = 0;
  // Writes the engine bookkeeping of EngineTaskUpdate. kConflict when `owner` does not hold the
  // lease (it expired and another instance took it over).
  virtual Status update_engine_task(const EngineTaskUpdate& update) = 0;
  // Records a merchant's cancel request of a processing payout: sets cancel_requested_at (kept
  // when already set), cancel_state pending, and makes the payout due for the engine at `at`.
  // kConflict when the payout is no longer processing.
  virtual Status request_cancel(int64_t cashout_id, int64_t at) = 0;
  // The first write of a merchant's synchronous cancel of a processing payout the connector has
  // accepted, before the connector is asked: takes the engine lease for `owner` (free or expired)
  // and sets cancel_state pending, without touching what the dialects show (cancel_requested_at,
  // updated_at: set only when the answer is "later"), and makes the payout due for the engine by
  // `lease_until`. So an
  // instance that dies after the connector's answer leaves a pending request that the engine
  // finishes once the lease runs out, and no other instance asks the rail meanwhile. kConflict
  // when the payout is not processing and accepted, or its lease is held (by another instance, or
  // by this instance's own engine pass: the two must not both ask the rail).
  virtual Status begin_processing_cancel(int64_t cashout_id, std::string_view owner, int64_t now,
                                         int64_t lease_until) = 0;
  // Undoes begin_processing_cancel when the connector answered "too late" (a refused cancel
  // leaves no trace, domain.md): cancel_state back to `previous_state`, the lease released. When
  // another request recorded itself meanwhile (cancel_requested_at no longer
  // `previous_requested_at`), the rail's answer is its answer too: cancel_state refused. kConflict
  // when `owner` no longer holds the lease.
  virtual Status withdraw_processing_cancel(int64_t cashout_id, std::string_view owner,
                                            CancelRequestState previous_state,
                                            std::optional<int64_t> previous_requested_at) = 0;
  // Makes a payout due for the engine at `at` (a connector's callback said it changed), when it
  // is processing, settling, action_required or completed; kNotFound otherwise.
  virtual Status poke_engine_task(int64_t cashout_id, int64_t at) = 0;
  // Inserts or replaces a simulated rail's record.
  virtual Status put_rail_record(const RailRecord& record) = 0;

  // ---- Notifications ----
  // Assigns endpoint.id (returned). kAlreadyExists when the public id is taken.
  virtual Result<int64_t> insert_webhook_endpoint(const WebhookEndpoint& endpoint) = 0;
  // Marks the endpoint deleted and fails its pending rows (nothing more is sent to it).
  // kNotFound when absent, already deleted, or another merchant's.
  virtual Status delete_webhook_endpoint(int64_t merchant_id, std::string_view public_id,
                                         int64_t at) = 0;
  // Takes the lease on a pending row for `owner` until `lease_until`, only while it is pending,
  // not under another live lease, and still the head of its sequence. kConflict otherwise.
  virtual Status claim_outbox_message(int64_t outbox_id, std::string_view owner, int64_t now,
                                      int64_t lease_until) = 0;
  // Appends the attempt to the delivery log and, when `owner` still holds the lease, moves the
  // row on (delivered / pending again at next_attempt_at / failed) and releases the lease. A
  // rescheduled row pushes the later rows of its sequence to the same time, so that the due query
  // does not keep finding rows that must wait (a row given up releases them at once). Returns false when the lease had been
  // lost (the attempt is still logged; the row is left to its new owner).
  virtual Result<bool> record_delivery(const DeliveryRecord& record) = 0;
  // Makes the rows of one event (all channels, or one) pending again, due at `now`, with a new
  // retry window ending at `give_up_at` and the backoff starting over (attempts = 0; the
  // delivery log keeps every earlier attempt). Rows under a live lease are left alone (they are being
  // sent). Returns the number of rows requeued; 0 when the event has no rows.
  virtual Result<int64_t> redeliver_event(int64_t cashout_id, int32_t event_seq,
                                          std::optional<std::string_view> channel, int64_t now,
                                          int64_t give_up_at) = 0;
};

// A unit of work for the batching writer.
class WriteOp {
 public:
  virtual ~WriteOp() = default;
  // Runs inside its own savepoint of a batch transaction. A non-ok Status rolls back only this op.
  virtual Status apply(WriteTx& tx) = 0;
  // Called exactly once, after the batch's commit is durable (with the status apply returned) or
  // after the batch failed (with that failure).
  virtual void complete(Status status) = 0;
  // True when apply() may run with its writes buffered and written together with other such
  // ops' (PostgreSQL: store/sql/deferred_tx.h): it must not read back what it wrote (its payout's
  // events, say). apply() may then run twice (the group fell back): it must not depend on having
  // run before.
  virtual bool defers_writes() const { return false; }
  // For an op that defers its writes: the payout (cashout id) it is about, when known ahead, so
  // that a write group reads all its payouts with one statement.
  virtual std::optional<int64_t> deferred_payout() const { return std::nullopt; }
};

// Counters of a store's batching writer, for /metrics (commit batch sizes) and tests.
inline constexpr std::array<uint64_t, 11> kBatchSizeBucketBounds = {1,  2,  4,   8,   16,  32,
                                                                     64, 128, 256, 512, 1024};
struct WriterStats {
  uint64_t batches_committed = 0;
  uint64_t ops_committed = 0;  // ops in committed batches, including ops their own apply refused
  uint64_t ops_refused = 0;    // of those, ops whose apply returned non-ok (savepoint rolled back)
  uint64_t batches_failed = 0; // batches whose BEGIN or COMMIT failed
  uint64_t ops_failed = 0;     // ops completed with a batch failure, a full queue or a closed store
  // PostgreSQL write groups (StoreOptions::group_deferred_writes): written set-wise, and rolled
  // back to be applied op by op.
  uint64_t write_groups = 0;
  uint64_t write_groups_fallen_back = 0;
  // batch_size_buckets[i]: committed batches with size <= kBatchSizeBucketBounds[i] and above the
  // previous bound; the last entry counts batches above every bound (a Prometheus histogram's
  // buckets, not yet cumulative).
  std::array<uint64_t, kBatchSizeBucketBounds.size() + 1> batch_size_buckets{};
};

class Store {
 public:
  virtual ~Store() = default;

  // Applies pending migrations (versioned, forward-only). Safe to run concurrently from several
  // processes.
  virtual Status migrate() = 0;

  // Runs `body` in a read transaction. The body's Status is returned.
  virtual Status read(const std::function<Status(ReadTx&)>& body) = 0;
  // Runs `body`, which reads with one statement, without a transaction around it: a single
  // statement sees one consistent snapshot on its own (both backends), and PostgreSQL is spared
  // the round trips of BEGIN and COMMIT — two of the three a one-lookup read costs (the
  // per-request authentication read). REQUIRES: body prepares at most one statement (asserted).
  virtual Status read_single(const std::function<Status(ReadTx&)>& body) = 0;

  // Queues `op` for the writer (group commit). Never blocks on the database; complete() is called
  // on the writer's thread. When the queue is full, complete(kUnavailable) is called at once.
  virtual void submit(std::unique_ptr<WriteOp> op) = 0;

  // Convenience: submits `body` and waits for its durable outcome.
  // REQUIRES: not called from a WriteOp's apply() or complete() (the writer thread would wait on
  // itself).
  Status write(std::function<Status(WriteTx&)> body);

  // Stops the writer after draining queued ops. Idempotent.
  virtual void close() = 0;

  // A snapshot of the writer's counters. Cheap; callable from any thread.
  virtual WriterStats writer_stats() const { return {}; }
};

struct StoreOptions {
  int read_connections = 8;
  int max_batch_ops = 256;          // ops merged into one transaction at most
  int max_queued_ops = 16384;       // submit() beyond this fails fast with kUnavailable
  int busy_timeout_ms = 5000;       // waiting for another process's write lock
  // PostgreSQL: consecutive ops of a batch that defer their writes (WriteOp::defers_writes) are
  // written together, one statement per table (store/sql/deferred_tx.h). Off: one op at a time.
  bool group_deferred_writes = true;
};

// Opens a store from a database URL (operations.md): sqlite:///abs.db, sqlite://./rel.db, or
// postgresql://user[:password]@host:port/database[?params] (libpq's URI form). Exceptions are not used; a bad URL or
// an unopenable database is a Status.
Result<std::unique_ptr<Store>> open_store(std::string_view database_url, const StoreOptions& options);

}  // namespace payoutd
