// Access log: one JSON line per answered request.
//
// A line carries only what is safe to keep: never a header, never a body, never the query string
// (v3 bodies hold `pass`, v1 requests carry `Authorization: Bearer ...`, query strings may hold
// filters or tokens). Example:
// {"ts":"2024-01-15T10:30:00.123Z","request_id":"...","remote":"127.0.0.1","method":"POST",
//  "route":"v3_cashout_cancel","path":"/v3/cashout/cancel","status":200,"bytes_in":312,
//  "bytes_out":45,"duration_ms":1.734}
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace payoutd::http {

// Receives one complete line (no trailing newline). Called from I/O threads, concurrently:
// a sink must be thread-safe.
using AccessLog = std::function<void(std::string_view line)>;

struct AccessLogEntry {
  int64_t timestamp_micros = 0;  // Unix epoch, UTC: when the response was written
  std::string_view request_id;
  std::string_view remote_address;
  std::string_view method;
  std::string_view route_name;
  std::string_view path;  // REQUIRES: without the query string
  int status = 0;
  uint64_t bytes_in = 0;   // request bytes consumed (header + body framing)
  uint64_t bytes_out = 0;  // response bytes written
  double duration_ms = 0;
};

std::string format_access_log_line(const AccessLogEntry& entry);

// "2024-01-15T10:30:00.123Z"
std::string format_rfc3339_millis(int64_t unix_micros);

// The default sink: spdlog's default logger at info level.
AccessLog spdlog_access_log();

}  // namespace payoutd::http
