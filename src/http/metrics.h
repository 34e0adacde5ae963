// A small metrics registry rendered in the Prometheus text exposition format 0.0.4.
//
// Registration (counter()/gauge()/histogram()) takes a mutex and returns a reference that stays
// valid for the registry's lifetime: look a series up once, keep the reference, and update it from
// any thread. Updates are lock-free atomics (relaxed: a scrape may see a histogram's buckets a few
// observations apart from its sum, which Prometheus tolerates).
//
// Names must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* (not "le" on a
// histogram); label values are free text, escaped when rendered. Asking for a name already used
// by another metric type, or for a histogram with other buckets, is a programming error (assert).
// Keep label values bounded (route names, status codes), never raw paths or ids.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace payoutd::http {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void increment(uint64_t delta = 1) { value_.fetch_add(delta, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void set(int64_t value) { value_.store(value, std::memory_order_relaxed); }
  void add(int64_t delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  void subtract(int64_t delta) { value_.fetch_sub(delta, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

class Histogram {
 public:
  // REQUIRES: upper_bounds strictly increasing, finite, non-empty (+Inf is implicit).
  explicit Histogram(std::vector<double> upper_bounds);

  void observe(double value);

  const std::vector<double>& upper_bounds() const { return upper_bounds_; }
  // Observations in bucket i alone (not cumulative); i == upper_bounds().size() is the +Inf bucket.
  uint64_t bucket_count(size_t index) const;
  uint64_t count() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> bucket_counts_;  // upper_bounds_.size() + 1 entries
  std::atomic<double> sum_{0.0};
};

// 0.0005 s .. 10 s, for request and commit latencies.
std::vector<double> latency_buckets_seconds();

class Metrics {
 public:
  Metrics() = default;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The same (name, labels) returns the same series; label order does not matter.
  Counter& counter(std::string_view name, std::string_view help, MetricLabels labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, MetricLabels labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, MetricLabels labels,
                       std::vector<double> upper_bounds);

  // A collector runs at the start of every render() (outside the registry lock), to copy values
  // owned elsewhere (the store writer's batch statistics, queue depths) into gauges and counters.
  // Collectors must be cheap and must not call render().
  void add_collector(std::function<void(Metrics&)> collector);

  // Every family sorted by name, series in registration order. Text format 0.0.4.
  std::string render();

  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Series {
    MetricLabels labels;  // sorted by name
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  struct Family {
    Type type;
    std::string help;
    std::vector<std::unique_ptr<Series>> series;
  };

  Series& find_or_add(std::string_view name, std::string_view help, Type type, MetricLabels labels,
                      const std::vector<double>* upper_bounds);

  mutable std::mutex mutex_;  // guards families_' structure, never a value
  std::mutex collectors_mutex_;
  std::vector<std::function<void(Metrics&)>> collectors_;
  std::map<std::string, Family, std::less<>> families_;
};

}  // namespace payoutd::http
