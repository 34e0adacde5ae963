// The crypto and encoding of the two notification formats (notifications.md).
//
// - Cashouts-v3: an application/x-www-form-urlencoded body whose `control` field authenticates the
//   merchant's external_id with the merchant's secret_key.
// - v1 webhooks: a JSON body signed with the endpoint secret in the Payoutd-Signature header.
// Pure functions; the dispatcher builds the bodies and headers with them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace payoutd::notify {

// notifications.md: upper-case hex HMAC-SHA256(secret_key, "Be4" + external_id + "Bo7").
std::string v3_control(std::string_view secret_key, std::string_view external_id);

// application/x-www-form-urlencoded (RFC 1866 / WHATWG): unreserved A-Za-z0-9 - . _ * kept,
// space -> '+', every other byte %XX upper-case (UTF-8 text is encoded byte by byte), each field
// "name=value", fields joined by '&' in the given order.
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);

// The value of the Payoutd-Signature header:
// "t=<unix_seconds>,v1=<lower-case hex HMAC-SHA256(secret, "<t>." + body)>".
std::string v1_signature_header(std::string_view secret, int64_t unix_seconds, std::string_view body);

}  // namespace payoutd::notify
