// Migration 4 (notifications): webhook endpoints, the outbox's due query (only the head of each
// payout-to-destination sequence), leases on outbox rows, the append-only delivery log,
// redelivery, endpoint deletion, and the plan of the due query.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "core/ids.h"
#include "store/sqlite/schema.h"
#include "store/sql/transactions.h"
#include "store_fixture.h"

namespace payoutd::testing {
namespace {

constexpr int64_t kSecond = 1'000'000;

class NotifyTablesTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    merchant_id_ = add_merchant("notify");
    other_merchant_id_ = add_merchant("notify-other");
    wallet_ = add_wallet(merchant_id_, "USD", 1'000'000);
  }

  Payout new_payout(const std::string& external_id) {
    return add_payout(merchant_id_, wallet_, external_id, 100);
  }

  static OutboxMessage row(const Payout& payout, int32_t seq, const std::string& channel,
                           std::optional<int64_t> endpoint_id, int64_t created_at = kT0,
                           const std::string& url = "https://merchant.example/hook") {
    OutboxMessage message;
    message.cashout_id = payout.cashout_id;
    message.event_seq = seq;
    message.event_id = event_id_for(payout.public_id, seq);
    message.channel = channel;
    message.endpoint_id = endpoint_id;
    message.target_url = url;
    message.payload = "{\"seq\":" + std::to_string(seq) + "}";
    message.created_at = created_at;
    return message;
  }

  Status insert(const OutboxMessage& message) {
    return store_->write([&](WriteTx& tx) { return tx.insert_outbox(message); });
  }

  // Inserts and returns the new row's id.
  int64_t add(const OutboxMessage& message) {
    Status status = insert(message);
    EXPECT_TRUE(status.is_ok()) << status.to_string();
    RawDatabase raw(path_);
    return raw.integer("SELECT max(id) FROM outbox");
  }

  std::vector<OutboxMessage> due(int64_t now, int limit = 100) {
    std::vector<OutboxMessage> rows;
    Status status = store_->read([&](ReadTx& tx) -> Status {
      OutboxDueQuery query;
      query.now = now;
      query.limit = limit;
      query.per_destination_limit = kMaxPageSize;
      Result<std::vector<OutboxMessage>> found = tx.outbox_due(query);
      if (!found.is_ok()) return std::move(found).status();
      rows = std::move(found).value();
      return Status::ok();
    });
    EXPECT_TRUE(status.is_ok()) << status.to_string();
    return rows;
  }

  static std::vector<int64_t> ids(const std::vector<OutboxMessage>& rows) {
    std::vector<int64_t> out;
    for (const OutboxMessage& message : rows) out.push_back(message.id);
    return out;
  }

  std::vector<int64_t> due_ids(int64_t now) { return ids(due(now)); }

  OutboxMessage message(int64_t id) {
    OutboxMessage found;
    Status status = store_->read([&](ReadTx& tx) -> Status {
      Result<OutboxMessage> result = tx.outbox_message(id);
      if (!result.is_ok()) return std::move(result).status();
      found = std::move(result).value();
      return Status::ok();
    });
    EXPECT_TRUE(status.is_ok()) << status.to_string();
    return found;
  }

  Status claim(int64_t id, const std::string& owner, int64_t now, int64_t lease_until) {
    return store_->write(
        [&](WriteTx& tx) { return tx.claim_outbox_message(id, owner, now, lease_until); });
  }

  DeliveryRecord record_for(const OutboxMessage& message, const std::string& owner,
                            OutboxStatus next, int64_t now, int64_t next_attempt_at,
                            int32_t attempt_number = 1) {
    DeliveryRecord record;
    record.outbox_id = message.id;
    record.owner = owner;
    record.now = now;
    record.next_status = next;
    record.next_attempt_at = next_attempt_at;
    DeliveryAttempt& attempt = record.attempt;
    attempt.outbox_id = message.id;
    attempt.endpoint_id = message.endpoint_id;
    attempt.event_id = message.event_id;
    attempt.channel = message.channel;
    attempt.attempt = attempt_number;
    attempt.started_at = now;
    attempt.latency_ms = 12;
    if (next == OutboxStatus::kDelivered) {
      attempt.http_status = 204;
      attempt.result = DeliveryResult::kDelivered;
    } else {
      attempt.http_status = 500;
      attempt.result = DeliveryResult::kFailed;
      attempt.error = "HTTP 500: boom";
    }
    return record;
  }

  Result<bool> record(const DeliveryRecord& delivery) {
    bool updated = false;
    Status status = store_->write([&](WriteTx& tx) -> Status {
      Result<bool> result = tx.record_delivery(delivery);
      if (!result.is_ok()) return std::move(result).status();
      updated = *result;
      return Status::ok();
    });
    if (!status.is_ok()) return status;
    return updated;
  }

  // Claims `id` for `owner` at `now` and records `next` for it; expects both to work.
  void claim_and_record(int64_t id, const std::string& owner, OutboxStatus next, int64_t now,
                        int64_t next_attempt_at) {
    ASSERT_TRUE(claim(id, owner, now, now + 60 * kSecond).is_ok());
    Result<bool> recorded = record(record_for(message(id), owner, next, now, next_attempt_at));
    ASSERT_TRUE(recorded.is_ok()) << recorded.status().to_string();
    ASSERT_TRUE(*recorded);
  }

  Result<int64_t> redeliver(const Payout& payout, int32_t seq,
                            std::optional<std::string_view> channel, int64_t now,
                            int64_t give_up_at) {
    int64_t count = 0;
    Status status = store_->write([&](WriteTx& tx) -> Status {
      Result<int64_t> result = tx.redeliver_event(payout.cashout_id, seq, channel, now, give_up_at);
      if (!result.is_ok()) return std::move(result).status();
      count = *result;
      return Status::ok();
    });
    if (!status.is_ok()) return status;
    return count;
  }

