// Outbound safety for merchant-supplied callback URLs (the SSRF guard of notifications.md).
//
// Callback URLs are merchant input, and the dispatcher connects to them from inside our network.
// This header holds the pure parts of the guard:
// - parse_callback_url(): a strict parser for the one URL shape we accept (absolute http/https, no
//   userinfo, ASCII only). Strict on purpose: the classic SSRF tricks ("http://a\@127.0.0.1/",
//   "http://0x7f.1/", "http://2130706433/", zone ids, percent-encoded hosts) live in the places where
//   two URL parsers disagree, so anything a second parser could read differently is refused.
// - classify_ip_text() / classify_address(): which class an IP address belongs to, so that the
//   sender can refuse anything that is not a public unicast address.
// The sender (http_sender.h) resolves the host, classifies every address and pins the connection
// to the checked addresses.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace payoutd::notify {

inline constexpr size_t kMaxCallbackUrlBytes = 2048;

struct CallbackUrl {
  std::string scheme;  // "http" | "https" (lower-cased)
  std::string host;    // lower-cased hostname (no trailing dot), or IP literal without brackets
  uint16_t port = 0;   // explicit or the scheme default (80/443)
  std::string target;  // path + query, "/" when empty; no fragment

  // scheme://host:port (IPv6 host in brackets). The per-endpoint concurrency key.
  std::string origin() const;
  // origin() + target: the normalized URL, the one handed to the HTTP client so that it connects to
  // exactly what was checked.
  std::string url() const;
  // True when `host` is an IPv4 or IPv6 literal (no DNS involved).
  bool host_is_ip_literal() const;
};

// Absolute http/https URL, <= 2048 bytes, no userinfo (user@), no fragment kept, no
// whitespace/control chars, host non-empty, port 1..65535.
// Also refused, because a second parser could read them differently: non-ASCII bytes anywhere
// (international host names must be given in punycode, other characters percent-encoded), a
// backslash, host characters other than letters, digits, '-', '_' and '.', empty or over-long
// labels, numeric hosts that are not strict dotted-quad IPv4 ("127.1", "0x7f.0.0.1", "2130706433",
// "010.0.0.1") and IPv6 zone ids. Errors are kInvalidArgument with field "url".
Result<CallbackUrl> parse_callback_url(std::string_view url);

enum class AddressClass : uint8_t { kPublic, kLoopback, kPrivate, kLinkLocal, kMulticast, kUnspecified, kReserved };

// "public", "loopback", "private", "link-local", "multicast", "unspecified", "reserved".
std::string_view address_class_name(AddressClass address_class);

// Classification (everything not listed is kPublic):
//   loopback     127.0.0.0/8, ::1
//   private      10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 (CGNAT), fc00::/7,
//                fec0::/10 (deprecated site-local), 64:ff9b:1::/48 (local-use NAT64, RFC 8215)
//   link-local   169.254.0.0/16, fe80::/10
//   multicast    224.0.0.0/4, ff00::/8
//   unspecified  0.0.0.0/8, ::
//   reserved     240.0.0.0/4 (includes 255.255.255.255), 192.0.0.0/24, 198.18.0.0/15, 192.0.2.0/24,
//                198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32, 100::/64 (discard-only)
// IPv6 addresses that carry an IPv4 address are classified by that IPv4 address: IPv4-mapped
// ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, IPv4-translated ::ffff:0:a.b.c.d, NAT64 64:ff9b::/96
// and 6to4 2002:AABB:CCDD::/16 (the embedded address is AA.BB.CC.DD).

// From textual IPv4 (strict dotted quad) or IPv6 (inet_pton). nullopt when not an IP literal.
std::optional<AddressClass> classify_ip_text(std::string_view text);

// AF_INET / AF_INET6. Any other family is kReserved (never connected to by default).
// REQUIRES: `address` points to a sockaddr_in when AF_INET, a sockaddr_in6 when AF_INET6.
AddressClass classify_address(const sockaddr* address);

// Textual form of an AF_INET / AF_INET6 address ("127.0.0.1", "::1"); "" for other families.
std::string address_text(const sockaddr* address);

}  // namespace payoutd::notify
