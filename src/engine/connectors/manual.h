// The `manual` connector: nothing moves past `queued` by itself. Operators move payouts with
// `payoutd payout set-status` (standing in for the rail), so the engine never submits or polls.
#pragma once

#include "engine/connectors/connector.h"

namespace payoutd::engine {

inline constexpr std::string_view kManualConnectorName = "manual";

class ManualConnector final : public Connector {
 public:
  std::string_view name() const override { return kManualConnectorName; }
  bool submits_automatically() const override { return false; }
  // Never called by the engine (submits_automatically() is false); answers "unknown".
  std::vector<RailStatus> submit(std::span<const ConnectorPayout> payouts, int64_t now) override;
  std::vector<RailStatus> query(std::span<const ConnectorPayout> payouts, int64_t now) override;
  // A person decides: the cancel is recorded as requested (v1 202) and an operator resolves it
  // with set-status.
  CancelAnswer try_cancel(const ConnectorPayout& payout, int64_t now) override;
  Result<RailCallback> parse_callback(std::string_view body,
                                      std::string_view signature_header) override;
};

}  // namespace payoutd::engine
