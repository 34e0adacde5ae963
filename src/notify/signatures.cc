#include "notify/signatures.h"

#include "crypto/hash.h"

namespace payoutd::notify {
namespace {

bool is_form_unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '*';
}

void append_form_encoded(std::string_view text, std::string& out) {
  static constexpr char kHexDigits[] = "0123456789ABCDEF";
  for (char c : text) {
    if (is_form_unreserved(c)) {
      out += c;
    } else if (c == ' ') {
      out += '+';
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += kHexDigits[byte >> 4];
      out += kHexDigits[byte & 0x0F];
    }
  }
}

}  // namespace

std::string v3_control(std::string_view secret_key, std::string_view external_id) {
  std::string message;
  message.reserve(external_id.size() + 6);
  message += "Be4";
  message += external_id;
  message += "Bo7";
  return crypto::hex_upper(crypto::hmac_sha256(secret_key, message));
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += '&';
    append_form_encoded(fields[i].first, out);
    out += '=';
    append_form_encoded(fields[i].second, out);
  }
  return out;
}

std::string v1_signature_header(std::string_view secret, int64_t unix_seconds, std::string_view body) {
  const std::string timestamp = std::to_string(unix_seconds);
  std::string signed_payload;
  signed_payload.reserve(timestamp.size() + 1 + body.size());
  signed_payload += timestamp;
  signed_payload += '.';
  signed_payload += body;
  return "t=" + timestamp + ",v1=" + crypto::hex_lower(crypto::hmac_sha256(secret, signed_payload));
}

}  // namespace payoutd::notify
