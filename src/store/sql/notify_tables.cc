// Notifications (migration 4): webhook endpoints, the outbox's due query and leases, the delivery
// log, redelivery. As with the engine, every claim is a conditional UPDATE: two dispatchers
// (threads, processes, later nodes) never both own a row.
#include <string>
#include <utility>

#include "json/writer.h"
#include "store/sql/transactions.h"

namespace payoutd::sql {
namespace {

Status unmapped(const Statement& statement, std::string_view context) {
  return status_of(statement.last_error(), context);
}

std::vector<std::string> split_events(std::string_view text) {
  std::vector<std::string> events;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    if (!item.empty()) events.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return events;
}

std::string join_events(const std::vector<std::string>& events) {
  std::string text;
  for (const std::string& event : events) {
    PAYOUTD_ASSERT(event.find(',') == std::string::npos);
    if (!text.empty()) text += ',';
    text += event;
  }
  return text;
}

constexpr std::string_view kEndpointColumns =
    "id, public_id, merchant_id, url, events, secret_sealed, created_at, deleted_at";

WebhookEndpoint read_endpoint(const Statement& row) {
  WebhookEndpoint endpoint;
  endpoint.id = row.column_int64(0);
  endpoint.public_id = row.column_text(1);
  endpoint.merchant_id = row.column_int64(2);
  endpoint.url = row.column_text(3);
  endpoint.events = split_events(row.column_text(4));
  endpoint.secret_sealed = row.column_blob(5);
  endpoint.created_at = row.column_int64(6);
  endpoint.deleted_at = row.column_optional_int64(7);
  return endpoint;
}

// The columns read_outbox reads, in its order.
constexpr std::string_view kOutboxColumnNames[] = {
    "id",          "cashout_id", "event_seq",  "event_id",        "channel",
    "endpoint_id", "target_url", "payload",    "status",          "attempts",
    "next_attempt_at", "give_up_at", "claimed_by", "lease_until", "last_error",
    "delivered_at", "created_at", "updated_at", "destination"};

// "<alias>.id, <alias>.cashout_id, ..." for a SELECT over the outbox under `alias`.
std::string outbox_columns(std::string_view alias) {
  std::string columns;
  for (std::string_view name : kOutboxColumnNames) {
    if (!columns.empty()) columns += ", ";
    columns += alias;
    columns += '.';
    columns += name;
  }
  return columns;
}

Result<OutboxMessage> read_outbox(const Statement& row) {
  OutboxMessage message;
  message.id = row.column_int64(0);
  message.cashout_id = row.column_int64(1);
  message.event_seq = static_cast<int32_t>(row.column_int64(2));
  message.event_id = row.column_text(3);
  message.channel = row.column_text(4);
  message.endpoint_id = row.column_optional_int64(5);
  message.target_url = row.column_text(6);
  message.payload = row.column_text(7);
  const std::string status = row.column_text(8);
  std::optional<OutboxStatus> parsed = parse_outbox_status_name(status);
  if (!parsed) {
    return Status::error(ErrorKind::kCorruption, "outbox row has unknown status '" + status + "'");
  }
  message.status = *parsed;
  message.attempts = static_cast<int32_t>(row.column_int64(9));
  message.next_attempt_at = row.column_int64(10);
  message.give_up_at = row.column_int64(11);
  message.claimed_by = row.column_optional_text(12);
  message.lease_until = row.column_optional_int64(13);
  message.last_error = row.column_optional_text(14);
  message.delivered_at = row.column_optional_int64(15);
  message.created_at = row.column_int64(16);
  message.updated_at = row.column_int64(17);
  message.destination = row.column_text(18);
  return message;
}

Result<std::vector<OutboxMessage>> read_outbox_rows(Statement& statement) {
  std::vector<OutboxMessage> messages;
  for (;;) {
    PAYOUTD_ASSIGN_OR_RETURN(bool row, statement.step());
    if (!row) break;
    PAYOUTD_ASSIGN_OR_RETURN(OutboxMessage message, read_outbox(statement));
    messages.push_back(std::move(message));
  }
  return messages;
}

constexpr std::string_view kAttemptColumns =
    "id, outbox_id, endpoint_id, event_id, channel, attempt, started_at, http_status, latency_ms, "
    "result, error";

Result<DeliveryAttempt> read_attempt(const Statement& row) {
  DeliveryAttempt attempt;
  attempt.id = row.column_int64(0);
  attempt.outbox_id = row.column_int64(1);
  attempt.endpoint_id = row.column_optional_int64(2);
  attempt.event_id = row.column_text(3);
  attempt.channel = row.column_text(4);
  attempt.attempt = static_cast<int32_t>(row.column_int64(5));
  attempt.started_at = row.column_int64(6);
  std::optional<int64_t> http_status = row.column_optional_int64(7);
  if (http_status) attempt.http_status = static_cast<int32_t>(*http_status);
  attempt.latency_ms = row.column_int64(8);
  const std::string result = row.column_text(9);
  std::optional<DeliveryResult> parsed = parse_delivery_result_name(result);
  if (!parsed) {
    return Status::error(ErrorKind::kCorruption,
                         "delivery attempt has unknown result '" + result + "'");
  }
  attempt.result = *parsed;
  attempt.error = row.column_text(10);
  return attempt;
}

// "Head of its sequence": no earlier pending row of the same payout to the same destination.
// Answered from outbox_sequence.
constexpr std::string_view kIsHeadOfSequence =
    "NOT EXISTS (SELECT 1 FROM outbox p WHERE p.cashout_id = o.cashout_id "
    "AND p.channel = o.channel AND coalesce(p.endpoint_id, 0) = coalesce(o.endpoint_id, 0) "
    "AND p.status = 'pending' AND p.event_seq < o.event_seq)";

}  // namespace

namespace queries {

const std::string& outbox_due_sql(Dialect dialect) {
  // The due range comes from outbox_due (status, next_attempt_at); the window then keeps the
  // oldest `per_destination_limit` rows of each destination. Ranking needs every due row of the
  // pass, which is the price of fairness: a dead destination's backlog costs a scan, never
  // another destination's delivery.
  auto build = [](std::string_view excluded_values) {
    return "SELECT " + outbox_columns("ranked") +
           " FROM (SELECT o.*, row_number() OVER (PARTITION BY o.destination "
           "ORDER BY o.next_attempt_at, o.id) AS destination_rank "
           "FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= $1 "
           "AND (o.lease_until IS NULL OR o.lease_until <= $1) "
           "AND o.destination NOT IN (" +
           std::string(excluded_values) + ") AND " + std::string(kIsHeadOfSequence) +
           ") AS ranked WHERE ranked.destination_rank <= $4 "
           "ORDER BY ranked.next_attempt_at, ranked.id LIMIT $2";
  };
  // The excluded destinations arrive as one JSON array of strings ($3).
  static const std::string sqlite = build("SELECT value FROM json_each($3)");
  static const std::string postgresql =
      build("SELECT value FROM json_array_elements_text(CAST($3 AS json))");
  return dialect == Dialect::kPostgresql ? postgresql : sqlite;
}

Result<std::vector<WebhookEndpoint>> webhook_endpoints(Connection& connection,
                                                       int64_t merchant_id) {
  static const std::string sql =
      "SELECT " + std::string(kEndpointColumns) +
      " FROM webhook_endpoints WHERE merchant_id = $1 AND deleted_at IS NULL ORDER BY id LIMIT " +
      std::to_string(kMaxWebhookEndpointsPerMerchant * 2);
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, connection.prepare(sql));
  statement->bind(1, merchant_id);
  std::vector<WebhookEndpoint> endpoints;
  for (;;) {
    PAYOUTD_ASSIGN_OR_RETURN(bool row, statement->step());
    if (!row) break;
    endpoints.push_back(read_endpoint(*statement));
  }
  return endpoints;
}

Result<WebhookEndpoint> webhook_endpoint(Connection& connection, int64_t merchant_id,
                                         std::string_view public_id) {
  static const std::string sql =
      "SELECT " + std::string(kEndpointColumns) +
      " FROM webhook_endpoints WHERE public_id = $1 AND merchant_id = $2 AND deleted_at IS NULL";
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, connection.prepare(sql));
  statement->bind(1, public_id);
  statement->bind(2, merchant_id);
  PAYOUTD_ASSIGN_OR_RETURN(bool row, statement->step());
  if (!row) return Status::not_found("Webhook endpoint not found");
  return read_endpoint(*statement);
}

