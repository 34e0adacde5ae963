// Process settings (operations.md "Configuration").
//
// Precedence, highest first: command-line flag > environment variable > config file (TOML) >
// built-in default. Loading and validation return Status values; nothing here throws (the TOML
// parser's exceptions are caught at this boundary).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace payoutd::config {

inline constexpr int kMaxThreads = 256;
// A config file larger than this is refused before parsing (it is a handful of keys).
inline constexpr size_t kMaxConfigFileBytes = 64 * 1024;

struct Settings {
  std::string database_url = "sqlite://./var/payoutd.db";
  std::string listen = "127.0.0.1:8080";
  int threads = 0;  // 0 = number of cores (resolved by effective_threads)
  std::string connector = "sandbox";
  bool engine = true;
  std::string master_key_file = "./var/master.key";
  std::string master_key_hex;  // PAYOUTD_MASTER_KEY only (never from a file or a flag)
  bool allow_private_callbacks = false;
  std::string log_level = "info";
  std::string log_format = "json";  // load_settings picks "text" when stderr is a terminal
  std::string brand = "payoutd";
};

// Settings given on the command line. Unset = not given (lower layers decide).
struct FlagOverrides {
  std::optional<std::string> config_file;
  std::optional<std::string> database_url;
  std::optional<std::string> listen;
  std::optional<int> threads;
  std::optional<std::string> connector;
  std::optional<bool> engine;
  std::optional<std::string> master_key_file;
  std::optional<bool> allow_private_callbacks;
  std::optional<std::string> log_level;
  std::optional<std::string> log_format;
  std::optional<std::string> brand;
};

// Reads one environment variable; nullopt when unset. Injected so tests need not touch the real
// environment.
using EnvironmentLookup = std::function<std::optional<std::string>(std::string_view name)>;
EnvironmentLookup process_environment();

// Builds the effective settings from all layers and validates them.
// `stderr_is_terminal` chooses the default log format (text on a terminal, else json).
Result<Settings> load_settings(const FlagOverrides& flags, const EnvironmentLookup& environment,
                               bool stderr_is_terminal);

// Applies the keys of a TOML document onto `settings`. Unknown keys and wrong value types are
// errors that name the key. `source_name` appears in messages (usually the file path).
Status apply_toml(std::string_view text, std::string_view source_name, Settings& settings);
Status apply_toml_file(const std::string& path, Settings& settings);

// Checks every field (listen address, thread count, connector, log level/format, database URL
// scheme). The master key hex is checked where it is used (crypto knows its format).
Status validate(const Settings& settings);

struct ListenAddress {
  std::string host;   // an IP literal: "127.0.0.1", "0.0.0.0", "::1" (no brackets); "localhost"
                      // is accepted and becomes 127.0.0.1
  uint16_t port = 0;  // 0 = any free port
};
// "ip:port" or "[v6]:port". Port 0..65535.
Result<ListenAddress> parse_listen_address(std::string_view text);

// threads == 0 resolves to the number of cores (at least 1).
int effective_threads(const Settings& settings);

// Valid values.
bool is_known_log_level(std::string_view name);       // trace debug info warn error critical off
bool is_known_connector(std::string_view name);       // sandbox manual
bool is_known_database_scheme(std::string_view url);  // sqlite:// postgresql:// postgres://

}  // namespace payoutd::config
