// Request and Response as the dialect rooms see them: plain C++ values, no Boost types, so the
// rooms that include this header compile fast. The server (server.cc) fills a Request from the
// wire and turns a Response back into HTTP/1.1; nothing here knows about sockets.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace payoutd::http {

using NameValueList = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // as sent, e.g. "POST"
  std::string target;  // the raw request-target, e.g. "/api/v1/payouts?status=created"
  std::string path;    // target up to '?', NOT percent-decoded (routing is on the raw path)
  std::string query;   // after '?', without it, NOT decoded; parse_query() decodes
  NameValueList headers;  // names lower-cased, values as sent, in wire order
  std::string body;       // the exact raw body bytes (the v3 dialect signs them)
  std::string remote_address;  // peer IP without port ("127.0.0.1", "::1"); IPv4-mapped shown as v4
  std::string request_id;      // echoed valid X-Request-Id or a generated one
  std::string route_name;      // the matched route's name (metrics/log label)
  NameValueList params;        // ":name" pattern segments -> percent-decoded values (may be empty)

  // First header with that name. REQUIRES: `lowercase_name` is lower-case.
  std::optional<std::string_view> header(std::string_view lowercase_name) const;
  // The value of pattern parameter `name` (":id" -> "id"); nullopt when the route has no such param.
  std::optional<std::string_view> param(std::string_view name) const;
};

struct Response {
  int status = 200;
  NameValueList headers;  // extra headers; the server owns framing (Content-Length, Connection)
  std::string body;
  std::string content_type = "application/json";
};

// A handler's way to answer: callable from any thread, effective exactly once; later calls and
// calls after the handler timeout or after the server stopped are ignored.
using Respond = std::function<void(Response&&)>;

// Shapes the bodies of responses the server produces itself (400, 404, 405, 413, 431, 500, 503),
// so each dialect can answer in its own error format. `path` is the request path when known
// (empty when the request could not be parsed far enough). Called concurrently from I/O threads:
// keep it a pure function. The server keeps `status` whatever the returned Response says.
using ErrorResponder = std::function<Response(int status, std::string_view path)>;

// {"error":"PayloadTooLarge","message":"Request body too large"} and friends (the v1 shape).
Response default_error_response(int status, std::string_view path);

// Decodes %XY escapes. `plus_as_space` turns '+' into ' ' (query strings, not paths).
// Fails (kInvalidArgument) on '%' not followed by two hex digits.
Result<std::string> percent_decode(std::string_view text, bool plus_as_space = false);

// "a=1&b=x%20y&flag" -> {{"a","1"},{"b","x y"},{"flag",""}}; empty pieces ("a=1&&b=2") skipped;
// repeated names kept in order. Fails (kInvalidArgument, field "query") on a malformed escape.
Result<NameValueList> parse_query(std::string_view query);

// Appends `text` as the inside of a JSON string literal (quotes not included): escapes '"', '\\',
// control characters and, to keep log lines valid UTF-8 whatever a client sent, bytes >= 0x7f as
// \u00XX. For the few tiny fixed bodies this room writes by hand; dialects use json::Writer.
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace payoutd::http
