// The Cashouts API v3 wire vocabulary: error codes with their fixed messages and HTTP statuses
// (cashouts-v3.md "Error codes and HTTP statuses"), and the JSON bodies this dialect answers with.
//
// Pure functions of domain values: no I/O, no commands. The handlers (cashouts_v3.cc) decide which
// error applies; this file only knows how each one looks on the wire.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "core/types.h"
#include "http/request.h"

namespace payoutd::api::cashouts_v3 {

// v3 error codes (the `code` member of an error body).
inline constexpr int kCodeInvalidParams = 300;
inline constexpr int kCodeInvalidControlString = 302;
inline constexpr int kCodeInvalidBankCode = 303;
inline constexpr int kCodeInvalidCredentials = 401;
inline constexpr int kCodeUnregisteredIp = 402;
inline constexpr int kCodeInvalidBody = 502;
inline constexpr int kCodeLimitExceeded = 508;
inline constexpr int kCodeCashoutNotFound = 509;
inline constexpr int kCodeInvalidStatusTransition = 510;
inline constexpr int kCodeExternalIdUsed = 511;
inline constexpr int kCodeInsufficientFunds = 514;
inline constexpr int kCodeCountryNotAvailable = 518;
inline constexpr int kCodeMerchantDisabled = 519;
inline constexpr int kCodeInvalidCurrency = 526;
inline constexpr int kCodeMinimumAmount = 533;
inline constexpr int kCodeEmailOrPhoneRequired = 540;
inline constexpr int kCodeCouldNotCancel = 702;
inline constexpr int kCodeCouldNotCreate = 703;
inline constexpr int kCodeTooManyRequests = 429;
// payoutd's own code for an unexpected failure of the status endpoints, for which the spec has
// none (create and cancel have 703 and 702).
inline constexpr int kCodeInternalError = 500;

// One error as the client sees it: HTTP status + {"code": ..., "message": ...}.
struct WireError {
  int http_status = 412;
  int code = kCodeInvalidParams;
  std::string message;
};

// The fixed errors of the spec's table, with their verbatim messages.
WireError invalid_body_error();          // 400, 502
WireError invalid_credentials_error();   // 401, 401
WireError invalid_signature_error();     // 401, 302
WireError unregistered_ip_error();       // 401, 402
WireError merchant_disabled_error();     // 401, 519
WireError not_found_error();             // 412, 509
WireError invalid_transition_error(int http_status);  // 412 (cancel) or 400 (PUT status), 510
WireError external_id_used_error();      // 412, 511
WireError insufficient_funds_error();    // 412, 514
WireError could_not_cancel_error();      // 500, 702
WireError could_not_create_error();      // 500, 703
WireError internal_error();              // 500, 500 (status endpoints)
WireError too_many_requests_error();     // 429, 429

// A validation refusal (kInvalidArgument from validation.h) on the wire. The Status's detail_code
// is the v3 code (300 when absent); for 300 the message is "Invalid params <field>: <reason>", for
// the other codes the spec's fixed message ("Invalid bank code", "Country not available", ...).
// REQUIRES: status.kind() == ErrorKind::kInvalidArgument
WireError validation_error(const Status& status);

// {"code":<code>,"message":"<message>"} with the error's HTTP status and Content-Type
// application/json.
http::Response error_response_for(const WireError& error);

// {"cashout_status":<n>,"cashout_status_description":"<text>"} plus, for v3 status 3 (Rejected),
// "rejection_code" and "rejection_reason", and "bank_reference_id" when the bank gave one.
std::string status_body(const Payout& payout);

// {"cashout_id":"<id>"}: a string, as the reference documents it.
std::string created_body(int64_t cashout_id);

// HTTP 200 with `body` as application/json.
http::Response ok_response(std::string body);

// The bodies of responses the HTTP server produces itself (malformed request 400, 404, 405, 413,
// 431, 500, 503) for /v3 paths, in this dialect's error shape. 400 and 413 are the spec's 502
// ("Invalid request body ..."); the others carry the HTTP status as their code (payoutd
// additions, like 429). `brand` names the service in the messages the spec leaves free.
http::Response error_response(int status, std::string_view path, std::string_view brand);
// Same with the default brand ("payoutd").
http::Response error_response(int status, std::string_view path);

// True for "/v3" and every path below "/v3/": the paths this dialect's error shape applies to.
bool is_v3_path(std::string_view path);

}  // namespace payoutd::api::cashouts_v3
