// Domain commands: the one API every caller uses (both dialects, the engine, the operator CLI).
//
// Each write command is one WriteOp for the store's batching writer: it reads what it needs inside
// the transaction, checks the transition table (core/payout_status.h), claims the transition with
// a conditional write, posts the ledger movement, appends the event and the outbox rows. All of it
// commits together or not at all. Results are values (Result<T>); nothing here throws.
//
// Write commands come in two forms: asynchronous (`..._async`, the callback runs on the store's
// writer thread after the commit is durable; used by the HTTP handlers so no I/O thread blocks on
// an fsync) and synchronous (used by the CLI and tests).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/money.h"
#include "core/payout_status.h"
#include "core/random.h"
#include "core/status.h"
#include "core/types.h"
#include "commands/notification_formats.h"
#include "crypto/master_key.h"
#include "store/store.h"

namespace payoutd::commands {

template <typename T>
using Callback = std::function<void(Result<T>)>;

// Plain-text credentials, shown once at creation or rotation and never stored as such.
struct IssuedCredentials {
  std::string login;       // v3, 32 chars
  std::string pass;        // v3, 32 chars
  std::string secret_key;  // v3 HMAC key ("API Signature"), 32 chars
  std::string api_username;
  std::string api_password;
};

struct MerchantWithCredentials {
  Merchant merchant;
  IssuedCredentials credentials;
};

struct CreateMerchantInput {
  std::string name;                   // 1..100 chars
  std::vector<std::string> ip_allow;  // CIDRs, validated
  std::string notification_url;       // empty or absolute http(s) URL <= 300 chars
  // Imported v3 credentials (a merchant moving from another D24-family provider keeps its
  // integration unchanged but for the base URL). All three or none; each 1..32 printable ASCII.
  std::optional<std::string> v3_login;
  std::optional<std::string> v3_pass;
  std::optional<std::string> v3_secret_key;
};

// A merchant authenticated on the v3 dialect, with its decrypted HMAC key.
struct V3Principal {
  Merchant merchant;
  std::string secret_key;
};

struct PayoutLimits {
  // Per currency: the minimum amount (v3 533) and the largest single payout (v3 508).
  std::map<std::string, int64_t, std::less<>> minimum_amount_minor;
  std::map<std::string, int64_t, std::less<>> maximum_transaction_minor;
};

// Status::detail_code() of a kLimitExceeded refusal, so dialects can tell the two apart
// (v3: 533 for the minimum, 508 for the transaction limit).
inline constexpr int kLimitMinimumAmount = 1;
inline constexpr int kLimitTransactionMaximum = 2;

struct CommandsOptions {
  PayoutLimits limits;
  // Called on the store's writer thread after a committed status change (creation reports
  // null -> created). For metrics; must be cheap and must not call back into Commands.
  std::function<void(std::optional<PayoutStatus> from, PayoutStatus to)> on_transition_committed;
  // A redelivered notification is retried for this long (notify_retry_window_seconds).
  int64_t notification_retry_window_micros = 72LL * 3600 * 1'000'000;
  // The dialects' notification formats. REQUIRES: both set.
  NotificationFormats formats;
};

struct CreatePayoutInput {
  int64_t merchant_id = 0;
  std::optional<int64_t> wallet_id;  // v1 names the wallet; v3 names only the currency
  std::string external_id;           // 1..100 chars, unique per merchant
  int64_t amount_minor = 0;          // > 0, already parsed exactly by the caller
  std::string currency;              // ISO 4217, must equal the wallet's
  std::string country;               // ISO 3166-1 alpha-2
  Beneficiary beneficiary;
  std::optional<std::string> description;
  std::string metadata_json = "{}";
  std::optional<std::string> notification_url;
  bool on_hold = false;  // v3 `on_hold:true`: created then put on hold in the same transaction
  std::string request_fingerprint;  // for v1 reference_id replay comparison
  Actor actor = Actor::kClient;
};

struct PayoutWithEvents {
  Payout payout;
  std::vector<PayoutEvent> events;
};

// The answer to a merchant's cancel (v1 POST .../cancel, single and bulk).
enum class ProcessingCancel : uint8_t {
  kCancelled = 0,  // cancelled and refunded by this request (v1 200)
  kRefused,        // processing, and the rail says it is already out (v1 400)
  kRequested,      // processing: the rail answers later, cancel_requested_at set (v1 202)
};
struct ProcessingCancelResult {
  ProcessingCancel outcome = ProcessingCancel::kRefused;
  PayoutWithEvents payout;
};

// The port through which the domain asks the rail to cancel a `processing` payout
// (domain.md "Cancelling while processing"). The engine implements it; `serve` wires it.
class ProcessingCanceller {
 public:
  virtual ~ProcessingCanceller() = default;
  // kInvalidTransition (detail_code = the status) when the payout is not processing (any more);
  // kUnavailable when the canceller is too busy to take the request. `done` may run on another
  // thread.
  virtual void cancel_processing_async(int64_t merchant_id, PayoutRef ref,
                                       std::function<void(Result<ProcessingCancelResult>)> done) = 0;
};

struct TransitionInput {
  int64_t merchant_id = 0;  // 0 = any merchant (operator only)
  PayoutRef ref;
  PayoutStatus to = PayoutStatus::kCancelled;
  Actor actor = Actor::kClient;
  TransitionContext context;
  std::optional<int> failure_code;  // rejection code for -> failed (defaults: 808, reversal 826)
  std::optional<std::string> bank_reference_id;
  std::optional<std::string> message;  // event message; a default is chosen from the transition
  // When set, the payout must be exactly in this status (the engine's claims); else any status the
  // table allows.
  std::optional<PayoutStatus> expected_from;
  // When set, the payout must also carry this external id, else it is not found (the v3 cancel
  // names a cashout by both ids; a mismatch writes nothing and tells nothing).
  std::optional<std::string> expected_external_id;
  // False: the result carries the payout as updated in memory and only the event this transition
  // appended (the engine and the v3 dialect, which never show the history, save re-reading the
  // payout and all its events inside the writer's transaction).
  bool read_back = true;
};

struct WalletMovementInput {
  int64_t merchant_id = 0;
  std::string currency;
  int64_t amount_minor = 0;  // fund: > 0; adjust: != 0 (negative debits)
  std::optional<std::string> remarks;
};

struct WalletMovementOutput {
  Wallet wallet;
  WalletTransaction transaction;
};

// ---- Payouts v1: bearer tokens and idempotent creation ----

struct ApiTokenLifetimes {
  int64_t access_micros = 30LL * 60 * 1'000'000;            // 30 minutes
  int64_t refresh_micros = 7LL * 24 * 3600 * 1'000'000;     // 7 days
};

// A freshly issued token pair. The texts are shown once; only their SHA-256 is stored.
struct IssuedApiTokens {
  int64_t merchant_id = 0;
  std::string access_token;
  std::string refresh_token;
  int64_t access_expires_at = 0;  // unix micros
  int64_t refresh_expires_at = 0;
};

struct ApiTokenRefresh {
  // The new pair when the presented refresh token was live (it is rotated out now).
  std::optional<IssuedApiTokens> tokens;
  // True when a rotated-out or revoked refresh token was presented: its whole family is revoked
  // (committed), and the caller must refuse the request.
  bool family_revoked = false;
};

// Idempotency-Key of a create (per merchant).
struct IdempotencyKeyInput {
  std::string key;           // validated by the dialect
  std::string request_hash;  // fingerprint of the request; same key + other hash = kConflict
  int64_t ttl_micros = 24LL * 3600 * 1'000'000;
};

// A response as the dialect rendered it, stored byte for byte under an Idempotency-Key.
struct RenderedResponse {
  int status = 0;
  std::string body;
};

// A webhook endpoint just created, with its signing secret (shown once).
struct CreatedWebhookEndpoint {
  WebhookEndpoint endpoint;
  std::string secret;
};

// Renders the response of a create inside its transaction (on the writer thread: keep it pure
// and fast). `created` is false when the payout is an earlier one replayed by reference id.
using RenderCreateResponse =
    std::function<RenderedResponse(const PayoutWithEvents& payout, bool created)>;

enum class IdempotentCreateKind : uint8_t {
  kCreated = 0,      // a new payout
  kReferenceReplay,  // same reference id and same request fingerprint: the earlier payout
  kKeyReplay,        // same Idempotency-Key and same request hash: the stored response
};

struct IdempotentCreateOutput {
  IdempotentCreateKind kind = IdempotentCreateKind::kCreated;
  RenderedResponse response;
};

// Status::detail_code() of the kConflict refusals of create_payout_idempotent_async.
inline constexpr int kConflictIdempotencyKey = 1;  // key used before with another request
inline constexpr int kConflictReference = 2;       // reference id used before with another request

class Commands {
 public:
  // `master_key` may be null for callers that never touch credentials (read-only tools).
  // REQUIRES: options.formats has both formats.
  Commands(Store& store, Clock& clock, RandomSource& random, const crypto::MasterKey* master_key,
           CommandsOptions options);

