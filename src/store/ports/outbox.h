// Port: the outbox (one row per notification to send), the merchants' webhook endpoints and the
// delivery log.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/types.h"
#include "store/ports/paging.h"

namespace payoutd {

// A bound on webhook endpoints per merchant (the v1 API refuses more).
inline constexpr int kMaxWebhookEndpointsPerMerchant = 16;

// Rows the dispatcher may send now (ReadTx::outbox_due).
struct OutboxDueQuery {
  int64_t now = 0;
  int limit = 100;                 // 1..kMaxPageSize
  int per_destination_limit = 4;   // at most this many rows of one destination in the answer
  // Destinations whose in-flight limit is reached: none of their rows is returned, so their
  // backlog cannot crowd other destinations out of the answer.
  std::vector<std::string> excluded_destinations;
};

// The outbox rows a listing shows (CLI `notifications list`), newest first.
struct OutboxQuery {
  std::optional<OutboxStatus> status;
  std::optional<int64_t> merchant_id;
  std::optional<std::string> event_id;
  int limit = 100;  // 1..kMaxPageSize
};

// The delivery log of one endpoint (or of every v3 notification of a merchant), newest first.
struct DeliveryAttemptQuery {
  std::optional<int64_t> endpoint_id;
  std::optional<std::string> event_id;
  int page = 1;
  int limit = 20;  // 1..kMaxPageSize
};

using DeliveryAttemptPage = Page<DeliveryAttempt>;

struct OutboxCounts {
  int64_t pending = 0;
  int64_t failed = 0;
};

// The outcome of one attempt for the row whose lease `owner` holds.
struct DeliveryRecord {
  int64_t outbox_id = 0;
  std::string owner;
  DeliveryAttempt attempt;        // appended to the log (outbox_id, event_id, channel filled in)
  OutboxStatus next_status = OutboxStatus::kPending;
  int64_t next_attempt_at = 0;    // when next_status is pending
  int64_t now = 0;
};

class OutboxReads {
 public:
  virtual ~OutboxReads() = default;
  // A merchant's live webhook endpoints (not deleted), oldest first.
  virtual Result<std::vector<WebhookEndpoint>> webhook_endpoints(int64_t merchant_id) = 0;
  // One endpoint by its public id; kNotFound when absent, deleted, or another merchant's.
  virtual Result<WebhookEndpoint> webhook_endpoint(int64_t merchant_id,
                                                   std::string_view public_id) = 0;
  // One endpoint by row id, deleted or not (the dispatcher); kNotFound when absent.
  virtual Result<WebhookEndpoint> webhook_endpoint_by_id(int64_t endpoint_id) = 0;
  // Rows the dispatcher may send now, oldest due first, at most `query.limit`: pending, due, not
  // under a live lease, the earliest pending row of their (payout, destination) sequence (so that
  // notifications of one payout to one destination go out in event order), at most
  // `per_destination_limit` per destination and none of an excluded destination (so that one
  // destination's backlog never hides another's due rows).
  virtual Result<std::vector<OutboxMessage>> outbox_due(const OutboxDueQuery& query) = 0;
  virtual Result<OutboxMessage> outbox_message(int64_t outbox_id) = 0;
  virtual Result<std::vector<OutboxMessage>> list_outbox(const OutboxQuery& query) = 0;
  virtual Result<OutboxCounts> outbox_counts() = 0;
  virtual Result<DeliveryAttemptPage> delivery_attempts(const DeliveryAttemptQuery& query) = 0;
};

class OutboxWrites : public virtual OutboxReads {
 public:
  // One notification of an event; written in the transaction of the change it tells.
  virtual Status insert_outbox(const OutboxMessage& message) = 0;
  // Assigns endpoint.id (returned). kAlreadyExists when the public id is taken.
  virtual Result<int64_t> insert_webhook_endpoint(const WebhookEndpoint& endpoint) = 0;
  // Marks the endpoint deleted and fails its pending rows (nothing more is sent to it).
  // kNotFound when absent, already deleted, or another merchant's.
  virtual Status delete_webhook_endpoint(int64_t merchant_id, std::string_view public_id,
                                         int64_t at) = 0;
  // Takes the lease on a pending row for `owner` until `lease_until`, only while it is pending,
  // not under another live lease, and still the head of its sequence. kConflict otherwise.
  virtual Status claim_outbox_message(int64_t outbox_id, std::string_view owner, int64_t now,
                                      int64_t lease_until) = 0;
  // Appends the attempt to the delivery log and, when `owner` still holds the lease, moves the
  // row on (delivered / pending again at next_attempt_at / failed) and releases the lease. A
  // rescheduled row pushes the later rows of its sequence to the same time, so that the due query
  // does not keep finding rows that must wait (a row given up releases them at once). Returns false when the lease had been
  // lost (the attempt is still logged; the row is left to its new owner).
  virtual Result<bool> record_delivery(const DeliveryRecord& record) = 0;
  // Makes the rows of one event (all channels, or one) pending again, due at `now`, with a new
  // retry window ending at `give_up_at` and the backoff starting over (attempts = 0; the
  // delivery log keeps every earlier attempt). Rows under a live lease are left alone (they are being
  // sent). Returns the number of rows requeued; 0 when the event has no rows.
  virtual Result<int64_t> redeliver_event(int64_t cashout_id, int32_t event_seq,
                                          std::optional<std::string_view> channel, int64_t now,
                                          int64_t give_up_at) = 0;
};

}  // namespace payoutd