Result<WebhookEndpoint> webhook_endpoint_by_id(Connection& connection, int64_t endpoint_id) {
  static const std::string sql =
      "SELECT " + std::string(kEndpointColumns) + " FROM webhook_endpoints WHERE id = $1";
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, connection.prepare(sql));
  statement->bind(1, endpoint_id);
  PAYOUTD_ASSIGN_OR_RETURN(bool row, statement->step());
  if (!row) return Status::not_found("Webhook endpoint not found");
  return read_endpoint(*statement);
}

Result<std::vector<OutboxMessage>> outbox_due(Connection& connection, const OutboxDueQuery& query) {
  PAYOUTD_RETURN_IF_ERROR(check_row_limit(query.limit));
  PAYOUTD_ASSERT(query.per_destination_limit >= 1);
  // The excluded destinations travel as one JSON array parameter (json_each), so one prepared
  // statement serves any number of them.
  json::Writer excluded;
  excluded.begin_array();
  for (const std::string& destination : query.excluded_destinations) excluded.string(destination);
  excluded.end_array();
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement,
                           connection.prepare(outbox_due_sql(connection.dialect())));
  statement->bind(1, query.now);
  statement->bind(2, static_cast<int64_t>(query.limit));
  statement->bind(3, excluded.take());
  statement->bind(4, static_cast<int64_t>(query.per_destination_limit));
  return read_outbox_rows(*statement);
}

