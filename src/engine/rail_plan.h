// Pure rules: which transitions bring a payout from its status to what the rail reports.
#pragma once

#include <vector>

#include "core/payout_status.h"
#include "engine/connectors/connector.h"

namespace payoutd::engine {

// The statuses to pass through, in order, for a payout in `current` whose rail reports `state`.
// Empty when nothing changes or when the rail's report cannot apply (e.g. a rail "completed" for
// a payout the merchant already cancelled: that is logged by the caller, never forced).
// kCancelled yields a cancel only from processing (the connector's confirmation); the caller
// must have asked for it. kUnknown / kNotFound never yield a transition: nothing on a guess.
std::vector<PayoutStatus> transitions_for_rail_state(PayoutStatus current, RailState state);

// Exponential backoff for re-asking a connector after `attempts` unknown answers (attempts >= 1):
// initial_ms * 2^(attempts-1), at most max_ms.
int64_t reconcile_delay_ms(int attempts, int64_t initial_ms, int64_t max_ms);

}  // namespace payoutd::engine
