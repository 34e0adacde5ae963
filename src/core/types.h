// Domain entities as plain values. No I/O, no JSON, no SQL: the store fills them, the dialects
// render them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/money.h"
#include "core/payout_status.h"

namespace payoutd {

enum class MerchantStatus : uint8_t { kActive = 0, kDisabled };

struct Merchant {
  int64_t id = 0;
  std::string name;
  MerchantStatus status = MerchantStatus::kActive;
  // Cashouts-v3 credentials. `login` is an identifier (stored plain, unique). `pass` is stored as
  // salt + HMAC-SHA256(salt, pass) (docs/security.md: why not a slow KDF). `secret_key` is AES-256-GCM
  // ciphertext under the master key: nonce(12) || ciphertext || tag(16).
  std::string login;
  std::string pass_salt;     // raw bytes
  std::string pass_hash;     // raw bytes
  std::string secret_key_sealed;  // raw bytes
  // v1 credentials for POST /auth/login.
  std::string api_username;
  std::string api_password_salt;
  std::string api_password_hash;
  std::vector<std::string> ip_allow;  // CIDRs; empty = any address
  std::string notification_url;       // default v3 notification URL; empty = none
  int64_t created_at = 0;             // unix micros
  int64_t updated_at = 0;
};

struct Wallet {
  int64_t id = 0;
  int64_t merchant_id = 0;
  std::string currency;  // ISO 4217 alpha
  int64_t available_minor = 0;
  int64_t held_minor = 0;
  bool is_active = true;
  int64_t available_account_id = 0;
  int64_t held_account_id = 0;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

enum class AccountKind : uint8_t { kAvailable = 0, kHeld, kFunding, kSettlement };
std::string_view account_kind_name(AccountKind kind);

struct Beneficiary {
  std::optional<std::string> first_name;
  std::optional<std::string> last_name;
  std::optional<std::string> email;
  std::optional<std::string> phone;
  std::optional<std::string> country;
  std::optional<std::string> document_id;
  std::optional<std::string> document_type;
  std::optional<std::string> bank_code;
  std::optional<std::string> bank_account;
  std::optional<std::string> bank_branch;
  std::optional<std::string> account_type;
  std::optional<std::string> routing_number;
  std::optional<std::string> address;
  std::optional<std::string> city;
  std::optional<std::string> postal_code;
  std::optional<std::string> birthdate;  // YYYY-MM-DD
};

struct Payout {
  int64_t cashout_id = 0;  // v3 id; also the primary key
  std::string public_id;   // "pyt_..." v1 id
  int64_t merchant_id = 0;
  int64_t wallet_id = 0;
  std::string external_id;  // v3 external_id == v1 reference_id
  int64_t amount_minor = 0;
  int64_t fees_minor = 0;
  int64_t total_minor = 0;
  std::string currency;
  std::string country;
  Beneficiary beneficiary;
  std::optional<std::string> description;  // v3 `comments`
  std::string metadata_json = "{}";        // v1 metadata object, canonical JSON text
  std::optional<std::string> notification_url;
  PayoutStatus status = PayoutStatus::kCreated;
  std::optional<int> failure_code;  // v3 rejection_code
  std::optional<std::string> failure_reason;
  std::optional<std::string> bank_reference_id;
  std::optional<std::string> connector;
  std::optional<std::string> connector_reference;
  int64_t created_at = 0;
  std::optional<int64_t> queued_at;
  std::optional<int64_t> submitted_at;
  std::optional<int64_t> completed_at;
  std::optional<int64_t> failed_at;
  std::optional<int64_t> cancelled_at;
  std::optional<int64_t> expired_at;
  std::optional<int64_t> cancel_requested_at;
  int64_t updated_at = 0;
  int32_t event_seq = 0;  // seq of the last event
  // SHA-256 hex of the canonical create request (v1 reference_id replay: same body -> same payout).
  std::string request_fingerprint;
};

struct PayoutEvent {
  int64_t cashout_id = 0;
  int32_t seq = 0;
  std::string event_type = "status_change";
  std::optional<PayoutStatus> from_status;
  PayoutStatus to_status = PayoutStatus::kCreated;
  Actor actor = Actor::kSystem;
  std::string message;
  int64_t created_at = 0;
};

// Wallet transaction as merchants see it (v1 wallet transactions).
struct WalletTransaction {
  int64_t id = 0;
  int64_t wallet_id = 0;
  int64_t journal_id = 0;
  std::string type;              // DEPOSIT | ADJUSTMENT | PAYOUT | PAYOUT_REFUND
  std::string transaction_type;  // CREDIT | DEBIT
  int64_t amount_minor = 0;      // > 0
  std::string currency;
  int64_t balance_after_minor = 0;
  std::string reference_type;  // payout | manual
  std::optional<std::string> reference_id;
  std::optional<std::string> remarks;
  int64_t created_at = 0;
};

// One leg of a journal transaction. Legs of one journal sum to zero per currency.
struct JournalLeg {
  int64_t account_id = 0;
  int64_t amount_minor = 0;  // signed: + increases the account's balance
};

// A journal of a payout is one of its money movements, and a payout has at most one of each kind:
// a unique (cashout_id, kind) index, the database's "refunded at most once" constraint.
inline constexpr std::string_view kPayoutHoldJournal = "payout_hold";
inline constexpr std::string_view kPayoutPostJournal = "payout_post";
inline constexpr std::string_view kPayoutRefundJournal = "payout_refund";
bool is_payout_movement_journal(std::string_view kind);

struct JournalPosting {
  std::string kind;  // "deposit", "adjustment", or a payout movement (kPayout*Journal)
  std::optional<int64_t> cashout_id;  // set exactly for a payout movement
  std::string currency;
  std::vector<JournalLeg> legs;
  int64_t created_at = 0;
};


// A notification in the transactional outbox: one row per (payout event, destination), written in
// the transaction of the status change (notifications.md). The dispatcher (notify/) claims rows
// with a lease and records every attempt.
enum class OutboxStatus : uint8_t { kPending = 0, kDelivered, kFailed };
std::string_view outbox_status_name(OutboxStatus status);
std::optional<OutboxStatus> parse_outbox_status_name(std::string_view name);

struct OutboxMessage {
  int64_t id = 0;
  int64_t cashout_id = 0;
  int32_t event_seq = 0;
  std::string event_id;  // "evt_" + the payout's public id suffix + "_" + event_seq
  std::string channel;   // "v3" (form POST to notification_url) | "v1" (webhook endpoint)
  std::optional<int64_t> endpoint_id;  // v1 only
  std::string target_url;
  // notification_destination(target_url): the key of the per-destination in-flight limit.
  std::string destination;
  // Captured at commit time: v3 = a JSON object of the form fields (the `control` signature is
  // computed at send time, so no secret is stored); v1 = the exact event body that is signed.
  std::string payload;
  OutboxStatus status = OutboxStatus::kPending;
  int32_t attempts = 0;
  int64_t next_attempt_at = 0;
  int64_t give_up_at = 0;  // after this instant a failed attempt marks the row failed
  std::optional<std::string> claimed_by;
  std::optional<int64_t> lease_until;
  std::optional<std::string> last_error;
  std::optional<int64_t> delivered_at;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

// A merchant's v1 webhook endpoint. The signing secret must be usable again, so it is sealed
// (AES-256-GCM under the master key), never stored plain.
struct WebhookEndpoint {
  int64_t id = 0;
  std::string public_id;  // "whe_" + 16 base62
  int64_t merchant_id = 0;
  std::string url;
  std::vector<std::string> events;  // "payout.<status>" names; empty = every payout event
  std::string secret_sealed;        // raw bytes
  int64_t created_at = 0;
  std::optional<int64_t> deleted_at;

  bool subscribes(std::string_view event_type) const;
};

// One delivery attempt, as the delivery log records it.
enum class DeliveryResult : uint8_t { kDelivered = 0, kFailed, kRefused };
std::string_view delivery_result_name(DeliveryResult result);
std::optional<DeliveryResult> parse_delivery_result_name(std::string_view name);

struct DeliveryAttempt {
  int64_t id = 0;
  int64_t outbox_id = 0;
  std::optional<int64_t> endpoint_id;
  std::string event_id;
  std::string channel;
  int32_t attempt = 0;  // 1 for the first attempt of the row
  int64_t started_at = 0;
  std::optional<int32_t> http_status;  // absent when nothing answered
  int64_t latency_ms = 0;
  DeliveryResult result = DeliveryResult::kFailed;
  std::string error;  // bounded (kMaxDeliveryErrorBytes); empty when delivered
};
inline constexpr size_t kMaxDeliveryErrorBytes = 300;

}  // namespace payoutd
