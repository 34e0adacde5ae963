// The shared signature vectors (../shared/vectors/signatures.json), read with our own JSON parser,
// plus an independent cross-check against the openssl command line tool.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "crypto/hash.h"
#include "json/value.h"
#include "support/test_support.h"

namespace payoutd::crypto {
namespace {

struct PayloadVector {
  std::string key;
  std::string body;
  std::string signature;
};

struct ControlVector {
  std::string key;
  std::string external_id;
  std::string message;
  std::string control;
};

struct Vectors {
  std::vector<PayloadVector> payload;
  std::vector<ControlVector> control;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

const std::string& string_member(const json::Value& object, std::string_view name) {
  const json::Value* member = object.find(name);
  EXPECT_NE(member, nullptr) << name;
  static const std::string kEmpty;
  if (member == nullptr || !member->is_string()) return kEmpty;
  return member->as_string();
}

Vectors load_vectors() {
  const std::string path = testing::shared_dir() + "/vectors/signatures.json";
  const std::string text = read_file(path);
  EXPECT_FALSE(text.empty()) << "cannot read " << path;
  Result<json::Value> root = json::parse(text);
  EXPECT_TRUE(root.is_ok()) << (root.is_ok() ? "" : root.status().message());
  Vectors vectors;
  if (!root.is_ok()) return vectors;
  const json::Value* payload = root->find("payload_signature");
  const json::Value* control = root->find("notification_control");
  EXPECT_TRUE(payload != nullptr && payload->is_array());
  EXPECT_TRUE(control != nullptr && control->is_array());
  if (payload == nullptr || control == nullptr || !payload->is_array() || !control->is_array()) return vectors;
  for (const json::Value& item : payload->items()) {
    vectors.payload.push_back(
        {string_member(item, "key"), string_member(item, "body"), string_member(item, "signature")});
  }
  for (const json::Value& item : control->items()) {
    vectors.control.push_back({string_member(item, "key"), string_member(item, "external_id"),
                               string_member(item, "message"), string_member(item, "control")});
  }
  return vectors;
}

const Vectors& vectors() {
  static const Vectors kVectors = load_vectors();
  return kVectors;
}

TEST(SignatureVectorsTest, FileHasTheExpectedVectors) {
  EXPECT_EQ(vectors().payload.size(), 5u);
  EXPECT_EQ(vectors().control.size(), 2u);
  // The parser unescaped "\n" and kept the UTF-8 key bytes.
  bool saw_newline = false;
  bool saw_cyrillic = false;
  for (const auto& vector : vectors().payload) {
    saw_newline |= vector.body.find('\n') != std::string::npos;
    saw_cyrillic |= vector.key.find("\xD0\xBA\xD0\xBB\xD1\x8E\xD1\x87") != std::string::npos;  // "ключ"
  }
  EXPECT_TRUE(saw_newline);
  EXPECT_TRUE(saw_cyrillic);
}

TEST(SignatureVectorsTest, PayloadSignaturesVerify) {
  ASSERT_FALSE(vectors().payload.empty());
  for (const auto& vector : vectors().payload) {
    SCOPED_TRACE(vector.body);
    ASSERT_EQ(vector.signature.size(), 64u);
    EXPECT_EQ(hex_lower(hmac_sha256(vector.key, vector.body)), vector.signature);
    EXPECT_TRUE(verify_hmac_sha256_hex(vector.key, vector.body, vector.signature));
    EXPECT_TRUE(verify_hmac_sha256_hex(vector.key, vector.body, hex_upper(hex_decode(vector.signature).value_or(""))));
  }
}

TEST(SignatureVectorsTest, EveryOneCharacterChangeOfASignatureIsRejected) {
  for (const auto& vector : vectors().payload) {
    SCOPED_TRACE(vector.body);
    for (size_t i = 0; i < vector.signature.size(); ++i) {
      std::string changed = vector.signature;
      changed[i] = changed[i] == '0' ? '1' : '0';
      EXPECT_FALSE(verify_hmac_sha256_hex(vector.key, vector.body, changed)) << "position " << i;
    }
  }
}

TEST(SignatureVectorsTest, ChangedBodyOrKeyIsRejected) {
  for (const auto& vector : vectors().payload) {
    SCOPED_TRACE(vector.body);
    EXPECT_FALSE(verify_hmac_sha256_hex(vector.key, vector.body + " ", vector.signature));
    EXPECT_FALSE(verify_hmac_sha256_hex(vector.key + "x", vector.body, vector.signature));
    if (!vector.body.empty()) {
      std::string body = vector.body;
      body[body.size() / 2] ^= 0x01;
      EXPECT_FALSE(verify_hmac_sha256_hex(vector.key, body, vector.signature));
    }
  }
}

// Base64 of the raw MAC, standard and URL-safe alphabets, with and without padding.
std::string base64(std::string_view bytes, bool url_safe, bool padded) {
  const char* alphabet = url_safe ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                                  : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += {alphabet[(n >> 18) & 63], alphabet[(n >> 12) & 63], alphabet[(n >> 6) & 63], alphabet[n & 63]};
  }
  if (bytes.size() - i == 2) {
    const uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8);
    out += {alphabet[(n >> 18) & 63], alphabet[(n >> 12) & 63], alphabet[(n >> 6) & 63]};
    if (padded) out += '=';
  }
  return out;
}

TEST(SignatureVectorsTest, Base64AndWrongLengthsAreRejected) {
  for (const auto& vector : vectors().payload) {
    SCOPED_TRACE(vector.body);
    const std::string mac = hmac_sha256(vector.key, vector.body);
    const std::string encoded = base64(mac, false, true);
    ASSERT_EQ(encoded.size(), 44u);
    EXPECT_FALSE(verify_hmac_sha256_hex(vector.key, vector.body, encoded));
    EXPECT_FALSE(verify_hmac_sha256_hex(vector.key, vector.body, base64(mac, false, false)));
    EXPECT_FALSE(verify_hmac_sha256_hex(vector.key, vector.body, base64(mac, true, false)));
    EXPECT_FALSE(verify_hmac_sha256_hex(vector.key, vector.body, vector.signature.substr(0, 62)));
    EXPECT_FALSE(verify_hmac_sha256_hex(vector.key, vector.body, vector.signature.substr(0, 63)));
    EXPECT_FALSE(verify_hmac_sha256_hex(vector.key, vector.body, vector.signature + "0"));
    EXPECT_FALSE(verify_hmac_sha256_hex(vector.key, vector.body, vector.signature + vector.signature));
    EXPECT_FALSE(verify_hmac_sha256_hex(vector.key, vector.body, "sha256=" + vector.signature));
    EXPECT_FALSE(verify_hmac_sha256_hex(vector.key, vector.body, ""));
  }
}

TEST(SignatureVectorsTest, NotificationControlReproduced) {
  ASSERT_FALSE(vectors().control.empty());
  for (const auto& vector : vectors().control) {
    SCOPED_TRACE(vector.external_id);
    const std::string message = "Be4" + vector.external_id + "Bo7";
    EXPECT_EQ(message, vector.message);
    EXPECT_EQ(hex_upper(hmac_sha256(vector.key, message)), vector.control);
    EXPECT_NE(hex_upper(hmac_sha256(vector.key, vector.external_id)), vector.control);
  }
}

// Extracts the 64 hex characters after the last "= " of `openssl dgst` output.
std::string digest_from_openssl_output(const std::string& output) {
  const size_t marker = output.rfind("= ");
  if (marker == std::string::npos) return output;
  std::string digest = output.substr(marker + 2);
  while (!digest.empty() && (digest.back() == '\n' || digest.back() == '\r')) digest.pop_back();
  return digest;
}

TEST(SignatureVectorsTest, IndependentCheckWithOpensslCommandLine) {
  std::string version;
  if (testing::run_command("openssl version", &version) != 0) FAIL() << "openssl CLI not available (scripts/install-deps.sh installs it)";
  testing::TempDir directory;
  int checked = 0;
  for (size_t i = 0; i < vectors().payload.size(); ++i) {
    const auto& vector = vectors().payload[i];
    if (vector.key.find('\'') != std::string::npos) continue;  // not safely quotable; none are
    const std::string body_path = directory.file("body" + std::to_string(i));
    std::ofstream(body_path, std::ios::binary) << vector.body;
    std::string output;
    ASSERT_EQ(testing::run_command("openssl dgst -sha256 -hmac '" + vector.key + "' " + body_path, &output, false),
              0);
    EXPECT_EQ(digest_from_openssl_output(output), vector.signature) << output;
    EXPECT_EQ(digest_from_openssl_output(output), hex_lower(hmac_sha256(vector.key, vector.body)));
    ++checked;
  }
  for (size_t i = 0; i < vectors().control.size(); ++i) {
    const auto& vector = vectors().control[i];
    const std::string message_path = directory.file("message" + std::to_string(i));
    std::ofstream(message_path, std::ios::binary) << vector.message;
    std::string output;
    ASSERT_EQ(
        testing::run_command("openssl dgst -sha256 -hmac '" + vector.key + "' " + message_path, &output, false), 0);
    EXPECT_EQ(hex_upper(hex_decode(digest_from_openssl_output(output)).value_or("")), vector.control) << output;
    ++checked;
  }
  EXPECT_EQ(checked, 7);
}

}  // namespace
}  // namespace payoutd::crypto
