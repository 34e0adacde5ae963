#include "api/payouts_v1/objects/payout_object.h"

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

void write_time_or_null(json::Writer& writer, std::string_view key,
                        const std::optional<int64_t>& unix_micros) {
  writer.key(key);
  if (unix_micros) {
    writer.string(format_rfc3339(*unix_micros));
  } else {
    writer.null();
  }
}

void write_amount(json::Writer& writer, std::string_view key, int64_t amount_minor,
                  std::string_view currency) {
  writer.key(key);
  writer.raw_number(amount_text(amount_minor, currency));
}

void write_event(json::Writer& writer, const PayoutEvent& event, ObjectAudience audience) {
  const bool operator_view = audience == ObjectAudience::kOperator;
  auto name = [operator_view](PayoutStatus status) {
    return operator_view ? status_name(status) : v1_status_name(status);
  };
  writer.begin_object();
  if (operator_view) {
    writer.key("seq");
    writer.integer(event.seq);
  }
  writer.key("event_type");
  writer.string(event.event_type);
  writer.key("from_status");
  if (event.from_status) {
    writer.string(name(*event.from_status));
  } else {
    writer.null();
  }
  writer.key("to_status");
  writer.string(name(event.to_status));
  writer.key("actor_type");
  writer.string(actor_name(event.actor));
  writer.key("message");
  writer.string(event.message);
  writer.key("created_at");
  writer.string(format_rfc3339(event.created_at));
  writer.end_object();
}

void write_wallet(json::Writer& writer, const Wallet& wallet, ObjectAudience audience) {
  const Currency* currency = find_currency(wallet.currency);
  writer.begin_object();
  writer.key("id");
  writer.integer(wallet.id);
  if (audience == ObjectAudience::kOperator) {
    writer.key("merchant_id");
    writer.integer(wallet.merchant_id);
  }
  writer.key("currency");
  writer.string(wallet.currency);
  writer.key("currency_id");
  if (currency != nullptr) {
    writer.integer(currency->numeric);
  } else {
    writer.null();
  }
  write_amount(writer, "amount", wallet.available_minor, wallet.currency);
  write_amount(writer, "held_amount", wallet.held_minor, wallet.currency);
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
  write_amount(writer, "amount", payout.amount_minor, payout.currency);
  writer.key("currency");
  writer.string(payout.currency);
  write_amount(writer, "fees", payout.fees_minor, payout.currency);
  write_amount(writer, "total_amount", payout.total_minor, payout.currency);
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
  write_time_or_null(writer, "queued_at", payout.queued_at);
  write_time_or_null(writer, "submitted_at", payout.submitted_at);
  write_time_or_null(writer, "completed_at", payout.completed_at);
  write_time_or_null(writer, "failed_at", payout.failed_at);
  write_time_or_null(writer, "cancelled_at", payout.cancelled_at);
  write_time_or_null(writer, "expired_at", payout.expired_at);
  write_time_or_null(writer, "cancel_requested_at", payout.cancel_requested_at);
  if (events != nullptr) {
    writer.key("events");
    writer.begin_array();
    for (const PayoutEvent& event : *events) write_event(writer, event);
    writer.end_array();
  }
  writer.end_object();
}

std::string webhook_event_body(const Payout& payout, const PayoutEvent& event,
                               std::string_view event_id) {
  PAYOUTD_ASSERT(payout.status == event.to_status);
  json::Writer writer;
  writer.reserve(1200);
  writer.begin_object();
  writer.key("id");
  writer.string(event_id);
  writer.key("type");
  writer.string(v1_event_type(event.to_status));
  writer.key("created_at");
  writer.string(format_rfc3339(event.created_at));
  writer.key("data");
  writer.begin_object();
  writer.key("payout");
  write_payout(writer, payout, nullptr);
  writer.end_object();
  writer.end_object();
  return writer.take();
}


}  // namespace payoutd::api::payouts_v1
