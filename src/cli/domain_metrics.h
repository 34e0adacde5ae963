// Prometheus series for what happens below the HTTP layer: commit batch sizes of the store's
// writer and payouts by status transition (operations.md, GET /metrics).
#pragma once

#include <array>
#include <optional>

#include "core/payout_status.h"
#include "http/metrics.h"
#include "store/store.h"

namespace payoutd::cli {

class DomainMetrics {
 public:
  // Registers every series up front so that recording never takes the registry's lock.
  DomainMetrics(http::Metrics& metrics, Store& store);

  // Called on the writer thread after each committed status change. Lock-free.
  void on_transition(std::optional<PayoutStatus> from, PayoutStatus to);

 private:
  static constexpr size_t kFromSlots = kPayoutStatusCount + 1;  // slot 0 = creation (from null)
  std::array<http::Counter*, kFromSlots * kPayoutStatusCount> transitions_{};
};

}  // namespace payoutd::cli
