#include "integration/v3_support.h"

#include <iostream>

#include "crypto/hash.h"
#include "json/writer.h"

namespace payoutd::testing::v3 {
namespace {

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t chunk = (static_cast<uint8_t>(bytes[i]) << 16) |
                           (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                           static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(chunk >> 18) & 63];
    out += kAlphabet[(chunk >> 12) & 63];
    out += kAlphabet[(chunk >> 6) & 63];
    out += kAlphabet[chunk & 63];
  }
  if (i < bytes.size()) {
    uint32_t chunk = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) chunk |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[(chunk >> 18) & 63];
    out += kAlphabet[(chunk >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(chunk >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

void write_compact(const json::Value& value, json::Writer& writer) {
  switch (value.type()) {
    case json::Type::kNull:
      writer.null();
      break;
    case json::Type::kBool:
      writer.boolean(value.as_bool());
      break;
    case json::Type::kNumber:
      writer.raw_number(value.number_text());
      break;
    case json::Type::kString:
      writer.string(value.as_string());
      break;
    case json::Type::kArray:
      writer.begin_array();
      for (const json::Value& item : value.items()) write_compact(item, writer);
      writer.end_array();
      break;
    case json::Type::kObject:
      writer.begin_object();
      for (const auto& [key, member] : value.members()) {
        writer.key(key);
        write_compact(member, writer);
      }
      writer.end_object();
      break;
  }
}

::testing::AssertionResult is_json_response(const HttpResponse& response) {
  const std::optional<std::string> content_type = response.header("content-type");
  if (!content_type || content_type->rfind("application/json", 0) != 0) {
    return ::testing::AssertionFailure()
           << "Content-Type is '" << content_type.value_or("<none>") << "', body " << response.body;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace

std::vector<std::string> imported_credentials(std::string_view login, std::string_view pass,
                                              std::string_view secret_key) {
  return {"--v3-login", std::string(login), "--v3-pass", std::string(pass), "--v3-secret-key",
          std::string(secret_key)};
}

std::string json_string(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  json::append_escaped(text, &out);
  out += '"';
  return out;
}

Body& Body::set(const std::string& key, std::string raw_json) {
  for (auto& [name, value] : members_) {
    if (name == key) {
      value = std::move(raw_json);
      return *this;
    }
  }
  members_.emplace_back(key, std::move(raw_json));
  return *this;
}

Body& Body::remove(const std::string& key) {
  for (auto it = members_.begin(); it != members_.end(); ++it) {
    if (it->first == key) {
      members_.erase(it);
      break;
    }
  }
  return *this;
}

std::string Body::text() const {
  std::string out = "{";
  for (const auto& [name, value] : members_) {
    if (out.size() > 1) out += ",";
    out += json_string(name) + ":" + value;
  }
  out += "}";
  return out;
}

Body credentials_body(std::string_view login, std::string_view pass) {
  Body body;
  body.set_string("login", login).set_string("pass", pass);
  return body;
}

Body create_body(const std::string& external_id) {
  Body body = credentials_body();
  body.set_string("external_id", external_id)
      .set_string("country", "BR")
      .set_string("currency", "BRL")
      .set("amount", "100.00")
      .set_string("document_id", "84868168029")
      .set_string("document_type", "CPF")
      .set_string("beneficiary_name", "Maria")
      .set_string("beneficiary_lastname", "Silva")
      .set_string("email", "maria.silva@example.com")
      .set_string("phone", "+55 11 99999-9999")
      .set_string("bank_code", "001")
      .set_string("bank_account", "123456789")
      .set_string("bank_branch", "0001")
      .set_string("account_type", "C")
      .set_string("address", "Rua Augusta 1000")
      .set_string("city", "São Paulo")
      .set_string("postal_code", "01305-100")
      .set_string("beneficiary_birthdate", "1990-05-17")
      .set_string("comments", "integration test")
      .set_string("notification_url", kNotificationUrl)
      .set_string("type", "json");
  return body;
}

Body status_body(const std::string& cashout_id_raw) {
  Body body = credentials_body();
  body.set("cashout_id", cashout_id_raw);
  return body;
}

Body cancel_body(const std::string& cashout_id_raw, const std::string& external_id) {
  Body body = credentials_body();
  body.set("cashout_id", cashout_id_raw).set_string("external_id", external_id);
  return body;
}

Body update_status_body(const std::string& cashout_id_raw, const std::string& status) {
  Body body = credentials_body();
  body.set("cashout_id", cashout_id_raw).set_string("status", status);
  return body;
}

std::string signature_for(std::string_view body, Signing signing, std::string_view key) {
  switch (signing) {
    case Signing::kValid:
      return sign_hex(key, body);
    case Signing::kUpperCase:
      return crypto::hex_upper(crypto::hmac_sha256(key, body));
    case Signing::kNone:
      return "";
    case Signing::kOtherBody:
      return sign_hex(key, std::string(body) + " ");
    case Signing::kWrongKey:
      return sign_hex("not-the-secret-key", body);
    case Signing::kBase64:
      return base64(crypto::hmac_sha256(key, body));
    case Signing::kTruncated:
      return sign_hex(key, body).substr(0, 63);
    case Signing::kEmptyValue:
      return "";
  }
  return "";
}

std::optional<json::Value> parse_body(const std::string& body) {
  Result<json::Value> parsed = json::parse(body);
  if (!parsed.is_ok()) return std::nullopt;
  return std::move(parsed).value();
}

std::string compact(const json::Value& value) {
  json::Writer writer;
  write_compact(value, writer);
  return writer.take();
}

::testing::AssertionResult is_v3_error(const HttpResponse& response, int http_status, int code,
                                       std::optional<std::string> message) {
  if (response.status != http_status) {
    return ::testing::AssertionFailure() << "HTTP " << response.status << " (expected "
                                         << http_status << "), body " << response.body;
  }
  if (auto json_type = is_json_response(response); !json_type) return json_type;
  std::optional<json::Value> body = parse_body(response.body);
  if (!body || !body->is_object() || body->members().size() != 2) {
    return ::testing::AssertionFailure() << "not a {code, message} object: " << response.body;
  }
  const json::Value* code_value = body->find("code");
  const json::Value* message_value = body->find("message");
  if (code_value == nullptr || !code_value->is_number() || message_value == nullptr ||
      !message_value->is_string()) {
    return ::testing::AssertionFailure() << "not a {code, message} object: " << response.body;
  }
  if (code_value->number_text() != std::to_string(code)) {
    return ::testing::AssertionFailure() << "code " << code_value->number_text() << " (expected "
                                         << code << "), body " << response.body;
  }
  if (message && message_value->as_string() != *message) {
    return ::testing::AssertionFailure() << "message '" << message_value->as_string()
                                         << "' (expected '" << *message << "')";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult is_ok_json(const HttpResponse& response,
                                      const std::string& expected_body) {
  if (response.status != 200) {
    return ::testing::AssertionFailure() << "HTTP " << response.status << ", body "
                                         << response.body;
  }
  if (auto json_type = is_json_response(response); !json_type) return json_type;
  std::optional<json::Value> actual = parse_body(response.body);
  std::optional<json::Value> expected = parse_body(expected_body);
  if (!actual || !expected) {
    return ::testing::AssertionFailure() << "not JSON: " << response.body;
  }
  if (compact(*actual) != compact(*expected)) {
    return ::testing::AssertionFailure() << "body " << response.body << " (expected "
                                         << expected_body << ")";
  }
  return ::testing::AssertionSuccess();
}

// ---- V3Test ----

void V3Test::SetUp() {
  std::string output;
  std::optional<int64_t> id =
      sandbox_.create_merchant("Reference merchant", imported_credentials(), &output);
  ASSERT_TRUE(id.has_value()) << output;
  merchant_id_ = *id;
  ASSERT_TRUE(sandbox_.fund_wallet(merchant_id_, "BRL", "10000.00"));
  ASSERT_TRUE(sandbox_.fund_wallet(merchant_id_, "USD", "100.00"));
  start_server();
}

void V3Test::TearDown() {
  std::string report;
  EXPECT_EQ(sandbox_.ledger_check(&report), 0) << report;
  if (server_ && HasFailure()) {
    std::cerr << "---- server log (tail) ----\n";
    const std::string log = server_->log();
    std::cerr << (log.size() > 4000 ? log.substr(log.size() - 4000) : log) << "\n";
  }
  if (server_) {
    EXPECT_EQ(server_->stop(), 0) << "the server must stop cleanly on SIGTERM";
  }
}

std::vector<std::string> V3Test::server_arguments() const {
  return {"--min-amount", "BRL=1.00", "--max-transaction-amount", "BRL=5000.00"};
}

void V3Test::start_server() {
  server_.reset();
  server_ = std::make_unique<ServerProcess>(sandbox_, server_arguments());
  ASSERT_TRUE(server_->started()) << server_->output() << server_->log();
}

HttpResponse V3Test::send(const std::string& method, const std::string& path,
                          const std::string& body, Signing signing, std::string_view key) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (signing != Signing::kNone) {
    headers.emplace_back("Payload-Signature", signature_for(body, signing, key));
  }
  std::optional<HttpResponse> response = http_request(server_->port(), method, path, body, headers);
  return response ? std::move(*response) : HttpResponse{};
}

HttpResponse V3Test::create(const Body& body, Signing signing) {
  return send("POST", "/v3/cashout", body.text(), signing);
}

std::string V3Test::create_cashout(const std::string& external_id, const std::string& amount,
                                   bool on_hold) {
  Body body = create_body(external_id);
  body.set("amount", amount);
  if (on_hold) body.set("on_hold", "true");
  HttpResponse response = create(body);
  EXPECT_EQ(response.status, 200) << response.body;
  std::optional<json::Value> parsed = parse_body(response.body);
  if (!parsed || !parsed->is_object()) return "";
  const json::Value* id = parsed->find("cashout_id");
  if (id == nullptr || !id->is_string()) {
    ADD_FAILURE() << "cashout_id must be a JSON string: " << response.body;
    return "";
  }
  return id->as_string();
}

std::string V3Test::internal_status(const std::string& cashout_id) {
  ProcessResult result = sandbox_.cli({"payout", "show", "--json", cashout_id});
  if (result.exit_code != 0) return "";
  std::optional<json::Value> parsed = parse_body(result.out);
  if (!parsed) return "";
  const json::Value* status_value = parsed->find("status");
  return status_value != nullptr && status_value->is_string() ? status_value->as_string() : "";
}

bool V3Test::operator_set_status(const std::string& cashout_id, const std::string& to,
                                 const std::vector<std::string>& extra) {
  std::vector<std::string> arguments = {"payout", "set-status", cashout_id, "--status", to};
  arguments.insert(arguments.end(), extra.begin(), extra.end());
  ProcessResult result = sandbox_.cli(arguments);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return result.exit_code == 0;
}

std::string V3Test::wallet_text(const std::string& currency) {
  std::optional<Sandbox::WalletAmounts> wallet = sandbox_.wallet(merchant_id_, currency);
  if (!wallet) return "<no wallet>";
  return wallet->available + "/" + wallet->held;
}

}  // namespace payoutd::testing::v3
