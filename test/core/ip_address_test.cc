// IP addresses and CIDR blocks (core/ip_address.h): the allow-list's matching rules.
#include "core/ip_address.h"

#include <gtest/gtest.h>

namespace payoutd {
namespace {

TEST(IpAddressTest, ParsesBothFamiliesAndRefusesTheRest) {
  std::optional<IpAddress> v4 = parse_ip_address("10.1.2.3");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->is_v4);
  EXPECT_EQ(v4->bytes[10], 0xFF);
  EXPECT_EQ(v4->bytes[12], 10);
  EXPECT_EQ(v4->bytes[15], 3);
  std::optional<IpAddress> v6 = parse_ip_address("2001:db8::1");
  ASSERT_TRUE(v6);
  EXPECT_FALSE(v6->is_v4);
  EXPECT_EQ(v6->bytes[0], 0x20);
  EXPECT_EQ(v6->bytes[15], 1);
  for (std::string_view bad : {"", "10.1.2", "10.1.2.3.4", "256.1.1.1", "host", "10.1.2.3 ",
                               "::g", "1:2:3:4:5:6:7:8:9",
                               "0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(parse_ip_address(bad));
  }
}

TEST(IpAddressTest, CidrBlocksMatchTheirPrefixOnly) {
  struct Case {
    std::string_view block;
    std::string_view address;
    bool contains;
  };
  const Case cases[] = {
      {"10.0.0.0/8", "10.255.1.2", true},
      {"10.0.0.0/8", "11.0.0.1", false},
      {"10.0.0.0/8", "::ffff:10.9.9.9", true},  // the mapped form is the same address
      {"10.0.0.0/8", "2001:db8::1", false},
      {"192.168.1.7", "192.168.1.7", true},  // a host
      {"192.168.1.7", "192.168.1.8", false},
      {"192.168.1.0/25", "192.168.1.127", true},
      {"192.168.1.0/25", "192.168.1.128", false},
      {"0.0.0.0/0", "203.0.113.9", true},
      {"0.0.0.0/0", "2001:db8::1", false},  // every IPv4 address, no IPv6 one
      {"2001:db8::/32", "2001:db8:ffff::1", true},
      {"2001:db8::/32", "2001:db9::1", false},
      {"::/0", "2001:db8::1", true},
  };
  for (const Case& test : cases) {
    SCOPED_TRACE(std::string(test.block) + " " + std::string(test.address));
    std::optional<CidrBlock> block = parse_cidr_block(test.block);
    ASSERT_TRUE(block);
    std::optional<IpAddress> address = parse_ip_address(test.address);
    ASSERT_TRUE(address);
    EXPECT_EQ(block_contains(*block, *address), test.contains);
  }
  for (std::string_view bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8/8",
                               "10.0.0.0/1000", "2001:db8::/129", "/8", "x/8", "10.0.0.0/a"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(parse_cidr_block(bad));
  }
}

TEST(IpAddressTest, AnAddressInAnyOfAList) {
  const std::vector<std::string> blocks = {"not a block", "10.0.0.0/8", "2001:db8::/32"};
  EXPECT_TRUE(address_in_any("10.2.3.4", blocks));
  EXPECT_TRUE(address_in_any("2001:db8::5", blocks));
  EXPECT_FALSE(address_in_any("192.0.2.1", blocks));
  EXPECT_FALSE(address_in_any("garbage", blocks));
  EXPECT_FALSE(address_in_any("10.2.3.4", {}));
}

}  // namespace
}  // namespace payoutd
