#include "notify/url_guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstring>

#include "core/text.h"

namespace payoutd::notify {
namespace {

// Longest hostname DNS can carry (without the trailing dot) and longest label.
constexpr size_t kMaxHostnameBytes = 253;
constexpr size_t kMaxLabelBytes = 63;

Status url_error(std::string message) { return Status::invalid_argument("url", std::move(message)); }

char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower_cased(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = to_lower(c);
  return out;
}

bool is_hex_digit(char c) { return is_ascii_digit(c) || (c >= 'a' && c <= 'f'); }

bool is_hostname_char(char c) { return is_ascii_alpha(c) || is_ascii_digit(c) || c == '-' || c == '_' || c == '.'; }

// WHATWG's "ends in a number" test: a host whose last label is all decimal digits, or 0x followed by
// hex digits, is an IPv4 address to a browser (and to inet_aton, which getaddrinfo uses), so it must
// be one we can read the same way: a strict dotted quad.
bool last_label_is_numeric(std::string_view host) {
  const size_t dot = host.rfind('.');
  const std::string_view label = dot == std::string_view::npos ? host : host.substr(dot + 1);
  if (label.empty()) return false;
  if (label.size() >= 2 && label[0] == '0' && label[1] == 'x') {
    for (char c : label.substr(2)) {
      if (!is_hex_digit(c)) return false;
    }
    return true;
  }
  for (char c : label) {
    if (!is_ascii_digit(c)) return false;
  }
  return true;
}

// inet_pton needs a NUL-terminated string; IP literals are short, so anything longer is not one.
template <typename Address>
bool parse_ip(int family, std::string_view text, Address* out) {
  std::array<char, INET6_ADDRSTRLEN + 1> buffer{};
  if (text.empty() || text.size() >= buffer.size()) return false;
  std::memcpy(buffer.data(), text.data(), text.size());
  return inet_pton(family, buffer.data(), out) == 1;
}

Status check_hostname(std::string_view host) {
  if (host.size() > kMaxHostnameBytes) return url_error("callback URL host is longer than 253 characters");
  for (char c : host) {
    if (!is_hostname_char(c)) {
      return url_error("callback URL host may contain only letters, digits, '-', '_' and '.'");
    }
  }
  size_t label_start = 0;
  while (label_start <= host.size()) {
    size_t label_end = host.find('.', label_start);
    if (label_end == std::string_view::npos) label_end = host.size();
    const size_t label_size = label_end - label_start;
    if (label_size == 0) return url_error("callback URL host has an empty label");
    if (label_size > kMaxLabelBytes) return url_error("callback URL host has a label longer than 63 characters");
    label_start = label_end + 1;
  }
  if (last_label_is_numeric(host)) {
    in_addr ignored{};
    if (!parse_ip(AF_INET, host, &ignored)) {
      return url_error("callback URL host looks numeric but is not a dotted-quad IPv4 address");
    }
  }
  return Status::ok();
}

Result<uint16_t> parse_port(std::string_view text) {
  if (text.empty()) return url_error("callback URL has an empty port");
  if (text.size() > 5) return url_error("callback URL port must be 1..65535");
  uint32_t value = 0;
  for (char c : text) {
    if (!is_ascii_digit(c)) return url_error("callback URL port must be 1..65535");
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value < 1 || value > 65535) return url_error("callback URL port must be 1..65535");
  return static_cast<uint16_t>(value);
}

uint32_t ipv4_host_order(const uint8_t* bytes) {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) | uint32_t{bytes[3]};
}

bool in_ipv4_range(uint32_t address, uint32_t network, int prefix_bits) {
  const uint32_t mask = prefix_bits == 0 ? 0 : ~uint32_t{0} << (32 - prefix_bits);
  return (address & mask) == network;
}

constexpr uint32_t ipv4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return (a << 24) | (b << 16) | (c << 8) | d; }

AddressClass classify_ipv4(uint32_t address) {
  if (in_ipv4_range(address, ipv4(0, 0, 0, 0), 8)) return AddressClass::kUnspecified;
  if (in_ipv4_range(address, ipv4(127, 0, 0, 0), 8)) return AddressClass::kLoopback;
  if (in_ipv4_range(address, ipv4(10, 0, 0, 0), 8) || in_ipv4_range(address, ipv4(172, 16, 0, 0), 12) ||
      in_ipv4_range(address, ipv4(192, 168, 0, 0), 16) || in_ipv4_range(address, ipv4(100, 64, 0, 0), 10)) {
    return AddressClass::kPrivate;
  }
  if (in_ipv4_range(address, ipv4(169, 254, 0, 0), 16)) return AddressClass::kLinkLocal;
  if (in_ipv4_range(address, ipv4(224, 0, 0, 0), 4)) return AddressClass::kMulticast;
  // 240/4 includes the limited broadcast address 255.255.255.255.
  if (in_ipv4_range(address, ipv4(240, 0, 0, 0), 4) || in_ipv4_range(address, ipv4(192, 0, 0, 0), 24) ||
      in_ipv4_range(address, ipv4(198, 18, 0, 0), 15) || in_ipv4_range(address, ipv4(192, 0, 2, 0), 24) ||
      in_ipv4_range(address, ipv4(198, 51, 100, 0), 24) || in_ipv4_range(address, ipv4(203, 0, 113, 0), 24)) {
    return AddressClass::kReserved;
  }
  return AddressClass::kPublic;
}

