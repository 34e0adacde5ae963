#include "config/config.h"

#include <arpa/inet.h>
#include <toml++/toml.h>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

namespace payoutd::config {
namespace {

Status config_error(std::string_view source_name, std::string message) {
  return Status::invalid_argument("config", std::string(source_name) + ": " + message);
}

// Decimal integer with an optional leading '-', nothing else; bounded length so no overflow.
std::optional<int64_t> parse_small_integer(std::string_view text) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  bool negative = false;
  if (text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
    if (text.empty()) return std::nullopt;
  }
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return negative ? -value : value;
}

// One TOML key: its name and how to store its value.
enum class KeyType : uint8_t { kString, kInteger, kBoolean };

struct KeySpec {
  std::string_view name;
  KeyType type;
};

constexpr KeySpec kKeys[] = {
    {"db", KeyType::kString},
    {"listen", KeyType::kString},
    {"threads", KeyType::kInteger},
    {"connector", KeyType::kString},
    {"engine", KeyType::kBoolean},
    {"master_key_file", KeyType::kString},
    {"allow_private_callbacks", KeyType::kBoolean},
    {"log_level", KeyType::kString},
    {"log_format", KeyType::kString},
    {"brand", KeyType::kString},
};

std::string_view type_name(KeyType type) {
  switch (type) {
    case KeyType::kString:
      return "a string";
    case KeyType::kInteger:
      return "an integer";
    case KeyType::kBoolean:
      return "a boolean";
  }
  return "?";
}

void store_string(std::string_view key, std::string value, Settings& settings) {
  if (key == "db") settings.database_url = std::move(value);
  if (key == "listen") settings.listen = std::move(value);
  if (key == "connector") settings.connector = std::move(value);
  if (key == "master_key_file") settings.master_key_file = std::move(value);
  if (key == "log_level") settings.log_level = std::move(value);
  if (key == "log_format") settings.log_format = std::move(value);
  if (key == "brand") settings.brand = std::move(value);
}

Status apply_parsed_table(const toml::table& table, std::string_view source_name,
                          Settings& settings) {
  for (const auto& [key, node] : table) {
    const std::string_view name = key.str();
    const KeySpec* spec = nullptr;
    for (const KeySpec& candidate : kKeys) {
      if (candidate.name == name) spec = &candidate;
    }
    if (spec == nullptr) {
      return config_error(source_name, "unknown key '" + std::string(name) + "'");
    }
    const std::string wrong_type =
        "key '" + std::string(name) + "' must be " + std::string(type_name(spec->type));
    switch (spec->type) {
      case KeyType::kString: {
        const auto* value = node.as_string();
        if (value == nullptr) return config_error(source_name, wrong_type);
        store_string(name, value->get(), settings);
        break;
      }
      case KeyType::kInteger: {
        const auto* value = node.as_integer();
        if (value == nullptr) return config_error(source_name, wrong_type);
        const int64_t number = value->get();
        if (number < 0 || number > kMaxThreads) {
          return config_error(source_name,
                              "key 'threads' must be between 0 and " + std::to_string(kMaxThreads));
        }
        settings.threads = static_cast<int>(number);
        break;
      }
      case KeyType::kBoolean: {
        const auto* value = node.as_boolean();
        if (value == nullptr) return config_error(source_name, wrong_type);
        if (name == "engine") settings.engine = value->get();
        if (name == "allow_private_callbacks") settings.allow_private_callbacks = value->get();
        break;
      }
    }
  }
  return Status::ok();
}

}  // namespace

EnvironmentLookup process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const std::string key(name);
    const char* value = std::getenv(key.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Status apply_toml(std::string_view text, std::string_view source_name, Settings& settings) {
  // toml++ reports parse errors by throwing; this is start-up code, so the boundary is here.
  try {
    toml::table table = toml::parse(text, source_name);
    return apply_parsed_table(table, source_name, settings);
  } catch (const toml::parse_error& error) {
    std::ostringstream message;
    message << "line " << error.source().begin.line << ": " << error.description();
    return config_error(source_name, message.str());
  } catch (const std::exception& error) {
    return config_error(source_name, error.what());
  }
}

Status apply_toml_file(const std::string& path, Settings& settings) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return config_error(path, "cannot open the config file");
  std::string text;
  text.resize(kMaxConfigFileBytes + 1);
  file.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(file.gcount()));
  if (text.size() > kMaxConfigFileBytes) {
    return config_error(path, "config file larger than 64 KiB");
  }
  return apply_toml(text, path, settings);
}

