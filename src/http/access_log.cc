#include "http/access_log.h"

#include <spdlog/spdlog.h>

#include <cinttypes>
#include <cstdio>
#include <ctime>

#include "http/request.h"

namespace payoutd::http {

std::string format_rfc3339_millis(int64_t unix_micros) {
  // Floor division so instants before 1970 still print a valid (if unusual) time.
  int64_t seconds = unix_micros / 1'000'000;
  int64_t micros = unix_micros % 1'000'000;
  if (micros < 0) {
    micros += 1'000'000;
    seconds -= 1;
  }
  const auto time = static_cast<std::time_t>(seconds);
  std::tm parts{};
  gmtime_r(&time, &parts);
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900,
                parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                static_cast<int>(micros / 1000));
  return buffer;
}

std::string format_access_log_line(const AccessLogEntry& entry) {
  std::string line;
  line.reserve(256);
  const auto add_string = [&line](std::string_view key, std::string_view value) {
    line += ",\"";
    line += key;
    line += "\":\"";
    append_json_escaped(line, value);
    line.push_back('"');
  };
  line += "{\"ts\":\"";
  line += format_rfc3339_millis(entry.timestamp_micros);
  line.push_back('"');
  add_string("request_id", entry.request_id);
  add_string("remote", entry.remote_address);
  add_string("method", entry.method);
  add_string("route", entry.route_name);
  add_string("path", entry.path);
  char numbers[160];
  std::snprintf(numbers, sizeof numbers,
                ",\"status\":%d,\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
                ",\"duration_ms\":%.3f}",
                entry.status, entry.bytes_in, entry.bytes_out,
                entry.duration_ms >= 0 ? entry.duration_ms : 0.0);
  line += numbers;
  return line;
}

AccessLog spdlog_access_log() {
  return [](std::string_view line) { spdlog::info("{}", line); };
}

}  // namespace payoutd::http