bool all_zero(const uint8_t* bytes, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

AddressClass classify_ipv6(const uint8_t* b) {
  // b is the 16 bytes of the address in network order.
  if (all_zero(b, 16)) return AddressClass::kUnspecified;
  if (all_zero(b, 15) && b[15] == 1) return AddressClass::kLoopback;
  // Addresses that carry an IPv4 address: a packet to them reaches that IPv4 address (directly on
  // a dual-stack socket, or through a translator), so they are as dangerous as it is.
  if (all_zero(b, 12)) return classify_ipv4(ipv4_host_order(b + 12));  // IPv4-compatible ::a.b.c.d
  if (all_zero(b, 10) && b[10] == 0xff && b[11] == 0xff) {
    return classify_ipv4(ipv4_host_order(b + 12));  // IPv4-mapped ::ffff:a.b.c.d
  }
  if (all_zero(b, 8) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0) {
    return classify_ipv4(ipv4_host_order(b + 12));  // IPv4-translated ::ffff:0:a.b.c.d
  }
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {
    if (all_zero(b + 4, 8)) return classify_ipv4(ipv4_host_order(b + 12));  // NAT64 64:ff9b::/96
    if (b[4] == 0x00 && b[5] == 0x01) return AddressClass::kPrivate;      // local-use NAT64 64:ff9b:1::/48
  }
  if (b[0] == 0x20 && b[1] == 0x02) return classify_ipv4(ipv4_host_order(b + 2));  // 6to4 2002::/16
  if (b[0] == 0xff) return AddressClass::kMulticast;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressClass::kLinkLocal;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return AddressClass::kPrivate;  // site-local fec0::/10
  if ((b[0] & 0xfe) == 0xfc) return AddressClass::kPrivate;                  // unique local fc00::/7
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return AddressClass::kReserved;
  if (b[0] == 0x01 && b[1] == 0x00 && all_zero(b + 2, 6)) return AddressClass::kReserved;  // 100::/64
  return AddressClass::kPublic;
}

}  // namespace

std::string CallbackUrl::origin() const {
  std::string out = scheme + "://";
  if (host.find(':') != std::string::npos) {
    out += "[" + host + "]";
  } else {
    out += host;
  }
  out += ":" + std::to_string(port);
  return out;
}

std::string CallbackUrl::url() const { return origin() + target; }

bool CallbackUrl::host_is_ip_literal() const { return classify_ip_text(host).has_value(); }

