#include "cli/logging.h"

#include <spdlog/details/log_msg.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>

#include "json/writer.h"

namespace payoutd::cli {
namespace {

// "2024-01-15T10:30:00.123Z"
void append_utc_millis(std::string& out, std::chrono::system_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const int64_t millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count();
  const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char buffer[40];
  const int written =
      std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                    parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour,
                    parts.tm_min, parts.tm_sec, static_cast<int>(millis % 1000));
  if (written > 0) out.append(buffer, static_cast<size_t>(written));
}

// One JSON object per line: {"time":"...","level":"info","logger":"payoutd","message":"..."}.
// Escaping is done here rather than with a pattern so that any message text stays valid JSON.
class JsonStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    std::string line;
    line.reserve(128 + message.payload.size());
    line += "{\"time\":\"";
    append_utc_millis(line, message.time);
    line += "\",\"level\":\"";
    const auto level_name = spdlog::level::to_string_view(message.level);
    line.append(level_name.data(), level_name.size());
    line += "\",\"logger\":\"";
    json::append_escaped(std::string_view(message.logger_name.data(), message.logger_name.size()),
                         &line);
    line += "\",\"message\":\"";
    json::append_escaped(std::string_view(message.payload.data(), message.payload.size()), &line);
    line += "\"}\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

}  // namespace

Status configure_logging(std::string_view level, std::string_view format) {
  spdlog::sink_ptr sink;
  if (format == "json") {
    sink = std::make_shared<JsonStderrSink>();
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc));
  }
  auto logger = std::make_shared<spdlog::logger>("payoutd", std::move(sink));
  const spdlog::level::level_enum parsed = spdlog::level::from_str(std::string(level));
  logger->set_level(parsed);
  // Warnings and errors reach the terminal/collector at once; info lines may be buffered by stdio.
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  return Status::ok();
}

}  // namespace payoutd::cli
