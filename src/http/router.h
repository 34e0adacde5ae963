// Router: (method, path pattern) -> named async handler.
//
// Patterns are '/'-separated segments, each a literal or ":name" (matches any one segment, the
// empty one included, so "/api/v1/payouts//cancel" matches "/api/v1/payouts/:id/cancel" with
// id == "" and the dialect can answer "Payout ID is required"). When several patterns match a path
// the most specific wins: segment by segment from the left, a literal beats a parameter
// ("/api/v1/payouts/cancel" beats "/api/v1/payouts/:id"). A path no pattern matches is 404; a path
// some pattern matches but not with this method is 405 with Allow listing the methods that would.
//
// Build the router completely before Server::start(); it is read-only (and so thread-safe) after.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "http/request.h"

namespace payoutd::http {

// Handlers run on an I/O thread and may answer later from any thread through `respond` (the
// store's writer thread completes writes asynchronously). A handler must not block for long: it
// holds up its I/O thread. It must not throw (the server turns an escaping exception into 500).
using Handler = std::function<void(Request&& request, Respond respond)>;

class Router {
 public:
  struct Route {
    std::string method;
    std::string pattern;
    std::string route_name;  // metrics/log label: a fixed name, never the raw path
    Handler handler;
    std::vector<std::string> segments;  // pattern split on '/'
  };

  enum class MatchKind { kFound, kNotFound, kMethodNotAllowed };

  struct Match {
    MatchKind kind = MatchKind::kNotFound;
    const Route* route = nullptr;  // kFound only
    NameValueList params;          // kFound only; values percent-decoded (raw when malformed)
    std::vector<std::string> allowed_methods;  // kMethodNotAllowed only, sorted, unique
  };

  // REQUIRES: method non-empty; pattern starts with '/'; route_name non-empty; handler non-null;
  //           (method, pattern) not added before; parameter names unique within the pattern.
  void add(std::string method, std::string pattern, std::string route_name, Handler handler);

  // `path` is the raw request path (no query). Thread-safe once building is over.
  Match match(std::string_view method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace payoutd::http
