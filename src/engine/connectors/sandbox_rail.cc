#include "engine/connectors/sandbox_rail.h"

#include <string>
#include <utility>

namespace payoutd::engine::sandbox_rail {
namespace {

constexpr std::string_view kColumns =
    "connector, payout_key, reference, submitted_at, submissions, cancel_requested_at, updated_at";

RailRecord read_record(const sql::Statement& row) {
  RailRecord record;
  record.connector = row.column_text(0);
  record.payout_key = row.column_text(1);
  record.reference = row.column_text(2);
  record.submitted_at = row.column_int64(3);
  record.submissions = static_cast<int32_t>(row.column_int64(4));
  record.cancel_requested_at = row.column_optional_int64(5);
  record.updated_at = row.column_int64(6);
  return record;
}

}  // namespace

Result<RailRecord> record(sql::Connection& connection, std::string_view connector,
                          std::string_view payout_key) {
  static const std::string sql = "SELECT " + std::string(kColumns) +
                                 " FROM rail_records WHERE connector = $1 AND payout_key = $2";
  PAYOUTD_ASSIGN_OR_RETURN(sql::StatementLease statement, connection.prepare(sql));
  statement->bind(1, connector);
  statement->bind(2, payout_key);
  PAYOUTD_ASSIGN_OR_RETURN(const bool row, statement->step());
  if (!row) return Status::not_found("the rail has no record of this payout");
  return read_record(*statement);
}

Result<std::vector<RailRecord>> duplicate_submissions(sql::Connection& connection,
                                                      std::string_view connector, int limit) {
  PAYOUTD_ASSERT(limit >= 1 && limit <= kMaxDuplicatesListed);
  static const std::string sql =
      "SELECT " + std::string(kColumns) +
      " FROM rail_records WHERE connector = $1 AND submissions > 1 ORDER BY payout_key LIMIT $2";
  PAYOUTD_ASSIGN_OR_RETURN(sql::StatementLease statement, connection.prepare(sql));
  statement->bind(1, connector);
  statement->bind(2, static_cast<int64_t>(limit));
  std::vector<RailRecord> records;
  for (;;) {
    PAYOUTD_ASSIGN_OR_RETURN(const bool row, statement->step());
    if (!row) break;
    records.push_back(read_record(*statement));
  }
  PAYOUTD_ASSERT(records.size() <= static_cast<size_t>(limit));
  return records;
}

Result<int64_t> record_count(sql::Connection& connection, std::string_view connector) {
  PAYOUTD_ASSIGN_OR_RETURN(
      sql::StatementLease statement,
      connection.prepare("SELECT count(*) FROM rail_records WHERE connector = $1"));
  statement->bind(1, connector);
  PAYOUTD_ASSIGN_OR_RETURN(const bool row, statement->step());
  PAYOUTD_ASSERT(row);  // count(*) always answers one row
  return statement->column_int64(0);
}

Status put(sql::Connection& connection, const RailRecord& record) {
  PAYOUTD_ASSERT(record.submissions >= 1);
  PAYOUTD_ASSIGN_OR_RETURN(
      sql::StatementLease statement,
      connection.prepare(
          "INSERT INTO rail_records (connector, payout_key, reference, submitted_at, submissions, "
          "cancel_requested_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
          "ON CONFLICT (connector, payout_key) DO UPDATE SET reference = excluded.reference, "
          "submitted_at = excluded.submitted_at, submissions = excluded.submissions, "
          "cancel_requested_at = excluded.cancel_requested_at, updated_at = excluded.updated_at"));
  statement->bind(1, record.connector);
  statement->bind(2, record.payout_key);
  statement->bind(3, record.reference);
  statement->bind(4, record.submitted_at);
  statement->bind(5, static_cast<int64_t>(record.submissions));
  statement->bind(6, record.cancel_requested_at);
  statement->bind(7, record.updated_at);
  Status inserted = statement->execute();
  if (!inserted.is_ok()) return sql::status_of(statement->last_error(), "put rail record");
  return Status::ok();
}

}  // namespace payoutd::engine::sandbox_rail