  // For callers composing their own write op (the engine: a transition plus its lease
  // bookkeeping in one transaction): claims one transition inside `tx` exactly as transition()
  // does - the table, the conditional write, the ledger movement, the event, the outbox rows.
  // REQUIRES: runs inside a WriteOp's apply().
  Result<PayoutWithEvents> apply_transition_in(WriteTx& tx, const TransitionInput& input,
                                               int64_t at) const;

  // ---- Merchants (operator) ----
  Result<MerchantWithCredentials> create_merchant(const CreateMerchantInput& input);
  Result<Merchant> set_merchant_status(int64_t merchant_id, MerchantStatus status);
  Result<MerchantWithCredentials> rotate_credentials(int64_t merchant_id);
  Result<FeeSchedule> set_fees(int64_t merchant_id, const std::string& currency,
                               const FeeSchedule& schedule);
  Result<Merchant> get_merchant(int64_t merchant_id);
  Result<std::vector<Merchant>> list_merchants();

  // ---- Authentication (dialects) ----
  // kUnauthenticated for an unknown login or a wrong pass (indistinguishable, constant time).
  // A disabled merchant still authenticates: the dialect decides when to say 519.
  Result<V3Principal> authenticate_v3(std::string_view login, std::string_view pass);
  Result<Merchant> authenticate_v1(std::string_view username, std::string_view password);

