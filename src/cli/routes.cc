#include "cli/routes.h"

#include "http/server.h"

namespace payoutd::cli {

void register_routes(http::Router& router, RouteContext& context) {
  http::add_builtin_routes(router, context.metrics, context.version);
}

}  // namespace payoutd::cli
