#include "cli/output.h"

#include <cstdio>

#include "api/payouts_v1/objects/payout_object.h"
#include "core/money.h"
#include "core/payout_status.h"
#include "core/time_format.h"
#include "json/writer.h"

namespace payoutd::cli {
namespace {

std::string_view merchant_status_name(MerchantStatus status) {
  return status == MerchantStatus::kActive ? "active" : "disabled";
}

void optional_time_line(std::string& out, std::string_view name,
                        const std::optional<int64_t>& micros) {
  if (!micros) return;
  out += "  ";
  out += name;
  out += ": ";
  out += format_rfc3339(*micros);
  out += '\n';
}

void line(std::string& out, std::string_view name, std::string_view value) {
  out += "  ";
  out += name;
  out += ": ";
  out += value;
  out += '\n';
}

// Pads `text` with spaces to `width` (left-aligned columns in tables).
std::string padded(std::string_view text, size_t width) {
  std::string out(text);
  if (out.size() < width) out.append(width - out.size(), ' ');
  return out;
}

void append_beneficiary_json(json::Writer& writer, const Beneficiary& beneficiary) {
  const std::pair<std::string_view, const std::optional<std::string>*> fields[] = {
      {"first_name", &beneficiary.first_name},
      {"last_name", &beneficiary.last_name},
      {"email", &beneficiary.email},
      {"phone", &beneficiary.phone},
      {"country", &beneficiary.country},
      {"document_id", &beneficiary.document_id},
      {"document_type", &beneficiary.document_type},
      {"bank_code", &beneficiary.bank_code},
      {"bank_account", &beneficiary.bank_account},
      {"bank_branch", &beneficiary.bank_branch},
      {"account_type", &beneficiary.account_type},
      {"routing_number", &beneficiary.routing_number},
      {"address", &beneficiary.address},
      {"city", &beneficiary.city},
      {"postal_code", &beneficiary.postal_code},
      {"birthdate", &beneficiary.birthdate},
  };
  writer.begin_object();
  for (const auto& [name, value] : fields) {
    if (!value->has_value()) continue;
    writer.key(name);
    writer.string(**value);
  }
  writer.end_object();
}

}  // namespace

// ---- Renderers ----

std::string credentials_json(const commands::MerchantWithCredentials& issued) {
  json::Writer writer;
  writer.begin_object();
  writer.key("merchant_id");
  writer.integer(issued.merchant.id);
  writer.key("name");
  writer.string(issued.merchant.name);
  writer.key("cashouts_api");
  writer.begin_object();
  writer.key("login");
  writer.string(issued.credentials.login);
  writer.key("pass");
  writer.string(issued.credentials.pass);
  writer.key("secret_key");
  writer.string(issued.credentials.secret_key);
  writer.end_object();
  writer.key("api");
  writer.begin_object();
  writer.key("username");
  writer.string(issued.credentials.api_username);
  writer.key("password");
  writer.string(issued.credentials.api_password);
  writer.end_object();
  writer.end_object();
  return writer.take();
}

std::string credentials_text(const commands::MerchantWithCredentials& issued,
                             std::string_view what) {
  std::string out = "Merchant " + std::to_string(issued.merchant.id) + " (" + issued.merchant.name +
                    ") " + std::string(what) + ".\n";
  out += "Credentials (shown only now, stored hashed or encrypted; keep them safe):\n";
  line(out, "cashouts v3 login     ", issued.credentials.login);
  line(out, "cashouts v3 pass      ", issued.credentials.pass);
  line(out, "cashouts v3 secret_key", issued.credentials.secret_key);
  line(out, "v1 api username       ", issued.credentials.api_username);
  line(out, "v1 api password       ", issued.credentials.api_password);
  return out;
}

void append_merchant_json(json::Writer& writer, const Merchant& merchant) {
  writer.begin_object();
  writer.key("merchant_id");
  writer.integer(merchant.id);
  writer.key("name");
  writer.string(merchant.name);
  writer.key("status");
  writer.string(merchant_status_name(merchant.status));
  writer.key("ip_allow");
  writer.begin_array();
  for (const std::string& cidr : merchant.ip_allow) writer.string(cidr);
  writer.end_array();
  writer.key("notification_url");
  if (merchant.notification_url.empty()) {
    writer.null();
  } else {
    writer.string(merchant.notification_url);
  }
  writer.key("created_at");
  writer.string(format_rfc3339(merchant.created_at));
  writer.key("updated_at");
  writer.string(format_rfc3339(merchant.updated_at));
  writer.end_object();
}

std::string merchant_json(const Merchant& merchant) {
  json::Writer writer;
  append_merchant_json(writer, merchant);
  return writer.take();
}

std::string merchants_json(const std::vector<Merchant>& merchants) {
  json::Writer writer;
  writer.begin_array();
  for (const Merchant& merchant : merchants) append_merchant_json(writer, merchant);
  writer.end_array();
  return writer.take();
}

std::string merchant_text(const Merchant& merchant) {
  std::string out = "Merchant " + std::to_string(merchant.id) + "\n";
  line(out, "name", merchant.name);
  line(out, "status", merchant_status_name(merchant.status));
  std::string allow;
  for (const std::string& cidr : merchant.ip_allow) {
    if (!allow.empty()) allow += ',';
    allow += cidr;
  }
  line(out, "ip_allow", allow.empty() ? "(any address)" : allow);
  line(out, "notification_url",
       merchant.notification_url.empty() ? "(none)" : merchant.notification_url);
  line(out, "created_at", format_rfc3339(merchant.created_at));
  line(out, "updated_at", format_rfc3339(merchant.updated_at));
  return out;
}

std::string merchants_text(const std::vector<Merchant>& merchants) {
  if (merchants.empty()) return "No merchants.\n";
  std::string out = padded("ID", 8) + padded("STATUS", 10) + "NAME\n";
  for (const Merchant& merchant : merchants) {
    out += padded(std::to_string(merchant.id), 8);
    out += padded(merchant_status_name(merchant.status), 10);
    out += merchant.name;
    out += '\n';
  }
  return out;
}

void append_wallet_json(json::Writer& writer, const Wallet& wallet) {
  api::payouts_v1::write_wallet(writer, wallet, api::payouts_v1::ObjectAudience::kOperator);
}

std::string wallet_json(const Wallet& wallet) {
  json::Writer writer;
  append_wallet_json(writer, wallet);
  return writer.take();
}

std::string wallets_json(const std::vector<Wallet>& wallets) {
  json::Writer writer;
  writer.begin_array();
  for (const Wallet& wallet : wallets) append_wallet_json(writer, wallet);
  writer.end_array();
  return writer.take();
}

std::string wallet_text(const Wallet& wallet) {
  return "Wallet " + std::to_string(wallet.id) + " (" + wallet.currency + ") of merchant " +
         std::to_string(wallet.merchant_id) + ": available " +
         amount_text(wallet.available_minor, wallet.currency) + ", held " +
         amount_text(wallet.held_minor, wallet.currency) + "\n";
}

std::string wallets_text(int64_t merchant_id, const std::vector<Wallet>& wallets) {
  if (wallets.empty()) return "Merchant " + std::to_string(merchant_id) + " has no wallets.\n";
  std::string out = padded("ID", 8) + padded("CURRENCY", 10) + padded("AVAILABLE", 22) +
                    padded("HELD", 22) + "ACTIVE\n";
  for (const Wallet& wallet : wallets) {
    out += padded(std::to_string(wallet.id), 8);
    out += padded(wallet.currency, 10);
    out += padded(amount_text(wallet.available_minor, wallet.currency), 22);
    out += padded(amount_text(wallet.held_minor, wallet.currency), 22);
    out += wallet.is_active ? "yes" : "no";
    out += '\n';
  }
  return out;
}

std::string fees_json(int64_t merchant_id, std::string_view currency, const FeeSchedule& fees) {
  json::Writer writer;
  writer.begin_object();
  writer.key("merchant_id");
  writer.integer(merchant_id);
  writer.key("currency");
  writer.string(currency);
  writer.key("fixed");
  writer.raw_number(amount_text(fees.fixed_minor, currency));
  writer.key("percent_bps");
  writer.integer(fees.percent_bps);
  writer.end_object();
  return writer.take();
}

std::string fees_text(int64_t merchant_id, std::string_view currency, const FeeSchedule& fees) {
  return "Fees of merchant " + std::to_string(merchant_id) + " for " + std::string(currency) +
         ": fixed " + amount_text(fees.fixed_minor, currency) + " + " +
         std::to_string(fees.percent_bps) + " bps\n";
}

std::string payout_json(const commands::PayoutWithEvents& payout_with_events) {
  const Payout& payout = payout_with_events.payout;
  json::Writer writer;
  writer.begin_object();
  writer.key("cashout_id");
  writer.integer(payout.cashout_id);
  writer.key("id");
  writer.string(payout.public_id);
  writer.key("merchant_id");
  writer.integer(payout.merchant_id);
  writer.key("wallet_id");
  writer.integer(payout.wallet_id);
  writer.key("external_id");
  writer.string(payout.external_id);
  writer.key("status");
  writer.string(status_name(payout.status));
  writer.key("amount");
  writer.raw_number(amount_text(payout.amount_minor, payout.currency));
  writer.key("currency");
  writer.string(payout.currency);
  writer.key("fees");
  writer.raw_number(amount_text(payout.fees_minor, payout.currency));
  writer.key("total_amount");
  writer.raw_number(amount_text(payout.total_minor, payout.currency));
  writer.key("country");
  writer.string(payout.country);
  writer.key("beneficiary");
  append_beneficiary_json(writer, payout.beneficiary);
  writer.key("description");
  writer.string_or_null(payout.description);
  writer.key("notification_url");
  writer.string_or_null(payout.notification_url);
  writer.key("failure_code");
  if (payout.failure_code) {
    writer.integer(*payout.failure_code);
  } else {
    writer.null();
  }
  writer.key("failure_reason");
  writer.string_or_null(payout.failure_reason);
  writer.key("bank_reference_id");
  writer.string_or_null(payout.bank_reference_id);
  writer.key("connector");
  writer.string_or_null(payout.connector);
  writer.key("connector_reference");
  writer.string_or_null(payout.connector_reference);
  writer.key("created_at");
  writer.string(format_rfc3339(payout.created_at));
  api::payouts_v1::write_time_or_null(writer, "queued_at", payout.queued_at);
  api::payouts_v1::write_time_or_null(writer, "submitted_at", payout.submitted_at);
  api::payouts_v1::write_time_or_null(writer, "completed_at", payout.completed_at);
  api::payouts_v1::write_time_or_null(writer, "failed_at", payout.failed_at);
  api::payouts_v1::write_time_or_null(writer, "cancelled_at", payout.cancelled_at);
  api::payouts_v1::write_time_or_null(writer, "expired_at", payout.expired_at);
  api::payouts_v1::write_time_or_null(writer, "cancel_requested_at", payout.cancel_requested_at);
  writer.key("updated_at");
  writer.string(format_rfc3339(payout.updated_at));
  writer.key("events");
  writer.begin_array();
  for (const PayoutEvent& event : payout_with_events.events) {
    api::payouts_v1::write_event(writer, event, api::payouts_v1::ObjectAudience::kOperator);
  }
  writer.end_array();
  writer.end_object();
  return writer.take();
}

std::string payout_text(const commands::PayoutWithEvents& payout_with_events) {
  const Payout& payout = payout_with_events.payout;
  std::string out = "Payout " + std::to_string(payout.cashout_id) + " (" + payout.public_id + ")\n";
  line(out, "merchant", std::to_string(payout.merchant_id));
  line(out, "wallet", std::to_string(payout.wallet_id));
  line(out, "external_id", payout.external_id);
  line(out, "status", status_name(payout.status));
  line(out, "amount", amount_text(payout.amount_minor, payout.currency) + " " + payout.currency);
  line(out, "fees", amount_text(payout.fees_minor, payout.currency) + " " + payout.currency);
  line(out, "total_amount",
       amount_text(payout.total_minor, payout.currency) + " " + payout.currency);
  line(out, "country", payout.country);
  if (payout.failure_code) {
    line(out, "failure",
         std::to_string(*payout.failure_code) + " " + payout.failure_reason.value_or(""));
  }
  if (payout.bank_reference_id) line(out, "bank_reference_id", *payout.bank_reference_id);
  if (payout.connector) line(out, "connector", *payout.connector);
  line(out, "created_at", format_rfc3339(payout.created_at));
  optional_time_line(out, "queued_at", payout.queued_at);
  optional_time_line(out, "submitted_at", payout.submitted_at);
  optional_time_line(out, "completed_at", payout.completed_at);
  optional_time_line(out, "failed_at", payout.failed_at);
  optional_time_line(out, "cancelled_at", payout.cancelled_at);
  optional_time_line(out, "expired_at", payout.expired_at);
  optional_time_line(out, "cancel_requested_at", payout.cancel_requested_at);
  line(out, "updated_at", format_rfc3339(payout.updated_at));
  out += "Events:\n";
  for (const PayoutEvent& event : payout_with_events.events) {
    out += "  #" + std::to_string(event.seq) + " " + format_rfc3339(event.created_at) + " ";
    out += event.from_status ? std::string(status_name(*event.from_status)) : std::string("-");
    out += " -> ";
    out += status_name(event.to_status);
    out += " by ";
    out += actor_name(event.actor);
    if (!event.message.empty()) out += ": " + event.message;
    out += '\n';
  }
  return out;
}

std::string ledger_json(const LedgerReport& report) {
  json::Writer writer;
  writer.begin_object();
  writer.key("ok");
  writer.boolean(report.all_hold());
  writer.key("invariants");
  writer.begin_array();
  for (const InvariantResult& invariant : report.invariants) {
    writer.begin_object();
    writer.key("number");
    writer.integer(invariant.number);
    writer.key("name");
    writer.string(invariant.name);
    writer.key("ok");
    writer.boolean(invariant.violations == 0);
    writer.key("violations");
    writer.integer(invariant.violations);
    writer.key("samples");
    writer.begin_array();
    for (const std::string& sample : invariant.samples) writer.string(sample);
    writer.end_array();
    writer.end_object();
  }
  writer.end_array();
  writer.end_object();
  return writer.take();
}

std::string ledger_text(const LedgerReport& report) {
  std::string out;
  int64_t violated = 0;
  for (const InvariantResult& invariant : report.invariants) {
    out += "invariant " + std::to_string(invariant.number) + " (" + invariant.name + "): ";
    if (invariant.violations == 0) {
      out += "OK\n";
      continue;
    }
    ++violated;
    out += "VIOLATED (" + std::to_string(invariant.violations) + ")\n";
    for (const std::string& sample : invariant.samples) out += "    " + sample + "\n";
  }
  if (report.all_hold()) {
    out += "ledger OK: all " + std::to_string(report.invariants.size()) + " invariants hold\n";
  } else if (report.invariants.empty()) {
    out += "ledger check FAILED: no invariants were checked\n";
  } else {
    out += "ledger check FAILED: " + std::to_string(violated) + " invariant(s) violated\n";
  }
  return out;
}

std::string notifications_json(const std::vector<OutboxMessage>& messages) {
  json::Writer writer;
  writer.begin_array();
  for (const OutboxMessage& message : messages) {
    writer.begin_object();
    writer.key("id");
    writer.integer(message.id);
    writer.key("event_id");
    writer.string(message.event_id);
    writer.key("cashout_id");
    writer.integer(message.cashout_id);
    writer.key("channel");
    writer.string(message.channel);
    writer.key("target_url");
    writer.string(message.target_url);
    writer.key("status");
    writer.string(outbox_status_name(message.status));
    writer.key("attempts");
    writer.integer(message.attempts);
    writer.key("next_attempt_at");
    writer.string(format_rfc3339(message.next_attempt_at));
    writer.key("last_error");
    writer.string_or_null(message.last_error);
    writer.key("created_at");
    writer.string(format_rfc3339(message.created_at));
    writer.end_object();
  }
  writer.end_array();
  return writer.take();
}

std::string notifications_text(const std::vector<OutboxMessage>& messages) {
  if (messages.empty()) return "No notifications\n";
  std::string out;
  for (const OutboxMessage& message : messages) {
    out += message.event_id + "  " + message.channel + "  " +
           std::string(outbox_status_name(message.status)) + "  attempts " +
           std::to_string(message.attempts) + "  " + message.target_url;
    if (message.last_error) out += "  last error: " + *message.last_error;
    out += "\n";
  }
  return out;
}

}  // namespace payoutd::cli