Result<OutboxMessage> outbox_message(Connection& connection, int64_t outbox_id) {
  static const std::string sql =
      "SELECT " + outbox_columns("o") + " FROM outbox o WHERE o.id = $1";
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, connection.prepare(sql));
  statement->bind(1, outbox_id);
  PAYOUTD_ASSIGN_OR_RETURN(bool row, statement->step());
  if (!row) return Status::not_found("Notification not found");
  return read_outbox(*statement);
}

Result<std::vector<OutboxMessage>> list_outbox(Connection& connection, const OutboxQuery& query) {
  PAYOUTD_RETURN_IF_ERROR(check_row_limit(query.limit));
  // Four fixed texts (status filter or not, merchant filter or not), each prepared once. An
  // event id names one payout's rows, so it is answered through the payout's sequence index.
  std::string sql = "SELECT " + outbox_columns("o") + " FROM outbox o";
  std::string where;
  auto add = [&where](std::string_view clause) {
    where += where.empty() ? " WHERE " : " AND ";
    where += clause;
  };
  if (query.event_id) add("o.event_id = $3");
  if (query.status) add("o.status = $1");
  if (query.merchant_id) {
    add("o.cashout_id IN (SELECT cashout_id FROM payouts WHERE merchant_id = $2)");
  }
  sql += where + " ORDER BY o.id DESC LIMIT $4";
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, connection.prepare(sql));
  Statement& s = *statement;
  if (query.status) s.bind(1, outbox_status_name(*query.status));
  if (query.merchant_id) s.bind(2, *query.merchant_id);
  if (query.event_id) s.bind(3, *query.event_id);
  s.bind(4, static_cast<int64_t>(query.limit));
  return read_outbox_rows(s);
}

Result<OutboxCounts> outbox_counts(Connection& connection) {
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection.prepare("SELECT (SELECT count(*) FROM outbox WHERE status = 'pending'), "
                         "(SELECT count(*) FROM outbox WHERE status = 'failed')"));
  PAYOUTD_ASSIGN_OR_RETURN(bool row, statement->step());
  PAYOUTD_ASSERT(row);
  return OutboxCounts{statement->column_int64(0), statement->column_int64(1)};
}

Result<DeliveryAttemptPage> delivery_attempts(Connection& connection,
                                              const DeliveryAttemptQuery& query) {
  PAYOUTD_RETURN_IF_ERROR(check_row_limit(query.limit));
  if (query.page < 1) return Status::invalid_argument("page", "page must be at least 1");
  PAYOUTD_ASSERT(query.endpoint_id.has_value() != query.event_id.has_value());
  const bool by_endpoint = query.endpoint_id.has_value();
  const std::string filter = by_endpoint ? "endpoint_id = $1" : "event_id = $1";
  const std::string sql = "SELECT " + std::string(kAttemptColumns) +
                          " FROM delivery_attempts WHERE " + filter +
                          " ORDER BY id DESC LIMIT $2 OFFSET $3";
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, connection.prepare(sql));
  Statement& s = *statement;
  if (by_endpoint) {
    s.bind(1, *query.endpoint_id);
  } else {
    s.bind(1, *query.event_id);
  }
  s.bind(2, static_cast<int64_t>(query.limit));
  s.bind(3, static_cast<int64_t>(query.page - 1) * query.limit);
  DeliveryAttemptPage page;
  for (;;) {
    PAYOUTD_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    PAYOUTD_ASSIGN_OR_RETURN(DeliveryAttempt attempt, read_attempt(s));
    page.items.push_back(std::move(attempt));
  }
  Result<StatementLease> count =
      connection.prepare("SELECT count(*) FROM delivery_attempts WHERE " + filter);
  if (!count.is_ok()) return std::move(count).status();
  if (by_endpoint) {
    (*count)->bind(1, *query.endpoint_id);
  } else {
    (*count)->bind(1, *query.event_id);
  }
  PAYOUTD_ASSIGN_OR_RETURN(bool row, (*count)->step());
  PAYOUTD_ASSERT(row);
  page.total_count = (*count)->column_int64(0);
  return page;
}

}  // namespace queries

