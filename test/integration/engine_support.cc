#include "integration/engine_support.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include "integration/v1_support.h"
#include "json/writer.h"

namespace payoutd::testing::engine_it {
namespace {

std::string json_quoted(std::string_view text) {
  std::string out = "\"";
  json::append_escaped(text, &out);
  out += '"';
  return out;
}

void append_collapsed(std::vector<std::string>& seen, const std::string& value) {
  if (seen.empty() || seen.back() != value) seen.push_back(value);
}

std::string tail(const std::string& text, size_t bytes) {
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

}  // namespace

std::string EngineConfig::toml() const {
  std::string out;
  for (const auto& [key, value] : keys_) out += key + " = " + std::to_string(value) + "\n";
  return out;
}

EngineConfig fast_paths_config() {
  EngineConfig config;
  config.set("engine_poll_interval_ms", 20)
      .set("engine_follow_up_max_ms", 200)
      .set("engine_reconcile_initial_ms", 100)
      .set("engine_reconcile_max_ms", 200)
      .set("engine_cancel_recheck_ms", 100)
      .set("action_required_expiry_seconds", 1)
      .set("sandbox_settle_after_ms", 200)
      .set("sandbox_complete_after_ms", 600)
      .set("sandbox_fail_after_ms", 200)
      .set("sandbox_action_required_after_ms", 200)
      .set("sandbox_cancel_answer_after_ms", 300)
      .set("sandbox_reversal_after_ms", 300)
      .set("sandbox_unknown_for_ms", 500);
  return config;
}

std::optional<json::Value> parse_json(const std::string& text) {
  Result<json::Value> parsed = json::parse(text);
  if (!parsed.is_ok()) return std::nullopt;
  return std::move(parsed).value();
}

std::string member_text(const json::Value& object, std::string_view key) {
  if (!object.is_object()) return "<not an object>";
  const json::Value* value = object.find(key);
  if (value == nullptr) return "<absent>";
  if (value->is_null()) return "<null>";
  if (value->is_string()) return value->as_string();
  if (value->is_number()) return value->number_text();
  if (value->is_bool()) return value->as_bool() ? "true" : "false";
  return "<" + std::string(json::type_name(value->type())) + ">";
}

// ---- Api ----

Api::Api(int port, const Merchant& merchant, int timeout_ms)
    : port_(port), merchant_(merchant), client_(port, timeout_ms) {}

HttpResponse Api::send(const std::string& method, const std::string& path,
                       const std::string& body, const Headers& headers, bool retry) {
  for (int attempt = 0; attempt < (retry ? 2 : 1); ++attempt) {
    std::optional<HttpResponse> response = client_.request(method, path, body, headers);
    if (response) return std::move(*response);
    client_.close();
  }
  return HttpResponse{};
}

HttpResponse Api::v3(const std::string& method, const std::string& path, const std::string& body,
                     bool retry) {
  return send(method, path, body, {{"Payload-Signature", sign_hex(merchant_.v3_secret_key, body)}},
              retry);
}

HttpResponse Api::v1(const std::string& method, const std::string& path, const std::string& body,
                     bool retry) {
  return send(method, path, body, {{"Authorization", "Bearer " + merchant_.token}}, retry);
}

std::string Api::v3_body(
    const std::vector<std::pair<std::string, std::string>>& raw_members) const {
  std::string body =
      "{\"login\":" + json_quoted(merchant_.v3_login) + ",\"pass\":" + json_quoted(merchant_.v3_pass);
  for (const auto& [key, raw] : raw_members) body += "," + json_quoted(key) + ":" + raw;
  return body + "}";
}

std::string Api::v3_create_body(const std::string& external_id, const std::string& bank_account,
                                const std::string& amount) const {
  return v3_body({{"external_id", json_quoted(external_id)},
                  {"country", "\"BR\""},
                  {"currency", "\"BRL\""},
                  {"amount", amount},
                  {"document_id", "\"84868168029\""},
                  {"document_type", "\"CPF\""},
                  {"beneficiary_name", "\"Maria\""},
                  {"beneficiary_lastname", "\"Silva\""},
                  {"email", "\"maria.silva@example.com\""},
                  {"bank_code", "\"001\""},
                  {"bank_account", json_quoted(bank_account)},
                  {"bank_branch", "\"0001\""},
                  {"account_type", "\"C\""},
                  {"notification_url", "\"https://merchant.example/notify\""},
                  {"type", "\"json\""}});
}

std::string Api::v1_create_body(const std::string& reference_id, const std::string& bank_account,
                                const std::string& amount) const {
  return v1::seed_create_body(reference_id, merchant_.usd_wallet_id, amount, bank_account,
                              "Engine path test");
}

// ---- Sequences ----

::testing::AssertionResult sequence_matches(const std::vector<std::string>& seen,
                                            const std::vector<Step>& expected) {
  auto describe = [&] {
    std::string text = "seen [";
    for (size_t i = 0; i < seen.size(); ++i) text += (i ? ", " : "") + seen[i];
    text += "], expected [";
    for (size_t i = 0; i < expected.size(); ++i) {
      text += (i ? ", " : "") + expected[i].value + (expected[i].optional ? "?" : "");
    }
    return text + "]";
  };
  size_t at = 0;
  for (const Step& step : expected) {
    if (at < seen.size() && seen[at] == step.value) {
      ++at;
    } else if (!step.optional) {
      return ::testing::AssertionFailure() << describe();
    }
  }
  if (at != seen.size()) return ::testing::AssertionFailure() << describe();
  return ::testing::AssertionSuccess();
}

std::string v3_status_json(int code, std::string_view description,
                           std::optional<int> rejection_code,
                           std::optional<std::string> bank_reference_id) {
  std::string out = "{\"cashout_status\":" + std::to_string(code) +
                    ",\"cashout_status_description\":" + json_quoted(description);
  if (rejection_code) {
    std::string name;
    switch (*rejection_code) {
      case 800: name = "ERROR_ACCOUNT_INCORRECT"; break;
      case 801: name = "ERROR_ACCOUNT_CLOSED"; break;
      case 802: name = "ERROR_AMOUNT_INCORRECT"; break;
      case 803: name = "ERROR_BANK_INVALID"; break;
      case 804: name = "ERROR_BANK_BRANCH_INCORRECT"; break;
      case 805: name = "ERROR_BENEFICIARY_DOCUMENT_ID_INVALID"; break;
      case 806: name = "ERROR_BENEFICIARY_NAME_INCORRECT"; break;
      case 807: name = "ERROR_REJECTED_BY_BANK"; break;
      case 808: name = "ERROR_OTHER"; break;
      case 809: name = "WITHDRAWAL_EXPIRED"; break;
      case 810: name = "LIMIT_EXCEEDED"; break;
      case 811: name = "RISK_POLICY"; break;
      case 812: name = "BLOCKED_FROZEN_ACCOUNT"; break;
      case 813: name = "DOCUMENT_ACCOUNT_MISMATCH"; break;
      case 814: name = "INVALID_PIX_KEY"; break;
      case 818: name = "ACCOUNT_UNABLE"; break;
      case 819: name = "INVALID_ACCOUNT_TYPE"; break;
      case 820: name = "REJECTED_BY_MERCHANT_REQUEST"; break;
      case 824: name = "REJECTED_BY_THIRD_PARTY_CONTROL"; break;
      case 826: name = "WITHDRAWAL_REVERSED"; break;
      default: name = "?"; break;
    }
    out += ",\"rejection_code\":" + std::to_string(*rejection_code) +
           ",\"rejection_reason\":" + json_quoted(name);
  }
  if (bank_reference_id) out += ",\"bank_reference_id\":" + json_quoted(*bank_reference_id);
  return out + "}";
}

// ---- EngineTest ----

void EngineTest::TearDown() {
  std::string report;
  EXPECT_EQ(sandbox_.ledger_check(&report), 0) << report;
  for (size_t i = 0; i < servers_.size(); ++i) {
    if (!servers_[i] || !servers_[i]->started() || killed_[i]) continue;
    EXPECT_EQ(servers_[i]->stop(), 0) << "server " << i << " must stop cleanly on SIGTERM";
  }
  if (HasFailure()) {
    for (size_t i = 0; i < servers_.size(); ++i) {
      if (!servers_[i]) continue;
      std::cerr << "---- server " << i << " log (tail) ----\n"
                << tail(servers_[i]->log(), 6000) << "\n";
    }
  }
  servers_.clear();
  killed_.clear();
  engines_.clear();
}

int EngineTest::kill_server(size_t index) {
  killed_.at(index) = true;
  return servers_.at(index)->kill();
}

std::string EngineTest::write_config(const EngineConfig& config, const std::string& name) {
  config_ = config;
  const std::string path = sandbox_.directory() + "/" + name + ".toml";
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << config.toml();
  file.close();
  EXPECT_TRUE(file.good()) << path;
  return path;
}

ServerProcess& EngineTest::start_server(const std::string& config_path, EngineMode engine,
                                        const std::vector<std::string>& extra_arguments) {
  std::vector<std::string> arguments{"--config", config_path};
  arguments.insert(arguments.end(), extra_arguments.begin(), extra_arguments.end());
  servers_.push_back(std::make_unique<ServerProcess>(sandbox_, arguments, 30000, engine));
  killed_.push_back(false);
  engines_.push_back(engine);
  ServerProcess& server = *servers_.back();
  EXPECT_TRUE(server.started()) << server.output() << server.log();
  return server;
}

Merchant EngineTest::add_merchant(const std::string& name, const std::string& usd_funding,
                                  const std::string& brl_funding,
                                  std::pair<std::string, std::string> usd_fees,
                                  std::pair<std::string, std::string> brl_fees) {
  Merchant merchant;
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
  if (parsed) {
    const json::Value* api = parsed->find("api");
    if (api != nullptr) {
      merchant.username = member_text(*api, "username");
      merchant.password = member_text(*api, "password");
    }
  }
  EXPECT_FALSE(merchant.username.empty() || merchant.username.front() == '<') << output;

  auto set_fees = [&](const std::string& currency, const std::pair<std::string, std::string>& fees) {
    if (fees.first.empty()) return;
    ProcessResult result = sandbox_.cli({"merchant", "fees", std::to_string(merchant.id),
                                         "--currency", currency, "--fixed", fees.first,
                                         "--percent-bps", fees.second});
    EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  };
  set_fees("USD", usd_fees);
  set_fees("BRL", brl_fees);
  if (!usd_funding.empty()) {
    EXPECT_TRUE(sandbox_.fund_wallet(merchant.id, "USD", usd_funding));
  }
  if (!brl_funding.empty()) {
    EXPECT_TRUE(sandbox_.fund_wallet(merchant.id, "BRL", brl_funding));
  }

  ProcessResult shown =
      sandbox_.cli({"wallet", "show", "--json", "--merchant", std::to_string(merchant.id)});
  std::optional<json::Value> wallets = parse_json(shown.out);
  EXPECT_TRUE(wallets && wallets->is_array()) << shown.out << shown.err;
  if (wallets && wallets->is_array()) {
    for (const json::Value& wallet : wallets->items()) {
      const std::string currency = member_text(wallet, "currency");
      if (currency == "USD") merchant.usd_wallet_id = std::stoll(member_text(wallet, "id"));
      if (currency == "BRL") merchant.brl_wallet_id = std::stoll(member_text(wallet, "id"));
    }
  }
  return merchant;
}

void EngineTest::login(int port, Merchant& merchant) {
  json::Writer writer;
  writer.begin_object();
  writer.key("username");
  writer.string(merchant.username);
  writer.key("password");
  writer.string(merchant.password);
  writer.end_object();
  std::optional<HttpResponse> response = http_request(port, "POST", "/auth/login", writer.take());
  ASSERT_TRUE(response.has_value());
  ASSERT_EQ(response->status, 200) << response->body;
  std::optional<json::Value> body = parse_json(response->body);
  ASSERT_TRUE(body.has_value()) << response->body;
  merchant.token = member_text(*body, "access_token");
}

PayoutIds EngineTest::create_v3(Api& api, const std::string& external_id,
                                const std::string& bank_account, const std::string& amount) {
  PayoutIds ids;
  HttpResponse created =
      api.v3("POST", "/v3/cashout", api.v3_create_body(external_id, bank_account, amount),
             /*retry=*/false);
  EXPECT_EQ(created.status, 200) << created.body;
  std::optional<json::Value> body = parse_json(created.body);
  if (created.status != 200 || !body) return ids;
  const json::Value* id = body->find("cashout_id");
  EXPECT_TRUE(id != nullptr && id->is_string()) << created.body;
  if (id == nullptr || !id->is_string()) return ids;
  std::optional<json::Value> shown = show(id->as_string());
  EXPECT_TRUE(shown.has_value());
  if (!shown) return ids;
  ids.cashout_id = id->as_string();
  ids.public_id = member_text(*shown, "id");
  return ids;
}

PayoutIds EngineTest::create_v1(Api& api, const std::string& reference_id,
                                const std::string& bank_account, const std::string& amount,
                                std::string* created_body) {
  PayoutIds ids;
  HttpResponse created = api.v1("POST", "/api/v1/payouts",
                                api.v1_create_body(reference_id, bank_account, amount),
                                /*retry=*/false);
  EXPECT_EQ(created.status, 201) << created.body;
  if (created_body != nullptr) *created_body = created.body;
  std::optional<json::Value> body = parse_json(created.body);
  if (created.status != 201 || !body) return ids;
  ids.cashout_id = member_text(*body, "cashout_id");
  ids.public_id = member_text(*body, "id");
  return ids;
}

ClockDriver EngineTest::driver(bool with_dispatchers) const {
  ClockDriverOptions options;
  for (size_t i = 0; i < servers_.size(); ++i) {
    if (!servers_[i] || !servers_[i]->started() || killed_[i]) continue;
    if (engines_[i] != EngineMode::kRunning) continue;
    options.engine_ports.push_back(servers_[i]->port());
    if (with_dispatchers) options.dispatcher_ports.push_back(servers_[i]->port());
  }
  options.on_hold_expiry_ms = config_.get("on_hold_expiry_seconds", 30LL * 86'400) * 1000;
  options.action_required_expiry_ms =
      config_.get("action_required_expiry_seconds", 72LL * 3'600) * 1000;
  return ClockDriver(sandbox_, std::move(options));
}

namespace {

// One round of polling: the v3 status and the v1 GET of every payout not yet at its awaited v1
// status. `recheck_v3` reads v3 once more when v1 reached it (on the system clock the engine may
// have moved between the two reads). True when every payout is at its awaited status.
bool poll_once(Api& api, const std::vector<PayoutIds>& payouts,
               const std::vector<std::string>& awaited_v1_status, bool recheck_v3,
               std::vector<Observed>& observed) {
  auto read_v3 = [&](size_t i) {
    HttpResponse v3 = api.v3_status(payouts[i].cashout_id);
    if (std::optional<json::Value> body = parse_json(v3.body); v3.status == 200 && body) {
      append_collapsed(observed[i].v3, member_text(*body, "cashout_status"));
      observed[i].last_v3_body = v3.body;
    } else {
      ADD_FAILURE() << "v3 status of " << payouts[i].cashout_id << ": HTTP " << v3.status << " "
                    << v3.body;
    }
  };
  bool all_reached = true;
  for (size_t i = 0; i < payouts.size(); ++i) {
    Observed& seen = observed[i];
    if (seen.reached) continue;
    read_v3(i);
    HttpResponse v1 = api.v1_get(payouts[i].public_id);
    if (std::optional<json::Value> body = parse_json(v1.body); v1.status == 200 && body) {
      const std::string status = member_text(*body, "status");
      append_collapsed(seen.v1, status);
      seen.last_v1_body = v1.body;
      seen.reached = status == awaited_v1_status[i];
      if (seen.reached && recheck_v3) read_v3(i);
    } else {
      ADD_FAILURE() << "v1 GET of " << payouts[i].public_id << ": HTTP " << v1.status << " "
                    << v1.body;
    }
    if (!seen.reached) all_reached = false;
  }
  return all_reached;
}

}  // namespace

std::vector<Observed> EngineTest::poll_until(Api& api, const std::vector<PayoutIds>& payouts,
                                             const std::vector<std::string>& awaited_v1_status,
                                             int deadline_ms) {
  EXPECT_EQ(payouts.size(), awaited_v1_status.size());
  std::vector<Observed> observed(payouts.size());
  // The engines are idle whenever a round runs and the clock stands still meanwhile, so both
  // dialects show the same state.
  driver().run_until(
      [&] { return poll_once(api, payouts, awaited_v1_status, /*recheck_v3=*/false, observed); },
      deadline_ms);
  return observed;
}

std::optional<json::Value> EngineTest::show(const std::string& cashout_id) {
  ProcessResult result = sandbox_.cli({"payout", "show", "--json", cashout_id});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  if (result.exit_code != 0) return std::nullopt;
  return parse_json(result.out);
}

std::vector<std::string> EngineTest::shown_events(const json::Value& shown) {
  std::vector<std::string> out;
  const json::Value* events = shown.find("events");
  if (events == nullptr || !events->is_array()) return out;
  for (const json::Value& event : events->items()) {
    out.push_back(member_text(event, "to_status") + "/" + member_text(event, "actor_type") + "/" +
                  member_text(event, "message"));
  }
  return out;
}

std::vector<std::string> EngineTest::v1_events(const json::Value& payout) {
  std::vector<std::string> out;
  const json::Value* events = payout.find("events");
  if (events == nullptr || !events->is_array()) return out;
  for (const json::Value& event : events->items()) {
    out.push_back(member_text(event, "from_status") + ">" + member_text(event, "to_status") + "/" +
                  member_text(event, "actor_type"));
  }
  return out;
}

std::string EngineTest::wallet_text(int64_t merchant_id, const std::string& currency) {
  std::optional<Sandbox::WalletAmounts> amounts = sandbox_.wallet(merchant_id, currency);
  if (!amounts) return "<no wallet>";
  return amounts->available + "/" + amounts->held;
}

std::vector<std::string> EngineTest::refunds(Api& api, const std::string& public_id) {
  std::vector<std::string> out;
  HttpResponse response =
      api.v1("GET", "/api/v1/transactions?type=PAYOUT_REFUND&reference_id=" + public_id);
  EXPECT_EQ(response.status, 200) << response.body;
  std::optional<json::Value> list = parse_json(response.body);
  EXPECT_TRUE(list && list->is_array()) << response.body;
  if (!list || !list->is_array()) return out;
  for (const json::Value& item : list->items()) {
    EXPECT_EQ(member_text(item, "type"), "PAYOUT_REFUND");
    EXPECT_EQ(member_text(item, "transaction_type"), "CREDIT");
    EXPECT_EQ(member_text(item, "reference_id"), public_id);
    out.push_back(member_text(item, "amount") + "/" + member_text(item, "balance_after"));
  }
  return out;
}

std::string EngineTest::rail_submissions(const std::string& public_id) {
  const std::string out = sandbox_.sql(
      "SELECT coalesce((SELECT CAST(submissions AS TEXT) FROM rail_records WHERE connector = "
      "'sandbox' AND payout_key = '" + public_id + "'), '<none>');");
  return out.empty() || out.back() != '\n' ? out : out.substr(0, out.size() - 1);
}

std::string EngineTest::engine_state(const std::string& cashout_id) {
  std::string row = sandbox_.sql("SELECT status || '/' || connector_state FROM payouts "
                                 "WHERE cashout_id = " + cashout_id + ";");
  while (!row.empty() && row.back() == '\n') row.pop_back();
  return row;
}

bool EngineTest::wait_for_state(const std::string& cashout_id, const std::string& wanted,
                                int deadline_ms) {
  std::string row;
  const bool reached = driver().run_until(
      [&] {
        row = engine_state(cashout_id);
        return row == wanted;
      },
      deadline_ms);
  EXPECT_TRUE(reached) << "payout " << cashout_id << " is " << row << ", not " << wanted;
  return reached;
}

bool EngineTest::wait_until_engine_done(const std::string& cashout_id) {
  if (!driver().wait_idle()) return false;
  const std::string row = sandbox_.sql(
      "SELECT coalesce(CAST(engine_next_at AS TEXT), 'null') || '/' || "
      "coalesce(engine_claimed_by, 'null') "
      "FROM payouts WHERE cashout_id = " + cashout_id + ";");
  if (row == "null/null\n") return true;
  ADD_FAILURE() << "the engine still has work scheduled for finished payout " << cashout_id
                << ": next_at/claimed_by " << row;
  return false;
}

bool EngineTest::wait_until_accepted(const std::string& cashout_id, int deadline_ms) {
  bool moved_past = false;
  std::string row;
  const bool reached = driver().run_until(
      [&] {
        row = engine_state(cashout_id);
        if (row == "processing/accepted") return true;
        moved_past = row.rfind("processing", 0) != 0 && row.rfind("created", 0) != 0 &&
                     row.rfind("queued", 0) != 0;
        return moved_past;
      },
      deadline_ms);
  EXPECT_FALSE(moved_past) << "payout " << cashout_id << " moved past processing: " << row;
  return reached && !moved_past;
}

}  // namespace payoutd::testing::engine_it
