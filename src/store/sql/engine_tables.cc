// The engine's bookkeeping (migration 3): due-work queries, leases, cancel requests. (The
// sandbox connector's simulated rail, also in migration 3, is the connector's own:
// engine/connectors/sandbox_rail.cc.) Every claim here is a conditional UPDATE: whoever's WHERE
// clause still matches wins, so two engine instances (threads, processes, later nodes) never both
// own a payout.
#include <string>
#include <utility>

#include "store/sql/transactions.h"

namespace payoutd::sql {
namespace {

constexpr std::string_view kEngineColumns =
    "cashout_id, status, event_seq, updated_at, connector_state, cancel_state, engine_next_at, "
    "engine_claimed_by, engine_lease_until, engine_attempts";

Result<EngineTask> read_engine_task(const Statement& row) {
  EngineTask task;
  task.cashout_id = row.column_int64(0);
  const std::string status = row.column_text(1);
  std::optional<PayoutStatus> parsed_status = parse_status_name(status);
  if (!parsed_status) {
    return Status::error(ErrorKind::kCorruption, "payout has unknown status '" + status + "'");
  }
  task.status = *parsed_status;
  task.event_seq = static_cast<int32_t>(row.column_int64(2));
  task.updated_at = row.column_int64(3);
  const std::string connector_state = row.column_text(4);
  std::optional<ConnectorState> parsed_connector = parse_connector_state_name(connector_state);
  if (!parsed_connector) {
    return Status::error(ErrorKind::kCorruption,
                         "payout has unknown connector_state '" + connector_state + "'");
  }
  task.connector_state = *parsed_connector;
  const std::string cancel_state = row.column_text(5);
  std::optional<CancelRequestState> parsed_cancel = parse_cancel_request_state_name(cancel_state);
  if (!parsed_cancel) {
    return Status::error(ErrorKind::kCorruption,
                         "payout has unknown cancel_state '" + cancel_state + "'");
  }
  task.cancel_state = *parsed_cancel;
  task.next_at = row.column_optional_int64(6);
  task.claimed_by = row.column_optional_text(7);
  task.lease_until = row.column_optional_int64(8);
  task.attempts = static_cast<int32_t>(row.column_int64(9));
  return task;
}


}  // namespace

namespace queries {

Result<EngineTask> engine_task(Connection& connection, int64_t cashout_id) {
  static const std::string sql =
      "SELECT " + std::string(kEngineColumns) + " FROM payouts WHERE cashout_id = $1";
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, connection.prepare(sql));
  statement->bind(1, cashout_id);
  PAYOUTD_ASSIGN_OR_RETURN(bool row, statement->step());
  if (!row) return Status::not_found("Payout not found");
  return read_engine_task(*statement);
}

const std::string& engine_due_sql(EngineWork work) {
  static const std::string select = "SELECT " + std::string(kEngineColumns) + " FROM payouts ";
  // Each text is fixed per work kind, so each is prepared once and cached. Every one is answered
  // from an index (payouts_by_status_updated or payouts_engine_due); the plans are tested.
  static const std::string screen =
      select + "WHERE status = 'created' ORDER BY updated_at, cashout_id LIMIT $3";
  static const std::string submit =
      select +
      "WHERE status = 'queued' AND (engine_lease_until IS NULL OR engine_lease_until <= $1) "
      "ORDER BY updated_at, cashout_id LIMIT $3";
  static const std::string follow =
      select +
      "WHERE engine_next_at IS NOT NULL AND engine_next_at <= $1 "
      "AND (engine_lease_until IS NULL OR engine_lease_until <= $1) "
      "ORDER BY engine_next_at, cashout_id LIMIT $3";
  // Two statuses with their own cut-offs: a UNION of two index range scans.
  static const std::string expire =
      "SELECT * FROM (" + select +
      "WHERE status = 'on_hold' AND updated_at <= $1 "
      "UNION ALL " +
      select +
      "WHERE status = 'action_required' AND updated_at <= $2) AS expiring "
      "ORDER BY updated_at, cashout_id LIMIT $3";
  switch (work) {
    case EngineWork::kScreen:
      return screen;
    case EngineWork::kSubmit:
      return submit;
    case EngineWork::kFollow:
      return follow;
    case EngineWork::kExpire:
      return expire;
  }
  PAYOUTD_ASSERT(false && "EngineWork out of range");
  return screen;
}

Result<std::vector<EngineTask>> engine_due(Connection& connection, const EngineDueQuery& query) {
  PAYOUTD_RETURN_IF_ERROR(check_row_limit(query.limit));
  const std::string* sql = &engine_due_sql(query.work);
  PAYOUTD_ASSIGN_OR_RETURN(StatementLease statement, connection.prepare(*sql));
  Statement& s = *statement;
  if (query.work == EngineWork::kExpire) {
    s.bind(1, query.on_hold_cutoff);
    s.bind(2, query.action_required_cutoff);
  } else {
    s.bind(1, query.now);
    s.bind(2, query.now);
  }
  s.bind(3, static_cast<int64_t>(query.limit));
  std::vector<EngineTask> tasks;
  for (;;) {
    PAYOUTD_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    PAYOUTD_ASSIGN_OR_RETURN(EngineTask task, read_engine_task(s));
    tasks.push_back(std::move(task));
  }
  return tasks;
}

}  // namespace queries

