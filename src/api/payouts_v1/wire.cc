#include "api/payouts_v1/wire.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "core/money.h"
#include "core/payout_status.h"
#include "core/time_format.h"

namespace payoutd::api::payouts_v1 {

http::Response error_response(int status, std::string_view name, std::string_view message) {
  json::Writer writer;
  writer.begin_object();
  writer.key("error");
  writer.string(name);
  writer.key("message");
  writer.string(message);
  writer.end_object();
  http::Response response;
  response.status = status;
  response.body = writer.take();
  return response;
}

http::Response validation_error_response(const std::vector<FieldError>& details,
                                         std::string_view message) {
  json::Writer writer;
  writer.begin_object();
  writer.key("error");
  writer.string("BadRequest");
  writer.key("message");
  writer.string(message);
  writer.key("details");
  writer.begin_array();
  for (const FieldError& detail : details) {
    writer.begin_object();
    writer.key("field");
    writer.string(detail.field);
    writer.key("message");
    writer.string(detail.message);
    writer.end_object();
  }
  writer.end_array();
  writer.end_object();
  http::Response response;
  response.status = 400;
  response.body = writer.take();
  return response;
}

http::Response unauthorized_response() {
  return error_response(401, "UnauthorizedAccess", "Authentication required");
}

http::Response payout_not_found_response() {
  return error_response(404, "NotFound", "Payout not found");
}

http::Response wallet_not_found_response() {
  return error_response(404, "NotFound", "Wallet not found");
}

http::Response merchant_disabled_response() {
  return error_response(403, "Forbidden", "Merchant account is disabled");
}

http::Response unexpected_failure_response(const Status& status) {
  if (status.kind() == ErrorKind::kUnavailable) {
    http::Response response =
        error_response(503, "ServiceUnavailable", "Service temporarily unavailable; retry");
    response.headers.emplace_back("Retry-After", "1");
    return response;
  }
  return error_response(500, "InternalServerError", "Internal server error");
}

http::Response log_unexpected(std::string_view what, const Status& status,
                              const std::string& request_id) {
  spdlog::error("payouts v1 {}: {} (request_id {})", what, status.to_string(), request_id);
  return unexpected_failure_response(status);
}

http::Response validation_or_body_error(const std::vector<FieldError>& errors,
                                        const std::string& body_error) {
  if (!body_error.empty()) return error_response(400, "BadRequest", body_error);
  return validation_error_response(errors);
}

http::Response json_response(int status, std::string body) {
  http::Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}


std::string payout_json(const commands::PayoutWithEvents& payout) {
  json::Writer writer;
  writer.reserve(1024 + 200 * payout.events.size());
  write_payout(writer, payout.payout, &payout.events);
  return writer.take();
}

std::string payout_list_json(const std::vector<Payout>& payouts) {
  json::Writer writer;
  writer.reserve(900 * payouts.size() + 2);
  writer.begin_array();
  for (const Payout& payout : payouts) write_payout(writer, payout, nullptr);
  writer.end_array();
  return writer.take();
}

std::string wallet_json(const Wallet& wallet) {
  json::Writer writer;
  write_wallet(writer, wallet);
  return writer.take();
}

std::string wallet_list_json(const std::vector<Wallet>& wallets) {
  json::Writer writer;
  writer.begin_array();
  for (const Wallet& wallet : wallets) write_wallet(writer, wallet);
  writer.end_array();
  return writer.take();
}

std::string wallet_transaction_list_json(const std::vector<WalletTransaction>& transactions) {
  json::Writer writer;
  writer.reserve(300 * transactions.size() + 2);
  writer.begin_array();
  for (const WalletTransaction& transaction : transactions) {
    writer.begin_object();
    writer.key("id");
    writer.integer(transaction.id);
    writer.key("wallet_id");
    writer.integer(transaction.wallet_id);
    writer.key("type");
    writer.string(transaction.type);
    writer.key("transaction_type");
    writer.string(transaction.transaction_type);
    write_amount(writer, "amount", transaction.amount_minor, transaction.currency);
    writer.key("currency");
    writer.string(transaction.currency);
    write_amount(writer, "balance_after", transaction.balance_after_minor, transaction.currency);
    writer.key("reference_type");
    writer.string(transaction.reference_type);
    writer.key("reference_id");
    writer.string_or_null(transaction.reference_id);
    writer.key("remarks");
    writer.string_or_null(transaction.remarks);
    writer.key("created_at");
    writer.string(format_rfc3339(transaction.created_at));
    writer.end_object();
  }
  writer.end_array();
  return writer.take();
}

void add_paging_headers(http::Response& response, int page, int limit, int64_t total_count) {
  PAYOUTD_ASSERT(limit >= 1);
  const int64_t pages = (total_count + limit - 1) / limit;
  response.headers.emplace_back("X-Page", std::to_string(page));
  response.headers.emplace_back("X-Per-Page", std::to_string(limit));
  response.headers.emplace_back("X-Total-Count", std::to_string(total_count));
  response.headers.emplace_back("X-Total-Pages", std::to_string(pages));
}

}  // namespace payoutd::api::payouts_v1
