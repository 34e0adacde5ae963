#include "http/access_log.h"

#include <gtest/gtest.h>

namespace payoutd::http {
namespace {

TEST(AccessLogTest, FormatsOneJsonLine) {
  AccessLogEntry entry;
  entry.timestamp_micros = 1'705'314'600'123'456;  // 2024-01-15T10:30:00.123456Z
  entry.request_id = "req-1";
  entry.remote_address = "127.0.0.1";
  entry.method = "POST";
  entry.route_name = "v1_cancel";
  entry.path = "/api/v1/payouts/pyt_1/cancel";
  entry.status = 200;
  entry.bytes_in = 120;
  entry.bytes_out = 45;
  entry.duration_ms = 1.23456;
  EXPECT_EQ(format_access_log_line(entry),
            R"({"ts":"2024-01-15T10:30:00.123Z","request_id":"req-1","remote":"127.0.0.1",)"
            R"("method":"POST","route":"v1_cancel","path":"/api/v1/payouts/pyt_1/cancel",)"
            R"("status":200,"bytes_in":120,"bytes_out":45,"duration_ms":1.235})");
}

TEST(AccessLogTest, EscapesWhateverTheClientSent) {
  AccessLogEntry entry;
  entry.path = "/a\"b\n\x01\xff";
  entry.method = "G\"T";
  const std::string line = format_access_log_line(entry);
  EXPECT_NE(line.find(R"("path":"/a\"b\n\u0001\u00ff")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("method":"G\"T")"), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(AccessLogTest, Rfc3339Millis) {
  EXPECT_EQ(format_rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339_millis(1'709'164'800'999'999), "2024-02-29T00:00:00.999Z");
  EXPECT_EQ(format_rfc3339_millis(-1'000), "1969-12-31T23:59:59.999Z");
}

}  // namespace
}  // namespace payoutd::http
