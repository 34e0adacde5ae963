// `payoutd demo`: the demo merchant, its funded wallets and the text that shows how to call it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "commands/commands.h"
#include "core/status.h"
#include "core/types.h"

namespace payoutd::cli {

inline constexpr std::string_view kDemoMerchantName = "Demo Merchant";

struct DemoMerchant {
  commands::MerchantWithCredentials issued;  // freshly created or rotated credentials
  bool created = false;                      // false: an existing demo merchant was reused
  std::vector<Wallet> wallets;               // after the top-up
  std::string suffix;                        // makes example external ids unique per start
};

// Finds the merchant named kDemoMerchantName (the lowest id when several) or creates it; enables
// it; rotates its credentials (they are stored hashed, so only fresh ones can be printed); tops
// the BRL, USD, MXN wallets up to 10,000.00 and the CLP wallet to 10,000 (funding only the
// difference, so restarts never grow balances); sets the USD fee schedule to 1.50 fixed.
// REQUIRES: `commands` has a master key.
Result<DemoMerchant> prepare_demo_merchant(commands::Commands& commands, int64_t now_micros);

// The human banner: credentials, wallets and ready-to-paste curl examples for both dialects,
// with real Payload-Signature values.
std::string demo_text(const DemoMerchant& demo, std::string_view base_url, std::string_view brand);
// One JSON object: merchant_id, name, credentials, base_url, wallets.
std::string demo_json(const DemoMerchant& demo, std::string_view base_url);

}  // namespace payoutd::cli