  WebhookEndpoint endpoint_value(int64_t merchant_id, const std::string& suffix,
                                 std::vector<std::string> events = {}) {
    WebhookEndpoint endpoint;
    endpoint.public_id = "whe_" + std::string(16 - suffix.size(), '0') + suffix;
    endpoint.merchant_id = merchant_id;
    endpoint.url = "https://merchant.example/hooks/" + suffix;
    endpoint.events = std::move(events);
    endpoint.secret_sealed = std::string("\x00sealed-secret", 14);
    endpoint.created_at = kT0;
    return endpoint;
  }

  Result<int64_t> add_endpoint(const WebhookEndpoint& endpoint) {
    int64_t id = 0;
    Status status = store_->write([&](WriteTx& tx) -> Status {
      Result<int64_t> inserted = tx.insert_webhook_endpoint(endpoint);
      if (!inserted.is_ok()) return std::move(inserted).status();
      id = *inserted;
      return Status::ok();
    });
    if (!status.is_ok()) return status;
    return id;
  }

  Status delete_endpoint(int64_t merchant_id, const std::string& public_id, int64_t at) {
    return store_->write(
        [&](WriteTx& tx) { return tx.delete_webhook_endpoint(merchant_id, public_id, at); });
  }

  std::vector<WebhookEndpoint> endpoints(int64_t merchant_id) {
    std::vector<WebhookEndpoint> out;
    Status status = store_->read([&](ReadTx& tx) -> Status {
      Result<std::vector<WebhookEndpoint>> found = tx.webhook_endpoints(merchant_id);
      if (!found.is_ok()) return std::move(found).status();
      out = std::move(found).value();
      return Status::ok();
    });
    EXPECT_TRUE(status.is_ok()) << status.to_string();
    return out;
  }

  int64_t merchant_id_ = 0;
  int64_t other_merchant_id_ = 0;
  Wallet wallet_;
};

std::string joined_plan(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += line + " | ";
  return out;
}

// ---- Migration 4 ----

TEST_F(NotifyTablesTest, Migration4CreatesTheNotificationTables) {
  RawDatabase raw(path_);
  EXPECT_EQ(raw.text("SELECT name FROM schema_migrations WHERE version = 4"),
            "webhook endpoints, outbox retry window and the delivery log");
  EXPECT_GE(sqlite::latest_schema_version(), 4);
  for (const char* table : {"webhook_endpoints", "delivery_attempts", "outbox"}) {
    EXPECT_EQ(raw.integer(std::string("SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
                                      "AND name = '") +
                          table + "'"),
              1)
        << table;
  }
  for (const char* index : {"outbox_one_per_destination", "outbox_sequence"}) {
    EXPECT_EQ(raw.integer(std::string("SELECT count(*) FROM sqlite_schema WHERE type = 'index' "
                                      "AND name = '") +
                          index + "'"),
              1)
        << index;
  }
  EXPECT_EQ(raw.integer("SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND "
                        "tbl_name = 'delivery_attempts'"),
            2);
  // The columns migration 4 added to the outbox.
  const std::vector<std::string> columns = raw.column("SELECT name FROM pragma_table_info('outbox')");
  for (const char* column : {"event_id", "give_up_at", "last_error", "delivered_at"}) {
    EXPECT_NE(std::find(columns.begin(), columns.end(), column), columns.end()) << column;
  }
}

TEST_F(NotifyTablesTest, OneOutboxRowPerEventAndDestination) {
  const Payout payout = new_payout("unique-1");
  ASSERT_TRUE(insert(row(payout, 2, "v3", std::nullopt)).is_ok());
  // Same (cashout, seq, channel, endpoint): a v3 row has no endpoint, coalesce(NULL, 0) still
  // collides.
  EXPECT_EQ(insert(row(payout, 2, "v3", std::nullopt)).kind(), ErrorKind::kAlreadyExists);
  ASSERT_TRUE(insert(row(payout, 2, "v1", 7)).is_ok());
  EXPECT_EQ(insert(row(payout, 2, "v1", 7)).kind(), ErrorKind::kAlreadyExists);
  // Another endpoint, another event, another channel: distinct destinations.
  EXPECT_TRUE(insert(row(payout, 2, "v1", 8)).is_ok());
  EXPECT_TRUE(insert(row(payout, 3, "v1", 7)).is_ok());
  EXPECT_TRUE(insert(row(payout, 3, "v3", std::nullopt)).is_ok());
  RawDatabase raw(path_);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM outbox"), 5);
  // The refused duplicate rolled back alone; the committed rows carry what insert_outbox wrote.
  const OutboxMessage first = message(raw.integer("SELECT min(id) FROM outbox"));
  EXPECT_EQ(first.status, OutboxStatus::kPending);
  EXPECT_EQ(first.attempts, 0);
  EXPECT_EQ(first.next_attempt_at, kT0);
  EXPECT_EQ(first.event_id, event_id_for(payout.public_id, 2));
  EXPECT_FALSE(first.endpoint_id.has_value());
  EXPECT_FALSE(first.claimed_by.has_value());
  EXPECT_FALSE(first.delivered_at.has_value());
}

