// Port: the sandbox connector's simulated rail. Only the sandbox connector (engine/connectors)
// and the tests that audit it name this port; no production path reads or writes it. It lives in
// the same database so that every payoutd process sees one rail.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/payout_status.h"
#include "core/status.h"
#include "core/types.h"
#include "store/ports/paging.h"

namespace payoutd {

// A simulated rail's own record of one payout. `submissions` counts submit calls: more
// than one means a payout was submitted twice, which the tests look for.
struct RailRecord {
  std::string connector;   // "sandbox"
  std::string payout_key;  // the payout's public id: the idempotency key of the submission
  std::string reference;   // the rail's reference
  int64_t submitted_at = 0;
  int32_t submissions = 0;
  std::optional<int64_t> cancel_requested_at;
  int64_t updated_at = 0;
};

class RailReads {
 public:
  virtual ~RailReads() = default;
  // kNotFound when the rail never saw the payout.
  virtual Result<RailRecord> rail_record(std::string_view connector,
                                         std::string_view payout_key) = 0;
  // Payout keys the rail saw more than once (a double submission: always a bug), up to `limit`.
  virtual Result<std::vector<RailRecord>> rail_duplicate_submissions(std::string_view connector,
                                                                     int limit) = 0;
  virtual Result<int64_t> rail_record_count(std::string_view connector) = 0;
};

class RailWrites : public virtual RailReads {
 public:
  // Inserts or replaces a simulated rail's record.
  virtual Status put_rail_record(const RailRecord& record) = 0;
};

}  // namespace payoutd
