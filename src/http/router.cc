#include "http/router.h"

#include <algorithm>
#include <utility>

namespace payoutd::http {
namespace {

// "/a//b" -> {"a", "", "b"}; "/" -> {""}. REQUIRES: path starts with '/'.
// Empty segments are kept on purpose: "/api/v1/payouts//cancel" must reach the ":id" route.
std::vector<std::string_view> split_segments(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t start = 1;
  while (true) {
    const size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      segments.push_back(path.substr(start));
      return segments;
    }
    segments.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
}

bool is_param(std::string_view segment) { return !segment.empty() && segment.front() == ':'; }

bool path_matches(const Router::Route& route, const std::vector<std::string_view>& segments) {
  if (route.segments.size() != segments.size()) return false;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (!is_param(route.segments[i]) && route.segments[i] != segments[i]) return false;
  }
  return true;
}

// True when `a` is more specific than `b`: at the first segment where one has a literal and the
// other a parameter, the literal wins. REQUIRES: both match the same path (same segment count).
bool more_specific(const Router::Route& a, const Router::Route& b) {
  for (size_t i = 0; i < a.segments.size(); ++i) {
    const bool a_param = is_param(a.segments[i]);
    const bool b_param = is_param(b.segments[i]);
    if (a_param != b_param) return !a_param;
  }
  return false;
}

}  // namespace

void Router::add(std::string method, std::string pattern, std::string route_name, Handler handler) {
  PAYOUTD_ASSERT(!method.empty());
  PAYOUTD_ASSERT(!pattern.empty() && pattern.front() == '/');
  PAYOUTD_ASSERT(!route_name.empty());
  PAYOUTD_ASSERT(handler != nullptr);
  for (const Route& existing : routes_) {
    PAYOUTD_ASSERT(!(existing.method == method && existing.pattern == pattern));
  }
  Route route;
  for (std::string_view segment : split_segments(pattern)) route.segments.emplace_back(segment);
  for (size_t i = 0; i < route.segments.size(); ++i) {
    if (!is_param(route.segments[i])) continue;
    for (size_t j = i + 1; j < route.segments.size(); ++j) {
      PAYOUTD_ASSERT(route.segments[i] != route.segments[j]);
    }
  }
  route.method = std::move(method);
  route.pattern = std::move(pattern);
  route.route_name = std::move(route_name);
  route.handler = std::move(handler);
  routes_.push_back(std::move(route));
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  Match result;
  if (path.empty() || path.front() != '/') return result;  // kNotFound
  const std::vector<std::string_view> segments = split_segments(path);

  const Route* best = nullptr;
  bool path_known = false;
  for (const Route& route : routes_) {
    if (!path_matches(route, segments)) continue;
    path_known = true;
    if (route.method != method) continue;
    if (best == nullptr || more_specific(route, *best)) best = &route;
  }

  if (best != nullptr) {
    result.kind = MatchKind::kFound;
    result.route = best;
    for (size_t i = 0; i < segments.size(); ++i) {
      if (!is_param(best->segments[i])) continue;
      Result<std::string> decoded = percent_decode(segments[i]);
      result.params.emplace_back(best->segments[i].substr(1),
                                 decoded.is_ok() ? std::move(decoded).value() : std::string(segments[i]));
    }
    return result;
  }
  if (!path_known) return result;  // kNotFound

  result.kind = MatchKind::kMethodNotAllowed;
  for (const Route& route : routes_) {
    if (path_matches(route, segments)) result.allowed_methods.push_back(route.method);
  }
  std::sort(result.allowed_methods.begin(), result.allowed_methods.end());
  result.allowed_methods.erase(
      std::unique(result.allowed_methods.begin(), result.allowed_methods.end()),
      result.allowed_methods.end());
  return result;
}

}  // namespace payoutd::http
