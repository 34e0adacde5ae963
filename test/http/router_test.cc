#include "http/router.h"

#include <gtest/gtest.h>

namespace payoutd::http {
namespace {

Handler noop() {
  return [](Request&&, Respond) {};
}

Router v1_like_router() {
  Router router;
  router.add("GET", "/status", "status", noop());
  router.add("POST", "/api/v1/payouts", "v1_create", noop());
  router.add("GET", "/api/v1/payouts", "v1_list", noop());
  router.add("GET", "/api/v1/payouts/:id", "v1_get", noop());
  router.add("POST", "/api/v1/payouts/:id/cancel", "v1_cancel", noop());
  router.add("POST", "/api/v1/payouts/cancel", "v1_bulk_cancel", noop());
  router.add("DELETE", "/v3/cashout/cancel", "v3_cancel", noop());
  router.add("POST", "/v3/cashout/status", "v3_status", noop());
  router.add("PUT", "/v3/cashout/status", "v3_hold", noop());
  router.add("GET", "/a/:x/:y", "two_params", noop());
  return router;
}

TEST(RouterTest, MatchTable) {
  const Router router = v1_like_router();
  struct Case {
    std::string_view method;
    std::string_view path;
    Router::MatchKind kind;
    std::string_view route_name;  // kFound
    NameValueList params;         // kFound
    std::vector<std::string> allowed;  // kMethodNotAllowed
  };
  using K = Router::MatchKind;
  const Case cases[] = {
      {"GET", "/status", K::kFound, "status", {}, {}},
      {"GET", "/status/", K::kNotFound, "", {}, {}},
      {"GET", "/statu", K::kNotFound, "", {}, {}},
      {"GET", "", K::kNotFound, "", {}, {}},
      {"GET", "status", K::kNotFound, "", {}, {}},
      {"GET", "/", K::kNotFound, "", {}, {}},
      {"POST", "/status", K::kMethodNotAllowed, "", {}, {"GET"}},
      {"GET", "/api/v1/payouts", K::kFound, "v1_list", {}, {}},
      {"POST", "/api/v1/payouts", K::kFound, "v1_create", {}, {}},
      {"DELETE", "/api/v1/payouts", K::kMethodNotAllowed, "", {}, {"GET", "POST"}},
      {"GET", "/api/v1/payouts/pyt_123", K::kFound, "v1_get", {{"id", "pyt_123"}}, {}},
      {"POST", "/api/v1/payouts/pyt_123/cancel", K::kFound, "v1_cancel", {{"id", "pyt_123"}}, {}},
      // The empty segment still matches ":id", with an empty value.
      {"POST", "/api/v1/payouts//cancel", K::kFound, "v1_cancel", {{"id", ""}}, {}},
      // Literal beats parameter for the same shape...
      {"POST", "/api/v1/payouts/cancel", K::kFound, "v1_bulk_cancel", {}, {}},
      // ...but the parameter route still serves its own method.
      {"GET", "/api/v1/payouts/cancel", K::kFound, "v1_get", {{"id", "cancel"}}, {}},
      {"POST", "/api/v1/payouts/pyt_1", K::kMethodNotAllowed, "", {}, {"GET"}},
      {"GET", "/api/v1/payouts/pyt_1/cancel", K::kMethodNotAllowed, "", {}, {"POST"}},
      {"POST", "/api/v1/payouts/a/b/cancel", K::kNotFound, "", {}, {}},
      // Parameters are percent-decoded; a malformed escape is passed through raw.
      {"GET", "/api/v1/payouts/pyt%5F9", K::kFound, "v1_get", {{"id", "pyt_9"}}, {}},
      {"GET", "/api/v1/payouts/bad%zz", K::kFound, "v1_get", {{"id", "bad%zz"}}, {}},
      {"GET", "/a/1/2", K::kFound, "two_params", {{"x", "1"}, {"y", "2"}}, {}},
      {"GET", "/a//", K::kFound, "two_params", {{"x", ""}, {"y", ""}}, {}},
      {"POST", "/v3/cashout/status", K::kFound, "v3_status", {}, {}},
      {"PUT", "/v3/cashout/status", K::kFound, "v3_hold", {}, {}},
      {"GET", "/v3/cashout/status", K::kMethodNotAllowed, "", {}, {"POST", "PUT"}},
      {"delete", "/v3/cashout/cancel", K::kMethodNotAllowed, "", {}, {"DELETE"}},  // case-sensitive
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.method) + " " + std::string(c.path));
    const Router::Match match = router.match(c.method, c.path);
    ASSERT_EQ(match.kind, c.kind);
    if (c.kind == K::kFound) {
      ASSERT_NE(match.route, nullptr);
      EXPECT_EQ(match.route->route_name, c.route_name);
      EXPECT_EQ(match.params, c.params);
    } else {
      EXPECT_EQ(match.route, nullptr);
    }
    if (c.kind == K::kMethodNotAllowed) {
      EXPECT_EQ(match.allowed_methods, c.allowed);
    }
  }
}

TEST(RouterTest, SpecificityDoesNotDependOnRegistrationOrder) {
  Router router;
  router.add("GET", "/x/:id", "param", noop());
  router.add("GET", "/x/literal", "literal", noop());
  router.add("GET", "/:a/literal2", "left_param", noop());
  router.add("GET", "/x/:b", "never_reached_duplicate_shape", noop());
  EXPECT_EQ(router.match("GET", "/x/literal").route->route_name, "literal");
  EXPECT_EQ(router.match("GET", "/x/other").route->route_name, "param");
  // Leftmost difference decides: "/x/:id" (literal first) beats "/:a/literal2".
  EXPECT_EQ(router.match("GET", "/x/literal2").route->route_name, "param");
  EXPECT_EQ(router.match("GET", "/y/literal2").route->route_name, "left_param");
}

TEST(RouterDeathTest, DuplicateRouteIsAProgrammingError) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Router router;
        router.add("GET", "/a", "a", noop());
        router.add("GET", "/a", "b", noop());
      },
      "");
  EXPECT_DEATH(
      {
        Router router;
        router.add("GET", "no-slash", "a", noop());
      },
      "");
}

}  // namespace
}  // namespace payoutd::http