  // ---- Wallets ----
  Result<WalletMovementOutput> fund_wallet(const WalletMovementInput& input);
  Result<WalletMovementOutput> adjust_wallet(const WalletMovementInput& input);
  Result<std::vector<Wallet>> list_all_wallets(int64_t merchant_id);
  Result<WalletPage> list_wallets(const WalletQuery& query);
  Result<Wallet> get_wallet(int64_t merchant_id, int64_t wallet_id);
  Result<WalletTransactionPage> list_wallet_transactions(const WalletTransactionQuery& query);

  // ---- Payouts ----
  void create_payout_async(CreatePayoutInput input, Callback<PayoutWithEvents> done);
  Result<PayoutWithEvents> create_payout(CreatePayoutInput input);

  // The one transition command; cancel/hold/release/set-status are named forms of it.
  void transition_async(TransitionInput input, Callback<PayoutWithEvents> done);
  Result<PayoutWithEvents> transition(TransitionInput input);

  void cancel_payout_async(int64_t merchant_id, PayoutRef ref, Actor actor,
                           Callback<PayoutWithEvents> done);
  Result<PayoutWithEvents> cancel_payout(int64_t merchant_id, PayoutRef ref, Actor actor);
  // A merchant's cancel whatever the payout's status - the one command behind both v1 cancel
  // paths. A payout that has not gone out is cancelled and refunded at once (cancel_payout); a
  // processing one is asked of the rail through the processing canceller, when one is set
  // (refused as by cancel_payout when none is). Errors as cancel_payout's.
  void merchant_cancel_async(int64_t merchant_id, PayoutRef ref,
                             Callback<ProcessingCancelResult> done);
  // REQUIRES: `canceller` outlives every merchant_cancel_async that may reach it; set to null
  // before it goes (serve: once the HTTP server has stopped).
  void set_processing_canceller(ProcessingCanceller* canceller) { canceller_.store(canceller); }
  Result<PayoutWithEvents> hold_payout(int64_t merchant_id, PayoutRef ref, Actor actor);
  Result<PayoutWithEvents> release_payout(int64_t merchant_id, PayoutRef ref, Actor actor);
  // Operator transition (payoutd payout set-status): any edge of the table, actor operator.
  Result<PayoutWithEvents> operator_set_status(PayoutRef ref, PayoutStatus to,
                                               std::optional<int> reason_code,
                                               std::optional<std::string> bank_reference_id,
                                               std::optional<std::string> message);

