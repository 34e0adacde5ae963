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

// Exact decimal text of an amount in `currency` ("100.00"); the integer when the currency is
// unknown (which would be corrupt data: every stored currency comes from the ISO table).
std::string amount_text(int64_t amount_minor, std::string_view currency);

}  // namespace payoutd::api::payouts_v1
