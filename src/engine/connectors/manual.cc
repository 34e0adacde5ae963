#include "engine/connectors/manual.h"

namespace payoutd::engine {

std::vector<RailStatus> ManualConnector::submit(std::span<const ConnectorPayout> payouts,
                                                int64_t now) {
  (void)now;
  return std::vector<RailStatus>(payouts.size());  // RailState::kUnknown
}

std::vector<RailStatus> ManualConnector::query(std::span<const ConnectorPayout> payouts,
                                               int64_t now) {
  (void)now;
  return std::vector<RailStatus>(payouts.size());
}

CancelAnswer ManualConnector::try_cancel(const ConnectorPayout& payout, int64_t now) {
  (void)payout;
  (void)now;
  return CancelAnswer::kLater;
}

Result<RailCallback> ManualConnector::parse_callback(std::string_view body,
                                                     std::string_view signature_header) {
  (void)body;
  (void)signature_header;
  return Status::error(ErrorKind::kUnauthenticated, "the manual connector takes no callbacks");
}

}  // namespace payoutd::engine