TEST_F(NotifyTablesTest, WebhookEndpointsRoundTripAndPublicIdsAreUnique) {
  Result<int64_t> first =
      add_endpoint(endpoint_value(merchant_id_, "a", {"payout.cancelled", "payout.completed"}));
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  Result<int64_t> second = add_endpoint(endpoint_value(merchant_id_, "b"));
  ASSERT_TRUE(second.is_ok());
  EXPECT_EQ(add_endpoint(endpoint_value(other_merchant_id_, "a")).status().kind(),
            ErrorKind::kAlreadyExists);
  const std::vector<WebhookEndpoint> listed = endpoints(merchant_id_);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].id, *first);
  EXPECT_EQ(listed[1].id, *second);
  EXPECT_EQ(listed[0].events, (std::vector<std::string>{"payout.cancelled", "payout.completed"}));
  EXPECT_TRUE(listed[1].events.empty());
  EXPECT_EQ(listed[0].secret_sealed, std::string("\x00sealed-secret", 14));
  EXPECT_EQ(listed[0].url, "https://merchant.example/hooks/a");
  EXPECT_TRUE(endpoints(other_merchant_id_).empty());
}

// ---- The due query ----

TEST_F(NotifyTablesTest, OutboxDueReturnsOnlyTheHeadOfEachSequence) {
  const Payout a = new_payout("due-a");
  const Payout b = new_payout("due-b");
  const int64_t a1 = add(row(a, 1, "v1", 7));
  const int64_t a2 = add(row(a, 2, "v1", 7));
  const int64_t a3 = add(row(a, 3, "v1", 7));
  const int64_t b1 = add(row(b, 1, "v1", 7));       // another payout, same endpoint
  const int64_t a2_other = add(row(a, 2, "v1", 8));  // same payout, another endpoint
  const int64_t a2_v3 = add(row(a, 2, "v3", std::nullopt));  // same payout, the v3 channel
  const int64_t later = add(row(b, 2, "v3", std::nullopt, kT0 + 10 * kSecond));  // not due yet

  EXPECT_EQ(due_ids(kT0), (std::vector<int64_t>{a1, b1, a2_other, a2_v3}));
  EXPECT_EQ(due_ids(kT0 + 10 * kSecond), (std::vector<int64_t>{a1, b1, a2_other, a2_v3, later}));
  EXPECT_EQ(due_ids(kT0 - 1), std::vector<int64_t>{});
  // The limit keeps the oldest due first.
  EXPECT_EQ(ids(due(kT0 + 10 * kSecond, 2)), (std::vector<int64_t>{a1, b1}));

  // Delivering the head makes the next of its sequence due, and only that one.
  claim_and_record(a1, "node-a", OutboxStatus::kDelivered, kT0 + kSecond, kT0);
  EXPECT_EQ(due_ids(kT0 + kSecond), (std::vector<int64_t>{a2, b1, a2_other, a2_v3}));
  claim_and_record(a2, "node-a", OutboxStatus::kDelivered, kT0 + 2 * kSecond, kT0);
  EXPECT_EQ(due_ids(kT0 + 2 * kSecond), (std::vector<int64_t>{a3, b1, a2_other, a2_v3}));
  // Delivered rows are never due again.
  claim_and_record(a3, "node-a", OutboxStatus::kDelivered, kT0 + 3 * kSecond, kT0);
  EXPECT_EQ(due_ids(kT0 + 3 * kSecond), (std::vector<int64_t>{b1, a2_other, a2_v3}));
}

TEST_F(NotifyTablesTest, OutboxDueSkipsLeasedRows) {
  const Payout a = new_payout("leased-a");
  const int64_t a1 = add(row(a, 1, "v1", 7));
  const int64_t a2 = add(row(a, 2, "v1", 7));
  ASSERT_TRUE(claim(a1, "node-a", kT0, kT0 + 60 * kSecond).is_ok());
  // Leased: not due, and the row behind it must still wait.
  EXPECT_EQ(due_ids(kT0 + kSecond), std::vector<int64_t>{});
  EXPECT_EQ(due_ids(kT0 + 59 * kSecond), std::vector<int64_t>{});
  // The lease ended (a crashed owner): due again, still before its follower.
  EXPECT_EQ(due_ids(kT0 + 60 * kSecond), std::vector<int64_t>{a1});
  (void)a2;
}

TEST_F(NotifyTablesTest, RescheduledHeadPushesLaterRowsOfItsSequence) {
  const Payout a = new_payout("push-a");
  const Payout b = new_payout("push-b");
  const int64_t a1 = add(row(a, 1, "v1", 7));
  const int64_t a2 = add(row(a, 2, "v1", 7));
  const int64_t a3 = add(row(a, 3, "v1", 7, kT0 + 100 * kSecond));  // already later
  const int64_t a2_other = add(row(a, 2, "v1", 8));
  const int64_t b1 = add(row(b, 1, "v1", 7));

  const int64_t retry_at = kT0 + 30 * kSecond;
  claim_and_record(a1, "node-a", OutboxStatus::kPending, kT0, retry_at);
  const OutboxMessage head = message(a1);
  EXPECT_EQ(head.status, OutboxStatus::kPending);
  EXPECT_EQ(head.next_attempt_at, retry_at);
  EXPECT_EQ(head.attempts, 1);
  EXPECT_EQ(head.last_error, std::optional<std::string>("HTTP 500: boom"));
  EXPECT_FALSE(head.claimed_by.has_value());
  EXPECT_FALSE(head.lease_until.has_value());
  // The follower waits as long as the head (the column, not just the due query).
  EXPECT_EQ(message(a2).next_attempt_at, retry_at);
  // A follower already due later is not pulled earlier.
  EXPECT_EQ(message(a3).next_attempt_at, kT0 + 100 * kSecond);
  // Other sequences are untouched.
  EXPECT_EQ(message(a2_other).next_attempt_at, kT0);
  EXPECT_EQ(message(b1).next_attempt_at, kT0);

  EXPECT_EQ(due_ids(kT0 + kSecond), (std::vector<int64_t>{a2_other, b1}));
  EXPECT_EQ(due_ids(retry_at), (std::vector<int64_t>{a2_other, b1, a1}));

  // A head given up (failed) lets the next row of its sequence go.
  claim_and_record(a1, "node-a", OutboxStatus::kFailed, retry_at, retry_at);
  EXPECT_EQ(message(a1).status, OutboxStatus::kFailed);
  EXPECT_EQ(due_ids(retry_at), (std::vector<int64_t>{a2_other, b1, a2}));
}

