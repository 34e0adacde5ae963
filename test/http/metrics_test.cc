#include "http/metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace payoutd::http {
namespace {

TEST(MetricsTest, CounterGaugeRender) {
  Metrics metrics;
  Counter& ok = metrics.counter("t_requests_total", "Requests.", {{"status", "200"}, {"route", "a"}});
  Counter& bad = metrics.counter("t_requests_total", "Requests.", {{"route", "a"}, {"status", "500"}});
  ok.increment();
  ok.increment(2);
  bad.increment();
  Gauge& backlog = metrics.gauge("t_backlog", "Outbox backlog.");
  backlog.set(10);
  backlog.subtract(3);
  backlog.add(1);
  EXPECT_EQ(ok.value(), 3u);
  EXPECT_EQ(backlog.value(), 8);
  EXPECT_EQ(metrics.render(),
            "# HELP t_backlog Outbox backlog.\n"
            "# TYPE t_backlog gauge\n"
            "t_backlog 8\n"
            "# HELP t_requests_total Requests.\n"
            "# TYPE t_requests_total counter\n"
            "t_requests_total{route=\"a\",status=\"200\"} 3\n"
            "t_requests_total{route=\"a\",status=\"500\"} 1\n");
}

TEST(MetricsTest, SameNameAndLabelsInAnyOrderIsTheSameSeries) {
  Metrics metrics;
  Counter& first = metrics.counter("t_total", "h", {{"a", "1"}, {"b", "2"}});
  Counter& second = metrics.counter("t_total", "h", {{"b", "2"}, {"a", "1"}});
  Counter& other = metrics.counter("t_total", "h", {{"a", "1"}, {"b", "3"}});
  EXPECT_EQ(&first, &second);
  EXPECT_NE(&first, &other);
}

TEST(MetricsTest, LabelValuesAndHelpAreEscaped) {
  Metrics metrics;
  metrics.counter("t_total", "line one\nback\\slash \"quoted\"", {{"route", "a\"b\\c\nd"}}).increment();
  EXPECT_EQ(metrics.render(),
            "# HELP t_total line one\\nback\\\\slash \"quoted\"\n"
            "# TYPE t_total counter\n"
            "t_total{route=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAndLessOrEqual) {
  Metrics metrics;
  Histogram& histogram = metrics.histogram("t_seconds", "Latency.", {{"route", "r"}}, {0.25, 1, 2.5});
  for (double value : {0.125, 0.25, 0.5, 1.0, 3.0, 100.0}) histogram.observe(value);
  EXPECT_EQ(histogram.count(), 6u);
  EXPECT_EQ(histogram.sum(), 104.875);  // exactly representable
  EXPECT_EQ(histogram.bucket_count(0), 2u);  // 0.125, 0.25 (le is inclusive)
  EXPECT_EQ(histogram.bucket_count(1), 2u);  // 0.5, 1.0
  EXPECT_EQ(histogram.bucket_count(2), 0u);
  EXPECT_EQ(histogram.bucket_count(3), 2u);  // +Inf
  const std::string text = metrics.render();
  EXPECT_NE(text.find("# TYPE t_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("t_seconds_bucket{route=\"r\",le=\"0.25\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("t_seconds_bucket{route=\"r\",le=\"1\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("t_seconds_bucket{route=\"r\",le=\"2.5\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("t_seconds_bucket{route=\"r\",le=\"+Inf\"} 6\n"), std::string::npos);
  EXPECT_NE(text.find("t_seconds_sum{route=\"r\"} 104.875\n"), std::string::npos);
  EXPECT_NE(text.find("t_seconds_count{route=\"r\"} 6\n"), std::string::npos);
}

TEST(MetricsTest, LatencyBucketsSpanHalfAMillisecondToTenSeconds) {
  const std::vector<double> buckets = latency_buckets_seconds();
  ASSERT_FALSE(buckets.empty());
  EXPECT_DOUBLE_EQ(buckets.front(), 0.0005);
  EXPECT_DOUBLE_EQ(buckets.back(), 10.0);
  for (size_t i = 1; i < buckets.size(); ++i) EXPECT_LT(buckets[i - 1], buckets[i]);
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Metrics metrics;
  Counter& counter = metrics.counter("t_total", "h");
  Histogram& histogram = metrics.histogram("t_seconds", "h", {}, latency_buckets_seconds());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Registration from many threads at once returns the one series.
      Counter& mine = metrics.counter("t_by_thread_total", "h", {{"shared", "yes"}});
      for (int i = 0; i < kPerThread; ++i) {
        counter.increment();
        mine.increment();
        histogram.observe(0.001 * (t + 1));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.value(), uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(metrics.counter("t_by_thread_total", "h", {{"shared", "yes"}}).value(),
            uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(histogram.count(), uint64_t{kThreads} * kPerThread);
}

TEST(MetricsDeathTest, MisuseIsAProgrammingError) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Metrics metrics;
        metrics.counter("t_x", "h");
        metrics.gauge("t_x", "h");
      },
      "");
  EXPECT_DEATH(
      {
        Metrics metrics;
        metrics.counter("bad-name", "h");
      },
      "");
  EXPECT_DEATH(
      {
        Metrics metrics;
        metrics.histogram("t_h", "h", {{"le", "1"}}, {1.0});
      },
      "");
  EXPECT_DEATH(
      {
        Metrics metrics;
        metrics.histogram("t_h", "h", {}, {2.0, 1.0});
      },
      "");
}

}  // namespace
}  // namespace payoutd::http

namespace payoutd::http {
namespace {

TEST(MetricsCollectorTest, CollectorsRunBeforeEachRender) {
  Metrics metrics;
  int64_t source = 3;
  metrics.add_collector([&source](Metrics& registry) {
    registry.gauge("payoutd_test_depth", "Queue depth copied at render time").set(source);
  });
  EXPECT_NE(metrics.render().find("payoutd_test_depth 3\n"), std::string::npos);
  source = 11;
  EXPECT_NE(metrics.render().find("payoutd_test_depth 11\n"), std::string::npos);
}

}  // namespace
}  // namespace payoutd::http
