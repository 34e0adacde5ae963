#include "cli/demo.h"

#include <array>

#include "cli/output.h"
#include "core/money.h"
#include "crypto/hash.h"
#include "json/writer.h"

namespace payoutd::cli {
namespace {

struct TopUpTarget {
  std::string_view currency;
  int64_t minimum_minor;  // the wallet's available balance after the top-up, at least
};

constexpr std::array<TopUpTarget, 4> kTopUpTargets = {{
    {"BRL", 1'000'000},  // 10,000.00
    {"USD", 1'000'000},
    {"MXN", 1'000'000},
    {"CLP", 10'000},  // CLP has no minor unit: 10,000
}};

constexpr int64_t kDemoUsdFixedFeeMinor = 150;  // 1.50 USD per payout
constexpr std::string_view kDemoNotificationUrl = "https://merchant.example/notifications";

const Wallet* find_wallet(const std::vector<Wallet>& wallets, std::string_view currency) {
  for (const Wallet& wallet : wallets) {
    if (wallet.currency == currency) return &wallet;
  }
  return nullptr;
}

std::string signature(std::string_view secret_key, std::string_view body) {
  return crypto::hex_lower(crypto::hmac_sha256(secret_key, body));
}

std::string v3_create_body(const DemoMerchant& demo) {
  json::Writer writer;
  writer.begin_object();
  writer.key("login");
  writer.string(demo.issued.credentials.login);
  writer.key("pass");
  writer.string(demo.issued.credentials.pass);
  writer.key("external_id");
  writer.string("demo-v3-" + demo.suffix);
  writer.key("country");
  writer.string("BR");
  writer.key("currency");
  writer.string("BRL");
  writer.key("amount");
  writer.raw_number("100.00");
  writer.key("document_id");
  writer.string("84868168029");
  writer.key("document_type");
  writer.string("CPF");
  writer.key("beneficiary_name");
  writer.string("Maria");
  writer.key("beneficiary_lastname");
  writer.string("Silva");
  writer.key("email");
  writer.string("maria.silva@example.com");
  writer.key("bank_code");
  writer.string("001");
  writer.key("bank_branch");
  writer.string("0001");
  writer.key("bank_account");
  writer.string("123456789");
  writer.key("account_type");
  writer.string("C");
  writer.key("notification_url");
  writer.string(kDemoNotificationUrl);
  writer.key("comments");
  writer.string("payoutd demo cashout");
  // The engine moves payouts on by itself within seconds; created on hold, the example can still
  // be cancelled by hand (v3 cancels only Pending and On hold cashouts).
  writer.key("on_hold");
  writer.boolean(true);
  writer.end_object();
  return writer.take();
}

std::string v3_status_body(const DemoMerchant& demo) {
  json::Writer writer;
  writer.begin_object();
  writer.key("login");
  writer.string(demo.issued.credentials.login);
  writer.key("pass");
  writer.string(demo.issued.credentials.pass);
  writer.key("external_id");
  writer.string("demo-v3-" + demo.suffix);
  writer.end_object();
  return writer.take();
}

std::string v1_login_body(const DemoMerchant& demo) {
  json::Writer writer;
  writer.begin_object();
  writer.key("username");
  writer.string(demo.issued.credentials.api_username);
  writer.key("password");
  writer.string(demo.issued.credentials.api_password);
  writer.end_object();
  return writer.take();
}

std::string v1_create_body(const DemoMerchant& demo, int64_t usd_wallet_id) {
  json::Writer writer;
  writer.begin_object();
  writer.key("reference_id");
  writer.string("demo-v1-" + demo.suffix);
  writer.key("wallet_id");
  writer.integer(usd_wallet_id);
  writer.key("amount");
  writer.raw_number("100.00");
  writer.key("currency");
  writer.string("USD");
  writer.key("beneficiary");
  writer.begin_object();
  writer.key("email");
  writer.string("john.doe@example.com");
  writer.key("first_name");
  writer.string("John");
  writer.key("last_name");
  writer.string("Doe");
  writer.key("country");
  writer.string("US");
  // Ends in 901: the sandbox rail accepts a cancel while the payout is processing
  // (docs/engine.md), so the cancel example below works after the engine submitted it.
  writer.key("account_number");
  writer.string("000000901");
  writer.end_object();
  writer.key("description");
  writer.string("payoutd demo payout");
  writer.end_object();
  return writer.take();
}

}  // namespace

Result<DemoMerchant> prepare_demo_merchant(commands::Commands& commands, int64_t now_micros) {
  DemoMerchant demo;
  demo.suffix = std::to_string(now_micros / 1'000'000);

  PAYOUTD_ASSIGN_OR_RETURN(std::vector<Merchant> merchants, commands.list_merchants());
  const Merchant* existing = nullptr;
  for (const Merchant& merchant : merchants) {
    if (merchant.name == kDemoMerchantName && (existing == nullptr || merchant.id < existing->id)) {
      existing = &merchant;
    }
  }

  if (existing == nullptr) {
    commands::CreateMerchantInput input;
    input.name = std::string(kDemoMerchantName);
    PAYOUTD_ASSIGN_OR_RETURN(commands::MerchantWithCredentials created,
                             commands.create_merchant(input));
    demo.issued = std::move(created);
    demo.created = true;
  } else {
    if (existing->status != MerchantStatus::kActive) {
      Result<Merchant> enabled =
          commands.set_merchant_status(existing->id, MerchantStatus::kActive);
      if (!enabled.is_ok()) return std::move(enabled).status();
    }
    PAYOUTD_ASSIGN_OR_RETURN(commands::MerchantWithCredentials rotated,
                             commands.rotate_credentials(existing->id));
    demo.issued = std::move(rotated);
  }
  const int64_t merchant_id = demo.issued.merchant.id;

  PAYOUTD_ASSIGN_OR_RETURN(std::vector<Wallet> wallets, commands.list_all_wallets(merchant_id));
  for (const TopUpTarget& target : kTopUpTargets) {
    const Wallet* wallet = find_wallet(wallets, target.currency);
    const int64_t available = wallet != nullptr ? wallet->available_minor : 0;
    if (available >= target.minimum_minor) continue;
    commands::WalletMovementInput input;
    input.merchant_id = merchant_id;
    input.currency = std::string(target.currency);
    input.amount_minor = target.minimum_minor - available;
    input.remarks = "payoutd demo top-up";
    PAYOUTD_RETURN_IF_ERROR(commands.fund_wallet(input));
  }

  FeeSchedule usd_fees;
  usd_fees.fixed_minor = kDemoUsdFixedFeeMinor;
  PAYOUTD_RETURN_IF_ERROR(commands.set_fees(merchant_id, "USD", usd_fees));

  PAYOUTD_ASSIGN_OR_RETURN(std::vector<Wallet> after, commands.list_all_wallets(merchant_id));
  demo.wallets = std::move(after);
  return demo;
}

std::string demo_text(const DemoMerchant& demo, std::string_view base_url, std::string_view brand) {
  const commands::IssuedCredentials& credentials = demo.issued.credentials;
  const std::string url(base_url);
  std::string out;
  out += std::string(brand) + " demo\n\n";
  out += "Merchant " + std::to_string(demo.issued.merchant.id) + " \"" + demo.issued.merchant.name +
         "\" (" + (demo.created ? "created" : "reused") + ").\n";
  out +=
      "Credentials are shown only once and stored hashed or encrypted, so the demo ROTATES them at "
      "every start:\nthe ones below were issued just now, and those printed by an earlier start no "
      "longer work.\n\n";
  out +=
      "Cashouts API v3 (login/pass in the body; header Payload-Signature = lowercase hex "
      "HMAC-SHA256 of the exact body, keyed with secret_key):\n";
  out += "  login:      " + credentials.login + "\n";
  out += "  pass:       " + credentials.pass + "\n";
  out += "  secret_key: " + credentials.secret_key + "\n";
  out += "Payouts API v1 (POST /auth/login, then Authorization: Bearer <access_token>):\n";
  out += "  username:   " + credentials.api_username + "\n";
  out += "  password:   " + credentials.api_password + "\n\n";

  out += "Wallets (topped up to at least 10,000 at each start):\n";
  int64_t usd_wallet_id = 0;
  for (const Wallet& wallet : demo.wallets) {
    if (wallet.currency == "USD") usd_wallet_id = wallet.id;
    out += "  " + wallet.currency + "  wallet_id " + std::to_string(wallet.id) + "  available " +
           amount_text(wallet.available_minor, wallet.currency) + "  held " +
           amount_text(wallet.held_minor, wallet.currency) + "\n";
  }
  out += "Fees: USD 1.50 fixed per payout; other currencies none.\n\n";
  out += "Base URL: " + url + "\n\n";

  const std::string create_body = v3_create_body(demo);
  const std::string status_body = v3_status_body(demo);
  out += "The engine runs with the sandbox connector: payouts move on by themselves (docs/engine.md:\n"
         "the last digits of the bank account choose the outcome).\n\n";
  out += "# Cashouts v3: create a cashout (BRL 100.00), on hold so that it can still be cancelled\n";
  out += "curl -sS -X POST '" + url + "/v3/cashout' -H 'Content-Type: application/json' \\\n";
  out += "  -H 'Payload-Signature: " + signature(credentials.secret_key, create_body) + "' \\\n";
  out += "  -d '" + create_body + "'\n\n";
  out += "# Cashouts v3: its status\n";
  out +=
      "curl -sS -X POST '" + url + "/v3/cashout/status' -H 'Content-Type: application/json' \\\n";
  out += "  -H 'Payload-Signature: " + signature(credentials.secret_key, status_body) + "' \\\n";
  out += "  -d '" + status_body + "'\n\n";
  out +=
      "# Cashouts v3: cancel it. The body must name the cashout_id the create call returned, so\n";
  out += "# set CASHOUT_ID to it; the body is then signed the same way, locally, with openssl:\n";
  out += "CASHOUT_ID=1  # replace 1 with the cashout_id returned by the create call\n";
  out += "BODY='{\"login\":\"" + credentials.login + "\",\"pass\":\"" + credentials.pass +
         "\",\"cashout_id\":\"'\"$CASHOUT_ID\"'\",\"external_id\":\"demo-v3-" + demo.suffix +
         "\"}'\n";
  out +=
      "curl -sS -X DELETE '" + url + "/v3/cashout/cancel' -H 'Content-Type: application/json' \\\n";
  out += "  -H \"Payload-Signature: $(printf '%s' \"$BODY\" | openssl dgst -sha256 -hmac '" +
         credentials.secret_key + "' | sed 's/^.*= //')\" \\\n";
  out += "  -d \"$BODY\"\n\n";

  out += "# Payouts v1: log in (prints the tokens)\n";
  out += "curl -sS -X POST '" + url + "/auth/login' -H 'Content-Type: application/json' \\\n";
  out += "  -d '" + v1_login_body(demo) + "'\n";
  out += "# ... or keep the access token in a shell variable:\n";
  out += "TOKEN=$(curl -sS -X POST '" + url +
         "/auth/login' -H 'Content-Type: application/json' -d '" + v1_login_body(demo) +
         "' | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')\n\n";
  out += "# Payouts v1: create a payout from the USD wallet (fee 1.50)\n";
  out += "curl -sS -X POST '" + url + "/api/v1/payouts' -H \"Authorization: Bearer $TOKEN\" \\\n";
  out += "  -H 'Content-Type: application/json' \\\n";
  out += "  -d '" + v1_create_body(demo, usd_wallet_id) + "'\n\n";
  out += "# Payouts v1: cancel it (PAYOUT_ID = the \"id\" of the create response, pyt_...)\n";
  out += "PAYOUT_ID=pyt_replace_me  # the id returned by the create call\n";
  out += "curl -sS -X POST \"" + url +
         "/api/v1/payouts/$PAYOUT_ID/cancel\" -H \"Authorization: "
         "Bearer $TOKEN\"\n";
  return out;
}

std::string demo_json(const DemoMerchant& demo, std::string_view base_url) {
  const commands::IssuedCredentials& credentials = demo.issued.credentials;
  json::Writer writer;
  writer.begin_object();
  writer.key("merchant_id");
  writer.integer(demo.issued.merchant.id);
  writer.key("name");
  writer.string(demo.issued.merchant.name);
  writer.key("created");
  writer.boolean(demo.created);
  writer.key("credentials");
  writer.begin_object();
  writer.key("cashouts_api");
  writer.begin_object();
  writer.key("login");
  writer.string(credentials.login);
  writer.key("pass");
  writer.string(credentials.pass);
  writer.key("secret_key");
  writer.string(credentials.secret_key);
  writer.end_object();
  writer.key("api");
  writer.begin_object();
  writer.key("username");
  writer.string(credentials.api_username);
  writer.key("password");
  writer.string(credentials.api_password);
  writer.end_object();
  writer.end_object();
  writer.key("base_url");
  writer.string(base_url);
  writer.key("wallets");
  writer.begin_array();
  for (const Wallet& wallet : demo.wallets) append_wallet_json(writer, wallet);
  writer.end_array();
  writer.end_object();
  return writer.take();
}

}  // namespace payoutd::cli
