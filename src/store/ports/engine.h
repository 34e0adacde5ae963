// Port: the engine's bookkeeping beside each payout (connector state, leases, due work, the
// merchant's cancel request of a processing payout). Never shown on either wire.
#pragma once

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

// What the payout's connector has told us about the submission.
enum class ConnectorState : uint8_t {
  kNone = 0,     // not handed to a connector
  kSubmitting,   // claimed for submission; the connector's answer is not recorded yet
  kAccepted,     // the connector has it (connector_reference set)
  kUnknown,      // a call timed out: the outcome is unknown until a query answers (reconciliation)
};
std::string_view connector_state_name(ConnectorState state);
std::optional<ConnectorState> parse_connector_state_name(std::string_view name);

// A merchant's cancel of a `processing` payout that the connector answers later.
enum class CancelRequestState : uint8_t { kNone = 0, kPending, kRefused };
std::string_view cancel_request_state_name(CancelRequestState state);
std::optional<CancelRequestState> parse_cancel_request_state_name(std::string_view name);

// The engine's view of one payout.
struct EngineTask {
  int64_t cashout_id = 0;
  PayoutStatus status = PayoutStatus::kCreated;
  int32_t event_seq = 0;
  int64_t updated_at = 0;
  ConnectorState connector_state = ConnectorState::kNone;
  CancelRequestState cancel_state = CancelRequestState::kNone;
  std::optional<int64_t> next_at;        // when the engine must look again; null = nothing timed
  std::optional<std::string> claimed_by;  // lease owner (an engine instance id)
  std::optional<int64_t> lease_until;
  int32_t attempts = 0;                   // consecutive unknown answers (reconciliation backoff)
};

// The kinds of due work, each one indexed query.
enum class EngineWork : uint8_t {
  kScreen = 0,  // status created (oldest first)
  kSubmit,      // status queued, lease free or expired
  kFollow,      // next_at <= now, lease free or expired (processing, settling, completed, ...)
  kExpire,      // status on_hold / action_required entered before the given cut-off
};

struct EngineDueQuery {
  EngineWork work = EngineWork::kScreen;
  int64_t now = 0;
  // kExpire only: payouts whose status was entered at or before these instants (unix micros).
  int64_t on_hold_cutoff = 0;
  int64_t action_required_cutoff = 0;
  int limit = 100;  // 1..kMaxPageSize
};

// New engine bookkeeping for a payout whose lease `owner` holds (or, with an empty owner, for a
// payout nobody may hold a live lease on). Every field is written as given; `release` clears the
// lease.
struct EngineTaskUpdate {
  int64_t cashout_id = 0;
  std::string owner;  // the lease holder; must match claimed_by (kConflict otherwise)
  int64_t now = 0;
  ConnectorState connector_state = ConnectorState::kNone;
  CancelRequestState cancel_state = CancelRequestState::kNone;
  std::optional<int64_t> next_at;
  int32_t attempts = 0;
  bool release = true;                // clear claimed_by / lease_until
  std::optional<int64_t> lease_until;  // when !release: the renewed lease
  std::optional<std::string> connector;            // set when given
  std::optional<std::string> connector_reference;  // set when given
};

class EngineReads {
 public:
  virtual ~EngineReads() = default;
  // kNotFound when there is no such payout.
  virtual Result<EngineTask> engine_task(int64_t cashout_id) = 0;
  // Due work of one kind, oldest first, at most query.limit rows.
  virtual Result<std::vector<EngineTask>> engine_due(const EngineDueQuery& query) = 0;
};

class EngineWrites : public virtual EngineReads {
 public:
  // Takes the lease on a payout for `owner` until `lease_until`: only while the payout is still
  // in `expected_status` and no other owner holds a live lease (claimed_by null, lease_until <=
  // now, or already `owner`). kConflict otherwise (someone else has it, or it moved on).
  virtual Status claim_engine_lease(int64_t cashout_id, PayoutStatus expected_status,
                                    std::string_view owner, int64_t now, int64_t lease_until) = 0;
  // Writes the engine bookkeeping of EngineTaskUpdate. kConflict when `owner` does not hold the
  // lease (it expired and another instance took it over).
  virtual Status update_engine_task(const EngineTaskUpdate& update) = 0;
  // Records a merchant's cancel request of a processing payout: sets cancel_requested_at (kept
  // when already set), cancel_state pending, and makes the payout due for the engine at `at`.
  // kConflict when the payout is no longer processing.
  virtual Status request_cancel(int64_t cashout_id, int64_t at) = 0;
  // The first write of a merchant's synchronous cancel of a processing payout the connector has
  // accepted, before the connector is asked: takes the engine lease for `owner` (free or expired)
  // and sets cancel_state pending, without touching what the dialects show (cancel_requested_at,
  // updated_at: set only when the answer is "later"), and makes the payout due for the engine by
  // `lease_until`. So an
  // instance that dies after the connector's answer leaves a pending request that the engine
  // finishes once the lease runs out, and no other instance asks the rail meanwhile. kConflict
  // when the payout is not processing and accepted, or its lease is held (by another instance, or
  // by this instance's own engine pass: the two must not both ask the rail).
  virtual Status begin_processing_cancel(int64_t cashout_id, std::string_view owner, int64_t now,
                                         int64_t lease_until) = 0;
  // Undoes begin_processing_cancel when the connector answered "too late" (a refused cancel
  // leaves no trace, domain.md): cancel_state back to `previous_state`, the lease released. When
  // another request recorded itself meanwhile (cancel_requested_at no longer
  // `previous_requested_at`), the rail's answer is its answer too: cancel_state refused. kConflict
  // when `owner` no longer holds the lease.
  virtual Status withdraw_processing_cancel(int64_t cashout_id, std::string_view owner,
                                            CancelRequestState previous_state,
                                            std::optional<int64_t> previous_requested_at) = 0;
  // Makes a payout due for the engine at `at` (a connector's callback said it changed), when it
  // is processing, settling, action_required or completed; kNotFound otherwise.
  virtual Status poke_engine_task(int64_t cashout_id, int64_t at) = 0;
};

}  // namespace payoutd
