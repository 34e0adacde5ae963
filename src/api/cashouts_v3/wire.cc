#include "api/cashouts_v3/wire.h"

#include <utility>

#include "core/payout_status.h"
#include "json/writer.h"

namespace payoutd::api::cashouts_v3 {
namespace {

constexpr std::string_view kDefaultBrand = "payoutd";

WireError make_error(int http_status, int code, std::string message) {
  return WireError{http_status, code, std::move(message)};
}

// The spec's fixed message of a validation code other than 300.
std::string_view fixed_validation_message(int code) {
  switch (code) {
    case kCodeInvalidBankCode:
      return "Invalid bank code";
    case kCodeCountryNotAvailable:
      return "Country not available";
    case kCodeInvalidCurrency:
      return "Invalid currency";
    case kCodeEmailOrPhoneRequired:
      return "Beneficiary email or phone is required";
    default:
      return {};
  }
}

}  // namespace

WireError invalid_body_error() {
  return make_error(400, kCodeInvalidBody,
                    "Invalid request body - Please check that the JSON is well formatted");
}
WireError invalid_credentials_error() {
  return make_error(401, kCodeInvalidCredentials, "Invalid credentials");
}
WireError invalid_signature_error() {
  return make_error(401, kCodeInvalidControlString, "Invalid control string");
}
WireError unregistered_ip_error() {
  return make_error(401, kCodeUnregisteredIp, "Unregistered IP address");
}
WireError merchant_disabled_error() {
  return make_error(401, kCodeMerchantDisabled,
                    "Merchant not enabled. Contact your Account Manager");
}
WireError not_found_error() {
  return make_error(412, kCodeCashoutNotFound, "Cashout not found with this ID");
}
WireError invalid_transition_error(int http_status) {
  return make_error(http_status, kCodeInvalidStatusTransition, "Invalid status transition");
}
WireError external_id_used_error() {
  return make_error(412, kCodeExternalIdUsed, "External ID already used");
}
WireError insufficient_funds_error() {
  return make_error(412, kCodeInsufficientFunds, "Insufficient funds");
}
WireError could_not_cancel_error() {
  return make_error(500, kCodeCouldNotCancel, "Could not cancel cashout");
}
WireError could_not_create_error() {
  return make_error(500, kCodeCouldNotCreate, "Could not make the cashout");
}
WireError internal_error() {
  return make_error(500, kCodeInternalError, "Internal error. Please retry later");
}
WireError too_many_requests_error() {
  return make_error(429, kCodeTooManyRequests, "Too many requests");
}

WireError validation_error(const Status& status) {
  PAYOUTD_ASSERT(status.kind() == ErrorKind::kInvalidArgument);
  const int code = status.detail_code().value_or(kCodeInvalidParams);
  const std::string_view fixed = fixed_validation_message(code);
  if (code == kCodeInvalidParams || fixed.empty()) {
    std::string message = "Invalid params ";
    message += status.field();
    message += ": ";
    message += status.message();
    return make_error(412, kCodeInvalidParams, std::move(message));
  }
  return make_error(412, code, std::string(fixed));
}

http::Response error_response_for(const WireError& error) {
  json::Writer writer;
  writer.begin_object();
  writer.key("code");
  writer.integer(error.code);
  writer.key("message");
  writer.string(error.message);
  writer.end_object();
  http::Response response;
  response.status = error.http_status;
  response.body = writer.take();
  return response;
}

std::string status_body(const Payout& payout) {
  const V3Status v3 = v3_status(payout.status);
  json::Writer writer;
  writer.begin_object();
  writer.key("cashout_status");
  writer.integer(v3.code);
  writer.key("cashout_status_description");
  writer.string(v3.description);
  if (v3.code == 3) {
    // Failed and expired payouts always carry a code (the transition command records one); 808
    // ERROR_OTHER stands in should an old row lack it.
    const int code = payout.failure_code.value_or(808);
    writer.key("rejection_code");
    writer.integer(code);
    std::string reason(rejection_reason_name(code));
    if (reason.empty()) reason = payout.failure_reason.value_or("ERROR_OTHER");
    writer.key("rejection_reason");
    writer.string(reason);
  }
  if (payout.bank_reference_id && !payout.bank_reference_id->empty()) {
    writer.key("bank_reference_id");
    writer.string(*payout.bank_reference_id);
  }
  writer.end_object();
  return writer.take();
}

std::string created_body(int64_t cashout_id) {
  json::Writer writer;
  writer.begin_object();
  writer.key("cashout_id");
  writer.string(std::to_string(cashout_id));
  writer.end_object();
  return writer.take();
}

http::Response ok_response(std::string body) {
  http::Response response;
  response.status = 200;
  response.body = std::move(body);
  return response;
}

bool is_v3_path(std::string_view path) { return path == "/v3" || path.starts_with("/v3/"); }

http::Response error_response(int status, std::string_view path, std::string_view brand) {
  (void)path;  // every /v3 path answers alike; the caller routes by path
  std::string message;
  int code = status;
  switch (status) {
    case 400:
    case 413: {
      WireError body = invalid_body_error();
      body.http_status = status;
      return error_response_for(body);
    }
    case 404:
      message = "Unknown ";
      message += brand;
      message += " CASHOUTS API endpoint";
      break;
    case 405:
      message = "Method not allowed";
      break;
    case 431:
      message = "Request header fields too large";
      break;
    case 503:
      message = std::string(brand) + " is temporarily unavailable. Please retry later";
      break;
    default:
      if (status >= 500) {
        code = kCodeInternalError;
        message = "Internal error. Please retry later";
      } else {
        message = "Bad request";
      }
      break;
  }
  return error_response_for(WireError{status, code, std::move(message)});
}

http::Response error_response(int status, std::string_view path) {
  return error_response(status, path, kDefaultBrand);
}

}  // namespace payoutd::api::cashouts_v3
