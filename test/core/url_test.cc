#include "core/url.h"

#include <gtest/gtest.h>

namespace payoutd {
namespace {

TEST(NotificationDestination, IsTheLowerCasedOriginWithAnExplicitPort) {
  EXPECT_EQ(notification_destination("https://Hooks.Example/a?b=1#c"), "https://hooks.example:443");
  EXPECT_EQ(notification_destination("HTTP://hooks.example"), "http://hooks.example:80");
  EXPECT_EQ(notification_destination("http://hooks.example:8080/x"), "http://hooks.example:8080");
  EXPECT_EQ(notification_destination("https://user:pw@hooks.example/x"),
            "https://hooks.example:443");
  EXPECT_EQ(notification_destination("http://[::1]:9000/x"), "http://[::1]:9000");
  EXPECT_EQ(notification_destination("http://[2001:db8::1]/x"), "http://[2001:db8::1]:80");
  EXPECT_EQ(notification_destination("http://127.0.0.1:5/x?y"), "http://127.0.0.1:5");
  // Two URLs on one server are one destination; another port is another.
  EXPECT_EQ(notification_destination("https://a.example/one"),
            notification_destination("https://A.example:443/two?x"));
  EXPECT_NE(notification_destination("https://a.example/"),
            notification_destination("https://a.example:8443/"));
}

TEST(NotificationDestination, OtherTextIsItsOwnBoundedDestination) {
  EXPECT_EQ(notification_destination("ftp://x.example/"), "ftp://x.example/");
  EXPECT_EQ(notification_destination("Not A URL"), "not a url");
  EXPECT_EQ(notification_destination("http:///path"), "http:///path");
  EXPECT_EQ(notification_destination(std::string(1000, 'a')).size(), 300u);
}

}  // namespace
}  // namespace payoutd
