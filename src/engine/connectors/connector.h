// A connector moves money on a payment rail (domain.md "Connectors"). The engine talks to every
// rail through this interface only.
//
// Contract every connector keeps:
// - submit() is idempotent by ConnectorPayout::key (the payout's public id): submitting a key the
//   rail already has must not pay twice. The engine still never submits a key twice on purpose: it
//   claims the payout (a lease in the database) and, after a crash, asks query() before
//   submitting again.
// - A call that cannot learn the rail's answer (timeout, connection lost after sending) returns
//   RailState::kUnknown. The engine then reconciles with query() on a backoff and never guesses:
//   nothing is refunded until the rail says it failed or was cancelled.
// - Calls are bounded by the connector's own timeouts, which must stay below the engine's lease.
// - Implementations are called from several threads at once.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/types.h"

namespace payoutd::engine {

// What the engine hands a connector: the payout as the rail needs it.
struct ConnectorPayout {
  int64_t cashout_id = 0;
  std::string key;  // public id: the submission's idempotency key
  int64_t amount_minor = 0;
  std::string currency;
  std::string country;
  Beneficiary beneficiary;
  std::optional<int64_t> cancel_requested_at;
};

// The rail's view of a payout.
enum class RailState : uint8_t {
  kUnknown = 0,     // no answer (timeout): ask again later
  kNotFound,        // the rail has never received this payout
  kProcessing,      // received, not yet paid out
  kSettling,        // accepted, funds on their way
  kActionRequired,  // the rail needs something (e.g. verification)
  kCompleted,       // paid
  kFailed,          // rejected (rejection_code says why); never paid
  kReversed,        // was paid, then returned by the bank
  kCancelled,       // cancelled at our request before it went out
};
std::string_view rail_state_name(RailState state);

struct RailStatus {
  RailState state = RailState::kUnknown;
  std::optional<int> rejection_code;  // kFailed: a v3 rejection code (800..826)
  std::optional<std::string> reference;       // the rail's id for the payout
  std::optional<std::string> bank_reference;  // shown as bank_reference_id
  // When the rail expects its answer to change (the engine looks again then). Null: the state is
  // final as far as the rail knows, unless a callback says otherwise.
  std::optional<int64_t> recheck_at;
  std::string message;  // free text for the event
};

enum class CancelAnswer : uint8_t {
  kCancelled = 0,  // the rail stopped it: the payout may become cancelled and be refunded
  kTooLate,        // already out: the cancel is refused
  kLater,          // the rail will answer later (the engine asks again / a callback tells)
  kUnknown,        // no answer (timeout): treated as kLater, never as cancelled
};
std::string_view cancel_answer_name(CancelAnswer answer);

// A callback from the rail, parsed and authenticated: which payout changed. It is a hint only:
// the engine asks the rail (query) for the state, so a forged or replayed callback can at most
// make it look earlier; it never moves money by itself.
struct RailCallback {
  std::string key;  // the payout's public id
};

class Connector {
 public:
  virtual ~Connector() = default;

  virtual std::string_view name() const = 0;
  // False for `manual`: the engine never submits, an operator moves payouts past `queued`.
  virtual bool submits_automatically() const = 0;

  // One answer per payout, in order. `now` is the engine's clock (injected).
  virtual std::vector<RailStatus> submit(std::span<const ConnectorPayout> payouts,
                                         int64_t now) = 0;
  virtual std::vector<RailStatus> query(std::span<const ConnectorPayout> payouts,
                                        int64_t now) = 0;
  virtual CancelAnswer try_cancel(const ConnectorPayout& payout, int64_t now) = 0;

  // Parses and authenticates a callback the rail sent to POST /connectors/<name>/callback.
  // kUnauthenticated for a bad signature (or a connector that takes no callbacks),
  // kInvalidArgument for a malformed body.
  virtual Result<RailCallback> parse_callback(std::string_view body,
                                              std::string_view signature_header) = 0;
};

}  // namespace payoutd::engine
