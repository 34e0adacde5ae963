// What every operator command needs at run time: the opened store (migrated), the clock, the
// CSPRNG, the master key when the command handles credentials, and the domain commands over them.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "cli/domain_metrics.h"
#include "cli/system_clock.h"
#include "cli/test_clock.h"
#include "commands/commands.h"
#include "config/config.h"
#include "core/status.h"
#include "crypto/master_key.h"
#include "crypto/random.h"
#include "store/store.h"

namespace payoutd::cli {

// Prints `error: <reason>` (one line) on stderr and returns the exit code for `status`:
// kExitUsage for invalid arguments, kExitRefused for everything else.
// REQUIRES: !status.is_ok()
int report_failure(const Status& status);

// Writes `text` to stdout and flushes (a trailing newline is added when missing).
void print_output(std::string_view text);

// The master key from PAYOUTD_MASTER_KEY (hex) when set, else the key file (created 0600 on first
// use, with its directory).
Result<crypto::MasterKey> load_master_key(const config::Settings& settings, RandomSource& random);

// The store options a server takes from its settings (the db_* config keys).
StoreOptions store_options_for(const config::Settings& settings);

class Session {
 public:
  enum class KeyNeed : uint8_t { kNone, kRequired };

  // Loads the master key first (when needed), then opens and migrates the store, so that a bad key
  // never leaves a half-initialised database behind.
  static Result<std::unique_ptr<Session>> open(const config::Settings& settings, KeyNeed key_need,
                                               const StoreOptions& store_options);

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  // Closes the store: queued writes are committed before the writer stops.
  ~Session();

  commands::Commands& commands() { return *commands_; }
  Store& store() { return *store_; }
  // The system clock, or the test clock of --test-clock.
  Clock& clock() { return test_clock_ ? static_cast<Clock&>(*test_clock_) : system_clock_; }
  // The test clock's file when --test-clock is on, else nullptr.
  const std::string* test_clock_file() const {
    return test_clock_ ? &test_clock_->path() : nullptr;
  }
  RandomSource& random() { return random_; }
  const crypto::MasterKey* master_key() const { return master_key_ ? &*master_key_ : nullptr; }
  // The process's metrics registry: the server adds HTTP series, the session domain series.
  http::Metrics& metrics() { return metrics_; }
  DomainMetrics& domain_metrics() { return *domain_metrics_; }

 private:
  Session() = default;

  SystemClock system_clock_;
  std::unique_ptr<TestClock> test_clock_;
  crypto::SystemRandom random_;
  std::optional<crypto::MasterKey> master_key_;
  http::Metrics metrics_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<DomainMetrics> domain_metrics_;
  std::unique_ptr<commands::Commands> commands_;
};

}  // namespace payoutd::cli