// ---- Leases ----

TEST_F(NotifyTablesTest, ClaimIsExclusiveUntilTheLeasePasses) {
  const Payout a = new_payout("claim-a");
  const int64_t a1 = add(row(a, 1, "v3", std::nullopt));
  const int64_t a2 = add(row(a, 2, "v3", std::nullopt));
  const int64_t lease_until = kT0 + 60 * kSecond;
  ASSERT_TRUE(claim(a1, "node-a", kT0, lease_until).is_ok());
  OutboxMessage claimed = message(a1);
  EXPECT_EQ(claimed.claimed_by, std::optional<std::string>("node-a"));
  EXPECT_EQ(claimed.lease_until, std::optional<int64_t>(lease_until));
  EXPECT_EQ(claimed.status, OutboxStatus::kPending);

  EXPECT_EQ(claim(a1, "node-b", kT0 + kSecond, kT0 + 61 * kSecond).kind(), ErrorKind::kConflict);
  EXPECT_EQ(claim(a1, "node-b", lease_until - 1, lease_until + kSecond).kind(),
            ErrorKind::kConflict);
  // Not the head of its sequence: the earlier row is still pending.
  EXPECT_EQ(claim(a2, "node-b", kT0 + kSecond, kT0 + 61 * kSecond).kind(), ErrorKind::kConflict);
  // The lease passed: another owner takes the row over.
  ASSERT_TRUE(claim(a1, "node-b", lease_until, lease_until + 60 * kSecond).is_ok());
  EXPECT_EQ(message(a1).claimed_by, std::optional<std::string>("node-b"));
}

TEST_F(NotifyTablesTest, ClaimRefusesRowsNotDueOrNotPending) {
  const Payout a = new_payout("claim-not-due");
  const int64_t future = add(row(a, 1, "v3", std::nullopt, kT0 + 10 * kSecond));
  EXPECT_EQ(claim(future, "node-a", kT0, kT0 + 60 * kSecond).kind(), ErrorKind::kConflict);
  EXPECT_TRUE(claim(future, "node-a", kT0 + 10 * kSecond, kT0 + 70 * kSecond).is_ok());
  Result<bool> done = record(
      record_for(message(future), "node-a", OutboxStatus::kDelivered, kT0 + 11 * kSecond, 0));
  ASSERT_TRUE(done.is_ok());
  ASSERT_TRUE(*done);
  EXPECT_EQ(claim(future, "node-a", kT0 + 100 * kSecond, kT0 + 160 * kSecond).kind(),
            ErrorKind::kConflict);
  EXPECT_EQ(claim(9'999'999, "node-a", kT0, kT0 + kSecond).kind(), ErrorKind::kConflict);
}

// ---- The delivery log ----

TEST_F(NotifyTablesTest, RecordDeliveryMovesTheRowOnlyForTheLeaseOwner) {
  const Payout a = new_payout("record-a");
  const int64_t a1 = add(row(a, 1, "v1", 7));
  ASSERT_TRUE(claim(a1, "node-a", kT0, kT0 + 60 * kSecond).is_ok());
  RawDatabase raw(path_);

  // Not the owner: the attempt is logged, the row is left alone.
  Result<bool> stranger =
      record(record_for(message(a1), "node-b", OutboxStatus::kDelivered, kT0 + kSecond, 0));
  ASSERT_TRUE(stranger.is_ok()) << stranger.status().to_string();
  EXPECT_FALSE(*stranger);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM delivery_attempts WHERE outbox_id = " +
                        std::to_string(a1)),
            1);
  OutboxMessage untouched = message(a1);
  EXPECT_EQ(untouched.status, OutboxStatus::kPending);
  EXPECT_EQ(untouched.claimed_by, std::optional<std::string>("node-a"));
  EXPECT_EQ(untouched.attempts, 0);
  EXPECT_FALSE(untouched.delivered_at.has_value());

  // The lease passed and node-b took the row: node-a's late result is logged but changes nothing.
  ASSERT_TRUE(claim(a1, "node-b", kT0 + 60 * kSecond, kT0 + 120 * kSecond).is_ok());
  Result<bool> late = record(
      record_for(message(a1), "node-a", OutboxStatus::kDelivered, kT0 + 61 * kSecond, 0));
  ASSERT_TRUE(late.is_ok());
  EXPECT_FALSE(*late);
  EXPECT_EQ(message(a1).status, OutboxStatus::kPending);
  EXPECT_EQ(message(a1).claimed_by, std::optional<std::string>("node-b"));

  // The owner's result moves the row on and releases the lease.
  Result<bool> owner = record(
      record_for(message(a1), "node-b", OutboxStatus::kDelivered, kT0 + 62 * kSecond, 0));
  ASSERT_TRUE(owner.is_ok());
  EXPECT_TRUE(*owner);
  const OutboxMessage delivered = message(a1);
  EXPECT_EQ(delivered.status, OutboxStatus::kDelivered);
  EXPECT_EQ(delivered.delivered_at, std::optional<int64_t>(kT0 + 62 * kSecond));
  EXPECT_EQ(delivered.attempts, 1);
  EXPECT_FALSE(delivered.claimed_by.has_value());
  EXPECT_FALSE(delivered.lease_until.has_value());
  EXPECT_FALSE(delivered.last_error.has_value());
  EXPECT_EQ(delivered.updated_at, kT0 + 62 * kSecond);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM delivery_attempts WHERE outbox_id = " +
                        std::to_string(a1)),
            3);

  // A finished row does not move again, even for its last owner.
  Result<bool> again = record(
      record_for(message(a1), "node-b", OutboxStatus::kFailed, kT0 + 63 * kSecond, 0));
  ASSERT_TRUE(again.is_ok());
  EXPECT_FALSE(*again);
  EXPECT_EQ(message(a1).status, OutboxStatus::kDelivered);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM delivery_attempts WHERE outbox_id = " +
                        std::to_string(a1)),
            4);
}

