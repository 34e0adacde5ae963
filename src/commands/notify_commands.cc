// Notification management: v1 webhook endpoints (their secrets sealed under the master key),
// the delivery log, redelivery, and the operator's listing. Delivery itself is notify/.
#include <algorithm>
#include <array>
#include <utility>

#include "commands/commands.h"
#include "commands/write_ops.h"
#include "core/ids.h"

namespace payoutd::commands {
namespace {

constexpr size_t kMaxWebhookUrlChars = 2048;
constexpr size_t kWebhookSecretChars = 32;
constexpr std::string_view kWebhookEndpointPrefix = "whe_";
constexpr std::string_view kWebhookSecretPrefix = "whsec_";
constexpr size_t kMaxSubscribedEvents = 16;

bool known_event_type(std::string_view type) {
  return std::any_of(kAllPayoutStatuses.begin(), kAllPayoutStatuses.end(), [type](PayoutStatus status) {
    return v1_event_type(status) == type;
  });
}

Status validate_events(std::vector<std::string>& events) {
  if (events.size() > kMaxSubscribedEvents) {
    return Status::invalid_argument("events", "events may list at most 16 event types");
  }
  for (const std::string& event : events) {
    if (!known_event_type(event)) {
      return Status::invalid_argument(
          "events", "unknown event type '" + event.substr(0, 64) +
                        "' (expected payout.<status>, e.g. payout.cancelled)");
    }
  }
  std::sort(events.begin(), events.end());
  events.erase(std::unique(events.begin(), events.end()), events.end());
  return Status::ok();
}

}  // namespace

std::string webhook_secret_aad(std::string_view endpoint_public_id) {
  return "payoutd/webhook_endpoint/secret/v1:" + std::string(endpoint_public_id);
}

void Commands::create_webhook_endpoint_async(int64_t merchant_id, std::string url,
                                             std::vector<std::string> events,
                                             Callback<CreatedWebhookEndpoint> done) {
  Status valid_url = validate_notification_url(url, "url", kMaxWebhookUrlChars);
  if (!valid_url.is_ok()) {
    done(valid_url);
    return;
  }
  Status valid_events = validate_events(events);
  if (!valid_events.is_ok()) {
    done(valid_events);
    return;
  }
  PAYOUTD_ASSERT(master_key_ != nullptr);
  CreatedWebhookEndpoint created;
  created.secret = std::string(kWebhookSecretPrefix) + random_base62(kWebhookSecretChars, random_);
  WebhookEndpoint& endpoint = created.endpoint;
  endpoint.public_id = new_public_id(kWebhookEndpointPrefix, random_);
  endpoint.merchant_id = merchant_id;
  endpoint.url = std::move(url);
  endpoint.events = std::move(events);
  endpoint.created_at = clock_.now_micros();
  Result<std::string> sealed =
      master_key_->seal(created.secret, random_, webhook_secret_aad(endpoint.public_id));
  if (!sealed.is_ok()) {
    done(std::move(sealed).status());
    return;
  }
  endpoint.secret_sealed = std::move(sealed).value();
  internal::submit_op<CreatedWebhookEndpoint>(
      store_,
      [created = std::move(created)](WriteTx& tx) mutable -> Result<CreatedWebhookEndpoint> {
        Result<std::vector<WebhookEndpoint>> existing =
            tx.webhook_endpoints(created.endpoint.merchant_id);
        if (!existing.is_ok()) return std::move(existing).status();
        if (static_cast<int>(existing->size()) >= kMaxWebhookEndpointsPerMerchant) {
          return Status::invalid_argument(
              "url", "a merchant may have at most " +
                         std::to_string(kMaxWebhookEndpointsPerMerchant) + " webhook endpoints");
        }
        PAYOUTD_ASSIGN_OR_RETURN(int64_t id, tx.insert_webhook_endpoint(created.endpoint));
        CreatedWebhookEndpoint out = created;
        out.endpoint.id = id;
        return out;
      },
      std::move(done));
}

Result<CreatedWebhookEndpoint> Commands::create_webhook_endpoint(int64_t merchant_id,
                                                                 std::string url,
                                                                 std::vector<std::string> events) {
  return internal::wait_for<CreatedWebhookEndpoint>([&](Callback<CreatedWebhookEndpoint> done) {
    create_webhook_endpoint_async(merchant_id, std::move(url), std::move(events), std::move(done));
  });
}

Result<std::vector<WebhookEndpoint>> Commands::list_webhook_endpoints(int64_t merchant_id) {
  return internal::read_value<std::vector<WebhookEndpoint>>(
      store_, [merchant_id](OutboxReads& tx) { return tx.webhook_endpoints(merchant_id); });
}

Result<WebhookEndpoint> Commands::get_webhook_endpoint(int64_t merchant_id,
                                                       std::string_view public_id) {
  if (!is_valid_public_id(public_id, kWebhookEndpointPrefix)) {
    return Status::not_found("Webhook endpoint not found");
  }
  return internal::read_value<WebhookEndpoint>(store_, [merchant_id, public_id](OutboxReads& tx) {
    return tx.webhook_endpoint(merchant_id, public_id);
  });
}

void Commands::delete_webhook_endpoint_async(int64_t merchant_id, std::string public_id,
                                             Callback<bool> done) {
  if (!is_valid_public_id(public_id, kWebhookEndpointPrefix)) {
    done(Status::not_found("Webhook endpoint not found"));
    return;
  }
  const int64_t at = clock_.now_micros();
  internal::submit_op<bool>(
      store_,
      [merchant_id, public_id = std::move(public_id), at](OutboxWrites& tx) -> Result<bool> {
        PAYOUTD_RETURN_IF_ERROR(tx.delete_webhook_endpoint(merchant_id, public_id, at));
        return true;
      },
      std::move(done));
}

Result<DeliveryAttemptPage> Commands::list_deliveries(const DeliveryAttemptQuery& query) {
  return internal::read_value<DeliveryAttemptPage>(
      store_, [&query](OutboxReads& tx) { return tx.delivery_attempts(query); });
}

void Commands::redeliver_event_async(int64_t merchant_id, std::string event_id,
                                     std::optional<std::string> channel, Callback<int64_t> done) {
  std::optional<ParsedEventId> parsed = parse_event_id(event_id);
  if (!parsed) {
    done(Status::not_found("Event not found"));
    return;
  }
  const int64_t now = clock_.now_micros();
  const int64_t give_up_at = now + options_.notification_retry_window_micros;
  internal::submit_op<int64_t>(
      store_,
      [merchant_id, parsed = std::move(*parsed), channel = std::move(channel), now,
       give_up_at](WriteTx& tx) -> Result<int64_t> {
        Result<Payout> payout =
            tx.find_payout(merchant_id, PayoutRef::by_public_id(parsed.payout_public_id));
        if (!payout.is_ok()) {
          if (payout.status().kind() == ErrorKind::kNotFound) {
            return Status::not_found("Event not found");
          }
          return std::move(payout).status();
        }
        if (parsed.seq > payout->event_seq) return Status::not_found("Event not found");
        std::optional<std::string_view> only;
        if (channel) only = *channel;
        Result<int64_t> requeued =
            tx.redeliver_event(payout->cashout_id, parsed.seq, only, now, give_up_at);
        if (!requeued.is_ok()) return std::move(requeued).status();
        if (*requeued == 0) {
          return Status::not_found("Event has no notification to redeliver");
        }
        return *requeued;
      },
      std::move(done));
}

Result<int64_t> Commands::redeliver_event(int64_t merchant_id, std::string event_id,
                                          std::optional<std::string> channel) {
  return internal::wait_for<int64_t>([&](Callback<int64_t> done) {
    redeliver_event_async(merchant_id, std::move(event_id), std::move(channel), std::move(done));
  });
}

Result<std::vector<OutboxMessage>> Commands::list_notifications(const OutboxQuery& query) {
  return internal::read_value<std::vector<OutboxMessage>>(
      store_, [&query](OutboxReads& tx) { return tx.list_outbox(query); });
}

}  // namespace payoutd::commands
