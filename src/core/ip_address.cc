#include "core/ip_address.h"

#include <arpa/inet.h>

#include <cstring>

namespace payoutd {

std::optional<IpAddress> parse_ip_address(std::string_view text) {
  // inet_pton wants a NUL-terminated string; longer input is no address anyway.
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buffer[INET6_ADDRSTRLEN] = {};
  std::memcpy(buffer, text.data(), text.size());
  IpAddress address;
  in_addr v4{};
  if (inet_pton(AF_INET, buffer, &v4) == 1) {
    address.bytes[10] = 0xFF;
    address.bytes[11] = 0xFF;
    std::memcpy(address.bytes.data() + 12, &v4, 4);
    address.is_v4 = true;
    return address;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, buffer, &v6) == 1) {
    std::memcpy(address.bytes.data(), &v6, 16);
    return address;
  }
  return std::nullopt;
}

std::optional<CidrBlock> parse_cidr_block(std::string_view text) {
  const size_t slash = text.find('/');
  std::optional<IpAddress> base = parse_ip_address(text.substr(0, slash));
  if (!base) return std::nullopt;
  const int family_bits = base->is_v4 ? 32 : 128;
  int prefix = family_bits;
  if (slash != std::string_view::npos) {
    const std::string_view prefix_text = text.substr(slash + 1);
    if (prefix_text.empty() || prefix_text.size() > 3) return std::nullopt;
    prefix = 0;
    for (char c : prefix_text) {
      if (c < '0' || c > '9') return std::nullopt;
      prefix = prefix * 10 + (c - '0');
    }
    if (prefix > family_bits) return std::nullopt;
  }
  return CidrBlock{*base, prefix + (128 - family_bits)};
}

bool block_contains(const CidrBlock& block, const IpAddress& address) {
  int remaining = block.prefix_bits;
  for (size_t i = 0; i < 16 && remaining > 0; ++i, remaining -= 8) {
    const uint8_t mask = remaining >= 8 ? 0xFF : static_cast<uint8_t>(0xFF << (8 - remaining));
    if ((block.base.bytes[i] & mask) != (address.bytes[i] & mask)) return false;
  }
  return true;
}

bool address_in_any(std::string_view address, const std::vector<std::string>& blocks) {
  std::optional<IpAddress> parsed = parse_ip_address(address);
  if (!parsed) return false;
  for (const std::string& text : blocks) {
    std::optional<CidrBlock> block = parse_cidr_block(text);
    if (block && block_contains(*block, *parsed)) return true;
  }
  return false;
}

}  // namespace payoutd
