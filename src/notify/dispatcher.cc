#include "notify/dispatcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <utility>

#include "commands/commands.h"
#include "json/value.h"
#include "notify/signatures.h"

namespace payoutd::notify {
namespace {

constexpr int64_t kMicrosPerMs = 1000;
// Due rows read per claim, per free worker: the answer holds at most per_destination_limit rows of
// each destination (and none of a saturated one), so reading a few more than the free capacity
// fills the workers even when several destinations are nearly saturated.
constexpr int kReadAheadFactor = 4;

std::string bounded_error(std::string_view text) {
  std::string out(text.substr(0, kMaxDeliveryErrorBytes));
  return out;
}

// The v3 form fields in notifications.md's order; the payload holds every field but `control`.
Result<std::vector<std::pair<std::string, std::string>>> v3_form_fields(
    std::string_view payload, std::string_view secret_key) {
  Result<json::Value> parsed = json::parse(payload);
  if (!parsed.is_ok() || !parsed->is_object()) {
    return Status::error(ErrorKind::kCorruption, "v3 notification payload is not a JSON object");
  }
  auto field = [&](std::string_view name) -> std::string {
    const json::Value* value = parsed->find(name);
    if (value == nullptr || !value->is_string()) return {};
    return value->as_string();
  };
  const std::string external_id = field("external_id");
  if (external_id.empty()) {
    return Status::error(ErrorKind::kCorruption, "v3 notification payload has no external_id");
  }
  std::vector<std::pair<std::string, std::string>> fields;
  fields.reserve(7);
  fields.emplace_back("date", field("date"));
  fields.emplace_back("bank_reference_id", field("bank_reference_id"));
  fields.emplace_back("comments", field("comments"));
  fields.emplace_back("external_id", external_id);
  fields.emplace_back("control", v3_control(secret_key, external_id));
  fields.emplace_back("cashout_id", field("cashout_id"));
  fields.emplace_back("status_reason", field("status_reason"));
  return fields;
}

}  // namespace

int64_t retry_delay_ms(int32_t failed_attempts, int64_t initial_ms, int64_t max_ms,
                       double jitter_unit) {
  PAYOUTD_ASSERT(failed_attempts >= 1);
  PAYOUTD_ASSERT(initial_ms >= 1 && max_ms >= initial_ms);
  PAYOUTD_ASSERT(jitter_unit >= 0.0 && jitter_unit < 1.0);
  int64_t delay_ms = initial_ms;
  for (int32_t i = 1; i < failed_attempts && delay_ms < max_ms; ++i) delay_ms *= 2;
  // Jitter spreads the retries of rows that failed together (one receiver's outage) so they do
  // not come back as one burst; it never leaves the spec's [initial, cap] schedule.
  if (delay_ms >= max_ms) {
    const double shrunk = static_cast<double>(max_ms) * (1.0 - 0.2 * jitter_unit);
    return std::max<int64_t>(initial_ms, static_cast<int64_t>(shrunk));
  }
  const double grown = static_cast<double>(delay_ms) * (1.0 + 0.25 * jitter_unit);
  return std::min<int64_t>(max_ms, static_cast<int64_t>(grown));
}

Dispatcher::Dispatcher(Store& store, Clock& clock, RandomSource& random,
                       const crypto::MasterKey& master_key, HttpSender& sender,
                       DispatcherOptions options)
    : store_(store),
      clock_(clock),
      random_(random),
      master_key_(master_key),
      sender_(sender),
      options_(std::move(options)) {
  PAYOUTD_ASSERT(!options_.instance_id.empty());
  PAYOUTD_ASSERT(options_.workers >= 1);
  PAYOUTD_ASSERT(options_.per_destination_limit >= 1);
  PAYOUTD_ASSERT(options_.lease_ms >= 1000);
  PAYOUTD_ASSERT(options_.backoff_initial_ms >= 1);
  PAYOUTD_ASSERT(options_.backoff_max_ms >= options_.backoff_initial_ms);
  PAYOUTD_ASSERT(options_.backoff_jitter_percent >= 0 && options_.backoff_jitter_percent <= 25);
  PAYOUTD_ASSERT(options_.retry_window_ms >= 1);
}

Dispatcher::~Dispatcher() { stop(); }

void Dispatcher::start() {
  PAYOUTD_ASSERT(!started_);
  started_ = true;
  workers_.reserve(static_cast<size_t>(options_.workers));
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { worker_loop(); });
  claimer_ = std::thread([this] { claimer_loop(); });
}

void Dispatcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  // Attempts in progress end now (recorded as failed attempts, retried later by any instance)
  // instead of waiting out a slow receiver's timeout.
  sender_.shut_down();
  work_ready_.notify_all();
  capacity_free_.notify_all();
  if (claimer_.joinable()) claimer_.join();
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
}

DispatcherStats Dispatcher::stats() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return stats_;
}

void Dispatcher::count(uint64_t DispatcherStats::*counter) {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  stats_.*counter += 1;
}

double Dispatcher::scaled_jitter_unit() {
  if (options_.backoff_jitter_percent == 0) return 0.0;
  const double unit = jitter_unit() * options_.backoff_jitter_percent / 25.0;
  PAYOUTD_ASSERT(unit >= 0.0 && unit < 1.0);
  return unit;
}

double Dispatcher::jitter_unit() {
  std::array<uint8_t, 4> bytes{};
  {
    std::lock_guard<std::mutex> lock(random_mutex_);
    random_.fill(bytes);
  }
  const uint32_t value = static_cast<uint32_t>(bytes[0]) | (static_cast<uint32_t>(bytes[1]) << 8) |
                         (static_cast<uint32_t>(bytes[2]) << 16) |
                         (static_cast<uint32_t>(bytes[3]) << 24);
  return static_cast<double>(value) / 4294967296.0;
}

Result<std::vector<Dispatcher::Job>> Dispatcher::claim(int capacity, int64_t now) {
  PAYOUTD_ASSERT(capacity >= 1);
  OutboxDueQuery query;
  query.now = now;
  query.limit = std::min(kMaxPageSize, capacity * kReadAheadFactor);
  query.per_destination_limit = options_.per_destination_limit;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [destination, running] : in_flight_by_destination_) {
      if (running >= options_.per_destination_limit) {
        query.excluded_destinations.push_back(destination);
      }
    }
  }
  std::vector<OutboxMessage> due;
  Status read = store_.read([&](OutboxReads& tx) -> Status {
    PAYOUTD_ASSIGN_OR_RETURN(std::vector<OutboxMessage> rows, tx.outbox_due(query));
    due = std::move(rows);
    return Status::ok();
  });
  if (!read.is_ok()) return read;
  if (due.empty()) return std::vector<Job>{};

  // Pick within the limits: free workers, and each destination's free slots.
  std::vector<Job> picked;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::map<std::string, int> planned;
    for (OutboxMessage& message : due) {
      if (static_cast<int>(picked.size()) >= capacity) break;
      auto running = in_flight_by_destination_.find(message.destination);
      const int busy = (running == in_flight_by_destination_.end() ? 0 : running->second) +
                       planned[message.destination];
      if (busy >= options_.per_destination_limit) continue;
      planned[message.destination] += 1;
      picked.push_back(std::move(message));
    }
  }
  if (picked.empty()) return picked;

  // One write takes every lease; a row another instance took meanwhile is simply skipped.
  const int64_t lease_until = now + options_.lease_ms * kMicrosPerMs;
  std::vector<bool> won(picked.size(), false);
  Status claimed = store_.write([&](OutboxWrites& tx) -> Status {
    for (size_t i = 0; i < picked.size(); ++i) {
      Status status = tx.claim_outbox_message(picked[i].id, options_.instance_id, now,
                                              lease_until);
      if (status.kind() == ErrorKind::kConflict) continue;
      PAYOUTD_RETURN_IF_ERROR(status);
      won[i] = true;
    }
    return Status::ok();
  });
  if (!claimed.is_ok()) return claimed;
  std::vector<Job> jobs;
  for (size_t i = 0; i < picked.size(); ++i) {
    if (!won[i]) continue;
    picked[i].claimed_by = options_.instance_id;
    picked[i].lease_until = lease_until;
    jobs.push_back(std::move(picked[i]));
  }
  return jobs;
}

