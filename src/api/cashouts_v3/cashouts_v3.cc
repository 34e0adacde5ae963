#include "api/cashouts_v3/cashouts_v3.h"

#include <spdlog/spdlog.h>

#include <optional>
#include <utility>
#include <variant>

#include "api/cashouts_v3/validation.h"
#include "json/value.h"
#include "json/writer.h"

namespace payoutd::api::cashouts_v3 {
namespace {

using commands::PayoutWithEvents;

// Which endpoint answers: it decides the code of an unexpected failure (703 for create, 702 for
// cancel, payoutd's 500 for the status endpoints, which the spec gives none).
enum class Endpoint : uint8_t { kCreate = 0, kStatus, kUpdateStatus, kCancel };

std::string_view endpoint_name(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::kCreate:
      return "create";
    case Endpoint::kStatus:
      return "status";
    case Endpoint::kUpdateStatus:
      return "status update";
    case Endpoint::kCancel:
      return "cancel";
  }
  return "?";
}

// An error the client cannot cause (database unavailable, a bug): logged with the request id so
// an operator can find it, answered with the endpoint's generic code.
http::Response unexpected(Endpoint endpoint, const Status& status, const std::string& request_id) {
  spdlog::error("cashouts v3 {}: {} (request_id {})", endpoint_name(endpoint), status.to_string(),
                request_id);
  switch (endpoint) {
    case Endpoint::kCreate:
      return error_response_for(could_not_create_error());
    case Endpoint::kCancel:
      return error_response_for(could_not_cancel_error());
    case Endpoint::kStatus:
    case Endpoint::kUpdateStatus:
      break;
  }
  return error_response_for(internal_error());
}

http::Response respond_error(const WireError& error) { return error_response_for(error); }

// A request that passed every check before field validation.
struct Authenticated {
  json::Value body;
  commands::V3Principal principal;
};

// The checks every endpoint shares, in the spec's order. Either the authenticated request or the
// response refusing it.
std::variant<Authenticated, http::Response> authenticate(Context& context,
                                                          const http::Request& request,
                                                          Endpoint endpoint) {
  Result<json::Value> parsed = json::parse(request.body);
  if (!parsed.is_ok() || !parsed->is_object()) return respond_error(invalid_body_error());

  std::optional<Credentials> credentials = read_credentials(*parsed);
  if (!credentials) return respond_error(invalid_credentials_error());
  Result<commands::V3Admission> admission = context.gate.admit(commands::V3Request{
      credentials->login, credentials->pass, request.body, request.header("payload-signature"),
      request.remote_address});
  if (!admission.is_ok()) return unexpected(endpoint, admission.status(), request.request_id);
  switch (admission->refusal) {
    case commands::V3Refusal::kNone:
      break;
    case commands::V3Refusal::kInvalidCredentials:
      return respond_error(invalid_credentials_error());
    case commands::V3Refusal::kInvalidSignature:
      return respond_error(invalid_signature_error());
    case commands::V3Refusal::kUnregisteredIp:
      return respond_error(unregistered_ip_error());
    case commands::V3Refusal::kMerchantDisabled:
      return respond_error(merchant_disabled_error());
    case commands::V3Refusal::kRateLimited: {
      http::Response response = respond_error(too_many_requests_error());
      response.headers.emplace_back("Retry-After", std::to_string(admission->retry_after_seconds));
      return response;
    }
  }
  PAYOUTD_ASSERT(admission->principal.has_value());
  return Authenticated{std::move(parsed).value(), std::move(*admission->principal)};
}

// ---- Result mapping (domain Status -> v3 wire) ----

http::Response map_create_result(const Result<PayoutWithEvents>& result,
                                 const std::string& request_id) {
  if (result.is_ok()) return ok_response(created_body(result->payout.cashout_id));
  const Status& status = result.status();
  switch (status.kind()) {
    case ErrorKind::kAlreadyExists:
      return respond_error(external_id_used_error());
    case ErrorKind::kInsufficientFunds:
      return respond_error(insufficient_funds_error());
    case ErrorKind::kNotFound:
      // The merchant authenticated a moment ago, so what is missing is a wallet in the currency.
      return respond_error(WireError{412, kCodeInvalidCurrency, "Invalid currency"});
    case ErrorKind::kInvalidArgument:
      if (status.field() == "currency") {
        return respond_error(WireError{412, kCodeInvalidCurrency, "Invalid currency"});
      }
      return respond_error(validation_error(status));
    case ErrorKind::kLimitExceeded:
      if (status.detail_code() == commands::kLimitMinimumAmount) {
        return respond_error(WireError{412, kCodeMinimumAmount, status.message()});
      }
      return respond_error(WireError{412, kCodeLimitExceeded, "Limit exceeded: TRANSACTION"});
    case ErrorKind::kDisabled:  // disabled between authentication and the commit
      return respond_error(merchant_disabled_error());
    default:
      return unexpected(Endpoint::kCreate, status, request_id);
  }
}

// The status a kInvalidTransition refusal says the payout is in, when it says one.
std::optional<PayoutStatus> current_status_of(const Status& status) {
  std::optional<int> code = status.detail_code();
  if (!code || *code < 0 || *code >= kPayoutStatusCount) return std::nullopt;
  return static_cast<PayoutStatus>(*code);
}

std::string cancelled_body(const Payout& payout) {
  const V3Status v3 = v3_status(payout.status);
  json::Writer writer;
  writer.begin_object();
  writer.key("cashout_status");
  writer.integer(v3.code);
  writer.key("cashout_status_description");
  writer.string(v3.description);
  writer.end_object();
  return writer.take();
}

// ---- Handlers ----

void handle_create(Context& context, const http::Request& request, const http::Respond& respond) {
  auto checked = authenticate(context, request, Endpoint::kCreate);
  if (auto* refusal = std::get_if<http::Response>(&checked)) {
    respond(std::move(*refusal));
    return;
  }
  Authenticated& authenticated = std::get<Authenticated>(checked);
  const Merchant& merchant = authenticated.principal.merchant;
  Result<commands::CreatePayoutInput> input = parse_create_request(
      authenticated.body, merchant.id, !merchant.notification_url.empty());
  if (!input.is_ok()) {
    respond(respond_error(validation_error(input.status())));
    return;
  }
  // Answered from the store's writer thread once the commit is durable.
  context.commands.create_payout_async(
      std::move(input).value(),
      [respond, request_id = request.request_id](Result<PayoutWithEvents> result) {
        respond(map_create_result(result, request_id));
      });
}

void handle_status(Context& context, const http::Request& request, const http::Respond& respond) {
  auto checked = authenticate(context, request, Endpoint::kStatus);
  if (auto* refusal = std::get_if<http::Response>(&checked)) {
    respond(std::move(*refusal));
    return;
  }
  Authenticated& authenticated = std::get<Authenticated>(checked);
  Result<StatusRequest> parsed = parse_status_request(authenticated.body);
  if (!parsed.is_ok()) {
    respond(respond_error(validation_error(parsed.status())));
    return;
  }
  const PayoutRef ref = parsed->cashout_id ? PayoutRef::by_cashout_id(*parsed->cashout_id)
                                           : PayoutRef::by_external_id(*parsed->external_id);
  Result<PayoutWithEvents> payout =
      context.commands.get_payout(authenticated.principal.merchant.id, ref);
  if (!payout.is_ok()) {
    if (payout.status().kind() == ErrorKind::kNotFound) {
      respond(respond_error(not_found_error()));
    } else {
      respond(unexpected(Endpoint::kStatus, payout.status(), request.request_id));
    }
    return;
  }
  // Both given: they must name the same cashout.
  if (parsed->cashout_id && parsed->external_id &&
      payout->payout.external_id != *parsed->external_id) {
    respond(respond_error(not_found_error()));
    return;
  }
  respond(ok_response(status_body(payout->payout)));
}

void handle_update_status(Context& context, const http::Request& request,
                          const http::Respond& respond) {
  auto checked = authenticate(context, request, Endpoint::kUpdateStatus);
  if (auto* refusal = std::get_if<http::Response>(&checked)) {
    respond(std::move(*refusal));
    return;
  }
  Authenticated& authenticated = std::get<Authenticated>(checked);
  Result<UpdateStatusRequest> parsed = parse_update_status_request(authenticated.body);
  if (!parsed.is_ok()) {
    respond(respond_error(validation_error(parsed.status())));
    return;
  }
  const int64_t merchant_id = authenticated.principal.merchant.id;
  const PayoutRef ref = PayoutRef::by_cashout_id(parsed->cashout_id);
  Result<PayoutWithEvents> current = context.commands.get_payout(merchant_id, ref);
  if (!current.is_ok()) {
    if (current.status().kind() == ErrorKind::kNotFound) {
      respond(respond_error(not_found_error()));
    } else {
      respond(unexpected(Endpoint::kUpdateStatus, current.status(), request.request_id));
    }
    return;
  }
  const int wanted = requested_v3_code(parsed->status);
  if (v3_status(current->payout.status).code == wanted) {  // the same status again: a no-op
    respond(ok_response(status_body(current->payout)));
    return;
  }

  commands::TransitionInput transition;
  transition.merchant_id = merchant_id;
  transition.ref = ref;
  transition.actor = Actor::kClient;
  transition.read_back = false;  // the answer is the status alone
  if (parsed->status == RequestedStatus::kOnHold) {
    transition.to = PayoutStatus::kOnHold;
  } else {
    // PENDING releases a hold (on_hold -> queued) and nothing else.
    transition.to = PayoutStatus::kQueued;
    transition.expected_from = PayoutStatus::kOnHold;
  }
  context.commands.transition_async(
      std::move(transition),
      [respond, wanted, request_id = request.request_id](Result<PayoutWithEvents> result) {
        if (result.is_ok()) {
          respond(ok_response(status_body(result->payout)));
          return;
        }
        const Status& status = result.status();
        switch (status.kind()) {
          case ErrorKind::kInvalidTransition: {
            // A concurrent request may have made the same move first: then this one is the
            // no-op the spec promises, not an error.
            std::optional<PayoutStatus> now = current_status_of(status);
            if (now && v3_status(*now).code == wanted) {
              Payout payout;
              payout.status = *now;
              respond(ok_response(status_body(payout)));
            } else {
              respond(respond_error(invalid_transition_error(400)));
            }
            return;
          }
          case ErrorKind::kNotFound:
            respond(respond_error(not_found_error()));
            return;
          default:
            respond(unexpected(Endpoint::kUpdateStatus, status, request_id));
            return;
        }
      });
}

void handle_cancel(Context& context, const http::Request& request, const http::Respond& respond) {
  auto checked = authenticate(context, request, Endpoint::kCancel);
  if (auto* refusal = std::get_if<http::Response>(&checked)) {
    respond(std::move(*refusal));
    return;
  }
  Authenticated& authenticated = std::get<Authenticated>(checked);
  Result<CancelRequest> parsed = parse_cancel_request(authenticated.body);
  if (!parsed.is_ok()) {
    respond(respond_error(validation_error(parsed.status())));
    return;
  }
  const int64_t merchant_id = authenticated.principal.merchant.id;
  const PayoutRef ref = PayoutRef::by_cashout_id(parsed->cashout_id);
  // One write op decides it all, without a read before it: the payout of this merchant with both
  // ids (else not found, nothing written), then the transition table, which allows a client
  // cancel exactly where v3 shows Pending (0) or On hold (5) and refuses the rest (412).
  commands::TransitionInput cancel;
  cancel.merchant_id = merchant_id;
  cancel.ref = ref;
  cancel.to = PayoutStatus::kCancelled;
  cancel.actor = Actor::kClient;
  cancel.read_back = false;  // the answer is the status alone
  cancel.expected_external_id = parsed->external_id;
  context.commands.transition_async(
      std::move(cancel),
      [respond, request_id = request.request_id](Result<PayoutWithEvents> result) {
        if (result.is_ok()) {
          respond(ok_response(cancelled_body(result->payout)));
          return;
        }
        const Status& status = result.status();
        switch (status.kind()) {
          case ErrorKind::kInvalidTransition:
            respond(respond_error(invalid_transition_error(412)));
            return;
          case ErrorKind::kNotFound:
            respond(respond_error(not_found_error()));
            return;
          default:
            respond(unexpected(Endpoint::kCancel, status, request_id));
            return;
        }
      });
}

}  // namespace

void register_routes(http::Router& router, Context& context) {
  router.add("POST", "/v3/cashout", "v3_cashout_create",
             [&context](http::Request&& request, http::Respond respond) {
               handle_create(context, request, respond);
             });
  router.add("POST", "/v3/cashout/status", "v3_cashout_status",
             [&context](http::Request&& request, http::Respond respond) {
               handle_status(context, request, respond);
             });
  router.add("PUT", "/v3/cashout/status", "v3_cashout_status_update",
             [&context](http::Request&& request, http::Respond respond) {
               handle_update_status(context, request, respond);
             });
  router.add("DELETE", "/v3/cashout/cancel", "v3_cashout_cancel",
             [&context](http::Request&& request, http::Respond respond) {
               handle_cancel(context, request, respond);
             });
}

}  // namespace payoutd::api::cashouts_v3