  Result<PayoutWithEvents> get_payout(int64_t merchant_id, const PayoutRef& ref);
  Result<PayoutPage> list_payouts(const PayoutQuery& query);


  // ---- Payouts v1 (api/payouts_v1) ----
  // A payout create with reference-id replay and an optional Idempotency-Key, all in the create's
  // own transaction: (1) a live record of the key with the same request hash -> kKeyReplay with
  // the stored response; with another hash -> kConflict (detail kConflictIdempotencyKey);
  // (2) the create; a used reference id whose payout has the same request_fingerprint ->
  // kReferenceReplay, another fingerprint -> kConflict (detail kConflictReference); (3) the
  // response is rendered by `render` and, with a key, stored under it for key->ttl_micros.
  // A refused create stores nothing (the client may fix the cause and retry with the same key).
  void create_payout_idempotent_async(CreatePayoutInput input,
                                      std::optional<IdempotencyKeyInput> key,
                                      RenderCreateResponse render,
                                      Callback<IdempotentCreateOutput> done);
  Result<IdempotentCreateOutput> create_payout_idempotent(CreatePayoutInput input,
                                                         std::optional<IdempotencyKeyInput> key,
                                                         RenderCreateResponse render);

  // Bearer tokens (v1_commands.cc). A token is 48 base62 characters from the RandomSource
  // (~285 bits); only its SHA-256 is stored. kDisabled for a disabled merchant.
  void issue_api_tokens_async(int64_t merchant_id, ApiTokenLifetimes lifetimes,
                              Callback<IssuedApiTokens> done);
  Result<IssuedApiTokens> issue_api_tokens(int64_t merchant_id, ApiTokenLifetimes lifetimes);
  // Rotates a live refresh token into a new pair of the same family. kUnauthenticated for an
  // unknown, expired or malformed token (nothing written); a rotated-out or revoked one revokes
  // its family (ApiTokenRefresh::family_revoked).
  void refresh_api_tokens_async(std::string refresh_token, ApiTokenLifetimes lifetimes,
                                Callback<ApiTokenRefresh> done);
  Result<ApiTokenRefresh> refresh_api_tokens(std::string refresh_token,
                                             ApiTokenLifetimes lifetimes);
  // Revokes every token of the merchant; the number revoked.
  void revoke_api_tokens_async(int64_t merchant_id, Callback<int64_t> done);
  Result<int64_t> revoke_api_tokens(int64_t merchant_id);
  // The merchant of a live access token. kUnauthenticated when the token is unknown, expired,
  // revoked, a refresh token or malformed. A disabled merchant is returned as it is.
  Result<Merchant> authenticate_api_token(std::string_view access_token);