Dispatcher::Prepared Dispatcher::prepare(const OutboxMessage& message) {
  Prepared prepared;
  prepared.request.url = message.target_url;
  if (message.channel == "v3") {
    std::optional<Merchant> merchant;
    Status read = store_.read([&](ReadTx& tx) -> Status {
      PAYOUTD_ASSIGN_OR_RETURN(Payout found,
                               tx.find_payout(0, PayoutRef::by_cashout_id(message.cashout_id)));
      PAYOUTD_ASSIGN_OR_RETURN(Merchant owner, tx.merchant_by_id(found.merchant_id));
      merchant = std::move(owner);
      return Status::ok();
    });
    if (!read.is_ok()) {
      prepared.status = read;
      return prepared;
    }
    Result<std::string> secret_key =
        master_key_.open(merchant->secret_key_sealed, commands::kMerchantSecretKeyAad);
    if (!secret_key.is_ok()) {
      prepared.status = Status::error(ErrorKind::kInternal, "merchant secret key does not open");
      return prepared;
    }
    Result<std::vector<std::pair<std::string, std::string>>> fields =
        v3_form_fields(message.payload, *secret_key);
    if (!fields.is_ok()) {
      prepared.status = std::move(fields).status();
      prepared.give_up = true;  // a corrupt payload never becomes sendable
      return prepared;
    }
    prepared.request.content_type = "application/x-www-form-urlencoded";
    prepared.request.body = form_encode(*fields);
    return prepared;
  }

  PAYOUTD_ASSERT(message.channel == "v1");
  PAYOUTD_ASSERT(message.endpoint_id.has_value());
  std::optional<WebhookEndpoint> endpoint;
  Status read = store_.read([&](OutboxReads& tx) -> Status {
    PAYOUTD_ASSIGN_OR_RETURN(WebhookEndpoint found,
                             tx.webhook_endpoint_by_id(*message.endpoint_id));
    endpoint = std::move(found);
    return Status::ok();
  });
  if (!read.is_ok()) {
    prepared.status = read;
    prepared.give_up = read.kind() == ErrorKind::kNotFound;
    return prepared;
  }
  if (endpoint->deleted_at) {
    prepared.status = Status::error(ErrorKind::kNotFound, "webhook endpoint deleted");
    prepared.give_up = true;
    return prepared;
  }
  Result<std::string> secret =
      master_key_.open(endpoint->secret_sealed, commands::webhook_secret_aad(endpoint->public_id));
  if (!secret.is_ok()) {
    prepared.status = Status::error(ErrorKind::kInternal, "webhook endpoint secret does not open");
    return prepared;
  }
  const int64_t unix_seconds = clock_.now_micros() / 1'000'000;
  prepared.request.content_type = "application/json";
  prepared.request.body = message.payload;
  prepared.request.headers.emplace_back("Payoutd-Event-Id", message.event_id);
  prepared.request.headers.emplace_back(
      "Payoutd-Signature", v1_signature_header(*secret, unix_seconds, message.payload));
  return prepared;
}

void Dispatcher::deliver(const Job& job) {
  const int64_t started_at = clock_.now_micros();
  Prepared prepared = prepare(job);
  if (!prepared.status.is_ok()) {
    OutboundResult result;
    result.outcome = prepared.give_up ? OutboundOutcome::kRefused : OutboundOutcome::kTransportError;
    result.error = bounded_error(prepared.status.message());
    record(job, result, prepared.give_up, started_at);
    return;
  }
  OutboundResult result = sender_.post(prepared.request);
  record(job, result, result.outcome == OutboundOutcome::kRefused, started_at);
}

