// The v1 wire format: the payout, wallet and wallet-transaction objects of payouts-v1.md, the
// paging headers, and the error bodies. Pure functions of domain values; no I/O.
//
// Amounts are JSON numbers with exactly the currency's decimals (format_amount, written with
// Writer::raw_number, never through a float); timestamps are RFC 3339 UTC seconds with 'Z';
// absent values are null.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/payouts_v1/objects/payout_object.h"
#include "commands/commands.h"
#include "core/types.h"
#include "http/request.h"
#include "json/writer.h"

namespace payoutd::api::payouts_v1 {

// One entry of a validation error's "details".
struct FieldError {
  std::string field;
  std::string message;
};

// {"error": name, "message": message} with `status`.
http::Response error_response(int status, std::string_view name, std::string_view message);
// 400 {"error":"BadRequest","message":message,"details":[{"field","message"}, ...]}.
http::Response validation_error_response(const std::vector<FieldError>& details,
                                         std::string_view message = "Validation failed");
// 401 {"error":"UnauthorizedAccess","message":"Authentication required"}.
http::Response unauthorized_response();
// 404 {"error":"NotFound","message":"Payout not found"}.
http::Response payout_not_found_response();
// 404 {"error":"NotFound","message":"Wallet not found"}.
http::Response wallet_not_found_response();
// 403 for a disabled merchant.
http::Response merchant_disabled_response();
// 503 (transient: retry) with Retry-After: 1, or 500 — for failures the client did not cause.
http::Response unexpected_failure_response(const Status& status);

// Logs a failure the client did not cause (with the request id) and answers it
// (unexpected_failure_response).
http::Response log_unexpected(std::string_view what, const Status& status,
                              const std::string& request_id);
// 400: the body error without details when there is one, else the field errors.
http::Response validation_or_body_error(const std::vector<FieldError>& errors,
                                        const std::string& body_error);

// A 2xx JSON response.
http::Response json_response(int status, std::string body);

std::string payout_json(const commands::PayoutWithEvents& payout);
std::string payout_list_json(const std::vector<Payout>& payouts);

std::string wallet_json(const Wallet& wallet);
std::string wallet_list_json(const std::vector<Wallet>& wallets);
std::string wallet_transaction_list_json(const std::vector<WalletTransaction>& transactions);

// X-Page, X-Per-Page, X-Total-Count, X-Total-Pages (ceil(total / limit); 0 when empty).
// REQUIRES: limit >= 1.
void add_paging_headers(http::Response& response, int page, int limit, int64_t total_count);

}  // namespace payoutd::api::payouts_v1
