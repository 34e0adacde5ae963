// Process-wide logging set-up (spdlog): logs go to stderr, as text or one JSON object per line.
// The configured logger becomes spdlog's default logger, so every room that logs through spdlog's
// free functions (spdlog::info, ...) uses it.
#pragma once

#include <string_view>

#include "core/status.h"

namespace payoutd::cli {

// REQUIRES: `level` is a config::is_known_log_level name, `format` is "text" or "json".
Status configure_logging(std::string_view level, std::string_view format);

}  // namespace payoutd::cli
