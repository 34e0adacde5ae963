#include "integration/v1_support.h"

#include <iostream>

#include "json/writer.h"

namespace payoutd::testing::v1 {

std::optional<json::Value> parse_json(const std::string& text) {
  Result<json::Value> parsed = json::parse(text);
  if (!parsed.is_ok()) return std::nullopt;
  return std::move(parsed).value();
}

std::string member_text(const json::Value& object, std::string_view key) {
  const json::Value* value = object.find(key);
  if (value == nullptr) return "<absent>";
  if (value->is_null()) return "<null>";
  if (value->is_string()) return value->as_string();
  if (value->is_number()) return value->number_text();
  if (value->is_bool()) return value->as_bool() ? "true" : "false";
  return "<" + std::string(json::type_name(value->type())) + ">";
}

const json::Value* path(const json::Value& root, std::string_view dotted) {
  const json::Value* current = &root;
  while (current != nullptr && !dotted.empty()) {
    const size_t dot = dotted.find('.');
    current = current->find(dotted.substr(0, dot));
    dotted = dot == std::string_view::npos ? std::string_view() : dotted.substr(dot + 1);
  }
  return current;
}

std::string seed_create_body(const std::string& reference_id, int64_t wallet_id,
                             const std::string& amount,
                             const std::optional<std::string>& account_number,
                             const std::string& description) {
  json::Writer writer;
  writer.begin_object();
  writer.key("reference_id");
  writer.string(reference_id);
  writer.key("wallet_id");
  writer.integer(wallet_id);
  writer.key("amount");
  writer.raw_number(amount);
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
  writer.end_object();
  if (account_number) {
    writer.key("beneficiary_identifiers");
    writer.begin_object();
    writer.key("account_number");
    writer.string(*account_number);
    writer.key("bank_code");
    writer.string("021");
    writer.end_object();
  }
  writer.key("description");
  writer.string(description);
  writer.end_object();
  return writer.take();
}

::testing::AssertionResult is_v1_error(const HttpResponse& response, int status,
                                       std::string_view name,
                                       std::optional<std::string_view> message,
                                       bool allow_details) {
  if (response.status != status) {
    return ::testing::AssertionFailure()
           << "HTTP " << response.status << " instead of " << status << ": " << response.body;
  }
  std::optional<json::Value> body = parse_json(response.body);
  if (!body || !body->is_object()) {
    return ::testing::AssertionFailure() << "not a JSON object: " << response.body;
  }
  if (member_text(*body, "error") != name) {
    return ::testing::AssertionFailure() << "error is not " << name << ": " << response.body;
  }
  if (message && member_text(*body, "message") != *message) {
    return ::testing::AssertionFailure() << "message is not '" << *message << "': " << response.body;
  }
  for (const auto& [key, value] : body->members()) {
    (void)value;
    if (key == "error" || key == "message") continue;
    if (key == "details" && allow_details) continue;
    return ::testing::AssertionFailure() << "unexpected member " << key << ": " << response.body;
  }
  return ::testing::AssertionSuccess();
}

void V1Test::SetUp() { start_server(); }

void V1Test::TearDown() {
  std::string report;
  EXPECT_EQ(sandbox_.ledger_check(&report), 0) << report;
  if (server_ && HasFailure()) {
    const std::string log = server_->log();
    std::cerr << "---- server log (tail) ----\n"
              << (log.size() > 4000 ? log.substr(log.size() - 4000) : log) << "\n";
  }
  if (server_) {
    EXPECT_EQ(server_->stop(), 0) << "the server must stop cleanly on SIGTERM";
  }
}

void V1Test::start_server() {
  server_.reset();
  server_ = std::make_unique<ServerProcess>(sandbox_, server_arguments());
  ASSERT_TRUE(server_->started()) << server_->output() << server_->log();
}

V1Merchant V1Test::add_merchant(const std::string& name, const std::string& usd_funding,
                                const std::string& usd_fixed_fee) {
  V1Merchant merchant;
  merchant.v3_login = "login_" + name;
  merchant.v3_pass = "pass_" + name;
  merchant.v3_secret_key = "secret_" + name;
  std::string output;
  std::optional<int64_t> id = sandbox_.create_merchant(
      name,
      {"--v3-login", merchant.v3_login, "--v3-pass", merchant.v3_pass, "--v3-secret-key",
       merchant.v3_secret_key},
      &output);
  EXPECT_TRUE(id.has_value()) << output;
  if (!id) return merchant;
  merchant.id = *id;
  std::optional<json::Value> parsed = parse_json(output);
  EXPECT_TRUE(parsed.has_value()) << output;
  if (!parsed) return merchant;
  const json::Value* username = path(*parsed, "api.username");
  const json::Value* password = path(*parsed, "api.password");
  EXPECT_TRUE(username != nullptr && username->is_string()) << output;
  EXPECT_TRUE(password != nullptr && password->is_string()) << output;
  if (username == nullptr || password == nullptr || !username->is_string() ||
      !password->is_string()) {
    return merchant;
  }
  merchant.username = username->as_string();
  merchant.password = password->as_string();

  if (!usd_fixed_fee.empty()) {
    ProcessResult fees = sandbox_.cli({"merchant", "fees", std::to_string(merchant.id),
                                       "--currency", "USD", "--fixed", usd_fixed_fee,
                                       "--percent-bps", "0"});
    EXPECT_EQ(fees.exit_code, 0) << fees.out << fees.err;
  }
  if (!usd_funding.empty()) {
    EXPECT_TRUE(sandbox_.fund_wallet(merchant.id, "USD", usd_funding));
    ProcessResult shown =
        sandbox_.cli({"wallet", "show", "--json", "--merchant", std::to_string(merchant.id)});
    std::optional<json::Value> wallets = parse_json(shown.out);
    EXPECT_TRUE(wallets && wallets->is_array()) << shown.out << shown.err;
    if (wallets && wallets->is_array()) {
      for (const json::Value& wallet : wallets->items()) {
        if (member_text(wallet, "currency") == "USD") {
          merchant.usd_wallet_id = std::stoll(member_text(wallet, "id"));
        }
      }
    }
    EXPECT_NE(merchant.usd_wallet_id, 0);
  }
  return merchant;
}

Tokens V1Test::login(const V1Merchant& merchant) {
  json::Writer writer;
  writer.begin_object();
  writer.key("username");
  writer.string(merchant.username);
  writer.key("password");
  writer.string(merchant.password);
  writer.end_object();
  HttpResponse response = send("POST", "/auth/login", writer.take());
  EXPECT_EQ(response.status, 200) << response.body;
  std::optional<json::Value> body = parse_json(response.body);
  if (response.status != 200 || !body) return {};
  return Tokens{member_text(*body, "access_token"), member_text(*body, "refresh_token")};
}

HttpResponse V1Test::send(const std::string& method, const std::string& target,
                          const std::string& body, const Headers& headers) {
  std::optional<HttpResponse> response =
      http_request(server_->port(), method, target, body, headers);
  return response.value_or(HttpResponse{});
}

HttpResponse V1Test::call(const std::string& token, const std::string& method,
                          const std::string& target, const std::string& body, Headers headers) {
  headers.emplace_back("Authorization", "Bearer " + token);
  return send(method, target, body, headers);
}

std::string V1Test::create_payout(const std::string& token, int64_t wallet_id,
                                  const std::string& reference_id, const std::string& amount) {
  HttpResponse response =
      call(token, "POST", "/api/v1/payouts", seed_create_body(reference_id, wallet_id, amount));
  EXPECT_EQ(response.status, 201) << response.body;
  std::optional<json::Value> body = parse_json(response.body);
  if (response.status != 201 || !body) return "";
  return member_text(*body, "id");
}

bool V1Test::operator_set_status(const std::string& payout_id, const std::string& to) {
  ProcessResult result = sandbox_.cli({"payout", "set-status", payout_id, "--status", to});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  return result.exit_code == 0;
}

std::string V1Test::wallet_text(int64_t merchant_id, const std::string& currency) {
  std::optional<Sandbox::WalletAmounts> amounts = sandbox_.wallet(merchant_id, currency);
  if (!amounts) return "<no wallet>";
  return amounts->available + "/" + amounts->held;
}

}  // namespace payoutd::testing::v1