Result<int64_t> SqlWriteTx::insert_webhook_endpoint(const WebhookEndpoint& endpoint) {
  PAYOUTD_ASSERT(!endpoint.public_id.empty());
  PAYOUTD_ASSERT(!endpoint.secret_sealed.empty());
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "INSERT INTO webhook_endpoints (public_id, merchant_id, url, events, secret_sealed, "
          "created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"));
  Statement& s = *statement;
  s.bind(1, endpoint.public_id);
  s.bind(2, endpoint.merchant_id);
  s.bind(3, endpoint.url);
  s.bind(4, join_events(endpoint.events));
  s.bind_blob(5, endpoint.secret_sealed);
  s.bind(6, endpoint.created_at);
  Result<int64_t> inserted = insert_returning_id(s);
  if (!inserted.is_ok()) {
    if (s.last_error().violated(Constraint::kWebhookEndpointPublicId)) {
      return Status::error(ErrorKind::kAlreadyExists, "webhook endpoint id already exists");
    }
    if (s.last_error().is_foreign_key()) return Status::not_found("merchant not found");
    return unmapped(s, "insert webhook endpoint");
  }
  return *inserted;
}

Status SqlWriteTx::delete_webhook_endpoint(int64_t merchant_id, std::string_view public_id,
                                              int64_t at) {
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "UPDATE webhook_endpoints SET deleted_at = $1 "
          "WHERE public_id = $2 AND merchant_id = $3 AND deleted_at IS NULL RETURNING id"));
  Statement& s = *statement;
  s.bind(1, at);
  s.bind(2, public_id);
  s.bind(3, merchant_id);
  PAYOUTD_ASSIGN_OR_RETURN(bool row, s.step());
  if (!row) return Status::not_found("Webhook endpoint not found");
  const int64_t endpoint_id = s.column_int64(0);
  s.reset();
  // Nothing more goes to a deleted endpoint. Rows under a live lease finish their attempt; the
  // dispatcher finds the endpoint deleted on the next one.
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease fail,
      connection_.prepare(
          "UPDATE outbox SET status = 'failed', last_error = 'webhook endpoint deleted', "
          "updated_at = $1 WHERE endpoint_id = $2 AND status = 'pending' "
          "AND (lease_until IS NULL OR lease_until <= $1)"));
  fail->bind(1, at);
  fail->bind(2, endpoint_id);
  Status failed = fail->execute();
  if (!failed.is_ok()) return unmapped(*fail, "fail outbox rows of a deleted endpoint");
  return Status::ok();
}

Status SqlWriteTx::claim_outbox_message(int64_t outbox_id, std::string_view owner, int64_t now,
                                           int64_t lease_until) {
  PAYOUTD_ASSERT(!owner.empty());
  PAYOUTD_ASSERT(lease_until > now);
  static const std::string sql =
      "UPDATE outbox AS o SET claimed_by = $1, lease_until = $2, updated_at = $3 "
      "WHERE o.id = $4 AND o.status = 'pending' AND o.next_attempt_at <= $3 "
      "AND (o.lease_until IS NULL OR o.lease_until <= $3) AND " +
      std::string(kIsHeadOfSequence);
  // PostgreSQL, several nodes: a row another dispatcher is claiming right now is skipped, not
  // waited for (as claim_engine_lease).
  static const std::string sql_skip_locked =
      sql + " AND o.id IN (SELECT id FROM outbox WHERE id = $4 FOR UPDATE SKIP LOCKED)";
  Result<StatementLease> statement =
      connection_.prepare(connection_.dialect() == Dialect::kPostgresql ? sql_skip_locked : sql);
  if (!statement.is_ok()) return std::move(statement).status();
  Statement& s = **statement;
  s.bind(1, owner);
  s.bind(2, lease_until);
  s.bind(3, now);
  s.bind(4, outbox_id);
  Status updated = s.execute();
  if (!updated.is_ok()) return unmapped(s, "claim outbox row");
  if (s.changes() != 1) {
    return Status::error(ErrorKind::kConflict, "notification " + std::to_string(outbox_id) +
                                                   " is leased, not due, or waits for an earlier one");
  }
  return Status::ok();
}