TEST_F(NotifyTablesTest, RecordDeliveryWritesTheStatusAskedFor) {
  const Payout a = new_payout("statuses-a");
  const Payout b = new_payout("statuses-b");
  const int64_t retried = add(row(a, 1, "v1", 7));
  const int64_t failed = add(row(b, 1, "v3", std::nullopt));

  claim_and_record(retried, "node-a", OutboxStatus::kPending, kT0, kT0 + 30 * kSecond);
  OutboxMessage pending = message(retried);
  EXPECT_EQ(pending.status, OutboxStatus::kPending);
  EXPECT_EQ(pending.next_attempt_at, kT0 + 30 * kSecond);
  EXPECT_FALSE(pending.delivered_at.has_value());
  EXPECT_EQ(pending.last_error, std::optional<std::string>("HTTP 500: boom"));

  claim_and_record(failed, "node-a", OutboxStatus::kFailed, kT0, kT0);
  OutboxMessage given_up = message(failed);
  EXPECT_EQ(given_up.status, OutboxStatus::kFailed);
  EXPECT_FALSE(given_up.delivered_at.has_value());
  EXPECT_EQ(given_up.last_error, std::optional<std::string>("HTTP 500: boom"));
  EXPECT_EQ(given_up.attempts, 1);
  EXPECT_FALSE(given_up.claimed_by.has_value());

  // The second attempt of the retried row succeeds: the error is cleared, delivered_at set.
  ASSERT_TRUE(claim(retried, "node-a", kT0 + 30 * kSecond, kT0 + 90 * kSecond).is_ok());
  Result<bool> ok = record(record_for(message(retried), "node-a", OutboxStatus::kDelivered,
                                      kT0 + 31 * kSecond, 0, /*attempt_number=*/2));
  ASSERT_TRUE(ok.is_ok());
  ASSERT_TRUE(*ok);
  OutboxMessage delivered = message(retried);
  EXPECT_EQ(delivered.status, OutboxStatus::kDelivered);
  EXPECT_EQ(delivered.attempts, 2);
  EXPECT_EQ(delivered.delivered_at, std::optional<int64_t>(kT0 + 31 * kSecond));
  EXPECT_FALSE(delivered.last_error.has_value());

  // The log, newest first, as recorded.
  DeliveryAttemptPage page;
  ASSERT_TRUE(store_
                  ->read([&](ReadTx& tx) -> Status {
                    DeliveryAttemptQuery query;
                    query.event_id = event_id_for(a.public_id, 1);
                    Result<DeliveryAttemptPage> found = tx.delivery_attempts(query);
                    if (!found.is_ok()) return std::move(found).status();
                    page = std::move(found).value();
                    return Status::ok();
                  })
                  .is_ok());
  EXPECT_EQ(page.total_count, 2);
  ASSERT_EQ(page.items.size(), 2u);
  EXPECT_EQ(page.items[0].attempt, 2);
  EXPECT_EQ(page.items[0].result, DeliveryResult::kDelivered);
  EXPECT_EQ(page.items[0].http_status, std::optional<int32_t>(204));
  EXPECT_EQ(page.items[0].error, "");
  EXPECT_EQ(page.items[1].attempt, 1);
  EXPECT_EQ(page.items[1].result, DeliveryResult::kFailed);
  EXPECT_EQ(page.items[1].http_status, std::optional<int32_t>(500));
  EXPECT_EQ(page.items[1].error, "HTTP 500: boom");
  EXPECT_EQ(page.items[1].latency_ms, 12);
  EXPECT_EQ(page.items[1].channel, "v1");
  EXPECT_EQ(page.items[1].endpoint_id, std::optional<int64_t>(7));
  EXPECT_EQ(page.items[1].outbox_id, retried);

  // By endpoint: only the v1 row's attempts.
  ASSERT_TRUE(store_
                  ->read([&](ReadTx& tx) -> Status {
                    DeliveryAttemptQuery query;
                    query.endpoint_id = 7;
                    query.limit = 1;
                    query.page = 2;
                    Result<DeliveryAttemptPage> found = tx.delivery_attempts(query);
                    if (!found.is_ok()) return std::move(found).status();
                    page = std::move(found).value();
                    return Status::ok();
                  })
                  .is_ok());
  EXPECT_EQ(page.total_count, 2);
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].attempt, 1);

  OutboxCounts counts;
  ASSERT_TRUE(store_
                  ->read([&](ReadTx& tx) -> Status {
                    Result<OutboxCounts> found = tx.outbox_counts();
                    if (!found.is_ok()) return std::move(found).status();
                    counts = *found;
                    return Status::ok();
                  })
                  .is_ok());
  EXPECT_EQ(counts.pending, 0);
  EXPECT_EQ(counts.failed, 1);
}

