// IP addresses and CIDR blocks, as the allow-lists (v3 `ip_allow`) and later the trusted proxies
// name them. Pure: no I/O, no allocation on the match path.
//
// Every address is held in the 128-bit IPv6 form, an IPv4 address as ::ffff:a.b.c.d, so one
// comparison serves both families: "10.0.0.0/8" matches 10.1.2.3 and ::ffff:10.1.2.3, never
// another IPv6 address.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace payoutd {

struct IpAddress {
  std::array<uint8_t, 16> bytes{};  // network order, IPv4 mapped
  bool is_v4 = false;
};

struct CidrBlock {
  IpAddress base;
  int prefix_bits = 0;  // over the 128-bit form: an IPv4 /8 is 104
};

// "a.b.c.d" or an IPv6 address in any form inet_pton(3) reads; nullopt otherwise.
std::optional<IpAddress> parse_ip_address(std::string_view text);
// "address" (a single host) or "address/prefix" with prefix 0..32 (IPv4) or 0..128 (IPv6).
std::optional<CidrBlock> parse_cidr_block(std::string_view text);

bool block_contains(const CidrBlock& block, const IpAddress& address);
// Whether `address` lies in any of `blocks` (each parsed as by parse_cidr_block; one that does not
// parse matches nothing). An address that does not parse is in none.
bool address_in_any(std::string_view address, const std::vector<std::string>& blocks);

}  // namespace payoutd
