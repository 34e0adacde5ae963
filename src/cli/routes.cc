#include "cli/routes.h"

#include "api/cashouts_v3/cashouts_v3.h"
#include "api/openapi/routes.h"
#include "api/payouts_v1/payouts_v1.h"
#include "http/server.h"
#include "json/writer.h"

namespace payoutd::cli {
namespace {

http::Response callback_error(int status, std::string_view error, std::string_view message) {
  json::Writer writer;
  writer.begin_object();
  writer.key("error");
  writer.string(error);
  writer.key("message");
  writer.string(message);
  writer.end_object();
  http::Response response;
  response.status = status;
  response.body = writer.take();
  return response;
}

// POST /connectors/<name>/callback: a rail telling us a payout changed. The connector
// authenticates it (header <name>-signature); the engine then asks the rail (docs/engine.md).
void add_connector_callback_route(http::Router& router, engine::Engine& engine) {
  router.add("POST", "/connectors/:name/callback", "connector_callback",
             [&engine](http::Request&& request, http::Respond respond) {
               const std::string name(engine.connector().name());
               if (request.param("name").value_or("") != name) {
                 respond(callback_error(404, "NotFound", "no such connector"));
                 return;
               }
               std::string signature(request.header(name + "-signature").value_or(""));
               engine.handle_callback_async(
                   std::move(request.body), std::move(signature), [respond](Status status) {
                     switch (status.kind()) {
                       case ErrorKind::kOk: {
                         http::Response response;
                         response.status = 204;
                         respond(std::move(response));
                         return;
                       }
                       case ErrorKind::kUnauthenticated:
                         respond(callback_error(401, "Unauthorized", status.message()));
                         return;
                       case ErrorKind::kInvalidArgument:
                         respond(callback_error(400, "BadRequest", status.message()));
                         return;
                       case ErrorKind::kNotFound:
                         respond(callback_error(404, "NotFound", "Payout not found"));
                         return;
                       default:
                         respond(callback_error(503, "ServiceUnavailable",
                                                "Service temporarily unavailable; retry"));
                         return;
                     }
                   });
             });
}

// GET /ready: readiness for a load balancer. /status says the process answers; /ready says it
// can also reach its database (several nodes on one PostgreSQL: a node cut off from the database
// should get no traffic). No authentication; the reason is not shown (it may name hosts).
void add_readiness_route(http::Router& router, commands::Commands& commands) {
  router.add("GET", "/ready", "ready", [&commands](http::Request&&, http::Respond respond) {
    const Status database = commands.check_database();
    http::Response response;
    if (database.is_ok()) {
      response.body = "{\"status\":\"ready\"}";
    } else {
      response.status = 503;
      response.body = "{\"status\":\"unavailable\",\"reason\":\"database\"}";
    }
    respond(std::move(response));
  });
}

}  // namespace

void register_routes(http::Router& router, RouteContext& context) {
  http::add_builtin_routes(router, context.metrics, context.version, context.status_warning);
  add_readiness_route(router, context.commands);
  api::openapi::register_routes(router);
  if (context.engine != nullptr) add_connector_callback_route(router, *context.engine);

  api::cashouts_v3::CashoutsV3Options v3_options;
  v3_options.brand = context.settings.brand;
  v3_options.rate_limit.per_second = context.settings.v3_rate_limit_per_second;
  v3_options.rate_limit.burst = context.settings.v3_rate_limit_burst;
  if (context.test_clock != nullptr) {
    v3_options.rate_limit_clock = [clock = context.test_clock] { return clock->now_micros(); };
  }
  auto v3 = std::make_shared<api::cashouts_v3::Context>(context.commands, std::move(v3_options));
  api::cashouts_v3::register_routes(router, *v3);
  context.dialect_state.push_back(std::move(v3));

  context.dialect_state.push_back(api::payouts_v1::install(
      router, context.commands,
      api::payouts_v1::options_with_token_ttls(context.settings.v1_access_token_ttl_seconds,
                                               context.settings.v1_refresh_token_ttl_seconds)));
}

http::ErrorResponder error_responder(const config::Settings& settings) {
  return [brand = settings.brand](int status, std::string_view path) {
    if (api::cashouts_v3::is_v3_path(path)) {
      return api::cashouts_v3::error_response(status, path, brand);
    }
    return http::default_error_response(status, path);
  };
}

}  // namespace payoutd::cli