Result<CallbackUrl> parse_callback_url(std::string_view url) {
  if (url.empty()) return url_error("callback URL is empty");
  if (url.size() > kMaxCallbackUrlBytes) return url_error("callback URL is longer than 2048 bytes");
  for (char c : url) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) return url_error("callback URL contains whitespace or control characters");
    if (byte >= 0x80) {
      return url_error("callback URL must be ASCII (percent-encode other characters, punycode for host names)");
    }
    if (c == '\\') return url_error("callback URL contains a backslash");
  }

  const size_t scheme_end = url.find("://");
  const std::string_view scheme_text = scheme_end == std::string_view::npos ? std::string_view{} : url.substr(0, scheme_end);
  bool scheme_well_formed = !scheme_text.empty() && is_ascii_alpha(scheme_text[0]);
  for (char c : scheme_text) {
    if (!is_ascii_alpha(c) && !is_ascii_digit(c) && c != '+' && c != '-' && c != '.') scheme_well_formed = false;
  }
  if (!scheme_well_formed) return url_error("callback URL must be an absolute http or https URL");
  CallbackUrl parsed;
  parsed.scheme = lower_cased(scheme_text);
  if (parsed.scheme != "http" && parsed.scheme != "https") {
    return url_error("callback URL scheme must be http or https, not " + parsed.scheme);
  }

  const std::string_view rest = url.substr(scheme_end + 3);
  const size_t authority_end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, authority_end);
  std::string_view after_authority = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return url_error("callback URL must not contain credentials (user@host)");
  }
  if (authority.empty()) return url_error("callback URL has no host");

  std::string_view host_text;
  std::string_view port_text;
  bool has_port = false;
  if (authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return url_error("callback URL has an unterminated IPv6 address");
    host_text = authority.substr(1, close - 1);
    in6_addr address{};
    // A zone id ("%25eth0") is refused along with everything inet_pton does not read: it names an
    // interface of this machine, which is never a merchant's business.
    if (!parse_ip(AF_INET6, host_text, &address)) return url_error("callback URL has an invalid IPv6 address");
    const std::string_view after_close = authority.substr(close + 1);
    if (!after_close.empty()) {
      if (after_close.front() != ':') return url_error("callback URL has characters after the IPv6 address");
      has_port = true;
      port_text = after_close.substr(1);
    }
    // The canonical text (RFC 5952, as inet_ntop writes it) so that "[0:0::1]" and "[::1]" are one
    // origin for the per-endpoint concurrency limit.
    std::array<char, INET6_ADDRSTRLEN> canonical{};
    const char* written = inet_ntop(AF_INET6, &address, canonical.data(), canonical.size());
    PAYOUTD_ASSERT(written != nullptr);
    parsed.host = canonical.data();
  } else {
    const size_t colon = authority.find(':');
    host_text = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    std::string host = lower_cased(host_text);
    // "example.com." is the same name as "example.com"; one spelling keeps the connection pin and the
    // concurrency key unambiguous.
    if (!host.empty() && host.back() == '.') host.pop_back();
    if (host.empty()) return url_error("callback URL has no host");
    PAYOUTD_RETURN_IF_ERROR(check_hostname(host));
    parsed.host = std::move(host);
  }

  if (has_port) {
    PAYOUTD_ASSIGN_OR_RETURN(uint16_t port, parse_port(port_text));
    parsed.port = port;
  } else {
    parsed.port = parsed.scheme == "https" ? 443 : 80;
  }

  const size_t fragment = after_authority.find('#');
  if (fragment != std::string_view::npos) after_authority = after_authority.substr(0, fragment);
  if (after_authority.empty() || after_authority.front() != '/') parsed.target = "/";
  parsed.target += after_authority;
  return parsed;
}

std::string_view address_class_name(AddressClass address_class) {
  switch (address_class) {
    case AddressClass::kPublic:
      return "public";
    case AddressClass::kLoopback:
      return "loopback";
    case AddressClass::kPrivate:
      return "private";
    case AddressClass::kLinkLocal:
      return "link-local";
    case AddressClass::kMulticast:
      return "multicast";
    case AddressClass::kUnspecified:
      return "unspecified";
    case AddressClass::kReserved:
      return "reserved";
  }
  // Only reachable with a value cast from outside the enum's range.
  return "unknown";
}

std::optional<AddressClass> classify_ip_text(std::string_view text) {
  in_addr v4{};
  if (parse_ip(AF_INET, text, &v4)) {
    return classify_ipv4(ipv4_host_order(reinterpret_cast<const uint8_t*>(&v4.s_addr)));
  }
  in6_addr v6{};
  if (parse_ip(AF_INET6, text, &v6)) return classify_ipv6(v6.s6_addr);
  return std::nullopt;
}

AddressClass classify_address(const sockaddr* address) {
  PAYOUTD_ASSERT(address != nullptr);
  if (address->sa_family == AF_INET) {
    sockaddr_in v4{};
    std::memcpy(&v4, address, sizeof v4);  // memcpy: the caller's storage may be a sockaddr of any alignment
    return classify_ipv4(ipv4_host_order(reinterpret_cast<const uint8_t*>(&v4.sin_addr.s_addr)));
  }
  if (address->sa_family == AF_INET6) {
    sockaddr_in6 v6{};
    std::memcpy(&v6, address, sizeof v6);
    return classify_ipv6(v6.sin6_addr.s6_addr);
  }
  return AddressClass::kReserved;
}

std::string address_text(const sockaddr* address) {
  PAYOUTD_ASSERT(address != nullptr);
  std::array<char, INET6_ADDRSTRLEN> buffer{};
  if (address->sa_family == AF_INET) {
    sockaddr_in v4{};
    std::memcpy(&v4, address, sizeof v4);
    if (inet_ntop(AF_INET, &v4.sin_addr, buffer.data(), buffer.size()) == nullptr) return "";
    return buffer.data();
  }
  if (address->sa_family == AF_INET6) {
    sockaddr_in6 v6{};
    std::memcpy(&v6, address, sizeof v6);
    if (inet_ntop(AF_INET6, &v6.sin6_addr, buffer.data(), buffer.size()) == nullptr) return "";
    return buffer.data();
  }
  return "";
}

}  // namespace payoutd::notify
