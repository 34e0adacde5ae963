#include "cli/domain_metrics.h"

#include <string>

namespace payoutd::cli {
namespace {

constexpr std::string_view kTransitionsName = "payoutd_payout_transitions_total";
constexpr std::string_view kTransitionsHelp = "Committed payout status changes by from and to status";

size_t slot(std::optional<PayoutStatus> from, PayoutStatus to) {
  const size_t from_slot = from ? static_cast<size_t>(*from) + 1 : 0;
  return from_slot * kPayoutStatusCount + static_cast<size_t>(to);
}

}  // namespace

DomainMetrics::DomainMetrics(http::Metrics& metrics, Store& store) {
  // Only edges of the transition table (and creation) can ever be counted; registering just those
  // keeps /metrics readable.
  transitions_[slot(std::nullopt, PayoutStatus::kCreated)] = &metrics.counter(
      kTransitionsName, kTransitionsHelp, {{"from", "null"}, {"to", "created"}});
  for (PayoutStatus from : kAllPayoutStatuses) {
    for (PayoutStatus to : kAllPayoutStatuses) {
      const bool legal = check_transition(from, to, Actor::kOperator).is_ok() ||
                         check_transition(from, to, Actor::kClient).is_ok() ||
                         check_transition(from, to, Actor::kSystem).is_ok() ||
                         check_transition(from, to, Actor::kProvider).is_ok();
      if (!legal) continue;
      transitions_[slot(from, to)] = &metrics.counter(
          kTransitionsName, kTransitionsHelp,
          {{"from", std::string(status_name(from))}, {"to", std::string(status_name(to))}});
    }
  }

  // The writer's statistics live in the store; copy them at scrape time.
  metrics.add_collector([&store](http::Metrics& registry) {
    const WriterStats stats = store.writer_stats();
    registry.gauge("payoutd_commit_batches_total", "Write transactions committed (one fsync each)")
        .set(static_cast<int64_t>(stats.batches_committed));
    registry.gauge("payoutd_commit_ops_total", "Write operations in committed batches")
        .set(static_cast<int64_t>(stats.ops_committed));
    registry.gauge("payoutd_commit_ops_refused_total",
                   "Operations whose own checks refused them (rolled back to their savepoint)")
        .set(static_cast<int64_t>(stats.ops_refused));
    registry.gauge("payoutd_commit_batches_failed_total", "Batches whose BEGIN or COMMIT failed")
        .set(static_cast<int64_t>(stats.batches_failed));
    registry
        .gauge("payoutd_commit_write_groups_total",
               "PostgreSQL: groups of cancels written together, one statement per table")
        .set(static_cast<int64_t>(stats.write_groups));
    registry
        .gauge("payoutd_commit_write_groups_fallen_back_total",
               "PostgreSQL: write groups rolled back and applied op by op instead")
        .set(static_cast<int64_t>(stats.write_groups_fallen_back));
    // Cumulative, as a Prometheus histogram's buckets are.
    uint64_t cumulative = 0;
    for (size_t i = 0; i < stats.batch_size_buckets.size(); ++i) {
      cumulative += stats.batch_size_buckets[i];
      const std::string bound = i < kBatchSizeBucketBounds.size()
                                    ? std::to_string(kBatchSizeBucketBounds[i])
                                    : std::string("+Inf");
      registry
          .gauge("payoutd_commit_batch_size_le", "Committed batches with at most `le` operations",
                 {{"le", bound}})
          .set(static_cast<int64_t>(cumulative));
    }
  });
}

void DomainMetrics::on_transition(std::optional<PayoutStatus> from, PayoutStatus to) {
  http::Counter* counter = transitions_[slot(from, to)];
  PAYOUTD_ASSERT(counter != nullptr);  // only legal edges commit
  counter->increment();
}

}  // namespace payoutd::cli
