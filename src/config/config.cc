#include "config/config.h"

#include <arpa/inet.h>
#include <toml++/toml.h>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "core/money.h"

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
    {"sandbox_callback_secret", KeyType::kString},
    {"v3_rate_limit_per_second", KeyType::kInteger},
    {"v3_rate_limit_burst", KeyType::kInteger},
    {"min_amounts", KeyType::kString},
    {"max_transaction_amounts", KeyType::kString},
    {"v1_access_token_ttl_seconds", KeyType::kInteger},
    {"v1_refresh_token_ttl_seconds", KeyType::kInteger},
    {"handler_timeout_ms", KeyType::kInteger},
    {"db_read_connections", KeyType::kInteger},
    {"db_max_batch_ops", KeyType::kInteger},
    {"db_group_writes", KeyType::kBoolean},
};

// The integer timing keys: name, member, inclusive range. Every one is bounded so a typo cannot
// make the engine spin (0 ms) or sleep for years.
struct TimingKey {
  std::string_view name;
  int64_t EngineTimings::*member;
  int64_t minimum;
  int64_t maximum;
};
constexpr int64_t kDayMs = 86'400'000;
constexpr TimingKey kTimingKeys[] = {
    {"engine_batch_size", &EngineTimings::engine_batch_size, 1, 1000},
    {"engine_poll_interval_ms", &EngineTimings::engine_poll_interval_ms, 1, 60'000},
    {"engine_lease_ms", &EngineTimings::engine_lease_ms, 1'000, 3'600'000},
    {"engine_follow_up_max_ms", &EngineTimings::engine_follow_up_max_ms, 1, kDayMs},
    {"engine_reconcile_initial_ms", &EngineTimings::engine_reconcile_initial_ms, 1, kDayMs},
    {"engine_reconcile_max_ms", &EngineTimings::engine_reconcile_max_ms, 1, kDayMs},
    {"engine_cancel_recheck_ms", &EngineTimings::engine_cancel_recheck_ms, 1, kDayMs},
    {"on_hold_expiry_seconds", &EngineTimings::on_hold_expiry_seconds, 1, 366LL * 86'400},
    {"action_required_expiry_seconds", &EngineTimings::action_required_expiry_seconds, 1,
     366LL * 86'400},
    {"sandbox_settle_after_ms", &EngineTimings::sandbox_settle_after_ms, 0, kDayMs},
    {"sandbox_complete_after_ms", &EngineTimings::sandbox_complete_after_ms, 0, kDayMs},
    {"sandbox_fail_after_ms", &EngineTimings::sandbox_fail_after_ms, 0, kDayMs},
    {"sandbox_action_required_after_ms", &EngineTimings::sandbox_action_required_after_ms, 0,
     kDayMs},
    {"sandbox_cancel_answer_after_ms", &EngineTimings::sandbox_cancel_answer_after_ms, 0, kDayMs},
    {"sandbox_reversal_after_ms", &EngineTimings::sandbox_reversal_after_ms, 0, kDayMs},
    {"sandbox_unknown_for_ms", &EngineTimings::sandbox_unknown_for_ms, 0, kDayMs},
    {"notify_workers", &EngineTimings::notify_workers, 1, 256},
    {"notify_per_destination_limit", &EngineTimings::notify_per_destination_limit, 1, 256},
    {"notify_poll_interval_ms", &EngineTimings::notify_poll_interval_ms, 1, 60'000},
    {"notify_lease_ms", &EngineTimings::notify_lease_ms, 1'000, 3'600'000},
    {"notify_connect_timeout_ms", &EngineTimings::notify_connect_timeout_ms, 100, 60'000},
    {"notify_timeout_ms", &EngineTimings::notify_timeout_ms, 100, 120'000},
    {"notify_backoff_initial_ms", &EngineTimings::notify_backoff_initial_ms, 1, kDayMs},
    {"notify_backoff_max_ms", &EngineTimings::notify_backoff_max_ms, 1, kDayMs},
    {"notify_backoff_jitter_percent", &EngineTimings::notify_backoff_jitter_percent, 0, 25},
    {"notify_retry_window_seconds", &EngineTimings::notify_retry_window_seconds, 1,
     30LL * 86'400},
};

const TimingKey* find_timing_key(std::string_view name) {
  for (const TimingKey& key : kTimingKeys) {
    if (key.name == name) return &key;
  }
  return nullptr;
}

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
  if (key == "sandbox_callback_secret") settings.sandbox_callback_secret = std::move(value);
}

Status apply_parsed_table(const toml::table& table, std::string_view source_name,
                          Settings& settings) {
  for (const auto& [key, node] : table) {
    const std::string_view name = key.str();
    if (const TimingKey* timing = find_timing_key(name)) {
      const auto* value = node.as_integer();
      if (value == nullptr) {
        return config_error(source_name, "key '" + std::string(name) + "' must be an integer");
      }
      if (value->get() < timing->minimum || value->get() > timing->maximum) {
        return config_error(source_name, "key '" + std::string(name) + "' must be between " +
                                             std::to_string(timing->minimum) + " and " +
                                             std::to_string(timing->maximum));
      }
      settings.timings.*(timing->member) = value->get();
      continue;
    }
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
        if (name == "min_amounts" || name == "max_transaction_amounts") {
          Result<AmountLimits> limits = parse_amount_limits(value->get(), name);
          if (!limits.is_ok()) return config_error(source_name, limits.status().message());
          (name == "min_amounts" ? settings.minimum_amount_minor
                                 : settings.maximum_transaction_minor) = std::move(limits).value();
          break;
        }
        store_string(name, value->get(), settings);
        break;
      }
      case KeyType::kInteger: {
        const auto* value = node.as_integer();
        if (value == nullptr) return config_error(source_name, wrong_type);
        const int64_t number = value->get();
        if (name == "v1_access_token_ttl_seconds" || name == "v1_refresh_token_ttl_seconds") {
          // Ranges checked by validate() once every layer is applied.
          if (number < 1 || number > kMaxV1RefreshTokenTtlSeconds) {
            return config_error(source_name, "key '" + std::string(name) +
                                                 "' must be between 1 and 7776000");
          }
          (name == "v1_access_token_ttl_seconds" ? settings.v1_access_token_ttl_seconds
                                                 : settings.v1_refresh_token_ttl_seconds) = number;
          break;
        }
        if (name == "handler_timeout_ms") {
          if (number < kMinHandlerTimeoutMs || number > kMaxHandlerTimeoutMs) {
            return config_error(source_name, "key 'handler_timeout_ms' must be between 100 and 600000");
          }
          settings.handler_timeout_ms = number;
          break;
        }
        if (name == "v3_rate_limit_per_second" || name == "v3_rate_limit_burst") {
          // Range checked by validate() with the other layers' values.
          if (number < 0 || number > kMaxV3RateLimitPerSecond) {
            return config_error(source_name, "key '" + std::string(name) +
                                                 "' must be between 0 and 1000000");
          }
          (name == "v3_rate_limit_burst" ? settings.v3_rate_limit_burst
                                         : settings.v3_rate_limit_per_second) = number;
          break;
        }
        if (name == "db_read_connections" || name == "db_max_batch_ops") {
          // A reader is a database connection (and a PostgreSQL backend) per node; a batch is one
          // transaction, whose ops wait for its commit.
          const bool readers = name == "db_read_connections";
          const int64_t maximum = readers ? 64 : 4096;
          if (number < 1 || number > maximum) {
            return config_error(source_name, "key '" + std::string(name) +
                                                 "' must be between 1 and " +
                                                 std::to_string(maximum));
          }
          (readers ? settings.db_read_connections : settings.db_max_batch_ops) = number;
          break;
        }
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
        if (name == "db_group_writes") settings.db_group_writes = value->get();
        break;
      }
    }
  }
  return Status::ok();
}

// A rate-limit setting given as text (environment variable or flag): a decimal integer
// 0..1000000.
Status apply_rate_limit_text(const std::string& text, std::string_view what, int64_t* out) {
  std::optional<int64_t> number = parse_small_integer(text);
  if (!number || *number < 0 || *number > kMaxV3RateLimitPerSecond) {
    return Status::invalid_argument(std::string(what),
                                    std::string(what) + " must be an integer between 0 and 1000000");
  }
  *out = *number;
  return Status::ok();
}

// A token lifetime given as text (environment variable or flag): decimal seconds, range checked
// by validate().
Status apply_token_ttl_text(const std::string& text, std::string_view what, int64_t* out) {
  std::optional<int64_t> number = parse_small_integer(text);
  if (!number || *number < 1 || *number > kMaxV1RefreshTokenTtlSeconds) {
    return Status::invalid_argument(std::string(what),
                                    std::string(what) + " must be an integer between 1 and 7776000");
  }
  *out = *number;
  return Status::ok();
}

// A handler timeout given as text (environment variable or flag): decimal milliseconds.
Status apply_handler_timeout_text(const std::string& text, std::string_view what, int64_t* out) {
  std::optional<int64_t> number = parse_small_integer(text);
  if (!number || *number < kMinHandlerTimeoutMs || *number > kMaxHandlerTimeoutMs) {
    return Status::invalid_argument(std::string(what),
                                    std::string(what) + " must be an integer between 100 and 600000");
  }
  *out = *number;
  return Status::ok();
}

Status apply_amount_limits_text(const std::string& text, std::string_view what,
                                AmountLimits* out) {
  PAYOUTD_ASSIGN_OR_RETURN(AmountLimits limits, parse_amount_limits(text, what));
  *out = std::move(limits);
  return Status::ok();
}

}  // namespace

Result<AmountLimits> parse_amount_limits(std::string_view text, std::string_view what) {
  const std::string name(what);
  AmountLimits limits;
  size_t start = 0;
  while (start < text.size()) {
    const size_t comma = text.find(',', start);
    const std::string_view item =
        text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    start = comma == std::string_view::npos ? text.size() : comma + 1;
    const size_t equals = item.find('=');
    if (equals == std::string_view::npos) {
      return Status::invalid_argument(
          name, name + ": '" + std::string(item) + "' is not CURRENCY=AMOUNT (e.g. BRL=10.00)");
    }
    const std::string_view code = item.substr(0, equals);
    const Currency* currency = find_currency(code);
    if (currency == nullptr) {
      return Status::invalid_argument(name, name + ": unknown currency '" + std::string(code) + "'");
    }
    Result<int64_t> amount = parse_amount(item.substr(equals + 1), *currency);
    if (!amount.is_ok()) {
      return Status::invalid_argument(name, name + ": invalid amount for " + std::string(code) +
                                                ": " + amount.status().message());
    }
    if (!limits.emplace(std::string(code), *amount).second) {
      return Status::invalid_argument(name, name + ": " + std::string(code) + " is given twice");
    }
    if (limits.size() > kMaxAmountLimitEntries) {
      return Status::invalid_argument(name, name + ": too many currencies");
    }
  }
  return limits;
}

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
  if (auto value = environment("PAYOUTD_V3_RATE_LIMIT_PER_SECOND")) {
    PAYOUTD_RETURN_IF_ERROR(apply_rate_limit_text(*value, "PAYOUTD_V3_RATE_LIMIT_PER_SECOND",
                                                  &settings.v3_rate_limit_per_second));
  }
  if (auto value = environment("PAYOUTD_V3_RATE_LIMIT_BURST")) {
    PAYOUTD_RETURN_IF_ERROR(apply_rate_limit_text(*value, "PAYOUTD_V3_RATE_LIMIT_BURST",
                                                  &settings.v3_rate_limit_burst));
  }
  if (auto value = environment("PAYOUTD_MIN_AMOUNTS")) {
    PAYOUTD_RETURN_IF_ERROR(
        apply_amount_limits_text(*value, "PAYOUTD_MIN_AMOUNTS", &settings.minimum_amount_minor));
  }
  if (auto value = environment("PAYOUTD_V1_ACCESS_TOKEN_TTL_SECONDS")) {
    PAYOUTD_RETURN_IF_ERROR(apply_token_ttl_text(*value, "PAYOUTD_V1_ACCESS_TOKEN_TTL_SECONDS",
                                                 &settings.v1_access_token_ttl_seconds));
  }
  if (auto value = environment("PAYOUTD_V1_REFRESH_TOKEN_TTL_SECONDS")) {
    PAYOUTD_RETURN_IF_ERROR(apply_token_ttl_text(*value, "PAYOUTD_V1_REFRESH_TOKEN_TTL_SECONDS",
                                                 &settings.v1_refresh_token_ttl_seconds));
  }
  if (auto value = environment("PAYOUTD_HANDLER_TIMEOUT_MS")) {
    PAYOUTD_RETURN_IF_ERROR(apply_handler_timeout_text(*value, "PAYOUTD_HANDLER_TIMEOUT_MS",
                                                       &settings.handler_timeout_ms));
  }
  if (auto value = environment("PAYOUTD_MAX_TRANSACTION_AMOUNTS")) {
    PAYOUTD_RETURN_IF_ERROR(apply_amount_limits_text(*value, "PAYOUTD_MAX_TRANSACTION_AMOUNTS",
                                                     &settings.maximum_transaction_minor));
  }

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
  if (flags.test_clock_file) settings.test_clock_file = *flags.test_clock_file;
  if (flags.v3_rate_limit_per_second) {
    PAYOUTD_RETURN_IF_ERROR(apply_rate_limit_text(*flags.v3_rate_limit_per_second,
                                                  "--v3-rate-limit-per-second",
                                                  &settings.v3_rate_limit_per_second));
  }
  if (flags.v3_rate_limit_burst) {
    PAYOUTD_RETURN_IF_ERROR(apply_rate_limit_text(
        *flags.v3_rate_limit_burst, "--v3-rate-limit-burst", &settings.v3_rate_limit_burst));
  }
  if (flags.handler_timeout_ms) {
    PAYOUTD_RETURN_IF_ERROR(apply_handler_timeout_text(
        *flags.handler_timeout_ms, "--handler-timeout-ms", &settings.handler_timeout_ms));
  }
  if (flags.minimum_amounts) {
    PAYOUTD_RETURN_IF_ERROR(apply_amount_limits_text(*flags.minimum_amounts, "--min-amount",
                                                     &settings.minimum_amount_minor));
  }
  if (flags.v1_access_token_ttl_seconds) {
    PAYOUTD_RETURN_IF_ERROR(apply_token_ttl_text(*flags.v1_access_token_ttl_seconds,
                                                 "--v1-access-token-ttl-seconds",
                                                 &settings.v1_access_token_ttl_seconds));
  }
  if (flags.v1_refresh_token_ttl_seconds) {
    PAYOUTD_RETURN_IF_ERROR(apply_token_ttl_text(*flags.v1_refresh_token_ttl_seconds,
                                                 "--v1-refresh-token-ttl-seconds",
                                                 &settings.v1_refresh_token_ttl_seconds));
  }
  if (flags.maximum_transaction_amounts) {
    PAYOUTD_RETURN_IF_ERROR(apply_amount_limits_text(*flags.maximum_transaction_amounts,
                                                     "--max-transaction-amount",
                                                     &settings.maximum_transaction_minor));
  }

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
  PAYOUTD_RETURN_IF_ERROR(parse_listen_address(settings.listen));
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
  if (settings.v3_rate_limit_per_second < 0 ||
      settings.v3_rate_limit_per_second > kMaxV3RateLimitPerSecond) {
    return Status::invalid_argument("v3_rate_limit_per_second",
                                    "v3 rate limit must be between 0 (no limit) and 1000000");
  }
  if (settings.handler_timeout_ms < kMinHandlerTimeoutMs ||
      settings.handler_timeout_ms > kMaxHandlerTimeoutMs) {
    return Status::invalid_argument("handler_timeout_ms",
                                    "handler_timeout_ms must be between 100 and 600000");
  }
  if (settings.v1_access_token_ttl_seconds < 1 ||
      settings.v1_access_token_ttl_seconds > kMaxV1AccessTokenTtlSeconds) {
    return Status::invalid_argument("v1_access_token_ttl_seconds",
                                    "v1 access token lifetime must be 1 to 86400 seconds");
  }
  if (settings.v1_refresh_token_ttl_seconds < kMinV1RefreshTokenTtlSeconds ||
      settings.v1_refresh_token_ttl_seconds > kMaxV1RefreshTokenTtlSeconds) {
    return Status::invalid_argument("v1_refresh_token_ttl_seconds",
                                    "v1 refresh token lifetime must be 60 to 7776000 seconds");
  }
  if (settings.v1_refresh_token_ttl_seconds < settings.v1_access_token_ttl_seconds) {
    return Status::invalid_argument(
        "v1_refresh_token_ttl_seconds",
        "v1 refresh token lifetime must not be shorter than the access token lifetime");
  }
  const EngineTimings& timings = settings.timings;
  if (timings.engine_reconcile_max_ms < timings.engine_reconcile_initial_ms) {
    return Status::invalid_argument(
        "engine_reconcile_max_ms",
        "engine_reconcile_max_ms must not be shorter than engine_reconcile_initial_ms");
  }
  if (timings.notify_backoff_max_ms < timings.notify_backoff_initial_ms) {
    return Status::invalid_argument(
        "notify_backoff_max_ms",
        "notify_backoff_max_ms must not be shorter than notify_backoff_initial_ms");
  }
  if (timings.notify_lease_ms < timings.notify_timeout_ms + 1'000) {
    return Status::invalid_argument(
        "notify_lease_ms",
        "notify_lease_ms must exceed notify_timeout_ms by at least 1000 ms (a claim must outlive "
        "its attempt)");
  }
  if (timings.notify_per_destination_limit > timings.notify_workers) {
    return Status::invalid_argument(
        "notify_per_destination_limit",
        "notify_per_destination_limit must not exceed notify_workers");
  }
  if (timings.sandbox_complete_after_ms < timings.sandbox_settle_after_ms) {
    return Status::invalid_argument(
        "sandbox_complete_after_ms",
        "sandbox_complete_after_ms must not be shorter than sandbox_settle_after_ms");
  }
  if (settings.v3_rate_limit_burst < 1 || settings.v3_rate_limit_burst > kMaxV3RateLimitBurst) {
    return Status::invalid_argument("v3_rate_limit_burst",
                                    "v3 rate limit burst must be between 1 and 1000000");
  }
  return Status::ok();
}

}  // namespace payoutd::config
