// Domain entities as plain values. No I/O, no JSON, no SQL: the store fills them, the dialects
// render them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
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

struct JournalPosting {
  std::string kind;  // "deposit", "adjustment", "payout_hold", "payout_post", "payout_refund"
  std::optional<int64_t> cashout_id;
  std::string currency;
  std::vector<JournalLeg> legs;
  int64_t created_at = 0;
};

// At most one of each per payout, enforced by a unique (cashout_id, kind) constraint.
enum class PayoutMovementKind : uint8_t { kHold = 0, kPost, kRefund };
std::string_view payout_movement_kind_name(PayoutMovementKind kind);

// A notification waiting in the transactional outbox.
struct OutboxMessage {
  int64_t id = 0;
  int64_t cashout_id = 0;
  int32_t event_seq = 0;
  std::string channel;  // "v3" (form POST to notification_url) | "v1" (webhook endpoint)
  std::optional<int64_t> endpoint_id;
  std::string target_url;
  std::string payload;  // channel-specific JSON snapshot taken at commit time
  std::string status = "pending";
  int64_t created_at = 0;
};

}  // namespace payoutd