TEST_F(NotifyTablesTest, DeliveryAttemptsAreAppendOnly) {
  const Payout a = new_payout("append-a");
  const int64_t a1 = add(row(a, 1, "v1", 7));
  claim_and_record(a1, "node-a", OutboxStatus::kPending, kT0, kT0 + kSecond);
  RawDatabase raw(path_);
  ASSERT_EQ(raw.integer("SELECT count(*) FROM delivery_attempts"), 1);
  std::string error;
  EXPECT_NE(raw.exec("UPDATE delivery_attempts SET result = 'delivered', error = ''", &error),
            SQLITE_OK);
  EXPECT_NE(error.find("append-only"), std::string::npos) << error;
  EXPECT_EQ(raw.text("SELECT result FROM delivery_attempts"), "failed");
  EXPECT_NE(raw.exec("UPDATE delivery_attempts SET http_status = 200", &error), SQLITE_OK);
  EXPECT_EQ(raw.text("SELECT http_status FROM delivery_attempts"), "500");
  EXPECT_NE(raw.exec("DELETE FROM delivery_attempts", &error), SQLITE_OK);
  EXPECT_NE(error.find("append-only"), std::string::npos) << error;
  EXPECT_EQ(raw.integer("SELECT count(*) FROM delivery_attempts"), 1);
}

// ---- Redelivery ----

TEST_F(NotifyTablesTest, RedeliverRequeuesFailedRowsWithANewWindow) {
  const Payout a = new_payout("redeliver-a");
  Result<int64_t> hook = add_endpoint(endpoint_value(merchant_id_, "redeliver"));
  ASSERT_TRUE(hook.is_ok()) << hook.status().to_string();
  const int64_t v3 = add(row(a, 2, "v3", std::nullopt));
  const int64_t v1 = add(row(a, 2, "v1", *hook));
  const int64_t other_event = add(row(a, 3, "v3", std::nullopt));
  claim_and_record(v3, "node-a", OutboxStatus::kFailed, kT0, kT0);
  claim_and_record(v1, "node-a", OutboxStatus::kFailed, kT0, kT0);

  // One channel only.
  const int64_t now = kT0 + 3600 * kSecond;
  const int64_t give_up_at = now + 72 * 3600 * kSecond;
  Result<int64_t> requeued = redeliver(a, 2, std::string_view("v3"), now, give_up_at);
  ASSERT_TRUE(requeued.is_ok()) << requeued.status().to_string();
  EXPECT_EQ(*requeued, 1);
  OutboxMessage again = message(v3);
  EXPECT_EQ(again.status, OutboxStatus::kPending);
  EXPECT_EQ(again.next_attempt_at, now);
  EXPECT_EQ(again.give_up_at, give_up_at);
  EXPECT_FALSE(again.claimed_by.has_value());
  EXPECT_EQ(message(v1).status, OutboxStatus::kFailed);
  // The other event of the payout is not touched.
  EXPECT_EQ(message(other_event).give_up_at, 0);
  EXPECT_EQ(message(other_event).next_attempt_at, kT0);

  // Every channel.
  requeued = redeliver(a, 2, std::nullopt, now + kSecond, give_up_at + kSecond);
  ASSERT_TRUE(requeued.is_ok());
  EXPECT_EQ(*requeued, 2);
  EXPECT_EQ(message(v1).status, OutboxStatus::kPending);
  EXPECT_EQ(message(v1).give_up_at, give_up_at + kSecond);

  // An event without rows.
  requeued = redeliver(a, 9, std::nullopt, now, give_up_at);
  ASSERT_TRUE(requeued.is_ok());
  EXPECT_EQ(*requeued, 0);
}

TEST_F(NotifyTablesTest, RedeliverLeavesLeasedRowsAlone) {
  const Payout a = new_payout("redeliver-leased");
  const int64_t a1 = add(row(a, 1, "v3", std::nullopt));
  const int64_t lease_until = kT0 + 60 * kSecond;
  ASSERT_TRUE(claim(a1, "node-a", kT0, lease_until).is_ok());
  Result<int64_t> requeued =
      redeliver(a, 1, std::nullopt, kT0 + kSecond, kT0 + 1000 * kSecond);
  ASSERT_TRUE(requeued.is_ok());
  EXPECT_EQ(*requeued, 0);
  OutboxMessage leased = message(a1);
  EXPECT_EQ(leased.claimed_by, std::optional<std::string>("node-a"));
  EXPECT_EQ(leased.lease_until, std::optional<int64_t>(lease_until));
  EXPECT_EQ(leased.give_up_at, 0);
  EXPECT_EQ(leased.next_attempt_at, kT0);
  // The owner can still record its result.
  Result<bool> owned =
      record(record_for(leased, "node-a", OutboxStatus::kDelivered, kT0 + 2 * kSecond, 0));
  ASSERT_TRUE(owned.is_ok());
  EXPECT_TRUE(*owned);
}

TEST_F(NotifyTablesTest, RedeliverSkipsRowsOfDeletedEndpoints) {
  const Payout a = new_payout("redeliver-deleted");
  Result<int64_t> live = add_endpoint(endpoint_value(merchant_id_, "live"));
  Result<int64_t> gone = add_endpoint(endpoint_value(merchant_id_, "gone"));
  ASSERT_TRUE(live.is_ok());
  ASSERT_TRUE(gone.is_ok());
  const int64_t to_live = add(row(a, 1, "v1", *live));
  const int64_t to_gone = add(row(a, 1, "v1", *gone));
  claim_and_record(to_live, "node-a", OutboxStatus::kFailed, kT0, kT0);
  claim_and_record(to_gone, "node-a", OutboxStatus::kFailed, kT0, kT0);
  ASSERT_TRUE(delete_endpoint(merchant_id_, endpoint_value(merchant_id_, "gone").public_id,
                              kT0 + kSecond)
                  .is_ok());
  Result<int64_t> requeued =
      redeliver(a, 1, std::nullopt, kT0 + 2 * kSecond, kT0 + 1000 * kSecond);
  ASSERT_TRUE(requeued.is_ok());
  EXPECT_EQ(*requeued, 1);
  EXPECT_EQ(message(to_live).status, OutboxStatus::kPending);
  EXPECT_EQ(message(to_gone).status, OutboxStatus::kFailed);
}

