// The sandbox connector's simulated rail: its own book of the payouts it was given (the table
// rail_records, in the store's database so that every payoutd process and node sees one rail).
// The book is the connector's, not the production store's: these functions are its SQL, run on
// store/sql's connection through Store::read_own_tables / write_own_tables. The table's DDL is
// in the backends' migration 3 (forward-only, one history per database).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "store/sql/connection.h"

namespace payoutd::engine::sandbox_rail {

// The rail's record of one payout. `submissions` counts submit calls: more than one means a
// payout was submitted twice, which the tests look for.
struct RailRecord {
  std::string connector;   // "sandbox"
  std::string payout_key;  // the payout's public id: the idempotency key of the submission
  std::string reference;   // the rail's reference
  int64_t submitted_at = 0;
  int32_t submissions = 0;
  std::optional<int64_t> cancel_requested_at;
  int64_t updated_at = 0;
};

// Upper bound on the records one duplicate_submissions call returns.
inline constexpr int kMaxDuplicatesListed = 1000;

// kNotFound when the rail never saw the payout.
Result<RailRecord> record(sql::Connection& connection, std::string_view connector,
                          std::string_view payout_key);
// Payout keys the rail saw more than once (a double submission: always a bug), up to `limit`.
// REQUIRES: 1 <= limit <= kMaxDuplicatesListed.
Result<std::vector<RailRecord>> duplicate_submissions(sql::Connection& connection,
                                                      std::string_view connector, int limit);
Result<int64_t> record_count(sql::Connection& connection, std::string_view connector);
// Inserts or replaces a record. REQUIRES: record.submissions >= 1.
Status put(sql::Connection& connection, const RailRecord& record);

}  // namespace payoutd::engine::sandbox_rail