Status SqlWriteTx::claim_engine_lease(int64_t cashout_id, PayoutStatus expected_status,
                                         std::string_view owner, int64_t now,
                                         int64_t lease_until) {
  PAYOUTD_ASSERT(!owner.empty());
  PAYOUTD_ASSERT(lease_until > now);
  static const std::string claim =
      "UPDATE payouts SET engine_claimed_by = $1, engine_lease_until = $2 "
      "WHERE cashout_id = $3 AND status = $4 AND (engine_claimed_by IS NULL OR "
      "engine_lease_until IS NULL OR engine_lease_until <= $5 OR engine_claimed_by = $1)";
  // PostgreSQL, several nodes: a row another node's transaction is changing right now is skipped
  // (FOR UPDATE SKIP LOCKED) instead of waited for; the claim is lost at once and the engine
  // moves on to other work. (SQLite has one writer at a time: nothing to skip.)
  static const std::string claim_skip_locked =
      claim + " AND cashout_id IN (SELECT cashout_id FROM payouts WHERE cashout_id = $3 "
              "FOR UPDATE SKIP LOCKED)";
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(connection_.dialect() == Dialect::kPostgresql ? claim_skip_locked
                                                                        : claim));
  Statement& s = *statement;
  s.bind(1, owner);
  s.bind(2, lease_until);
  s.bind(3, cashout_id);
  s.bind(4, status_name(expected_status));
  s.bind(5, now);
  Status updated = s.execute();
  if (!updated.is_ok()) return status_of(s.last_error(), "claim engine lease");
  if (s.changes() != 1) {
    return Status::error(ErrorKind::kConflict, "payout " + std::to_string(cashout_id) +
                                                   " is leased by another engine or moved on");
  }
  return Status::ok();
}

Status SqlWriteTx::update_engine_task(const EngineTaskUpdate& update) {
  PAYOUTD_ASSERT(update.release || update.lease_until.has_value());
  Result<StatementLease> statement = connection_.prepare(
      "UPDATE payouts SET connector_state = $1, cancel_state = $2, engine_next_at = $3, "
      "engine_attempts = $4, "
      "engine_claimed_by = CASE WHEN $5 <> 0 THEN NULL ELSE engine_claimed_by END, "
      "engine_lease_until = CASE WHEN $5 <> 0 THEN NULL ELSE CAST($6 AS BIGINT) END, "
      "connector = coalesce($7, connector), connector_reference = coalesce($8, connector_reference) "
      "WHERE cashout_id = $9 AND (($10 = '' AND (engine_claimed_by IS NULL OR engine_lease_until "
      "<= $11)) OR engine_claimed_by = $10)");
  if (!statement.is_ok()) return std::move(statement).status();
  Statement& s = **statement;
  s.bind(1, connector_state_name(update.connector_state));
  s.bind(2, cancel_request_state_name(update.cancel_state));
  s.bind(3, update.next_at);
  s.bind(4, static_cast<int64_t>(update.attempts));
  s.bind(5, static_cast<int64_t>(update.release ? 1 : 0));
  s.bind(6, update.lease_until);
  s.bind(7, update.connector);
  s.bind(8, update.connector_reference);
  s.bind(9, update.cashout_id);
  s.bind(10, update.owner);
  s.bind(11, update.now);
  Status updated = s.execute();
  if (!updated.is_ok()) return status_of(s.last_error(), "update engine task");
  if (s.changes() != 1) {
    return Status::error(ErrorKind::kConflict, "engine lease on payout " +
                                                   std::to_string(update.cashout_id) +
                                                   " is no longer held by " + update.owner);
  }
  return Status::ok();
}

