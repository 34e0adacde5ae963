// Field validation of the Cashouts API v3 request bodies (cashouts-v3.md, docs/cashouts-v3.md).
//
// Pure: a parsed JSON body in, a typed request (or the first refusal) out. Every refusal is
// Status::invalid_argument(field, reason) whose detail_code() is the v3 error code: 300 (invalid
// params) unless it is one of the specific codes 303, 518, 526 or 540. wire.h turns it into the
// response. Fields are checked in a fixed, documented order and the first failure is reported.
//
// Common rules for every string field: it must be a JSON string (a number, boolean, array or
// object is refused), must not contain control characters (U+0000..U+001F, U+007F..U+009F), and
// its length is counted in Unicode code points (the JSON parser has already refused invalid
// UTF-8). An optional field that is absent, null or "" counts as not given. Unknown fields are
// ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "commands/commands.h"
#include "core/payout_status.h"
#include "core/status.h"
#include "core/text.h"
#include "json/value.h"

namespace payoutd::api::cashouts_v3 {

// Longest values (characters) of the v3 fields.
inline constexpr size_t kMaxCredentialChars = 32;
inline constexpr size_t kMaxExternalIdChars = 100;
inline constexpr size_t kMaxDocumentIdChars = 40;
inline constexpr size_t kMaxDocumentTypeChars = 15;
inline constexpr size_t kMaxNameChars = 100;
inline constexpr size_t kMaxBeneficiaryIdChars = 100;
inline constexpr size_t kMaxEmailChars = 100;
inline constexpr size_t kMaxPhoneChars = 20;
inline constexpr size_t kMaxBankCodeChars = 6;
inline constexpr size_t kMaxBankAccountChars = 30;
inline constexpr size_t kMaxBankBranchChars = 15;
inline constexpr size_t kMaxAddressChars = 255;
inline constexpr size_t kMaxCityChars = 100;
inline constexpr size_t kMaxPostalCodeChars = 20;
inline constexpr size_t kMaxCommentsChars = 200;

// POST /v3/cashout. `merchant_id` fills CreatePayoutInput::merchant_id;
// `has_default_notification_url` says whether `notification_url` may be omitted.
// On success the input is complete (amount parsed exactly, currency resolved, actor client).
Result<commands::CreatePayoutInput> parse_create_request(const json::Value& body,
                                                         int64_t merchant_id,
                                                         bool has_default_notification_url);

// POST /v3/cashout/status: `cashout_id`, `external_id`, or both.
struct StatusRequest {
  std::optional<int64_t> cashout_id;
  std::optional<std::string> external_id;
};
Result<StatusRequest> parse_status_request(const json::Value& body);

// PUT /v3/cashout/status: `cashout_id` and `status` ("ON_HOLD" or "PENDING").
enum class RequestedStatus : uint8_t { kOnHold = 0, kPending };
struct UpdateStatusRequest {
  int64_t cashout_id = 0;
  RequestedStatus status = RequestedStatus::kOnHold;
};
Result<UpdateStatusRequest> parse_update_status_request(const json::Value& body);
// The v3 numeric status a requested status stands for (ON_HOLD 5, PENDING 0).
int requested_v3_code(RequestedStatus status);

// DELETE /v3/cashout/cancel: both `cashout_id` and `external_id`.
struct CancelRequest {
  int64_t cashout_id = 0;
  std::string external_id;
};
Result<CancelRequest> parse_cancel_request(const json::Value& body);

// `login` and `pass` when both are JSON strings of 1..32 characters; nullopt otherwise (the
// caller answers "Invalid credentials", exactly as for a wrong pass).
struct Credentials {
  std::string_view login;
  std::string_view pass;
};
std::optional<Credentials> read_credentials(const json::Value& body);

// ---- Building blocks (exposed for unit tests) ----

// core/text.h: code points of UTF-8 text; C0, DEL or C1 controls in it.
using ::payoutd::count_characters;
using ::payoutd::has_control_characters;
// A pragmatic address check: one '@', a non-empty local part of at most 64 printable ASCII
// characters without spaces, a domain of dot-separated labels of [A-Za-z0-9-] (no label empty or
// starting/ending with '-') with at least two labels.
bool is_valid_email(std::string_view text);
// Digits, spaces and + - ( ) . only, with at least one digit.
bool is_valid_phone(std::string_view text);
// YYYY-MM-DD naming a real calendar date (leap years included), year 1900..9999.
bool is_valid_birthdate(std::string_view text);

}  // namespace payoutd::api::cashouts_v3