Result<Settings> load_settings(const FlagOverrides& flags, const EnvironmentLookup& environment,
                               bool stderr_is_terminal) {
  Settings settings;
  settings.log_format = stderr_is_terminal ? "text" : "json";

  // Layer 3: the config file.
  if (flags.config_file) {
    PAYOUTD_RETURN_IF_ERROR(apply_toml_file(*flags.config_file, settings));
  }

  // Layer 2: the environment.
  if (auto value = environment("PAYOUTD_DB")) settings.database_url = *value;
  if (auto value = environment("PAYOUTD_LISTEN")) settings.listen = *value;
  if (auto value = environment("PAYOUTD_THREADS")) {
    std::optional<int64_t> number = parse_small_integer(*value);
    if (!number || *number < 0 || *number > kMaxThreads) {
      return Status::invalid_argument(
          "threads",
          "PAYOUTD_THREADS must be an integer between 0 and " + std::to_string(kMaxThreads));
    }
    settings.threads = static_cast<int>(*number);
  }
  if (auto value = environment("PAYOUTD_CONNECTOR")) settings.connector = *value;
  if (auto value = environment("PAYOUTD_MASTER_KEY")) settings.master_key_hex = *value;
  if (auto value = environment("PAYOUTD_BRAND")) settings.brand = *value;

  // Layer 1: flags.
  if (flags.database_url) settings.database_url = *flags.database_url;
  if (flags.listen) settings.listen = *flags.listen;
  if (flags.threads) settings.threads = *flags.threads;
  if (flags.connector) settings.connector = *flags.connector;
  if (flags.engine) settings.engine = *flags.engine;
  if (flags.master_key_file) settings.master_key_file = *flags.master_key_file;
  if (flags.allow_private_callbacks)
    settings.allow_private_callbacks = *flags.allow_private_callbacks;
  if (flags.log_level) settings.log_level = *flags.log_level;
  if (flags.log_format) settings.log_format = *flags.log_format;
  if (flags.brand) settings.brand = *flags.brand;

  PAYOUTD_RETURN_IF_ERROR(validate(settings));
  return settings;
}

Result<ListenAddress> parse_listen_address(std::string_view text) {
  const Status invalid = Status::invalid_argument(
      "listen", "listen address '" + std::string(text) + "' is not host:port");
  if (text.empty() || text.size() > 300) return invalid;
  ListenAddress address;
  std::string_view port_text;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return invalid;
    }
    address.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return invalid;
    address.host = std::string(text.substr(0, colon));
    // An unbracketed IPv6 address would leave colons in the host part.
    if (address.host.find(':') != std::string::npos) return invalid;
    port_text = text.substr(colon + 1);
  }
  if (address.host == "localhost") address.host = "127.0.0.1";
  // The server binds IP literals only (no name resolution at start-up).
  if (address.host.empty() || address.host.size() >= INET6_ADDRSTRLEN) return invalid;
  in6_addr parsed{};
  if (inet_pton(AF_INET, address.host.c_str(), &parsed) != 1 &&
      inet_pton(AF_INET6, address.host.c_str(), &parsed) != 1) {
    return Status::invalid_argument(
        "listen", "listen address '" + std::string(text) + "' does not start with an IP address");
  }
  if (port_text.empty() || port_text.size() > 5) return invalid;
  std::optional<int64_t> port = parse_small_integer(port_text);
  if (!port || port_text.front() == '-' || *port > 65535) return invalid;
  address.port = static_cast<uint16_t>(*port);
  return address;
}

int effective_threads(const Settings& settings) {
  if (settings.threads > 0) return settings.threads;
  const unsigned cores = std::thread::hardware_concurrency();
  if (cores == 0) return 1;
  return static_cast<int>(cores > static_cast<unsigned>(kMaxThreads) ? kMaxThreads : cores);
}

bool is_known_log_level(std::string_view name) {
  return name == "trace" || name == "debug" || name == "info" || name == "warn" ||
         name == "error" || name == "critical" || name == "off";
}

bool is_known_connector(std::string_view name) { return name == "sandbox" || name == "manual"; }

bool is_known_database_scheme(std::string_view url) {
  // Schemes are case-insensitive (RFC 3986), as the store's URL parser treats them.
  const size_t end = url.find("://");
  if (end == std::string_view::npos) return false;
  std::string scheme(url.substr(0, end));
  for (char& c : scheme) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return scheme == "sqlite" || scheme == "postgresql" || scheme == "postgres";
}

Status validate(const Settings& settings) {
  if (!is_known_database_scheme(settings.database_url)) {
    return Status::invalid_argument(
        "db", "database URL must start with sqlite:// or postgresql:// (got '" +
                  std::string(settings.database_url.substr(0, settings.database_url.find(':'))) +
                  "')");
  }
  if (settings.database_url.ends_with("://")) {
    return Status::invalid_argument("db",
                                    "database URL '" + settings.database_url + "' has no path");
  }
  Result<ListenAddress> listen = parse_listen_address(settings.listen);
  if (!listen.is_ok()) return std::move(listen).status();
  if (settings.threads < 0 || settings.threads > kMaxThreads) {
    return Status::invalid_argument("threads",
                                    "threads must be between 0 and " + std::to_string(kMaxThreads));
  }
  if (!is_known_connector(settings.connector)) {
    return Status::invalid_argument(
        "connector", "unknown connector '" + settings.connector + "' (sandbox, manual)");
  }
  if (!is_known_log_level(settings.log_level)) {
    return Status::invalid_argument("log_level",
                                    "unknown log level '" + settings.log_level +
                                        "' (trace, debug, info, warn, error, critical, off)");
  }
  if (settings.log_format != "text" && settings.log_format != "json") {
    return Status::invalid_argument(
        "log_format", "unknown log format '" + settings.log_format + "' (text, json)");
  }
  if (settings.master_key_file.empty()) {
    return Status::invalid_argument("master_key_file", "master key file path is empty");
  }
  if (settings.brand.empty() || settings.brand.size() > 100) {
    return Status::invalid_argument("brand", "brand must be 1 to 100 characters");
  }
  return Status::ok();
}

}  // namespace payoutd::config