Status SqlWriteTx::request_cancel(int64_t cashout_id, int64_t at) {
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "UPDATE payouts SET cancel_requested_at = coalesce(cancel_requested_at, $1), "
          "cancel_state = 'pending', updated_at = $1, "
          "engine_next_at = CASE WHEN engine_next_at IS NULL OR engine_next_at > $1 THEN $1 "
          "ELSE engine_next_at END "
          "WHERE cashout_id = $2 AND status = 'processing'"));
  Statement& s = *statement;
  s.bind(1, at);
  s.bind(2, cashout_id);
  Status updated = s.execute();
  if (!updated.is_ok()) return status_of(s.last_error(), "request cancel");
  if (s.changes() != 1) {
    return Status::error(ErrorKind::kConflict,
                         "payout " + std::to_string(cashout_id) + " is no longer processing");
  }
  return Status::ok();
}

Status SqlWriteTx::begin_processing_cancel(int64_t cashout_id, std::string_view owner,
                                           int64_t now, int64_t lease_until) {
  PAYOUTD_ASSERT(!owner.empty());
  PAYOUTD_ASSERT(lease_until > now);
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "UPDATE payouts SET cancel_state = 'pending', engine_claimed_by = $2, "
          "engine_lease_until = $3, "
          "engine_next_at = CASE WHEN engine_next_at IS NULL OR engine_next_at > $3 THEN $3 "
          "ELSE engine_next_at END "
          "WHERE cashout_id = $4 AND status = 'processing' AND connector_state = 'accepted' AND "
          "(engine_claimed_by IS NULL OR engine_lease_until IS NULL OR engine_lease_until <= $1)"));
  Statement& s = *statement;
  s.bind(1, now);
  s.bind(2, owner);
  s.bind(3, lease_until);
  s.bind(4, cashout_id);
  Status updated = s.execute();
  if (!updated.is_ok()) return status_of(s.last_error(), "begin processing cancel");
  if (s.changes() != 1) {
    return Status::error(ErrorKind::kConflict,
                         "payout " + std::to_string(cashout_id) +
                             " is no longer processing at the rail, or another engine holds it");
  }
  return Status::ok();
}

Status SqlWriteTx::withdraw_processing_cancel(int64_t cashout_id, std::string_view owner,
                                              CancelRequestState previous_state,
                                              std::optional<int64_t> previous_requested_at) {
  PAYOUTD_ASSERT(!owner.empty());
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "UPDATE payouts SET cancel_state = CASE WHEN cancel_requested_at IS NOT NULL AND "
          "cancel_requested_at IS DISTINCT FROM CAST($2 AS BIGINT) THEN 'refused' ELSE $1 END, "
          "engine_claimed_by = NULL, engine_lease_until = NULL "
          "WHERE cashout_id = $3 AND engine_claimed_by = $4"));
  Statement& s = *statement;
  s.bind(1, cancel_request_state_name(previous_state));
  s.bind(2, previous_requested_at);
  s.bind(3, cashout_id);
  s.bind(4, owner);
  Status updated = s.execute();
  if (!updated.is_ok()) return status_of(s.last_error(), "withdraw processing cancel");
  if (s.changes() != 1) {
    return Status::error(ErrorKind::kConflict, "engine lease on payout " +
                                                   std::to_string(cashout_id) +
                                                   " is no longer held by " + std::string(owner));
  }
  return Status::ok();
}

Status SqlWriteTx::poke_engine_task(int64_t cashout_id, int64_t at) {
  PAYOUTD_ASSIGN_OR_RETURN(
      StatementLease statement,
      connection_.prepare(
          "UPDATE payouts SET engine_next_at = $1 WHERE cashout_id = $2 AND status IN "
          "('processing', 'settling', 'action_required', 'completed') "
          "AND connector_state <> 'none'"));
  Statement& s = *statement;
  s.bind(1, at);
  s.bind(2, cashout_id);
  Status updated = s.execute();
  if (!updated.is_ok()) return status_of(s.last_error(), "poke engine task");
  if (s.changes() != 1) {
    return Status::not_found("no payout at the connector with id " + std::to_string(cashout_id));
  }
  return Status::ok();
}

}  // namespace payoutd::sql
