#include "http/request.h"

#include <gtest/gtest.h>

namespace payoutd::http {
namespace {

TEST(PercentDecodeTest, Table) {
  struct Case {
    std::string_view input;
    bool plus_as_space;
    bool ok;
    std::string_view expected;
  };
  const Case cases[] = {
      {"", false, true, ""},
      {"plain", false, true, "plain"},
      {"a%20b", false, true, "a b"},
      {"a+b", false, true, "a+b"},
      {"a+b", true, true, "a b"},
      {"%2B", true, true, "+"},
      {"%e2%82%AC", false, true, "\xe2\x82\xac"},
      {"%00x", false, true, std::string_view("\0x", 2)},
      {"%", false, false, ""},
      {"%2", false, false, ""},
      {"abc%", false, false, ""},
      {"%zz", false, false, ""},
      {"%2g", false, false, ""},
      {"%g2", false, false, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.input));
    Result<std::string> decoded = percent_decode(c.input, c.plus_as_space);
    ASSERT_EQ(decoded.is_ok(), c.ok);
    if (c.ok) {
      EXPECT_EQ(*decoded, c.expected);
    } else {
      EXPECT_EQ(decoded.status().kind(), ErrorKind::kInvalidArgument);
    }
  }
}

TEST(ParseQueryTest, Table) {
  struct Case {
    std::string_view query;
    NameValueList expected;
  };
  const Case cases[] = {
      {"", {}},
      {"a=1", {{"a", "1"}}},
      {"a=1&b=x%20y", {{"a", "1"}, {"b", "x y"}}},
      {"flag", {{"flag", ""}}},
      {"a=1&&b=2&", {{"a", "1"}, {"b", "2"}}},
      {"a=&b", {{"a", ""}, {"b", ""}}},
      {"status=created&status=queued", {{"status", "created"}, {"status", "queued"}}},
      {"q=a+b%2Bc", {{"q", "a b+c"}}},
      {"a=b=c", {{"a", "b=c"}}},
      {"%61=1", {{"a", "1"}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.query));
    Result<NameValueList> parsed = parse_query(c.query);
    ASSERT_TRUE(parsed.is_ok());
    EXPECT_EQ(*parsed, c.expected);
  }
}

TEST(ParseQueryTest, MalformedEscapeIsInvalidArgumentOnQuery) {
  for (std::string_view bad : {"a=%", "a=%4", "a=%xy", "%zz=1", "ok=1&bad=%G0"}) {
    SCOPED_TRACE(std::string(bad));
    Result<NameValueList> parsed = parse_query(bad);
    ASSERT_FALSE(parsed.is_ok());
    EXPECT_EQ(parsed.status().kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(parsed.status().field(), "query");
  }
}

TEST(RequestTest, HeaderAndParamLookup) {
  Request request;
  request.headers = {{"content-type", "application/json"}, {"x-dup", "first"}, {"x-dup", "second"}};
  request.params = {{"id", "pyt_1"}, {"empty", ""}};
  EXPECT_EQ(request.header("content-type"), "application/json");
  EXPECT_EQ(request.header("x-dup"), "first");
  EXPECT_FALSE(request.header("authorization").has_value());
  EXPECT_EQ(request.param("id"), "pyt_1");
  ASSERT_TRUE(request.param("empty").has_value());
  EXPECT_EQ(*request.param("empty"), "");
  EXPECT_FALSE(request.param("other").has_value());
}

TEST(DefaultErrorResponseTest, V1Shapes) {
  struct Case {
    int status;
    std::string_view body;
  };
  const Case cases[] = {
      {404, R"({"error":"NotFound","message":"Route not found"})"},
      {413, R"({"error":"PayloadTooLarge","message":"Request body too large"})"},
      {500, R"({"error":"InternalServerError","message":"Internal server error"})"},
      {400, R"({"error":"BadRequest","message":"Malformed request"})"},
      {405, R"({"error":"MethodNotAllowed","message":"Method not allowed"})"},
      {431, R"({"error":"RequestHeaderFieldsTooLarge","message":"Request header fields too large"})"},
      {503, R"({"error":"ServiceUnavailable","message":"Service unavailable"})"},
  };
  for (const Case& c : cases) {
    const Response response = default_error_response(c.status, "/x");
    EXPECT_EQ(response.status, c.status);
    EXPECT_EQ(response.body, c.body);
    EXPECT_EQ(response.content_type, "application/json");
  }
}

TEST(JsonEscapeTest, EscapesQuotesControlsAndHighBytes) {
  std::string out;
  append_json_escaped(out, std::string_view("a\"b\\c\nd\re\tf\x01g\x7f\xc3\xa9", 16));
  EXPECT_EQ(out, "a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u007f\\u00c3\\u00a9");
}

}  // namespace
}  // namespace payoutd::http
