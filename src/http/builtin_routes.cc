// GET /status and GET /metrics (operations.md: "Endpoints besides the dialects").
#include <string>
#include <utility>

#include "http/server.h"

namespace payoutd::http {

void add_builtin_routes(Router& router, Metrics& metrics, std::string version,
                        std::string_view warning) {
  std::string status_body = "{\"status\":\"ok\",\"version\":\"";
  append_json_escaped(status_body, version);
  if (!warning.empty()) {
    status_body += "\",\"warning\":\"";
    append_json_escaped(status_body, warning);
  }
  status_body += "\"}";
  router.add("GET", "/status", "status",
             [status_body = std::move(status_body)](Request&&, Respond respond) {
               Response response;
               response.body = status_body;
               respond(std::move(response));
             });
  router.add("GET", "/metrics", "metrics", [&metrics](Request&&, Respond respond) {
    Response response;
    response.content_type = std::string(Metrics::kContentType);
    response.body = metrics.render();
    respond(std::move(response));
  });
}

}  // namespace payoutd::http
