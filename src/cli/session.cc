#include "cli/session.h"

#include <cstdio>
#include <utility>

#include "api/cashouts_v3/objects/notification_format.h"
#include "api/payouts_v1/objects/webhook_format.h"
#include "cli/cli.h"

namespace payoutd::cli {
namespace {

// One line, whatever the message holds: a reason must never spill over several stderr lines.
std::string single_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) out.push_back(c == '\n' || c == '\r' ? ' ' : c);
  return out;
}

}  // namespace

int report_failure(const Status& status) {
  PAYOUTD_ASSERT(!status.is_ok());
  const std::string reason = status.message().empty() ? status.to_string() : status.message();
  std::fprintf(stderr, "error: %s\n", single_line(reason).c_str());
  std::fflush(stderr);
  return status.kind() == ErrorKind::kInvalidArgument ? kExitUsage : kExitRefused;
}

void print_output(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  if (text.empty() || text.back() != '\n') std::fputc('\n', stdout);
  std::fflush(stdout);
}

Result<crypto::MasterKey> load_master_key(const config::Settings& settings, RandomSource& random) {
  if (!settings.master_key_hex.empty()) {
    Result<crypto::MasterKey> key = crypto::MasterKey::from_hex(settings.master_key_hex);
    if (!key.is_ok()) {
      // Never echo the variable's content: it is (meant to be) key material.
      return Status::invalid_argument("master_key",
                                      "PAYOUTD_MASTER_KEY must be exactly 64 hex characters");
    }
    return key;
  }
  return crypto::MasterKey::load_or_create(settings.master_key_file, random);
}

StoreOptions store_options_for(const config::Settings& settings) {
  StoreOptions options;
  options.read_connections = static_cast<int>(settings.db_read_connections);
  options.max_batch_ops = static_cast<int>(settings.db_max_batch_ops);
  options.group_deferred_writes = settings.db_group_writes;
  return options;
}

Result<std::unique_ptr<Session>> Session::open(const config::Settings& settings, KeyNeed key_need,
                                               const StoreOptions& store_options) {
  std::unique_ptr<Session> session(new Session());
  if (!settings.test_clock_file.empty()) {
    PAYOUTD_ASSIGN_OR_RETURN(std::unique_ptr<TestClockFile> file,
                             TestClockFile::open(settings.test_clock_file));
    session->test_clock_ = std::make_unique<TestClock>(std::move(file));
  }
  if (key_need == KeyNeed::kRequired) {
    PAYOUTD_ASSIGN_OR_RETURN(crypto::MasterKey key, load_master_key(settings, session->random_));
    session->master_key_.emplace(std::move(key));
  }
  PAYOUTD_ASSIGN_OR_RETURN(std::unique_ptr<Store> store,
                           open_store(settings.database_url, store_options));
  session->store_ = std::move(store);
  PAYOUTD_RETURN_IF_ERROR(session->store_->migrate());
  session->domain_metrics_ = std::make_unique<DomainMetrics>(session->metrics_, *session->store_);
  commands::CommandsOptions options;
  options.on_transition_committed = [metrics = session->domain_metrics_.get()](
                                        std::optional<PayoutStatus> from, PayoutStatus to) {
    metrics->on_transition(from, to);
  };
  options.limits.minimum_amount_minor = settings.minimum_amount_minor;
  options.limits.maximum_transaction_minor = settings.maximum_transaction_minor;
  options.notification_retry_window_micros =
      settings.timings.notify_retry_window_seconds * 1'000'000;
  // The dialects render the notifications the commands write (commands/notification_formats.h).
  static const api::cashouts_v3::NotificationFormat v3_notification_format;
  static const api::payouts_v1::WebhookEventFormat v1_webhook_format;
  options.formats = commands::NotificationFormats{&v3_notification_format, &v1_webhook_format};
  session->commands_ = std::make_unique<commands::Commands>(
      *session->store_, session->clock(), session->random_, session->master_key(),
      std::move(options));
  return session;
}

Session::~Session() {
  commands_.reset();
  if (store_) store_->close();
}

}  // namespace payoutd::cli