// ---- Endpoint deletion ----

TEST_F(NotifyTablesTest, DeletingAnEndpointFailsItsPendingRows) {
  const Payout a = new_payout("delete-a");
  const Payout b = new_payout("delete-b");
  const WebhookEndpoint doomed_value = endpoint_value(merchant_id_, "doomed");
  Result<int64_t> doomed = add_endpoint(doomed_value);
  Result<int64_t> kept = add_endpoint(endpoint_value(merchant_id_, "kept"));
  ASSERT_TRUE(doomed.is_ok());
  ASSERT_TRUE(kept.is_ok());
  const int64_t pending1 = add(row(a, 1, "v1", *doomed));
  const int64_t pending2 = add(row(a, 2, "v1", *doomed));
  const int64_t delivered = add(row(b, 1, "v1", *doomed));
  const int64_t other_endpoint = add(row(a, 1, "v1", *kept));
  const int64_t v3 = add(row(a, 2, "v3", std::nullopt));
  claim_and_record(delivered, "node-a", OutboxStatus::kDelivered, kT0, kT0);

  // Another merchant cannot delete it, and nothing changes when it tries.
  EXPECT_EQ(delete_endpoint(other_merchant_id_, doomed_value.public_id, kT0 + kSecond).kind(),
            ErrorKind::kNotFound);
  EXPECT_EQ(message(pending1).status, OutboxStatus::kPending);
  EXPECT_EQ(endpoints(merchant_id_).size(), 2u);

  ASSERT_TRUE(delete_endpoint(merchant_id_, doomed_value.public_id, kT0 + 2 * kSecond).is_ok());
  for (int64_t id : {pending1, pending2}) {
    const OutboxMessage failed = message(id);
    EXPECT_EQ(failed.status, OutboxStatus::kFailed) << id;
    EXPECT_EQ(failed.last_error, std::optional<std::string>("webhook endpoint deleted")) << id;
    EXPECT_EQ(failed.updated_at, kT0 + 2 * kSecond) << id;
  }
  EXPECT_EQ(message(delivered).status, OutboxStatus::kDelivered);
  EXPECT_EQ(message(other_endpoint).status, OutboxStatus::kPending);
  EXPECT_EQ(message(v3).status, OutboxStatus::kPending);
  EXPECT_EQ(due_ids(kT0 + 3 * kSecond), (std::vector<int64_t>{other_endpoint, v3}));

  // No longer listed or found by public id; still readable by row id for the dispatcher.
  const std::vector<WebhookEndpoint> listed = endpoints(merchant_id_);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, *kept);
  Status lookup = store_->read([&](ReadTx& tx) -> Status {
    Result<WebhookEndpoint> found = tx.webhook_endpoint(merchant_id_, doomed_value.public_id);
    return found.is_ok() ? Status::ok() : found.status();
  });
  EXPECT_EQ(lookup.kind(), ErrorKind::kNotFound);
  std::optional<WebhookEndpoint> by_id;
  ASSERT_TRUE(store_
                  ->read([&](ReadTx& tx) -> Status {
                    Result<WebhookEndpoint> found = tx.webhook_endpoint_by_id(*doomed);
                    if (!found.is_ok()) return found.status();
                    by_id = *found;
                    return Status::ok();
                  })
                  .is_ok());
  EXPECT_EQ(by_id->deleted_at, std::optional<int64_t>(kT0 + 2 * kSecond));

  // Deleting twice, or an unknown id: kNotFound.
  EXPECT_EQ(delete_endpoint(merchant_id_, doomed_value.public_id, kT0 + 3 * kSecond).kind(),
            ErrorKind::kNotFound);
  EXPECT_EQ(delete_endpoint(merchant_id_, "whe_0000000000000zzz", kT0 + 3 * kSecond).kind(),
            ErrorKind::kNotFound);
}

TEST_F(NotifyTablesTest, DeletingAnEndpointLeavesRowsUnderALiveLeaseToTheirOwner) {
  const Payout a = new_payout("delete-leased");
  const WebhookEndpoint value = endpoint_value(merchant_id_, "leased");
  Result<int64_t> endpoint = add_endpoint(value);
  ASSERT_TRUE(endpoint.is_ok());
  const int64_t leased = add(row(a, 1, "v1", *endpoint));
  ASSERT_TRUE(claim(leased, "node-a", kT0, kT0 + 60 * kSecond).is_ok());
  ASSERT_TRUE(delete_endpoint(merchant_id_, value.public_id, kT0 + kSecond).is_ok());
  OutboxMessage still = message(leased);
  EXPECT_EQ(still.status, OutboxStatus::kPending);
  EXPECT_EQ(still.claimed_by, std::optional<std::string>("node-a"));
  // Its owner finishes the attempt.
  Result<bool> owned =
      record(record_for(still, "node-a", OutboxStatus::kFailed, kT0 + 2 * kSecond, kT0));
  ASSERT_TRUE(owned.is_ok());
  EXPECT_TRUE(*owned);
  EXPECT_EQ(message(leased).status, OutboxStatus::kFailed);
}

// ---- Listing ----

