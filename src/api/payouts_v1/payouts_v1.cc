#include "api/payouts_v1/payouts_v1.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include "api/payouts_v1/validation.h"
#include "api/payouts_v1/webhooks.h"
#include "api/payouts_v1/wire.h"
#include "core/ids.h"
#include "core/time_format.h"
#include "json/value.h"
#include "json/writer.h"

namespace payoutd::api::payouts_v1 {
namespace {

using commands::PayoutWithEvents;
using commands::ProcessingCancel;
using commands::ProcessingCancelResult;


// ---- Responses shared by several endpoints ----

// The /auth endpoints use the snake_case error names of the spec's authentication section.
http::Response auth_error(int status, std::string_view name, std::string_view message) {
  http::Response response = error_response(status, name, message);
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

// ---- Authentication ----

// The token of "Authorization: Bearer <token>" (scheme case-insensitive); nullopt otherwise.
std::optional<std::string_view> bearer_token(const http::Request& request) {
  std::optional<std::string_view> header = request.header("authorization");
  if (!header) return std::nullopt;
  std::string_view value = *header;
  constexpr std::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    char c = value[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kScheme[i]) return std::nullopt;
  }
  value.remove_prefix(kScheme.size());
  if (value.front() != ' ') return std::nullopt;
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  return value;
}

// The merchant behind the request's access token, or the response refusing it.
std::variant<Merchant, http::Response> authenticate(Context& context,
                                                    const http::Request& request) {
  std::optional<std::string_view> token = bearer_token(request);
  if (!token) return unauthorized_response();
  Result<Merchant> merchant = context.commands.authenticate_api_token(*token);
  if (!merchant.is_ok()) {
    if (merchant.status().kind() == ErrorKind::kUnauthenticated) return unauthorized_response();
    return log_unexpected("authentication", merchant.status(), request.request_id);
  }
  if (merchant->status != MerchantStatus::kActive) return merchant_disabled_response();
  return std::move(merchant).value();
}

using AuthenticatedHandler =
    std::function<void(Context&, const Merchant&, http::Request&&, http::Respond)>;

// Wraps a handler that needs a live access token of an active merchant.
http::Handler with_bearer(Context& context, AuthenticatedHandler handler) {
  return [&context, handler = std::move(handler)](http::Request&& request, http::Respond respond) {
    std::variant<Merchant, http::Response> who = authenticate(context, request);
    if (auto* refused = std::get_if<http::Response>(&who)) {
      respond(std::move(*refused));
      return;
    }
    handler(context, std::get<Merchant>(who), std::move(request), std::move(respond));
  };
}

std::string tokens_json(const commands::IssuedApiTokens& tokens) {
  json::Writer writer;
  writer.begin_object();
  writer.key("access_token");
  writer.string(tokens.access_token);
  writer.key("refresh_token");
  writer.string(tokens.refresh_token);
  writer.key("access_expires_at");
  writer.string(format_rfc3339(tokens.access_expires_at));
  writer.key("refresh_expires_at");
  writer.string(format_rfc3339(tokens.refresh_expires_at));
  writer.key("client_id");
  writer.integer(tokens.merchant_id);
  writer.end_object();
  return writer.take();
}

http::Response tokens_response(const commands::IssuedApiTokens& tokens) {
  http::Response response = json_response(200, tokens_json(tokens));
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

// The string member `key` of a JSON object body, when it is a non-empty string.
std::optional<std::string> credential_member(const json::Value& body, std::string_view key) {
  const json::Value* value = body.find(key);
  if (value == nullptr || !value->is_string() || value->as_string().empty()) return std::nullopt;
  return value->as_string();
}

void handle_login(Context& context, http::Request&& request, http::Respond respond) {
  const http::Response missing =
      auth_error(400, "validation_error", "Username and password are required");
  Result<json::Value> body = json::parse(request.body);
  if (!body.is_ok() || !body->is_object()) {
    respond(http::Response(missing));
    return;
  }
  std::optional<std::string> username = credential_member(*body, "username");
  std::optional<std::string> password = credential_member(*body, "password");
  if (!username || !password) {
    respond(http::Response(missing));
    return;
  }
  Result<commands::V1LoginAdmission> admission = context.login_gate.admit(
      commands::V1LoginRequest{*username, *password, request.remote_address});
  if (!admission.is_ok()) {
    respond(log_unexpected("login", admission.status(), request.request_id));
    return;
  }
  switch (admission->refusal) {
    case commands::V1LoginRefusal::kNone:
      break;
    case commands::V1LoginRefusal::kThrottled: {
      http::Response response = auth_error(429, "too_many_requests", "Too many login attempts");
      response.headers.emplace_back("Retry-After", std::to_string(admission->retry_after_seconds));
      respond(std::move(response));
      return;
    }
    case commands::V1LoginRefusal::kInvalidCredentials:
      respond(auth_error(401, "unauthorized", "Invalid credentials"));
      return;
    case commands::V1LoginRefusal::kMerchantDisabled:
      respond(auth_error(403, "forbidden", "Account is disabled"));
      return;
  }
  PAYOUTD_ASSERT(admission->merchant.has_value());
  const Merchant& merchant = *admission->merchant;
  context.commands.issue_api_tokens_async(
      merchant.id, context.options.token_lifetimes,
      [respond, request_id = request.request_id](Result<commands::IssuedApiTokens> issued) {
        if (issued.is_ok()) {
          respond(tokens_response(*issued));
        } else if (issued.status().kind() == ErrorKind::kDisabled) {
          respond(auth_error(403, "forbidden", "Account is disabled"));
        } else {
          respond(log_unexpected("login", issued.status(), request_id));
        }
      });
}

void handle_refresh(Context& context, http::Request&& request, http::Respond respond) {
  Result<json::Value> body = json::parse(request.body);
  std::optional<std::string> token;
  if (body.is_ok() && body->is_object()) token = credential_member(*body, "refresh_token");
  if (!token) {
    respond(auth_error(400, "validation_error", "Refresh token is required"));
    return;
  }
  context.commands.refresh_api_tokens_async(
      std::move(*token), context.options.token_lifetimes,
      [respond, request_id = request.request_id](Result<commands::ApiTokenRefresh> refreshed) {
        const http::Response invalid = auth_error(401, "unauthorized", "Invalid refresh token");
        if (refreshed.is_ok()) {
          if (refreshed->tokens) {
            respond(tokens_response(*refreshed->tokens));
          } else {
            // A rotated-out token came back: its family is revoked now (reuse detection).
            spdlog::warn("payouts v1 refresh: a rotated-out refresh token was presented; its "
                         "token family is revoked (request_id {})",
                         request_id);
            respond(http::Response(invalid));
          }
          return;
        }
        switch (refreshed.status().kind()) {
          case ErrorKind::kUnauthenticated:
            respond(http::Response(invalid));
            return;
          case ErrorKind::kDisabled:
            respond(auth_error(403, "forbidden", "Account is disabled"));
            return;
          default:
            respond(log_unexpected("refresh", refreshed.status(), request_id));
            return;
        }
      });
}

void handle_logout(Context& context, const Merchant& merchant, http::Request&& request,
                   http::Respond respond) {
  context.commands.revoke_api_tokens_async(
      merchant.id, [respond, request_id = request.request_id](Result<int64_t> revoked) {
        if (!revoked.is_ok()) {
          respond(log_unexpected("logout", revoked.status(), request_id));
          return;
        }
        http::Response response = json_response(200, "{\"message\":\"Successfully logged out\"}");
        response.headers.emplace_back("Cache-Control", "no-store");
        respond(std::move(response));
      });
}

// ---- Payouts ----

http::Response map_create_failure(const Status& status, const std::string& request_id) {
  switch (status.kind()) {
    case ErrorKind::kConflict:
      if (status.detail_code() == commands::kConflictIdempotencyKey) {
        return error_response(409, "Conflict",
                              "Idempotency-Key already used with a different request");
      }
      return error_response(409, "Conflict",
                            "reference_id already used with a different request");
    case ErrorKind::kInsufficientFunds:
      return error_response(400, "BadRequest", "insufficient wallet balance");
    case ErrorKind::kNotFound:
      return wallet_not_found_response();
    case ErrorKind::kDisabled:
      return merchant_disabled_response();
    case ErrorKind::kLimitExceeded:
      return validation_error_response({FieldError{"amount", status.message()}});
    case ErrorKind::kInvalidArgument: {
      std::string field = status.field() == "external_id" ? "reference_id" : status.field();
      if (field.empty()) field = "body";
      return validation_error_response({FieldError{field, status.message()}});
    }
    default:
      return log_unexpected("create", status, request_id);
  }
}

void handle_create(Context& context, const Merchant& merchant, http::Request&& request,
                   http::Respond respond) {
  Validated<commands::CreatePayoutInput> parsed = parse_create_request(request.body, merchant.id);
  std::optional<commands::IdempotencyKeyInput> key;
  if (std::optional<std::string_view> header = request.header("idempotency-key")) {
    if (std::optional<FieldError> error = check_idempotency_key(*header)) {
      parsed.errors.push_back(std::move(*error));
      parsed.value.reset();
    } else if (parsed.ok()) {
      key = commands::IdempotencyKeyInput{std::string(*header), parsed.value->request_fingerprint,
                                          context.options.idempotency_key_ttl_micros};
    }
  }
  if (!parsed.ok()) {
    respond(validation_or_body_error(parsed.errors, parsed.body_error));
    return;
  }
  if (key) {
    switch (context.in_flight_keys.claim(merchant.id, key->key)) {
      case InFlightKeys::Claim::kClaimed:
        break;
      case InFlightKeys::Claim::kBusy:
        respond(error_response(409, "Conflict",
                               "A request with this Idempotency-Key is still in progress"));
        return;
      case InFlightKeys::Claim::kFull:
        respond(unexpected_failure_response(Status::unavailable("too many requests in flight")));
        return;
    }
  }
  auto render = [](const PayoutWithEvents& payout, bool created) {
    return commands::RenderedResponse{created ? 201 : 200, payout_json(payout)};
  };
  std::optional<std::pair<int64_t, std::string>> claimed;
  if (key) claimed.emplace(merchant.id, key->key);
  context.commands.create_payout_idempotent_async(
      std::move(*parsed.value), std::move(key), render,
      [&context, respond, claimed = std::move(claimed),
       request_id = request.request_id](Result<commands::IdempotentCreateOutput> result) {
        if (claimed) context.in_flight_keys.release(claimed->first, claimed->second);
        if (!result.is_ok()) {
          respond(map_create_failure(result.status(), request_id));
          return;
        }
        http::Response response =
            json_response(result->response.status, std::move(result->response.body));
        if (result->kind == commands::IdempotentCreateKind::kKeyReplay) {
          response.headers.emplace_back("Idempotency-Replayed", "true");
        }
        respond(std::move(response));
      });
}

// A payout id from the path: blank -> "Payout ID is required"; anything that is not a pyt_ id
// cannot name a payout (404 without touching the database).
enum class PathId : uint8_t { kValid, kBlank, kUnknown };
PathId classify_payout_id(std::string_view id) {
  bool blank = true;
  for (char c : id) blank = blank && (c == ' ' || c == '\t');
  if (blank) return PathId::kBlank;
  return is_valid_public_id(id, kPayoutIdPrefix) ? PathId::kValid : PathId::kUnknown;
}

http::Response payout_id_required_response() {
  return error_response(400, "BadRequest", "Payout ID is required");
}

// The answer to a path id that cannot name a payout (400 blank, 404 malformed); nullopt when it
// may name one.
std::optional<http::Response> refuse_path_id(std::string_view id) {
  switch (classify_payout_id(id)) {
    case PathId::kBlank:
      return payout_id_required_response();
    case PathId::kUnknown:
      return payout_not_found_response();
    case PathId::kValid:
      break;
  }
  return std::nullopt;
}

void handle_get(Context& context, const Merchant& merchant, http::Request&& request,
                http::Respond respond) {
  const std::string id(request.param("id").value_or(""));
  if (std::optional<http::Response> refused = refuse_path_id(id)) {
    respond(std::move(*refused));
    return;
  }
  Result<PayoutWithEvents> payout =
      context.commands.get_payout(merchant.id, PayoutRef::by_public_id(id));
  if (!payout.is_ok()) {
    if (payout.status().kind() == ErrorKind::kNotFound) {
      respond(payout_not_found_response());
    } else {
      respond(log_unexpected("get", payout.status(), request.request_id));
    }
    return;
  }
  respond(json_response(200, payout_json(*payout)));
}

void handle_list(Context& context, const Merchant& merchant, http::Request&& request,
                 http::Respond respond) {
  Validated<PayoutListRequest> parsed = parse_payout_list_query(request.query, merchant.id);
  if (!parsed.ok()) {
    respond(validation_error_response(parsed.errors, "Invalid query parameters"));
    return;
  }
  const PayoutQuery& query = parsed.value->query;
  PayoutPage page;
  if (!parsed.value->empty_result) {
    Result<PayoutPage> listed = context.commands.list_payouts(query);
    if (!listed.is_ok()) {
      if (listed.status().kind() == ErrorKind::kInvalidArgument) {
        respond(validation_error_response({FieldError{listed.status().field(),
                                                      listed.status().message()}},
                                          "Invalid query parameters"));
      } else {
        respond(log_unexpected("list", listed.status(), request.request_id));
      }
      return;
    }
    page = std::move(listed).value();
  }
  http::Response response = json_response(200, payout_list_json(page.items));
  add_paging_headers(response, query.page, query.limit, page.total_count);
  respond(std::move(response));
}

// The answer to a refused cancel, in both the single and the bulk endpoint.
struct CancelRefusal {
  int status;
  std::string_view name;
  std::string_view message;
};

std::optional<CancelRefusal> cancel_refusal(const Status& status) {
  switch (status.kind()) {
    case ErrorKind::kNotFound:
      return CancelRefusal{404, "NotFound", "Payout not found"};
    case ErrorKind::kInvalidTransition:
      // processing reaches here only when no engine runs to ask the rail.
      if (status.detail_code() == static_cast<int>(PayoutStatus::kCompleted)) {
        return CancelRefusal{400, "BadRequest", "payout has already been completed"};
      }
      return CancelRefusal{400, "BadRequest", "payout cannot be cancelled in current status"};
    case ErrorKind::kDisabled:
      return CancelRefusal{403, "Forbidden", "Merchant account is disabled"};
    default:
      return std::nullopt;
  }
}

void handle_cancel(Context& context, const Merchant& merchant, http::Request&& request,
                   http::Respond respond) {
  const std::string id(request.param("id").value_or(""));
  if (std::optional<http::Response> refused = refuse_path_id(id)) {
    respond(std::move(*refused));
    return;
  }
  context.commands.merchant_cancel_async(
      merchant.id, PayoutRef::by_public_id(id),
      [respond, request_id = request.request_id](Result<ProcessingCancelResult> result) {
        if (!result.is_ok()) {
          if (std::optional<CancelRefusal> refusal = cancel_refusal(result.status())) {
            respond(error_response(refusal->status, refusal->name, refusal->message));
            return;
          }
          respond(log_unexpected("cancel", result.status(), request_id));
          return;
        }
        switch (result->outcome) {
          case ProcessingCancel::kCancelled:
            respond(json_response(200, payout_json(result->payout)));
            return;
          case ProcessingCancel::kRequested:
            respond(json_response(202, payout_json(result->payout)));
            return;
          case ProcessingCancel::kRefused:
            respond(error_response(400, "BadRequest",
                                   "payout cannot be cancelled in current status"));
            return;
        }
      });
}

// Collects the outcome of each cancel of a bulk request; answers when the last one is in.
class BulkCancel {
 public:
  BulkCancel(std::vector<std::string> ids, http::Respond respond, std::string request_id)
      : ids_(std::move(ids)),
        outcomes_(ids_.size()),
        remaining_(ids_.size()),
        respond_(std::move(respond)),
        request_id_(std::move(request_id)) {}

  const std::vector<std::string>& ids() const { return ids_; }
  const std::string& request_id() const { return request_id_; }

  void cancelled(size_t index, const Payout& payout) {
    finish(index, Outcome{true, amount_text(payout.total_minor, payout.currency), "", ""});
  }
  void failed(size_t index, std::string_view name, std::string_view message) {
    finish(index, Outcome{false, "", std::string(name), std::string(message)});
  }

  // For a request that names no payout at all.
  void answer_now() { respond_(json_response(200, body())); }

 private:
  struct Outcome {
    bool cancelled = false;
    std::string refund;  // exact amount text of total_amount
    std::string error;
    std::string message;
  };

  void finish(size_t index, Outcome outcome) {
    bool last = false;
    {
      std::lock_guard lock(mutex_);
      PAYOUTD_ASSERT(index < outcomes_.size() && !outcomes_[index].has_value());
      outcomes_[index] = std::move(outcome);
      last = --remaining_ == 0;
    }
    if (last) answer_now();
  }

  std::string body() {
    std::lock_guard lock(mutex_);
    json::Writer writer;
    writer.begin_object();
    writer.key("cancelled");
    writer.begin_array();
    for (size_t i = 0; i < outcomes_.size(); ++i) {
      if (!outcomes_[i] || !outcomes_[i]->cancelled) continue;
      writer.begin_object();
      writer.key("id");
      writer.string(ids_[i]);
      writer.key("refund");
      writer.raw_number(outcomes_[i]->refund);
      writer.end_object();
    }
    writer.end_array();
    writer.key("failed");
    writer.begin_array();
    for (size_t i = 0; i < outcomes_.size(); ++i) {
      if (!outcomes_[i] || outcomes_[i]->cancelled) continue;
      writer.begin_object();
      writer.key("id");
      writer.string(ids_[i]);
      writer.key("error");
      writer.string(outcomes_[i]->error);
      writer.key("message");
      writer.string(outcomes_[i]->message);
      writer.end_object();
    }
    writer.end_array();
    writer.end_object();
    return writer.take();
  }

  const std::vector<std::string> ids_;
  std::mutex mutex_;
  std::vector<std::optional<Outcome>> outcomes_;  // guarded by mutex_
  size_t remaining_;                              // guarded by mutex_
  http::Respond respond_;
  const std::string request_id_;
};

void handle_bulk_cancel(Context& context, const Merchant& merchant, http::Request&& request,
                        http::Respond respond) {
  Validated<BulkCancelRequest> parsed = parse_bulk_cancel_request(request.body);
  if (!parsed.ok()) {
    respond(validation_or_body_error(parsed.errors, parsed.body_error));
    return;
  }
  std::vector<std::string> ids = std::move(parsed.value->ids);
  if (parsed.value->statuses) {
    // Every payout of the caller in that status, oldest first, at most kMaxBulkByStatus.
    PayoutQuery query;
    query.merchant_id = merchant.id;
    query.statuses = parsed.value->statuses;
    query.sort_key = PayoutSortKey::kCreatedAt;
    query.descending = false;
    query.limit = kMaxBulkByStatus;
    Result<PayoutPage> listed = context.commands.list_payouts(query);
    if (!listed.is_ok()) {
      respond(log_unexpected("bulk cancel", listed.status(), request.request_id));
      return;
    }
    for (const Payout& payout : listed->items) ids.push_back(payout.public_id);
  }
  auto bulk = std::make_shared<BulkCancel>(std::move(ids), std::move(respond), request.request_id);
  if (bulk->ids().empty()) {
    bulk->answer_now();
    return;
  }
  // Each cancel is its own write op (its own savepoint, refused or not on its own); the writer
  // may commit several in one batch.
  for (size_t i = 0; i < bulk->ids().size(); ++i) {
    const std::string& id = bulk->ids()[i];
    switch (classify_payout_id(id)) {
      case PathId::kBlank:
        bulk->failed(i, "BadRequest", "Payout ID is required");
        continue;
      case PathId::kUnknown:
        bulk->failed(i, "NotFound", "Payout not found");
        continue;
      case PathId::kValid:
        break;
    }
    context.commands.merchant_cancel_async(
        merchant.id, PayoutRef::by_public_id(id),
        [bulk, i](Result<ProcessingCancelResult> result) {
          if (result.is_ok()) {
            switch (result->outcome) {
              case ProcessingCancel::kCancelled:
                bulk->cancelled(i, result->payout.payout);
                return;
              case ProcessingCancel::kRequested:
                bulk->failed(i, "Accepted", "cancel requested; the connector answers later");
                return;
              case ProcessingCancel::kRefused:
                bulk->failed(i, "BadRequest", "payout cannot be cancelled in current status");
                return;
            }
          }
          if (std::optional<CancelRefusal> refusal = cancel_refusal(result.status())) {
            bulk->failed(i, refusal->name, refusal->message);
            return;
          }
          spdlog::error("payouts v1 bulk cancel: {} (request_id {})", result.status().to_string(),
                        bulk->request_id());
          if (result.status().kind() == ErrorKind::kUnavailable) {
            bulk->failed(i, "ServiceUnavailable", "Service temporarily unavailable; retry");
          } else {
            bulk->failed(i, "InternalServerError", "Internal server error");
          }
        });
  }
}

// ---- Wallets and transactions ----

void handle_wallet_list(Context& context, const Merchant& merchant, http::Request&& request,
                        http::Respond respond) {
  Validated<WalletQuery> parsed = parse_wallet_list_query(request.query, merchant.id);
  if (!parsed.ok()) {
    respond(validation_error_response(parsed.errors, "Invalid query parameters"));
    return;
  }
  Result<WalletPage> page = context.commands.list_wallets(*parsed.value);
  if (!page.is_ok()) {
    respond(log_unexpected("wallet list", page.status(), request.request_id));
    return;
  }
  http::Response response = json_response(200, wallet_list_json(page->items));
  add_paging_headers(response, parsed.value->page, parsed.value->limit, page->total_count);
  respond(std::move(response));
}

// The caller's wallet named by `id`, or the response refusing it (404 for another merchant's).
std::variant<Wallet, http::Response> caller_wallet(Context& context, const Merchant& merchant,
                                                   std::string_view id,
                                                   const std::string& request_id) {
  std::optional<int64_t> wallet_id = parse_positive_id(id);
  if (!wallet_id) return wallet_not_found_response();
  Result<Wallet> wallet = context.commands.get_wallet(merchant.id, *wallet_id);
  if (!wallet.is_ok()) {
    if (wallet.status().kind() == ErrorKind::kNotFound) return wallet_not_found_response();
    return log_unexpected("wallet", wallet.status(), request_id);
  }
  return std::move(wallet).value();
}

void handle_wallet_get(Context& context, const Merchant& merchant, http::Request&& request,
                       http::Respond respond) {
  std::variant<Wallet, http::Response> wallet =
      caller_wallet(context, merchant, request.param("id").value_or(""), request.request_id);
  if (auto* refused = std::get_if<http::Response>(&wallet)) {
    respond(std::move(*refused));
    return;
  }
  respond(json_response(200, wallet_json(std::get<Wallet>(wallet))));
}

void list_transactions(Context& context, const Merchant& merchant, const http::Request& request,
                       std::optional<int64_t> path_wallet_id, const http::Respond& respond) {
  Validated<WalletTransactionQuery> parsed =
      parse_transaction_list_query(request.query, merchant.id, path_wallet_id);
  if (!parsed.ok()) {
    respond(validation_error_response(parsed.errors, "Invalid query parameters"));
    return;
  }
  // The store answers another merchant's wallet with an empty page; the API says 404.
  if (parsed.value->wallet_id && !path_wallet_id) {
    std::variant<Wallet, http::Response> wallet = caller_wallet(
        context, merchant, std::to_string(*parsed.value->wallet_id), request.request_id);
    if (auto* refused = std::get_if<http::Response>(&wallet)) {
      respond(std::move(*refused));
      return;
    }
  }
  Result<WalletTransactionPage> page = context.commands.list_wallet_transactions(*parsed.value);
  if (!page.is_ok()) {
    if (page.status().kind() == ErrorKind::kInvalidArgument) {
      respond(validation_error_response(
          {FieldError{page.status().field(), page.status().message()}},
          "Invalid query parameters"));
    } else {
      respond(log_unexpected("transactions", page.status(), request.request_id));
    }
    return;
  }
  http::Response response = json_response(200, wallet_transaction_list_json(page->items));
  add_paging_headers(response, parsed.value->page, parsed.value->limit, page->total_count);
  respond(std::move(response));
}

void handle_wallet_transactions(Context& context, const Merchant& merchant,
                                http::Request&& request, http::Respond respond) {
  std::variant<Wallet, http::Response> wallet =
      caller_wallet(context, merchant, request.param("id").value_or(""), request.request_id);
  if (auto* refused = std::get_if<http::Response>(&wallet)) {
    respond(std::move(*refused));
    return;
  }
  list_transactions(context, merchant, request, std::get<Wallet>(wallet).id, respond);
}

void handle_transactions(Context& context, const Merchant& merchant, http::Request&& request,
                         http::Respond respond) {
  list_transactions(context, merchant, request, std::nullopt, respond);
}

}  // namespace

InFlightKeys::Claim InFlightKeys::claim(int64_t merchant_id, const std::string& key) {
  std::lock_guard lock(mutex_);
  if (keys_.size() >= kMaxKeys) return Claim::kFull;
  return keys_.emplace(merchant_id, key).second ? Claim::kClaimed : Claim::kBusy;
}

void InFlightKeys::release(int64_t merchant_id, const std::string& key) {
  std::lock_guard lock(mutex_);
  const size_t erased = keys_.erase({merchant_id, key});
  PAYOUTD_ASSERT(erased == 1);
}

void register_routes(http::Router& router, Context& context) {
  router.add("POST", "/auth/login", "v1_auth_login",
             [&context](http::Request&& request, http::Respond respond) {
               handle_login(context, std::move(request), std::move(respond));
             });
  router.add("POST", "/auth/refresh", "v1_auth_refresh",
             [&context](http::Request&& request, http::Respond respond) {
               handle_refresh(context, std::move(request), std::move(respond));
             });
  router.add("POST", "/auth/logout", "v1_auth_logout", with_bearer(context, handle_logout));

  router.add("POST", "/api/v1/payouts", "v1_payout_create", with_bearer(context, handle_create));
  router.add("GET", "/api/v1/payouts", "v1_payout_list", with_bearer(context, handle_list));
  router.add("GET", "/api/v1/payouts/:id", "v1_payout_get", with_bearer(context, handle_get));
  router.add("POST", "/api/v1/payouts/:id/cancel", "v1_payout_cancel",
             with_bearer(context, handle_cancel));
  router.add("POST", "/api/v1/payouts/cancel", "v1_payout_bulk_cancel",
             with_bearer(context, handle_bulk_cancel));
  router.add("GET", "/api/v1/wallets", "v1_wallet_list", with_bearer(context, handle_wallet_list));
  router.add("GET", "/api/v1/wallets/:id", "v1_wallet_get",
             with_bearer(context, handle_wallet_get));
  router.add("GET", "/api/v1/wallets/:id/transactions", "v1_wallet_transactions",
             with_bearer(context, handle_wallet_transactions));
  router.add("GET", "/api/v1/transactions", "v1_transactions",
             with_bearer(context, handle_transactions));
  router.add("POST", "/api/v1/webhooks", "v1_webhook_create",
             with_bearer(context, handle_webhook_create));
  router.add("GET", "/api/v1/webhooks", "v1_webhook_list",
             with_bearer(context, handle_webhook_list));
  router.add("DELETE", "/api/v1/webhooks/:id", "v1_webhook_delete",
             with_bearer(context, handle_webhook_delete));
  router.add("GET", "/api/v1/webhooks/:id/deliveries", "v1_webhook_deliveries",
             with_bearer(context, handle_webhook_deliveries));
  router.add("POST", "/api/v1/webhooks/events/:event_id/redeliver", "v1_webhook_redeliver",
             with_bearer(context, handle_webhook_redeliver));
}

}  // namespace payoutd::api::payouts_v1

namespace payoutd::api::payouts_v1 {

PayoutsV1Options options_with_token_ttls(int64_t access_ttl_seconds, int64_t refresh_ttl_seconds) {
  constexpr int64_t kMicrosPerSecond = 1'000'000;
  PayoutsV1Options options;
  options.token_lifetimes.access_micros = access_ttl_seconds * kMicrosPerSecond;
  options.token_lifetimes.refresh_micros = refresh_ttl_seconds * kMicrosPerSecond;
  return options;
}

std::shared_ptr<Context> install(http::Router& router, commands::Commands& commands,
                                 PayoutsV1Options options) {
  auto context = std::make_shared<Context>(commands, std::move(options));
  register_routes(router, *context);
  return context;
}

}  // namespace payoutd::api::payouts_v1