Result<bool> SqlWriteTx::record_delivery(const DeliveryRecord& record) {
  PAYOUTD_ASSERT(!record.owner.empty());
  PAYOUTD_ASSERT(record.attempt.attempt >= 1);
  PAYOUTD_ASSERT(record.attempt.error.size() <= kMaxDeliveryErrorBytes);
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease log,
      connection_.prepare(
          "INSERT INTO delivery_attempts (outbox_id, endpoint_id, event_id, channel, attempt, "
          "started_at, http_status, latency_ms, result, error) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"));
  {
    Statement& s = *log;
    const DeliveryAttempt& attempt = record.attempt;
    s.bind(1, record.outbox_id);
    s.bind(2, attempt.endpoint_id);
    s.bind(3, attempt.event_id);
    s.bind(4, attempt.channel);
    s.bind(5, static_cast<int64_t>(attempt.attempt));
    s.bind(6, attempt.started_at);
    if (attempt.http_status) {
      s.bind(7, static_cast<int64_t>(*attempt.http_status));
    } else {
      s.bind_null(7, SqlType::kInt);
    }
    s.bind(8, attempt.latency_ms);
    s.bind(9, delivery_result_name(attempt.result));
    s.bind(10, attempt.error);
    Status inserted = s.execute();
    if (!inserted.is_ok()) return unmapped(s, "insert delivery attempt");
  }

  const bool delivered = record.next_status == OutboxStatus::kDelivered;
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "UPDATE outbox SET status = $1, attempts = $2, next_attempt_at = $3, claimed_by = NULL, "
          "lease_until = NULL, last_error = $4, delivered_at = $5, updated_at = $6 "
          "WHERE id = $7 AND claimed_by = $8 AND status = 'pending' "
          "RETURNING cashout_id, channel, coalesce(endpoint_id, 0), event_seq"));
  Statement& s = *statement;
  s.bind(1, outbox_status_name(record.next_status));
  s.bind(2, static_cast<int64_t>(record.attempt.attempt));
  s.bind(3, record.next_attempt_at);
  if (delivered) {
    s.bind_null(4, SqlType::kText);
    s.bind(5, record.now);
  } else {
    s.bind(4, record.attempt.error);
    s.bind_null(5, SqlType::kInt);
  }
  s.bind(6, record.now);
  s.bind(7, record.outbox_id);
  s.bind(8, record.owner);
  PAYOUTD_ASSIGN_OR_RETURN(bool row, s.step());
  if (!row) return false;  // the lease was lost: the new owner decides about the row
  const int64_t cashout_id = s.column_int64(0);
  const std::string channel = s.column_text(1);
  const int64_t endpoint_key = s.column_int64(2);
  const int64_t event_seq = s.column_int64(3);
  s.reset();
  if (record.next_status != OutboxStatus::kPending) return true;

  // Rescheduled: the later rows of this sequence must wait at least as long (they cannot go
  // first), so move them out of the due range instead of finding them on every poll.
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease push,
      connection_.prepare(
          "UPDATE outbox SET next_attempt_at = $1 WHERE cashout_id = $2 AND channel = $3 "
          "AND coalesce(endpoint_id, 0) = $4 AND status = 'pending' AND event_seq > $5 "
          "AND next_attempt_at < $1"));
  push->bind(1, record.next_attempt_at);
  push->bind(2, cashout_id);
  push->bind(3, channel);
  push->bind(4, endpoint_key);
  push->bind(5, event_seq);
  Status pushed = push->execute();
  if (!pushed.is_ok()) return unmapped(*push, "reschedule later notifications");
  return true;
}

Result<int64_t> SqlWriteTx::redeliver_event(int64_t cashout_id, int32_t event_seq,
                                               std::optional<std::string_view> channel,
                                               int64_t now, int64_t give_up_at) {
  PAYOUTD_ASSERT(give_up_at > now);
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "UPDATE outbox SET status = 'pending', next_attempt_at = $1, give_up_at = $2, "
          "attempts = 0, claimed_by = NULL, lease_until = NULL, updated_at = $1 "
          "WHERE cashout_id = $3 AND event_seq = $4 AND (CAST($5 AS TEXT) IS NULL OR channel = $5) "
          "AND (lease_until IS NULL OR lease_until <= $1) "
          "AND (endpoint_id IS NULL OR endpoint_id IN "
          "(SELECT id FROM webhook_endpoints WHERE deleted_at IS NULL))"));
  Statement& s = *statement;
  s.bind(1, now);
  s.bind(2, give_up_at);
  s.bind(3, cashout_id);
  s.bind(4, static_cast<int64_t>(event_seq));
  if (channel) {
    s.bind(5, *channel);
  } else {
    s.bind_null(5, SqlType::kText);
  }
  Status updated = s.execute();
  if (!updated.is_ok()) return unmapped(s, "redeliver notification");
  return s.changes();
}

}  // namespace payoutd::sql
