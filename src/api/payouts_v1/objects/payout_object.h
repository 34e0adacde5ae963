// The v1 payout object (payouts-v1.md) and the v1 webhook event that carries it
// (notifications.md). Pure functions of domain values, shared by the v1 dialect's responses and by
// commands/, which renders each webhook event inside the transaction of its status change so that
// the event carries the payout exactly as it was at that event.
//
// Amounts are JSON numbers with exactly the currency's decimals (format_amount, written with
// Writer::raw_number, never through a float); timestamps are RFC 3339 UTC seconds with 'Z';
// absent values are null.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/payout_status.h"
#include "core/types.h"
#include "json/writer.h"

namespace payoutd::api::payouts_v1 {

// The payout object; `events` is written when non-null (single-payout responses), omitted in
// lists and webhook events.
void write_payout(json::Writer& writer, const Payout& payout,
                  const std::vector<PayoutEvent>* events);


// {"id":event_id,"type":"payout.<status>","created_at":…,"data":{"payout":{…}}}.
// REQUIRES: payout.status == event.to_status (the payout as of that event).
std::string webhook_event_body(const Payout& payout, const PayoutEvent& event,
                               std::string_view event_id);

// The members every object writes the same way, whoever renders it (the v1 dialect, the CLI).
// `key`: an RFC 3339 time, or null when absent.
void write_time_or_null(json::Writer& writer, std::string_view key,
                        const std::optional<int64_t>& unix_micros);
// `key`: the amount as an exact JSON number (core's amount_text).
void write_amount(json::Writer& writer, std::string_view key, int64_t amount_minor,
                  std::string_view currency);

// Who reads an object decides two things about it, and nothing else: the operator (CLI) sees
// internal identifiers and names beside what the merchant sees.
enum class ObjectAudience : uint8_t {
  kMerchant = 0,  // the v1 wire: v1 status names, no internal numbers
  kOperator,      // the CLI: + the event's seq, the wallet's merchant_id; internal status names
};

// One event of a payout's history: {event_type, from_status, to_status, actor_type, message,
// created_at}; for the operator, `seq` first and the internal status names.
void write_event(json::Writer& writer, const PayoutEvent& event,
                 ObjectAudience audience = ObjectAudience::kMerchant);

// The wallet object (payouts-v1.md): {id, currency, currency_id, amount, held_amount, type,
// is_active, created_at, updated_at}; for the operator, merchant_id after id.
void write_wallet(json::Writer& writer, const Wallet& wallet,
                  ObjectAudience audience = ObjectAudience::kMerchant);

}  // namespace payoutd::api::payouts_v1