TEST_F(NotifyTablesTest, ListOutboxFiltersNewestFirst) {
  const Payout a = new_payout("list-a");
  const int64_t a1 = add(row(a, 1, "v1", 7));
  const int64_t a2 = add(row(a, 2, "v3", std::nullopt));
  const int64_t a2_v1 = add(row(a, 2, "v1", 7));
  claim_and_record(a1, "node-a", OutboxStatus::kFailed, kT0, kT0);
  auto list = [&](const OutboxQuery& query) {
    std::vector<OutboxMessage> rows;
    Status status = store_->read([&](ReadTx& tx) -> Status {
      Result<std::vector<OutboxMessage>> found = tx.list_outbox(query);
      if (!found.is_ok()) return std::move(found).status();
      rows = std::move(found).value();
      return Status::ok();
    });
    EXPECT_TRUE(status.is_ok()) << status.to_string();
    return ids(rows);
  };
  EXPECT_EQ(list({}), (std::vector<int64_t>{a2_v1, a2, a1}));
  OutboxQuery failed;
  failed.status = OutboxStatus::kFailed;
  EXPECT_EQ(list(failed), std::vector<int64_t>{a1});
  OutboxQuery by_event;
  by_event.event_id = event_id_for(a.public_id, 2);
  EXPECT_EQ(list(by_event), (std::vector<int64_t>{a2_v1, a2}));
  OutboxQuery mine;
  mine.merchant_id = merchant_id_;
  mine.limit = 2;
  EXPECT_EQ(list(mine), (std::vector<int64_t>{a2_v1, a2}));
  OutboxQuery theirs;
  theirs.merchant_id = other_merchant_id_;
  EXPECT_EQ(list(theirs), std::vector<int64_t>{});
}

// ---- Query plan ----

TEST_F(NotifyTablesTest, OutboxDueQuerySearchesAnIndexForTheDueRangeOnly) {
  // Some rows so that ANALYZE has something to say.
  const Payout a = new_payout("plan-a");
  for (int32_t seq = 1; seq <= 5; ++seq) add(row(a, seq, "v1", 7));
  RawDatabase raw(path_);
  for (bool analyzed : {false, true}) {
    SCOPED_TRACE(analyzed ? "with ANALYZE statistics" : "without statistics");
    if (analyzed) raw.must_exec("ANALYZE");
    const std::vector<std::string> plan =
        raw.column("EXPLAIN QUERY PLAN " + sql::queries::outbox_due_sql(), 3);
    const std::string text = joined_plan(plan);
    SCOPED_TRACE(text);
    RecordProperty(analyzed ? "plan_analyzed" : "plan", text);
    ASSERT_FALSE(plan.empty());
    bool outer_searched = false;
    bool head_check_searched = false;
    for (const std::string& line : plan) {
      // The outbox table itself is only ever searched through an index. The scans are of the
      // ranked due rows (the window's co-routines) and of the excluded-destinations array: the
      // sorts the fairness window needs are over the due rows of one pass, not the table.
      if (line.rfind("SCAN ", 0) == 0) {
        const bool allowed = line.rfind("SCAN (subquery-", 0) == 0 ||
                             line.rfind("SCAN ranked", 0) == 0 ||
                             line.rfind("SCAN json_each", 0) == 0;
        EXPECT_TRUE(allowed) << line;
      }
      if (line.rfind("SEARCH o USING INDEX outbox_due ", 0) == 0) outer_searched = true;
      if (line.rfind("SEARCH p USING ", 0) == 0 &&
          line.find("INDEX outbox_sequence") != std::string::npos) {
        head_check_searched = true;
      }
    }
    EXPECT_TRUE(outer_searched);
    EXPECT_TRUE(head_check_searched);
  }
}

TEST_F(NotifyTablesTest, OutboxDueKeepsPerDestinationLimitsAndExclusions) {
  const Payout a = new_payout("fair-a");
  const Payout b = new_payout("fair-b");
  // Five due rows to one destination (one per payout would be needed for heads; here one payout
  // per row keeps every row a head).
  std::vector<Payout> backlog;
  for (int i = 0; i < 5; ++i) {
    backlog.push_back(new_payout("fair-backlog-" + std::to_string(i)));
    OutboxMessage message = row(backlog.back(), 1, "v3", std::nullopt);
    message.target_url = "https://dead.example/n";
    message.destination = "https://dead.example:443";
    add(message);
  }
  OutboxMessage live = row(b, 1, "v3", std::nullopt);
  live.target_url = "https://live.example/n";
  live.destination = "https://live.example:443";
  live.created_at += 1;  // due after the whole backlog
  add(live);
  (void)a;
  auto due_with = [&](int limit, int per_destination, std::vector<std::string> excluded) {
    std::vector<std::string> destinations;
    Status status = store_->read([&](ReadTx& tx) -> Status {
      OutboxDueQuery query;
      query.now = kT0 + 1'000'000'000;
      query.limit = limit;
      query.per_destination_limit = per_destination;
      query.excluded_destinations = std::move(excluded);
      Result<std::vector<OutboxMessage>> found = tx.outbox_due(query);
      if (!found.is_ok()) return std::move(found).status();
      for (const OutboxMessage& message : *found) destinations.push_back(message.destination);
      return Status::ok();
    });
    EXPECT_TRUE(status.is_ok()) << status.to_string();
    return destinations;
  };
  // Without a per-destination bound the backlog fills a small answer...
  EXPECT_EQ(due_with(2, 100, {}), (std::vector<std::string>{"https://dead.example:443",
                                                            "https://dead.example:443"}));
  // ...with it, the other destination is in the answer.
  EXPECT_EQ(due_with(2, 1, {}), (std::vector<std::string>{"https://dead.example:443",
                                                          "https://live.example:443"}));
  // An excluded (saturated) destination is left out entirely.
  EXPECT_EQ(due_with(2, 4, {"https://dead.example:443"}),
            (std::vector<std::string>{"https://live.example:443"}));
}

}  // namespace
}  // namespace payoutd::testing
