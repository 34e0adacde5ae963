#include "core/url.h"

#include <algorithm>

namespace payoutd {
namespace {

constexpr size_t kMaxDestinationBytes = 300;

std::string lower(std::string_view text) {
  std::string out(text.substr(0, kMaxDestinationBytes));
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

}  // namespace

std::string notification_destination(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return lower(url);
  const std::string scheme = lower(url.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") return lower(url);
  std::string_view authority = url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  const size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority.remove_prefix(at + 1);
  // The port follows the last ':' unless that ':' is inside an IPv6 literal's brackets.
  std::string_view host = authority;
  std::string_view port;
  const size_t colon = authority.rfind(':');
  const size_t bracket = authority.rfind(']');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return lower(url);
  std::string destination = scheme + "://" + lower(host) + ":";
  destination += port.empty() ? (scheme == "https" ? "443" : "80") : std::string(port);
  return destination.substr(0, kMaxDestinationBytes);
}

}  // namespace payoutd
