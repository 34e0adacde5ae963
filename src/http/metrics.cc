#include "http/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/status.h"

namespace payoutd::http {
namespace {

bool is_valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

bool is_valid_label_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

// Exposition format: in HELP text escape '\\' and '\n'; in label values also '"'.
void append_escaped(std::string& out, std::string_view text, bool escape_quote) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out.push_back(c);
    }
  }
}

void append_double(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

// `{a="1",b="2"}` plus an optional trailing extra label (the histogram's `le`); nothing when empty.
void append_labels(std::string& out, const MetricLabels& labels, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return;
  out.push_back('{');
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out.push_back(',');
    first = false;
    out += name;
    out += "=\"";
    append_escaped(out, value, /*escape_quote=*/true);
    out.push_back('"');
  }
  if (!extra_name.empty()) {
    if (!first) out.push_back(',');
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out.push_back('"');
  }
  out.push_back('}');
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds) : upper_bounds_(std::move(upper_bounds)) {
  PAYOUTD_ASSERT(!upper_bounds_.empty());
  for (size_t i = 0; i < upper_bounds_.size(); ++i) {
    PAYOUTD_ASSERT(std::isfinite(upper_bounds_[i]));
    PAYOUTD_ASSERT(i == 0 || upper_bounds_[i - 1] < upper_bounds_[i]);
  }
  bucket_counts_ = std::make_unique<std::atomic<uint64_t>[]>(upper_bounds_.size() + 1);
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) bucket_counts_[i].store(0);
}

void Histogram::observe(double value) {
  if (std::isnan(value)) return;  // would poison the sum; no caller means to record one
  // First bucket whose upper bound is >= value (Prometheus buckets are "less than or equal").
  const auto it = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value);
  const auto index = static_cast<size_t>(it - upper_bounds_.begin());
  bucket_counts_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

uint64_t Histogram::bucket_count(size_t index) const {
  PAYOUTD_ASSERT(index <= upper_bounds_.size());
  return bucket_counts_[index].load(std::memory_order_relaxed);
}

uint64_t Histogram::count() const {
  uint64_t total = 0;
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) total += bucket_count(i);
  return total;
}

std::vector<double> latency_buckets_seconds() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

Counter& Metrics::counter(std::string_view name, std::string_view help, MetricLabels labels) {
  return *find_or_add(name, help, Type::kCounter, std::move(labels), nullptr).counter;
}

Gauge& Metrics::gauge(std::string_view name, std::string_view help, MetricLabels labels) {
  return *find_or_add(name, help, Type::kGauge, std::move(labels), nullptr).gauge;
}

Histogram& Metrics::histogram(std::string_view name, std::string_view help, MetricLabels labels,
                              std::vector<double> upper_bounds) {
  return *find_or_add(name, help, Type::kHistogram, std::move(labels), &upper_bounds).histogram;
}

Metrics::Series& Metrics::find_or_add(std::string_view name, std::string_view help, Type type,
                                      MetricLabels labels, const std::vector<double>* upper_bounds) {
  PAYOUTD_ASSERT(is_valid_metric_name(name));
  std::sort(labels.begin(), labels.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < labels.size(); ++i) {
    PAYOUTD_ASSERT(is_valid_label_name(labels[i].first));
    PAYOUTD_ASSERT(i == 0 || labels[i - 1].first != labels[i].first);
    PAYOUTD_ASSERT(!(type == Type::kHistogram && labels[i].first == "le"));
  }

  std::lock_guard<std::mutex> lock(mutex_);
  auto family_it = families_.find(name);
  if (family_it == families_.end()) {
    family_it = families_.emplace(std::string(name), Family{type, std::string(help), {}}).first;
  }
  Family& family = family_it->second;
  PAYOUTD_ASSERT(family.type == type);
  for (const auto& series : family.series) {
    if (series->labels != labels) continue;
    if (type == Type::kHistogram) PAYOUTD_ASSERT(series->histogram->upper_bounds() == *upper_bounds);
    return *series;
  }
  // A family's buckets are one set: every series of a histogram family shares them.
  if (type == Type::kHistogram && !family.series.empty()) {
    PAYOUTD_ASSERT(family.series.front()->histogram->upper_bounds() == *upper_bounds);
  }
  auto series = std::make_unique<Series>();
  series->labels = std::move(labels);
  switch (type) {
    case Type::kCounter: series->counter = std::make_unique<Counter>(); break;
    case Type::kGauge: series->gauge = std::make_unique<Gauge>(); break;
    case Type::kHistogram: series->histogram = std::make_unique<Histogram>(*upper_bounds); break;
  }
  family.series.push_back(std::move(series));
  return *family.series.back();
}

void Metrics::add_collector(std::function<void(Metrics&)> collector) {
  std::lock_guard<std::mutex> lock(collectors_mutex_);
  collectors_.push_back(std::move(collector));
}

std::string Metrics::render() {
  {
    // Collectors update values through the registry's public API, which takes mutex_ itself.
    std::lock_guard<std::mutex> lock(collectors_mutex_);
    for (const auto& collector : collectors_) collector(*this);
  }
  std::string out;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [name, family] : families_) {
    out += "# HELP ";
    out += name;
    out.push_back(' ');
    append_escaped(out, family.help, /*escape_quote=*/false);
    out += "\n# TYPE ";
    out += name;
    switch (family.type) {
      case Type::kCounter: out += " counter\n"; break;
      case Type::kGauge: out += " gauge\n"; break;
      case Type::kHistogram: out += " histogram\n"; break;
    }
    for (const auto& series : family.series) {
      switch (family.type) {
        case Type::kCounter:
          out += name;
          append_labels(out, series->labels);
          out.push_back(' ');
          out += std::to_string(series->counter->value());
          out.push_back('\n');
          break;
        case Type::kGauge:
          out += name;
          append_labels(out, series->labels);
          out.push_back(' ');
          out += std::to_string(series->gauge->value());
          out.push_back('\n');
          break;
        case Type::kHistogram: {
          const Histogram& histogram = *series->histogram;
          const std::vector<double>& bounds = histogram.upper_bounds();
          uint64_t cumulative = 0;
          for (size_t i = 0; i <= bounds.size(); ++i) {
            cumulative += histogram.bucket_count(i);
            std::string bound;
            if (i < bounds.size()) {
              append_double(bound, bounds[i]);
            } else {
              bound = "+Inf";
            }
            out += name;
            out += "_bucket";
            append_labels(out, series->labels, "le", bound);
            out.push_back(' ');
            out += std::to_string(cumulative);
            out.push_back('\n');
          }
          out += name;
          out += "_sum";
          append_labels(out, series->labels);
          out.push_back(' ');
          append_double(out, histogram.sum());
          out.push_back('\n');
          out += name;
          out += "_count";
          append_labels(out, series->labels);
          out.push_back(' ');
          out += std::to_string(cumulative);  // equals the +Inf bucket, as the format requires
          out.push_back('\n');
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace payoutd::http