  // ---- Notifications (notify_commands.cc) ----
  // A v1 webhook endpoint: url validated (absolute http(s), <= 2048), events each one of the
  // payout.<status> types (empty = all), at most kMaxWebhookEndpointsPerMerchant live endpoints.
  // The secret ("whsec_" + 32 base62) is returned here only and stored sealed.
  void create_webhook_endpoint_async(int64_t merchant_id, std::string url,
                                     std::vector<std::string> events,
                                     Callback<CreatedWebhookEndpoint> done);
  Result<CreatedWebhookEndpoint> create_webhook_endpoint(int64_t merchant_id, std::string url,
                                                        std::vector<std::string> events);
  Result<std::vector<WebhookEndpoint>> list_webhook_endpoints(int64_t merchant_id);
  Result<WebhookEndpoint> get_webhook_endpoint(int64_t merchant_id, std::string_view public_id);
  void delete_webhook_endpoint_async(int64_t merchant_id, std::string public_id,
                                     Callback<bool> done);
  Result<DeliveryAttemptPage> list_deliveries(const DeliveryAttemptQuery& query);
  // Requeues the notifications of one event: for a merchant (v1: its webhook rows only) or, with
  // merchant_id 0, every destination (operator). kNotFound when the event id is malformed, names
  // another merchant's payout, or has no notification rows. Returns the rows requeued (rows being
  // sent right now are left to finish).
  void redeliver_event_async(int64_t merchant_id, std::string event_id,
                             std::optional<std::string> channel, Callback<int64_t> done);
  Result<int64_t> redeliver_event(int64_t merchant_id, std::string event_id,
                                  std::optional<std::string> channel);
  Result<std::vector<OutboxMessage>> list_notifications(const OutboxQuery& query);

  // ---- Ledger ----
  Result<LedgerReport> check_ledger();

  // Readiness (GET /ready): one indexed read on a pooled connection, in a read transaction. Ok
  // when the database answers; the store's error otherwise (unreachable, pool exhausted, ...).
  Status check_database();

  Store& store() { return store_; }
  Clock& clock() { return clock_; }

 private:
  // Generates fresh credentials (or takes the imported v3 ones) and stores only their hashes and
  // the sealed secret key in `merchant`.
  Result<IssuedCredentials> issue_credentials(Merchant& merchant,
                                              const CreateMerchantInput* imported = nullptr);

  // Wraps `done` so the last `new_events` events of a committed result reach
  // options_.on_transition_committed.
  Callback<PayoutWithEvents> observed(Callback<PayoutWithEvents> done, size_t new_events) const;

  Store& store_;
  Clock& clock_;
  RandomSource& random_;
  const crypto::MasterKey* master_key_;
  CommandsOptions options_;
  std::atomic<ProcessingCanceller*> canceller_{nullptr};
};


// The additional authenticated data the master key seals secrets under. A merchant's v3
// secret_key (the HMAC key of Payload-Signature and of the notification `control`); a webhook
// endpoint's signing secret, bound to that endpoint so a sealed value copied to another row does
// not open.
inline constexpr std::string_view kMerchantSecretKeyAad = "payoutd/merchant/secret_key/v1";
std::string webhook_secret_aad(std::string_view endpoint_public_id);

// Validation shared by the dialects and the CLI (pure).
// An absolute http(s) URL with a host, printable ASCII, at most `max_chars` (the v3
// notification_url's 300 by default; webhook endpoints allow 2048).
Status validate_notification_url(std::string_view url, std::string_view field,
                                 size_t max_chars = 300);
Status validate_cidr(std::string_view cidr);
// True when `address` (IPv4 or IPv6 text) is inside one of `cidrs` (empty list = allowed).
bool ip_allowed(std::string_view address, const std::vector<std::string>& cidrs);

}  // namespace payoutd::commands