void Dispatcher::record(const Job& message, const OutboundResult& result, bool give_up,
                        int64_t started_at) {
  const int64_t now = clock_.now_micros();
  DeliveryRecord record;
  record.outbox_id = message.id;
  record.owner = options_.instance_id;
  record.now = now;
  DeliveryAttempt& attempt = record.attempt;
  attempt.outbox_id = message.id;
  attempt.endpoint_id = message.endpoint_id;
  attempt.event_id = message.event_id;
  attempt.channel = message.channel;
  attempt.attempt = message.attempts + 1;
  attempt.started_at = started_at;
  attempt.latency_ms = std::max<int64_t>(0, result.latency_ms);
  if (result.outcome == OutboundOutcome::kAnswered) attempt.http_status = result.http_status;

  uint64_t DispatcherStats::*counter = &DispatcherStats::failed_attempts;
  if (result.delivered()) {
    attempt.result = DeliveryResult::kDelivered;
    record.next_status = OutboxStatus::kDelivered;
    record.next_attempt_at = message.next_attempt_at;
    counter = &DispatcherStats::delivered;
  } else {
    attempt.result = give_up ? DeliveryResult::kRefused : DeliveryResult::kFailed;
    if (result.outcome == OutboundOutcome::kAnswered) {
      attempt.error = "HTTP " + std::to_string(result.http_status);
      if (!result.response_excerpt.empty()) attempt.error += ": " + result.response_excerpt;
    } else {
      attempt.error = result.error.empty() ? std::string("no answer") : result.error;
    }
    attempt.error = bounded_error(attempt.error);
    const int64_t deadline = message.give_up_at != 0
                                 ? message.give_up_at
                                 : message.created_at + options_.retry_window_ms * kMicrosPerMs;
    const int64_t next = now + retry_delay_ms(attempt.attempt, options_.backoff_initial_ms,
                                              options_.backoff_max_ms, scaled_jitter_unit()) *
                                   kMicrosPerMs;
    if (give_up || next > deadline) {
      record.next_status = OutboxStatus::kFailed;
      record.next_attempt_at = message.next_attempt_at;
    } else {
      record.next_status = OutboxStatus::kPending;
      record.next_attempt_at = next;
    }
    if (give_up) counter = &DispatcherStats::refused;
  }

  // The attempt happened whatever its recording does; counted first, so a reader who sees the
  // row delivered also sees the attempt in the metrics.
  count(counter);
  bool kept_lease = true;
  Status written = store_.write([&](OutboxWrites& tx) -> Status {
    PAYOUTD_ASSIGN_OR_RETURN(bool updated, tx.record_delivery(record));
    kept_lease = updated;
    return Status::ok();
  });
  if (!written.is_ok()) {
    // The lease expires and the row is tried again: at least once, never lost.
    count(&DispatcherStats::errors);
    spdlog::warn("notification {} ({}): recording the attempt failed: {}", message.event_id,
                 message.channel, written.message());
    return;
  }
  if (!kept_lease) count(&DispatcherStats::leases_lost);
  if (kept_lease && record.next_status == OutboxStatus::kFailed) count(&DispatcherStats::given_up);
  if (!result.delivered()) {
    spdlog::info("notification {} ({} to {}) attempt {} failed: {}{}", message.event_id,
                 message.channel, message.destination, attempt.attempt, attempt.error,
                 record.next_status == OutboxStatus::kFailed ? " (given up)" : "");
  }
}

Result<int> Dispatcher::run_once() {
  PAYOUTD_ASSERT(!started_);
  PAYOUTD_ASSIGN_OR_RETURN(std::vector<Job> jobs, claim(options_.workers, clock_.now_micros()));
  for (const Job& job : jobs) {
    count(&DispatcherStats::claimed);
    deliver(job);
  }
  return static_cast<int>(jobs.size());
}

void Dispatcher::claimer_loop() {
  const auto poll_interval = std::chrono::milliseconds(options_.poll_interval_ms);
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    const int capacity = options_.workers - in_flight_;
    // Idle means: this look's claim saw every earlier delivery's outcome. A delivery still in
    // flight when the look began may finish (and make a follower of its payout due) after the
    // claim's snapshot, so such a look is not an idle one even if in_flight_ is 0 at its end.
    const bool nothing_in_flight_at_start = in_flight_ == 0;
    if (capacity > 0) {
      lock.unlock();
      uint64_t look = 0;
      {
        std::lock_guard<std::mutex> stats_lock(stats_mutex_);
        look = ++stats_.claims_started;
      }
      Result<std::vector<Job>> jobs = claim(capacity, clock_.now_micros());
      lock.lock();
      if (jobs.is_ok() && jobs->empty() && nothing_in_flight_at_start && in_flight_ == 0) {
        std::lock_guard<std::mutex> stats_lock(stats_mutex_);
        stats_.last_idle_claim = look;
      }
      if (!jobs.is_ok()) {
        count(&DispatcherStats::errors);
        spdlog::warn("notification dispatcher: claiming failed: {}", jobs.status().message());
      } else if (!jobs->empty()) {
        for (Job& job : *jobs) {
          in_flight_ += 1;
          in_flight_by_destination_[job.destination] += 1;
          jobs_.push_back(std::move(job));
          count(&DispatcherStats::claimed);
        }
        PAYOUTD_ASSERT(in_flight_ <= options_.workers);
        work_ready_.notify_all();
        // A full batch suggests more is due: claim again at once while workers are free.
        if (static_cast<int>(jobs->size()) == capacity) continue;
      }
    }
    capacity_free_.wait_for(lock, poll_interval);
  }
}

void Dispatcher::worker_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (stopping_) return;  // unstarted jobs keep their lease until it expires
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    deliver(job);
    lock.lock();
    in_flight_ -= 1;
    PAYOUTD_ASSERT(in_flight_ >= 0);
    auto slot = in_flight_by_destination_.find(job.destination);
    PAYOUTD_ASSERT(slot != in_flight_by_destination_.end() && slot->second > 0);
    if (--slot->second == 0) in_flight_by_destination_.erase(slot);
    capacity_free_.notify_one();
  }
}

}  // namespace payoutd::notify
