#include "api/payouts_v1/webhooks.h"

#include <utility>

#include "api/payouts_v1/validation.h"
#include "api/payouts_v1/wire.h"
#include "core/time_format.h"
#include "json/writer.h"

namespace payoutd::api::payouts_v1 {
namespace {

void write_endpoint(json::Writer& writer, const WebhookEndpoint& endpoint,
                    const std::string* secret) {
  writer.begin_object();
  writer.key("id");
  writer.string(endpoint.public_id);
  writer.key("url");
  writer.string(endpoint.url);
  writer.key("events");
  writer.begin_array();
  for (const std::string& event : endpoint.events) writer.string(event);
  writer.end_array();
  if (secret != nullptr) {
    writer.key("secret");
    writer.string(*secret);
  }
  writer.key("created_at");
  writer.string(format_rfc3339(endpoint.created_at));
  writer.end_object();
}

http::Response endpoint_not_found() {
  return error_response(404, "NotFound", "Webhook endpoint not found");
}

// The refusal of a command's validation as the dialect's 400 with details.
http::Response invalid(const Status& status) {
  return validation_error_response({FieldError{status.field(), status.message()}});
}

}  // namespace

void handle_webhook_create(Context& context, const Merchant& merchant, http::Request&& request,
                           http::Respond respond) {
  Validated<WebhookCreateRequest> parsed = parse_webhook_create_request(request.body);
  if (!parsed.ok()) {
    respond(validation_or_body_error(parsed.errors, parsed.body_error));
    return;
  }
  context.commands.create_webhook_endpoint_async(
      merchant.id, std::move(parsed.value->url), std::move(parsed.value->events),
      [respond, request_id = request.request_id](
          Result<commands::CreatedWebhookEndpoint> created) {
        if (!created.is_ok()) {
          if (created.status().kind() == ErrorKind::kInvalidArgument) {
            respond(invalid(created.status()));
          } else {
            respond(log_unexpected("webhook create", created.status(), request_id));
          }
          return;
        }
        json::Writer writer;
        write_endpoint(writer, created->endpoint, &created->secret);
        http::Response response = json_response(201, writer.take());
        response.headers.emplace_back("Cache-Control", "no-store");  // carries the secret
        respond(std::move(response));
      });
}

void handle_webhook_list(Context& context, const Merchant& merchant, http::Request&& request,
                         http::Respond respond) {
  Result<std::vector<WebhookEndpoint>> endpoints =
      context.commands.list_webhook_endpoints(merchant.id);
  if (!endpoints.is_ok()) {
    respond(log_unexpected("webhook list", endpoints.status(), request.request_id));
    return;
  }
  json::Writer writer;
  writer.begin_array();
  for (const WebhookEndpoint& endpoint : *endpoints) write_endpoint(writer, endpoint, nullptr);
  writer.end_array();
  respond(json_response(200, writer.take()));
}

void handle_webhook_delete(Context& context, const Merchant& merchant, http::Request&& request,
                           http::Respond respond) {
  std::string id(request.param("id").value_or(""));
  context.commands.delete_webhook_endpoint_async(
      merchant.id, id,
      [respond, id, request_id = request.request_id](Result<bool> deleted) {
        if (!deleted.is_ok()) {
          if (deleted.status().kind() == ErrorKind::kNotFound) {
            respond(endpoint_not_found());
          } else {
            respond(log_unexpected("webhook delete", deleted.status(), request_id));
          }
          return;
        }
        json::Writer writer;
        writer.begin_object();
        writer.key("id");
        writer.string(id);
        writer.key("deleted");
        writer.boolean(true);
        writer.end_object();
        respond(json_response(200, writer.take()));
      });
}

void handle_webhook_deliveries(Context& context, const Merchant& merchant,
                               http::Request&& request, http::Respond respond) {
  Result<WebhookEndpoint> endpoint =
      context.commands.get_webhook_endpoint(merchant.id, request.param("id").value_or(""));
  if (!endpoint.is_ok()) {
    if (endpoint.status().kind() == ErrorKind::kNotFound) {
      respond(endpoint_not_found());
    } else {
      respond(log_unexpected("webhook deliveries", endpoint.status(), request.request_id));
    }
    return;
  }
  Validated<DeliveryAttemptQuery> parsed = parse_delivery_list_query(request.query);
  if (!parsed.ok()) {
    respond(validation_error_response(parsed.errors, "Invalid query parameters"));
    return;
  }
  parsed.value->endpoint_id = endpoint->id;
  Result<DeliveryAttemptPage> page = context.commands.list_deliveries(*parsed.value);
  if (!page.is_ok()) {
    respond(log_unexpected("webhook deliveries", page.status(), request.request_id));
    return;
  }
  json::Writer writer;
  writer.reserve(200 * page->items.size() + 2);
  writer.begin_array();
  for (const DeliveryAttempt& attempt : page->items) {
    writer.begin_object();
    writer.key("id");
    writer.integer(attempt.id);
    writer.key("event_id");
    writer.string(attempt.event_id);
    writer.key("attempt");
    writer.integer(attempt.attempt);
    writer.key("attempted_at");
    writer.string(format_rfc3339(attempt.started_at));
    writer.key("result");
    writer.string(delivery_result_name(attempt.result));
    writer.key("http_status");
    if (attempt.http_status) {
      writer.integer(*attempt.http_status);
    } else {
      writer.null();
    }
    writer.key("latency_ms");
    writer.integer(attempt.latency_ms);
    writer.key("error");
    if (attempt.error.empty()) {
      writer.null();
    } else {
      writer.string(attempt.error);
    }
    writer.end_object();
  }
  writer.end_array();
  http::Response response = json_response(200, writer.take());
  add_paging_headers(response, parsed.value->page, parsed.value->limit, page->total_count);
  respond(std::move(response));
}

void handle_webhook_redeliver(Context& context, const Merchant& merchant,
                              http::Request&& request, http::Respond respond) {
  std::string event_id(request.param("event_id").value_or(""));
  context.commands.redeliver_event_async(
      merchant.id, event_id, std::string("v1"),
      [respond, event_id, request_id = request.request_id](Result<int64_t> requeued) {
        if (!requeued.is_ok()) {
          if (requeued.status().kind() == ErrorKind::kNotFound) {
            respond(error_response(404, "NotFound", "Event not found"));
          } else {
            respond(log_unexpected("webhook redeliver", requeued.status(), request_id));
          }
          return;
        }
        json::Writer writer;
        writer.begin_object();
        writer.key("event_id");
        writer.string(event_id);
        writer.key("requeued");
        writer.integer(*requeued);
        writer.end_object();
        respond(json_response(202, writer.take()));
      });
}

}  // namespace payoutd::api::payouts_v1
