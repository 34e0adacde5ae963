#include "cli/routes.h"

#include "api/cashouts_v3/cashouts_v3.h"
#include "api/payouts_v1/payouts_v1.h"
#include "http/server.h"

namespace payoutd::cli {

void register_routes(http::Router& router, RouteContext& context) {
  http::add_builtin_routes(router, context.metrics, context.version);

  api::cashouts_v3::CashoutsV3Options v3_options;
  v3_options.brand = context.settings.brand;
  v3_options.rate_limit.per_second = context.settings.v3_rate_limit_per_second;
  v3_options.rate_limit.burst = context.settings.v3_rate_limit_burst;
  auto v3 = std::make_shared<api::cashouts_v3::Context>(context.commands, std::move(v3_options));
  api::cashouts_v3::register_routes(router, *v3);
  context.dialect_state.push_back(std::move(v3));

  context.dialect_state.push_back(api::payouts_v1::install(
      router, context.commands,
      api::payouts_v1::options_with_token_ttls(context.settings.v1_access_token_ttl_seconds,
                                               context.settings.v1_refresh_token_ttl_seconds),
      context.engine));
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
