// Request validation of the v1 dialect: the create body, the Idempotency-Key header, the bulk
// cancel body and the query strings of the listings. Pure functions: text in, domain input or
// every field error out (a client fixes all of them in one round trip).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/payouts_v1/wire.h"
#include "commands/commands.h"
#include "store/store.h"

namespace payoutd::api::payouts_v1 {

inline constexpr size_t kMaxReferenceIdBytes = 100;
inline constexpr size_t kMaxDescriptionChars = 255;
inline constexpr size_t kMaxMetadataKeys = 50;
inline constexpr size_t kMaxMetadataKeyChars = 100;
inline constexpr size_t kMaxMetadataValueChars = 500;
inline constexpr size_t kMaxNameChars = 100;
inline constexpr size_t kMaxEmailChars = 254;
inline constexpr size_t kMaxIdentifierChars = 100;
inline constexpr size_t kMinIdempotencyKeyChars = 8;
inline constexpr size_t kMaxIdempotencyKeyChars = 256;
inline constexpr int kMaxListLimit = 100;
inline constexpr int kDefaultListLimit = 20;
inline constexpr size_t kMaxBulkIds = 100;
inline constexpr int kMaxBulkByStatus = 1000;

// The outcome of validating a request: exactly one of `value`, `errors` (400 with details) or
// `body_error` (400 without details: the body is not JSON, not an object, ...).
template <typename T>
struct Validated {
  std::optional<T> value;
  std::vector<FieldError> errors;
  std::string body_error;
  bool ok() const { return value.has_value(); }
};

// Parses the POST /api/v1/payouts body into a create input for `merchant_id`, with
// request_fingerprint set (request_fingerprint()).
Validated<commands::CreatePayoutInput> parse_create_request(std::string_view body,
                                                            int64_t merchant_id);

// SHA-256 hex of a canonical serialization of every field that defines the payout (reference,
// wallet, amount in minor units, currency, beneficiary, identifiers, description, metadata with
// sorted keys). Two bodies that mean the same payout have the same fingerprint, whatever their
// formatting, member order or amount spelling ("100", "100.00", "1e2").
std::string request_fingerprint(const commands::CreatePayoutInput& input);

// The Idempotency-Key header: 8..256 printable ASCII characters without spaces. nullopt = ok.
std::optional<FieldError> check_idempotency_key(std::string_view key);

// The bulk cancel body: {"ids":[...]} (1..100 strings) or {"status":"<v1 status>"}.
struct BulkCancelRequest {
  std::vector<std::string> ids;                                  // when given by id
  std::optional<std::array<bool, kPayoutStatusCount>> statuses;  // when given by status
};
Validated<BulkCancelRequest> parse_bulk_cancel_request(std::string_view body);

// GET /api/v1/payouts query. `empty_result` is set when client_id names another merchant: the
// query is valid and its answer is an empty page.
struct PayoutListRequest {
  PayoutQuery query;
  bool empty_result = false;
};
Validated<PayoutListRequest> parse_payout_list_query(std::string_view query_string,
                                                     int64_t merchant_id);

Validated<WalletQuery> parse_wallet_list_query(std::string_view query_string, int64_t merchant_id);

// Wallet transactions; `wallet_id` from the path when given (then a wallet_id query parameter is
// refused unless equal), else the optional wallet_id query parameter.
Validated<WalletTransactionQuery> parse_transaction_list_query(std::string_view query_string,
                                                               int64_t merchant_id,
                                                               std::optional<int64_t> path_wallet_id);

// A path id that is a positive decimal int64 without sign or leading zeros.
std::optional<int64_t> parse_positive_id(std::string_view text);

// POST /api/v1/webhooks: {"url": "...", "events": ["payout.cancelled", ...]} (events optional).
// The url's and events' rules are the command's (create_webhook_endpoint); here only the shape.
struct WebhookCreateRequest {
  std::string url;
  std::vector<std::string> events;
};
Validated<WebhookCreateRequest> parse_webhook_create_request(std::string_view body);
// GET /api/v1/webhooks/:id/deliveries?page=&limit= (endpoint_id is the caller's).
Validated<DeliveryAttemptQuery> parse_delivery_list_query(std::string_view query_string);

// Unicode code points of valid UTF-8 text.
size_t utf8_length(std::string_view text);

}  // namespace payoutd::api::payouts_v1
