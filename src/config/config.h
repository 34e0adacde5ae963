// Process settings (operations.md "Configuration").
//
// Precedence, highest first: command-line flag > environment variable > config file (TOML) >
// built-in default. Loading and validation return Status values; nothing here throws (the TOML
// parser's exceptions are caught at this boundary).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace payoutd::config {

inline constexpr int kMaxThreads = 256;
// A config file larger than this is refused before parsing (it is a handful of keys).
inline constexpr size_t kMaxConfigFileBytes = 64 * 1024;

inline constexpr int64_t kMaxV3RateLimitPerSecond = 1'000'000;
inline constexpr int64_t kMaxV3RateLimitBurst = 1'000'000;
inline constexpr size_t kMaxAmountLimitEntries = 200;
// Payouts v1 bearer token lifetimes (seconds): access 1 s .. 1 day, refresh 60 s .. 90 days.
inline constexpr int64_t kMaxV1AccessTokenTtlSeconds = 86'400;
inline constexpr int64_t kMinV1RefreshTokenTtlSeconds = 60;
inline constexpr int64_t kMaxV1RefreshTokenTtlSeconds = 90LL * 86'400;
// The HTTP handler timeout (--handler-timeout-ms): a request whose handler has not answered by
// then gets 503 (its outcome unknown to the client). Bounded both ways: below 100 ms a busy
// database would turn every write into a 503; above 10 min a client would wait for nothing.
inline constexpr int64_t kMinHandlerTimeoutMs = 100;
inline constexpr int64_t kMaxHandlerTimeoutMs = 600'000;

using AmountLimits = std::map<std::string, int64_t, std::less<>>;

// Engine and sandbox connector timings. Each is a config-file key of the same name, an integer
// in the range kTimingKeys gives (config.cc).
struct EngineTimings {
  int64_t engine_batch_size = 256;
  int64_t engine_poll_interval_ms = 1'000;
  int64_t engine_lease_ms = 30'000;
  int64_t engine_follow_up_max_ms = 60'000;
  int64_t engine_reconcile_initial_ms = 1'000;
  int64_t engine_reconcile_max_ms = 300'000;
  int64_t engine_cancel_recheck_ms = 1'000;
  int64_t on_hold_expiry_seconds = 30LL * 86'400;
  int64_t action_required_expiry_seconds = 72LL * 3'600;
  int64_t sandbox_settle_after_ms = 2'000;
  int64_t sandbox_complete_after_ms = 5'000;
  int64_t sandbox_fail_after_ms = 3'000;
  int64_t sandbox_action_required_after_ms = 2'000;
  int64_t sandbox_cancel_answer_after_ms = 3'000;
  int64_t sandbox_reversal_after_ms = 10'000;
  int64_t sandbox_unknown_for_ms = 5'000;
  // Notification dispatcher (notifications.md, docs/notifications.md).
  int64_t notify_workers = 16;                 // deliveries in flight at most (global limit)
  int64_t notify_per_destination_limit = 4;    // in flight to one scheme://host:port at most
  int64_t notify_poll_interval_ms = 200;
  int64_t notify_lease_ms = 60'000;            // > notify_timeout_ms: a claim outlives its attempt
  int64_t notify_connect_timeout_ms = 5'000;
  int64_t notify_timeout_ms = 10'000;          // whole attempt: connect, send, answer
  int64_t notify_backoff_initial_ms = 30'000;  // then doubling, with jitter
  int64_t notify_backoff_max_ms = 3'600'000;
  // Spread of each retry delay (dispatcher.h retry_delay_ms): up to this percent longer below the
  // cap, up to four fifths of it shorter at the cap. 0 = the exact schedule (tests assert it).
  int64_t notify_backoff_jitter_percent = 25;
  int64_t notify_retry_window_seconds = 72LL * 3'600;
};

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
  // Cashouts v3 per-merchant rate limit: requests per second (0 = no limit) and bucket size.
  int64_t v3_rate_limit_per_second = 1000;
  int64_t v3_rate_limit_burst = 2000;
  // Per-currency payout limits in minor units (ISO 4217 code -> amount): the minimum amount
  // (v3 533) and the largest single payout (v3 508). Empty = no limit.
  AmountLimits minimum_amount_minor;
  AmountLimits maximum_transaction_minor;
  // Payouts v1 bearer tokens: access and refresh token lifetimes (payouts-v1.md: 30 min, 7 days).
  int64_t v1_access_token_ttl_seconds = 1800;
  int64_t v1_refresh_token_ttl_seconds = 604'800;
  // How long a request's handler may take before the server answers 503 (http/server.h).
  int64_t handler_timeout_ms = 30'000;
  // Engine and sandbox timings (config file keys of the same names; docs/engine.md).
  EngineTimings timings;
  // Authenticates the sandbox rail's callbacks (config file key; empty = callbacks refused).
  std::string sandbox_callback_secret;
  // The store of `serve` and `demo` (config file keys db_read_connections, db_max_batch_ops,
  // db_group_writes; StoreOptions in store/store.h says what each does). Bounded like every limit.
  int64_t db_read_connections = 8;
  int64_t db_max_batch_ops = 256;
  bool db_group_writes = true;
  // --test-clock FILE only (never from the environment or a config file, so no stray setting can
  // turn it on): the process reads its time from FILE (cli/test_clock.h). Empty = the system clock.
  std::string test_clock_file;
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
  // Raw text, parsed like the environment variables: an integer, and "CUR=AMOUNT,CUR=AMOUNT".
  std::optional<std::string> v3_rate_limit_per_second;
  std::optional<std::string> v3_rate_limit_burst;
  std::optional<std::string> minimum_amounts;
  std::optional<std::string> maximum_transaction_amounts;
  std::optional<std::string> v1_access_token_ttl_seconds;
  std::optional<std::string> v1_refresh_token_ttl_seconds;
  std::optional<std::string> handler_timeout_ms;
  std::optional<std::string> test_clock_file;
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

// "BRL=10.00,USD=1.50": comma-separated ISO 4217 code = positive exact amount (at most the
// currency's decimals), each currency once, at most kMaxAmountLimitEntries. "" = no limits.
// `what` names the setting in error messages.
Result<AmountLimits> parse_amount_limits(std::string_view text, std::string_view what);

// threads == 0 resolves to the number of cores (at least 1).
int effective_threads(const Settings& settings);

// Valid values.
bool is_known_log_level(std::string_view name);       // trace debug info warn error critical off
bool is_known_connector(std::string_view name);       // sandbox manual
bool is_known_database_scheme(std::string_view url);  // sqlite:// postgresql:// postgres://

}  // namespace payoutd::config
