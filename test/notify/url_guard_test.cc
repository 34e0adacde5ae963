// The callback URL parser and the address classification of the SSRF guard, as tables.
#include "notify/url_guard.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>
#include <vector>

namespace payoutd::notify {
namespace {

struct GoodUrl {
  std::string url;
  std::string scheme;
  std::string host;
  uint16_t port;
  std::string target;
  std::string origin;
};

TEST(ParseCallbackUrlTest, AcceptsAndNormalizesGoodUrls) {
  const std::vector<GoodUrl> cases = {
      {"http://example.com", "http", "example.com", 80, "/", "http://example.com:80"},
      {"https://example.com", "https", "example.com", 443, "/", "https://example.com:443"},
      {"HTTPS://Shop.Example.COM/Hooks/V3?Token=AbC", "https", "shop.example.com", 443, "/Hooks/V3?Token=AbC",
       "https://shop.example.com:443"},
      {"http://example.com:8080/a/b", "http", "example.com", 8080, "/a/b", "http://example.com:8080"},
      {"https://example.com:1/", "https", "example.com", 1, "/", "https://example.com:1"},
      {"https://example.com:65535/", "https", "example.com", 65535, "/", "https://example.com:65535"},
      {"http://example.com?x=1", "http", "example.com", 80, "/?x=1", "http://example.com:80"},
      {"http://example.com/path#fragment", "http", "example.com", 80, "/path", "http://example.com:80"},
      {"http://example.com#only-fragment", "http", "example.com", 80, "/", "http://example.com:80"},
      {"http://example.com./x", "http", "example.com", 80, "/x", "http://example.com:80"},
      {"http://my_host-1.example.com/", "http", "my_host-1.example.com", 80, "/", "http://my_host-1.example.com:80"},
      {"http://127.0.0.1:9000/cb", "http", "127.0.0.1", 9000, "/cb", "http://127.0.0.1:9000"},
      {"http://[::1]:9000/cb", "http", "::1", 9000, "/cb", "http://[::1]:9000"},
      {"https://[2606:4700:0:0::1111]/", "https", "2606:4700::1111", 443, "/", "https://[2606:4700::1111]:443"},
      {"http://[::FFFF:10.0.0.1]/", "http", "::ffff:10.0.0.1", 80, "/", "http://[::ffff:10.0.0.1]:80"},
      {"http://xn--jos-dma.example/", "http", "xn--jos-dma.example", 80, "/", "http://xn--jos-dma.example:80"},
      {"http://example.com/a%20b?q=%C3%A9", "http", "example.com", 80, "/a%20b?q=%C3%A9", "http://example.com:80"},
  };
  for (const GoodUrl& expected : cases) {
    SCOPED_TRACE(expected.url);
    Result<CallbackUrl> parsed = parse_callback_url(expected.url);
    ASSERT_TRUE(parsed.is_ok()) << parsed.status().message();
    EXPECT_EQ(parsed->scheme, expected.scheme);
    EXPECT_EQ(parsed->host, expected.host);
    EXPECT_EQ(parsed->port, expected.port);
    EXPECT_EQ(parsed->target, expected.target);
    EXPECT_EQ(parsed->origin(), expected.origin);
    EXPECT_EQ(parsed->url(), expected.origin + expected.target);
  }
}

TEST(ParseCallbackUrlTest, RefusesBadUrls) {
  struct BadUrl {
    std::string url;
    std::string reason_contains;
  };
  const std::vector<BadUrl> cases = {
      {"", "empty"},
      {"example.com/hook", "absolute"},
      {"/relative/path", "absolute"},
      {"//example.com/hook", "absolute"},
      {"http:/example.com", "absolute"},
      {"http:example.com", "absolute"},
      {"ftp://example.com/file", "http or https"},
      {"file:///etc/passwd", "http or https"},
      {"gopher://example.com/", "http or https"},
      {"javascript://example.com/", "http or https"},
      {"http://", "no host"},
      {"http:///path", "no host"},
      {"http://:80/", "no host"},
      {"http://?x", "no host"},
      {"http://user@example.com/", "credentials"},
      {"http://user:password@example.com/", "credentials"},
      {"http://example.com@127.0.0.1/", "credentials"},
      {"http://@example.com/", "credentials"},
      {"http://example.com:0/", "port"},
      {"http://example.com:65536/", "port"},
      {"http://example.com:99999/", "port"},
      {"http://example.com:123456/", "port"},
      {"http://example.com:-1/", "port"},
      {"http://example.com:8o/", "port"},
      {"http://example.com:/", "empty port"},
      {"http://a:b:c/", "port"},
      {"http://exa mple.com/", "whitespace"},
      {"http://example.com/a b", "whitespace"},
      {" http://example.com/", "whitespace"},
      {"http://example.com/\t", "whitespace"},
      {"http://example.com/\r\nHost: evil", "whitespace"},
      {std::string("http://example.com/\0x", 21), "control"},
      {"http://example.com/\x7f", "control"},
      {"http://jos\xc3\xa9.example/", "ASCII"},
      {"http://example.com/caf\xc3\xa9", "ASCII"},
      {"http://evil.com\\@127.0.0.1/", "backslash"},
      {"http://example.com\\path", "backslash"},
      {"http://exa%6dple.com/", "letters, digits"},
      {"http://example..com/", "empty label"},
      {"http://.example.com/", "empty label"},
      {"http://" + std::string(64, 'a') + ".com/", "63"},
      {"http://" + std::string(250, 'a') + ".com/", "253"},
      {"http://127.1/", "dotted-quad"},
      {"http://2130706433/", "dotted-quad"},
      {"http://0x7f.0.0.1/", "dotted-quad"},
      {"http://0x7f000001/", "dotted-quad"},
      {"http://010.0.0.1/", "dotted-quad"},
      {"http://127.0.0.1.5/", "dotted-quad"},
      {"http://256.1.1.1/", "dotted-quad"},
      {"http://[::1/", "unterminated"},
      {"http://[::1]x/", "after the IPv6"},
      {"http://[fe80::1%25eth0]/", "IPv6"},
      {"http://[not-an-address]/", "IPv6"},
      {"http://[127.0.0.1]/", "IPv6"},
  };
  for (const BadUrl& bad : cases) {
    SCOPED_TRACE(bad.url);
    Result<CallbackUrl> parsed = parse_callback_url(bad.url);
    ASSERT_FALSE(parsed.is_ok()) << parsed->url();
    EXPECT_EQ(parsed.status().kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(parsed.status().field(), "url");
    EXPECT_NE(parsed.status().message().find(bad.reason_contains), std::string::npos) << parsed.status().message();
  }
}

TEST(ParseCallbackUrlTest, LengthLimitIs2048Bytes) {
  const std::string prefix = "https://example.com/";
  const std::string at_limit = prefix + std::string(kMaxCallbackUrlBytes - prefix.size(), 'a');
  ASSERT_EQ(at_limit.size(), 2048u);
  EXPECT_TRUE(parse_callback_url(at_limit).is_ok());
  Result<CallbackUrl> over = parse_callback_url(at_limit + "a");
  ASSERT_FALSE(over.is_ok());
  EXPECT_NE(over.status().message().find("2048"), std::string::npos);
}

TEST(ParseCallbackUrlTest, HostIsIpLiteral) {
  EXPECT_TRUE(parse_callback_url("http://10.0.0.1/")->host_is_ip_literal());
  EXPECT_TRUE(parse_callback_url("http://[::1]/")->host_is_ip_literal());
  EXPECT_FALSE(parse_callback_url("http://localhost/")->host_is_ip_literal());
  EXPECT_FALSE(parse_callback_url("http://1.2.3.example/")->host_is_ip_literal());
}

struct Classified {
  std::string address;
  AddressClass expected;
};

TEST(ClassifyIpTextTest, CoversEveryRangeAndItsEdges) {
  using enum AddressClass;
  const std::vector<Classified> cases = {
      // IPv4 unspecified 0.0.0.0/8
      {"0.0.0.0", kUnspecified},
      {"0.255.255.255", kUnspecified},
      {"1.0.0.0", kPublic},
      // loopback 127/8
      {"126.255.255.255", kPublic},
      {"127.0.0.0", kLoopback},
      {"127.0.0.1", kLoopback},
      {"127.255.255.255", kLoopback},
      {"128.0.0.0", kPublic},
      // private 10/8
      {"9.255.255.255", kPublic},
      {"10.0.0.0", kPrivate},
      {"10.255.255.255", kPrivate},
      {"11.0.0.0", kPublic},
      // private 172.16/12
      {"172.15.255.255", kPublic},
      {"172.16.0.0", kPrivate},
      {"172.31.255.255", kPrivate},
      {"172.32.0.0", kPublic},
      // private 192.168/16
      {"192.167.255.255", kPublic},
      {"192.168.0.0", kPrivate},
      {"192.168.255.255", kPrivate},
      {"192.169.0.0", kPublic},
      // CGNAT 100.64/10
      {"100.63.255.255", kPublic},
      {"100.64.0.0", kPrivate},
      {"100.64.0.1", kPrivate},
      {"100.127.255.255", kPrivate},
      {"100.128.0.0", kPublic},
      // link-local 169.254/16
      {"169.253.255.255", kPublic},
      {"169.254.0.0", kLinkLocal},
      {"169.254.169.254", kLinkLocal},  // the cloud metadata service
      {"169.254.255.255", kLinkLocal},
      {"169.255.0.0", kPublic},
      // multicast 224/4
      {"223.255.255.255", kPublic},
      {"224.0.0.0", kMulticast},
      {"239.255.255.255", kMulticast},
      // reserved 240/4 and broadcast
      {"240.0.0.0", kReserved},
      {"255.255.255.254", kReserved},
      {"255.255.255.255", kReserved},
      // reserved special-purpose and documentation ranges
      {"191.255.255.255", kPublic},
      {"192.0.0.0", kReserved},
      {"192.0.0.255", kReserved},
      {"192.0.1.0", kPublic},
      {"192.0.2.0", kReserved},
      {"192.0.2.255", kReserved},
      {"192.0.3.0", kPublic},
      {"198.17.255.255", kPublic},
      {"198.18.0.0", kReserved},
      {"198.19.255.255", kReserved},
      {"198.20.0.0", kPublic},
      {"198.51.99.255", kPublic},
      {"198.51.100.0", kReserved},
      {"198.51.100.255", kReserved},
      {"198.51.101.0", kPublic},
      {"203.0.112.255", kPublic},
      {"203.0.113.0", kReserved},
      {"203.0.113.255", kReserved},
      {"203.0.114.0", kPublic},
      // ordinary public IPv4
      {"8.8.8.8", kPublic},
      {"1.1.1.1", kPublic},
      {"93.184.216.34", kPublic},
      // IPv6 basics
      {"::", kUnspecified},
      {"::1", kLoopback},
      {"0:0:0:0:0:0:0:1", kLoopback},
      {"::2", kUnspecified},  // IPv4-compatible ::0.0.0.2, in 0/8
      // unique local fc00::/7
      {"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", kPublic},
      {"fc00::", kPrivate},
      {"fd12:3456:789a::1", kPrivate},
      {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", kPrivate},
      // link-local fe80::/10
      {"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", kPublic},
      {"fe80::", kLinkLocal},
      {"fe80::1", kLinkLocal},
      {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", kLinkLocal},
      // site-local fec0::/10 (deprecated)
      {"fec0::1", kPrivate},
      // multicast ff00::/8
      {"ff00::", kMulticast},
      {"ff02::1", kMulticast},
      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", kMulticast},
      // documentation 2001:db8::/32
      {"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", kPublic},
      {"2001:db8::", kReserved},
      {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", kReserved},
      {"2001:db9::", kPublic},
      // discard-only 100::/64
      {"100::1", kReserved},
      {"100:0:0:1::1", kPublic},
      // IPv4-mapped ::ffff:0:0/96
      {"::ffff:10.0.0.1", kPrivate},
      {"::ffff:127.0.0.1", kLoopback},
      {"::ffff:169.254.169.254", kLinkLocal},
      {"::ffff:0.0.0.0", kUnspecified},
      {"::ffff:8.8.8.8", kPublic},
      {"::ffff:7f00:1", kLoopback},
      // IPv4-compatible ::/96
      {"::127.0.0.1", kLoopback},
      {"::10.1.2.3", kPrivate},
      {"::8.8.8.8", kPublic},
      // IPv4-translated ::ffff:0:0:0/96
      {"::ffff:0:127.0.0.1", kLoopback},
      {"::ffff:0:8.8.8.8", kPublic},
      // NAT64 64:ff9b::/96
      {"64:ff9b::127.0.0.1", kLoopback},
      {"64:ff9b::192.168.1.1", kPrivate},
      {"64:ff9b::8.8.8.8", kPublic},
      {"64:ff9b:1::1", kPrivate},  // local-use NAT64
      // 6to4 2002::/16
      {"2002:7f00:1::", kLoopback},
      {"2002:a00:1::1", kPrivate},
      {"2002:808:808::1", kPublic},
      // ordinary public IPv6
      {"2606:4700::1111", kPublic},
      {"2001:4860:4860::8888", kPublic},
  };
  for (const Classified& item : cases) {
    SCOPED_TRACE(item.address);
    std::optional<AddressClass> got = classify_ip_text(item.address);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(address_class_name(*got), address_class_name(item.expected));
  }
}

TEST(ClassifyIpTextTest, NotAnIpLiteral) {
  for (const char* text : {"", "localhost", "example.com", "127.1", "0x7f.0.0.1", "2130706433", "[::1]", "fe80::1%eth0",
                           "1.2.3.4 ", " ::1", "::1::2", "01.2.3.4"}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(classify_ip_text(text).has_value());
  }
}

TEST(ClassifyAddressTest, SockaddrsAgreeWithText) {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  ASSERT_EQ(inet_pton(AF_INET, "172.16.0.0", &v4.sin_addr), 1);
  EXPECT_EQ(classify_address(reinterpret_cast<const sockaddr*>(&v4)), AddressClass::kPrivate);
  EXPECT_EQ(address_text(reinterpret_cast<const sockaddr*>(&v4)), "172.16.0.0");
  ASSERT_EQ(inet_pton(AF_INET, "8.8.4.4", &v4.sin_addr), 1);
  EXPECT_EQ(classify_address(reinterpret_cast<const sockaddr*>(&v4)), AddressClass::kPublic);

  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  ASSERT_EQ(inet_pton(AF_INET6, "::ffff:127.0.0.1", &v6.sin6_addr), 1);
  EXPECT_EQ(classify_address(reinterpret_cast<const sockaddr*>(&v6)), AddressClass::kLoopback);
  EXPECT_EQ(address_text(reinterpret_cast<const sockaddr*>(&v6)), "::ffff:127.0.0.1");
  ASSERT_EQ(inet_pton(AF_INET6, "2606:4700::1111", &v6.sin6_addr), 1);
  EXPECT_EQ(classify_address(reinterpret_cast<const sockaddr*>(&v6)), AddressClass::kPublic);

  sockaddr unix_like{};
  unix_like.sa_family = AF_UNIX;
  EXPECT_EQ(classify_address(&unix_like), AddressClass::kReserved);
  EXPECT_EQ(address_text(&unix_like), "");
}

TEST(AddressClassNameTest, Names) {
  EXPECT_EQ(address_class_name(AddressClass::kPublic), "public");
  EXPECT_EQ(address_class_name(AddressClass::kLoopback), "loopback");
  EXPECT_EQ(address_class_name(AddressClass::kPrivate), "private");
  EXPECT_EQ(address_class_name(AddressClass::kLinkLocal), "link-local");
  EXPECT_EQ(address_class_name(AddressClass::kMulticast), "multicast");
  EXPECT_EQ(address_class_name(AddressClass::kUnspecified), "unspecified");
  EXPECT_EQ(address_class_name(AddressClass::kReserved), "reserved");
}

}  // namespace
}  // namespace payoutd::notify
