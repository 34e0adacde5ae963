#include "api/payouts_v1/wire.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "core/money.h"
#include "core/payout_status.h"
#include "core/time_format.h"
#include "json/value.h"

namespace payoutd::api::payouts_v1 {
namespace {

// Metadata is flat by validation; anything stored deeper than this is written as null.
constexpr int kMaxMetadataDepth = 8;

void optional_time(json::Writer& writer, std::string_view key,
                   const std::optional<int64_t>& unix_micros) {
  writer.key(key);
  if (unix_micros) {
    writer.string(format_rfc3339(*unix_micros));
  } else {
    writer.null();
  }
}

void amount(json::Writer& writer, std::string_view key, int64_t amount_minor,
            std::string_view currency) {
  writer.key(key);
  writer.raw_number(amount_text(amount_minor, currency));
}

void write_value(json::Writer& writer, const json::Value& value, int depth) {
  if (depth > kMaxMetadataDepth) {
    writer.null();
    return;
  }
  switch (value.type()) {
    case json::Type::kNull:
      writer.null();
      return;
    case json::Type::kBool:
      writer.boolean(value.as_bool());
      return;
    case json::Type::kNumber:
      writer.raw_number(value.number_text());
      return;
    case json::Type::kString:
      writer.string(value.as_string());
      return;
    case json::Type::kArray:
      writer.begin_array();
      for (const json::Value& item : value.items()) write_value(writer, item, depth + 1);
      writer.end_array();
      return;
    case json::Type::kObject:
      writer.begin_object();
      for (const auto& [name, member] : value.members()) {
        writer.key(name);
        write_value(writer, member, depth + 1);
      }
      writer.end_object();
      return;
  }
}

// The stored metadata text is canonical JSON written by this dialect; a payout created elsewhere
// has "{}". Unparseable text would be corrupt data: shown as {} and logged, never a 500.
void write_metadata(json::Writer& writer, const Payout& payout) {
  writer.key("metadata");
  Result<json::Value> parsed = json::parse(payout.metadata_json);
  if (!parsed.is_ok() || !parsed->is_object()) {
    spdlog::warn("payout {} has unreadable metadata", payout.public_id);
    writer.begin_object();
    writer.end_object();
    return;
  }
  write_value(writer, *parsed, 1);
}

void write_event(json::Writer& writer, const PayoutEvent& event) {
  writer.begin_object();
  writer.key("event_type");
  writer.string(event.event_type);
  writer.key("from_status");
  if (event.from_status) {
    writer.string(v1_status_name(*event.from_status));
  } else {
    writer.null();
  }
  writer.key("to_status");
  writer.string(v1_status_name(event.to_status));
  writer.key("actor_type");
  writer.string(actor_name(event.actor));
  writer.key("message");
  writer.string(event.message);
  writer.key("created_at");
  writer.string(format_rfc3339(event.created_at));
  writer.end_object();
}

void write_identifiers(json::Writer& writer, const Beneficiary& beneficiary) {
  // Only the identifiers the payout has (payouts-v1.md shows a partial object).
  const std::pair<std::string_view, const std::optional<std::string>*> fields[] = {
      {"account_number", &beneficiary.bank_account},
      {"routing_number", &beneficiary.routing_number},
      {"bank_code", &beneficiary.bank_code},
      {"bank_branch", &beneficiary.bank_branch},
      {"account_type", &beneficiary.account_type},
      {"document_id", &beneficiary.document_id},
      {"document_type", &beneficiary.document_type},
  };
  writer.key("beneficiary_identifiers");
  writer.begin_object();
  for (const auto& [name, value] : fields) {
    if (!value->has_value()) continue;
    writer.key(name);
    writer.string(**value);
  }
  writer.end_object();
}

}  // namespace

std::string amount_text(int64_t amount_minor, std::string_view currency) {
  const Currency* known = find_currency(currency);
  if (known == nullptr) return std::to_string(amount_minor);
  return format_amount(amount_minor, *known);
}

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

http::Response json_response(int status, std::string body) {
  http::Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

void write_payout(json::Writer& writer, const Payout& payout,
                  const std::vector<PayoutEvent>* events) {
  const Beneficiary& beneficiary = payout.beneficiary;
  writer.begin_object();
  writer.key("id");
  writer.string(payout.public_id);
  writer.key("reference_id");
  writer.string(payout.external_id);
  writer.key("client_id");
  writer.integer(payout.merchant_id);
  writer.key("wallet_id");
  writer.integer(payout.wallet_id);
  writer.key("cashout_id");
  writer.integer(payout.cashout_id);
  writer.key("status");
  writer.string(v1_status_name(payout.status));
  amount(writer, "amount", payout.amount_minor, payout.currency);
  writer.key("currency");
  writer.string(payout.currency);
  amount(writer, "fees", payout.fees_minor, payout.currency);
  amount(writer, "total_amount", payout.total_minor, payout.currency);
  writer.key("beneficiary");
  writer.begin_object();
  writer.key("email");
  writer.string_or_null(beneficiary.email);
  writer.key("first_name");
  writer.string_or_null(beneficiary.first_name);
  writer.key("last_name");
  writer.string_or_null(beneficiary.last_name);
  writer.key("country");
  writer.string_or_null(beneficiary.country);
  writer.key("phone");
  writer.string_or_null(beneficiary.phone);
  writer.end_object();
  write_identifiers(writer, beneficiary);
  writer.key("description");
  writer.string_or_null(payout.description);
  write_metadata(writer, payout);
  writer.key("failure_code");
  if (payout.failure_code) {
    writer.integer(*payout.failure_code);
  } else {
    writer.null();
  }
  writer.key("failure_reason");
  writer.string_or_null(payout.failure_reason);
  writer.key("created_at");
  writer.string(format_rfc3339(payout.created_at));
  optional_time(writer, "queued_at", payout.queued_at);
  optional_time(writer, "submitted_at", payout.submitted_at);
  optional_time(writer, "completed_at", payout.completed_at);
  optional_time(writer, "failed_at", payout.failed_at);
  optional_time(writer, "cancelled_at", payout.cancelled_at);
  optional_time(writer, "expired_at", payout.expired_at);
  optional_time(writer, "cancel_requested_at", payout.cancel_requested_at);
  if (events != nullptr) {
    writer.key("events");
    writer.begin_array();
    for (const PayoutEvent& event : *events) write_event(writer, event);
    writer.end_array();
  }
  writer.end_object();
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

void write_wallet(json::Writer& writer, const Wallet& wallet) {
  const Currency* currency = find_currency(wallet.currency);
  writer.begin_object();
  writer.key("id");
  writer.integer(wallet.id);
  writer.key("currency");
  writer.string(wallet.currency);
  writer.key("currency_id");
  if (currency != nullptr) {
    writer.integer(currency->numeric);
  } else {
    writer.null();
  }
  amount(writer, "amount", wallet.available_minor, wallet.currency);
  amount(writer, "held_amount", wallet.held_minor, wallet.currency);
  writer.key("type");
  writer.string("PREPAID");
  writer.key("is_active");
  writer.boolean(wallet.is_active);
  writer.key("created_at");
  writer.string(format_rfc3339(wallet.created_at));
  writer.key("updated_at");
  writer.string(format_rfc3339(wallet.updated_at));
  writer.end_object();
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
    amount(writer, "amount", transaction.amount_minor, transaction.currency);
    writer.key("currency");
    writer.string(transaction.currency);
    amount(writer, "balance_after", transaction.balance_after_minor, transaction.currency);
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
