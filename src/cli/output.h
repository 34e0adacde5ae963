// What the operator commands print: a JSON rendering (--json) and a human one for each result.
// Pure functions of domain values; no I/O. Amounts print as exact decimal text with exactly the
// currency's decimals (as JSON numbers in --json output, like the v1 dialect).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commands/commands.h"
#include "core/types.h"
#include "json/writer.h"
#include "store/store.h"

namespace payoutd::cli {

// merchant create / rotate-credentials.
std::string credentials_json(const commands::MerchantWithCredentials& issued);
std::string credentials_text(const commands::MerchantWithCredentials& issued,
                             std::string_view what);

// Merchants never print credential material (not even hashes or the login).
void append_merchant_json(json::Writer& writer, const Merchant& merchant);
std::string merchant_json(const Merchant& merchant);
std::string merchants_json(const std::vector<Merchant>& merchants);
std::string merchant_text(const Merchant& merchant);
std::string merchants_text(const std::vector<Merchant>& merchants);

// The wallet object is the v1 dialect's, as the operator sees it (api/payouts_v1/objects).
void append_wallet_json(json::Writer& writer, const Wallet& wallet);
std::string wallet_json(const Wallet& wallet);
std::string wallets_json(const std::vector<Wallet>& wallets);
std::string wallet_text(const Wallet& wallet);
std::string wallets_text(int64_t merchant_id, const std::vector<Wallet>& wallets);

std::string fees_json(int64_t merchant_id, std::string_view currency, const FeeSchedule& fees);
std::string fees_text(int64_t merchant_id, std::string_view currency, const FeeSchedule& fees);

std::string payout_json(const commands::PayoutWithEvents& payout);
std::string payout_text(const commands::PayoutWithEvents& payout);

std::string ledger_json(const LedgerReport& report);
// `notifications list`: one object / line per outbox row (payloads are not shown).
std::string notifications_json(const std::vector<OutboxMessage>& messages);
std::string notifications_text(const std::vector<OutboxMessage>& messages);
std::string ledger_text(const LedgerReport& report);

}  // namespace payoutd::cli
