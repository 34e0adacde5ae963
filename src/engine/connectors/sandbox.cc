#include "engine/connectors/sandbox.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <utility>

#include "crypto/hash.h"
#include "json/value.h"

namespace payoutd::engine {
namespace {

using sandbox_rail::RailRecord;

constexpr int64_t kMicrosPerMilli = 1000;
constexpr std::string_view kReferencePrefix = "sbx_";
constexpr size_t kMaxPayoutKeyChars = 64;

// FNV-1a: a stable, platform-independent hash for the delay jitter (not for security).
uint64_t fnv1a(std::string_view text, uint64_t seed) {
  uint64_t hash = 1469598103934665603ULL ^ seed;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

RailStatus status(RailState state, std::optional<int64_t> recheck_at = std::nullopt) {
  RailStatus out;
  out.state = state;
  out.recheck_at = recheck_at;
  return out;
}

}  // namespace

SandboxChoice sandbox_choice(const Beneficiary& beneficiary) {
  if (!beneficiary.bank_account || beneficiary.bank_account->size() < 3) return {};
  const std::string_view account = *beneficiary.bank_account;
  const std::string_view tail = account.substr(account.size() - 3);
  int number = 0;
  auto [end, error] = std::from_chars(tail.data(), tail.data() + tail.size(), number);
  if (error != std::errc() || end != tail.data() + tail.size()) return {};
  if (number >= 800 && number <= 826 && !rejection_reason_name(number).empty()) {
    return {SandboxProfile::kFail, number};
  }
  switch (number) {
    case 900:
      return {SandboxProfile::kActionRequired, 0};
    case 901:
      return {SandboxProfile::kCancelAccepted, 0};
    case 902:
      return {SandboxProfile::kCancelRefused, 0};
    case 903:
      return {SandboxProfile::kCancelLater, 0};
    case 904:
      return {SandboxProfile::kCancelLaterRefused, 0};
    case 905:
      return {SandboxProfile::kReversed, 0};
    case 906:
      return {SandboxProfile::kTimeout, 0};
    default:
      return {};
  }
}

SandboxConnector::SandboxConnector(Store& store, SandboxTimings timings,
                                   std::string callback_secret)
    : store_(store), timings_(timings), callback_secret_(std::move(callback_secret)) {
  PAYOUTD_ASSERT(timings_.jitter_ms >= 0);
  PAYOUTD_ASSERT(timings_.settle_after_ms >= 0 &&
                 timings_.complete_after_ms >= timings_.settle_after_ms);
}

int64_t SandboxConnector::delay_micros(int64_t base_ms, std::string_view key, int salt) const {
  int64_t jitter_ms = 0;
  if (timings_.jitter_ms > 0) {
    jitter_ms = static_cast<int64_t>(fnv1a(key, timings_.jitter_seed + static_cast<uint64_t>(salt)) %
                                     static_cast<uint64_t>(timings_.jitter_ms + 1));
  }
  return (base_ms + jitter_ms) * kMicrosPerMilli;
}

RailStatus SandboxConnector::state_at(const ConnectorPayout& payout,
                                      const sandbox_rail::RailRecord& record,
                                      int64_t now) const {
  const SandboxChoice choice = sandbox_choice(payout.beneficiary);
  const int64_t t0 = record.submitted_at;
  const int64_t settle_at = t0 + delay_micros(timings_.settle_after_ms, payout.key, 1);
  int64_t complete_at = t0 + delay_micros(timings_.complete_after_ms, payout.key, 2);
  if (complete_at < settle_at) complete_at = settle_at;

  // The default timeline: processing -> settling -> completed.
  auto completing = [&](int64_t start_offset) -> RailStatus {
    const int64_t settle = settle_at + start_offset;
    const int64_t complete = complete_at + start_offset;
    if (now < settle) return status(RailState::kProcessing, settle);
    if (now < complete) return status(RailState::kSettling, complete);
    RailStatus done = status(RailState::kCompleted);
    done.bank_reference = "SBXBANK" + std::to_string(payout.cashout_id);
    return done;
  };

  RailStatus out;
  switch (choice.profile) {
    case SandboxProfile::kComplete:
    case SandboxProfile::kCancelRefused:
      out = completing(0);
      break;
    case SandboxProfile::kFail: {
      const int64_t fail_at = t0 + delay_micros(timings_.fail_after_ms, payout.key, 3);
      if (now < fail_at) {
        out = status(RailState::kProcessing, fail_at);
      } else {
        out = status(RailState::kFailed);
        out.rejection_code = choice.rejection_code;
        out.message = "Payout failed: " + std::string(rejection_reason_name(choice.rejection_code));
      }
      break;
    }
    case SandboxProfile::kActionRequired: {
      const int64_t at = t0 + delay_micros(timings_.action_required_after_ms, payout.key, 4);
      out = now < at ? status(RailState::kProcessing, at) : status(RailState::kActionRequired);
      if (out.state == RailState::kActionRequired) {
        out.message = "Beneficiary verification required";
      }
      break;
    }
    case SandboxProfile::kCancelAccepted:
      out = record.cancel_requested_at ? status(RailState::kCancelled)
                                       : status(RailState::kProcessing);
      break;
    case SandboxProfile::kCancelLater: {
      if (!record.cancel_requested_at) {
        out = status(RailState::kProcessing);
        break;
      }
      const int64_t answer_at = *record.cancel_requested_at +
                                delay_micros(timings_.cancel_answer_after_ms, payout.key, 5);
      out = now < answer_at ? status(RailState::kProcessing, answer_at)
                            : status(RailState::kCancelled);
      break;
    }
    case SandboxProfile::kCancelLaterRefused: {
      if (!record.cancel_requested_at) {
        out = completing(0);
        break;
      }
      // The rail holds the payout while it decides, then refuses the cancel and pays it out.
      const int64_t answer_at = *record.cancel_requested_at +
                                delay_micros(timings_.cancel_answer_after_ms, payout.key, 5);
      if (now < answer_at) {
        out = status(RailState::kProcessing, answer_at);
      } else {
        RailStatus done = status(RailState::kCompleted);
        done.bank_reference = "SBXBANK" + std::to_string(payout.cashout_id);
        out = done;
      }
      break;
    }
    case SandboxProfile::kReversed: {
      out = completing(0);
      if (out.state == RailState::kCompleted) {
        const int64_t reverse_at =
            complete_at + delay_micros(timings_.reversal_after_ms, payout.key, 6);
        if (now < reverse_at) {
          out.recheck_at = reverse_at;
        } else {
          out = status(RailState::kReversed);
          out.rejection_code = kRejectionWithdrawalReversed;
          out.message = "Payout reversed by the bank";
        }
      }
      break;
    }
    case SandboxProfile::kTimeout: {
      const int64_t known_at = t0 + delay_micros(timings_.unknown_for_ms, payout.key, 7);
      if (now < known_at) {
        out = status(RailState::kUnknown);
      } else {
        // Its timeline starts when the rail answers again.
        out = completing(known_at - t0);
      }
      break;
    }
  }
  out.reference = record.reference;
  return out;
}

std::vector<RailStatus> SandboxConnector::submit(std::span<const ConnectorPayout> payouts,
                                                 int64_t now) {
  std::vector<RailStatus> answers(payouts.size());
  // One transaction for the whole batch: the rail's book of submissions.
  Status written = store_.write_own_tables([&](sql::Connection& rail) -> Status {
    for (size_t i = 0; i < payouts.size(); ++i) {
      const ConnectorPayout& payout = payouts[i];
      Result<RailRecord> existing = sandbox_rail::record(rail, kSandboxConnectorName, payout.key);
      RailRecord record;
      if (existing.is_ok()) {
        // Idempotent by key: the payout is not paid twice, but the second call is counted, and
        // the tests treat any count above one as a bug in the engine.
        record = std::move(existing).value();
        record.submissions += 1;
        record.updated_at = now;
        spdlog::error("sandbox: payout {} submitted {} times", payout.key, record.submissions);
      } else if (existing.status().kind() == ErrorKind::kNotFound) {
        record.connector = std::string(kSandboxConnectorName);
        record.payout_key = payout.key;
        record.reference = std::string(kReferencePrefix) + payout.key;
        record.submitted_at = now;
        record.submissions = 1;
        record.updated_at = now;
      } else {
        return std::move(existing).status();
      }
      PAYOUTD_RETURN_IF_ERROR(sandbox_rail::put(rail, record));
      answers[i] = state_at(payout, record, now);
    }
    return Status::ok();
  });
  if (!written.is_ok()) {
    // The rail could not be reached: for all the engine knows, it might have the payouts.
    spdlog::warn("sandbox: submit failed: {}", written.to_string());
    for (RailStatus& answer : answers) answer = status(RailState::kUnknown);
  }
  return answers;
}

std::vector<RailStatus> SandboxConnector::query(std::span<const ConnectorPayout> payouts,
                                                int64_t now) {
  std::vector<RailStatus> answers(payouts.size());
  Status read = store_.read_own_tables([&](sql::Connection& rail) -> Status {
    for (size_t i = 0; i < payouts.size(); ++i) {
      Result<RailRecord> record = sandbox_rail::record(rail, kSandboxConnectorName, payouts[i].key);
      if (record.is_ok()) {
        answers[i] = state_at(payouts[i], *record, now);
      } else if (record.status().kind() == ErrorKind::kNotFound) {
        answers[i] = status(RailState::kNotFound);
      } else {
        return std::move(record).status();
      }
    }
    return Status::ok();
  });
  if (!read.is_ok()) {
    spdlog::warn("sandbox: query failed: {}", read.to_string());
    for (RailStatus& answer : answers) answer = status(RailState::kUnknown);
  }
  return answers;
}

CancelAnswer SandboxConnector::try_cancel(const ConnectorPayout& payout, int64_t now) {
  CancelAnswer answer = CancelAnswer::kUnknown;
  Status written = store_.write_own_tables([&](sql::Connection& rail) -> Status {
    Result<RailRecord> existing = sandbox_rail::record(rail, kSandboxConnectorName, payout.key);
    if (!existing.is_ok()) {
      // Not at the rail (yet): it cannot say.
      answer = CancelAnswer::kUnknown;
      return existing.status().kind() == ErrorKind::kNotFound ? Status::ok()
                                                              : std::move(existing).status();
    }
    RailRecord record = std::move(existing).value();
    const RailStatus now_state = state_at(payout, record, now);
    if (now_state.state == RailState::kCancelled) {
      answer = CancelAnswer::kCancelled;
      return Status::ok();
    }
    if (now_state.state == RailState::kUnknown) {
      answer = CancelAnswer::kUnknown;
      return Status::ok();
    }
    if (now_state.state != RailState::kProcessing) {
      answer = CancelAnswer::kTooLate;
      return Status::ok();
    }
    const SandboxProfile profile = sandbox_choice(payout.beneficiary).profile;
    switch (profile) {
      case SandboxProfile::kCancelAccepted:
        answer = CancelAnswer::kCancelled;
        break;
      case SandboxProfile::kCancelLater:
      case SandboxProfile::kCancelLaterRefused:
        answer = CancelAnswer::kLater;
        break;
      default:
        answer = CancelAnswer::kTooLate;
        return Status::ok();  // the rail records nothing for a refused cancel
    }
    if (!record.cancel_requested_at) {
      record.cancel_requested_at = now;
      record.updated_at = now;
      return sandbox_rail::put(rail, record);
    }
    return Status::ok();
  });
  if (!written.is_ok()) {
    spdlog::warn("sandbox: cancel failed: {}", written.to_string());
    return CancelAnswer::kUnknown;
  }
  return answer;
}

Result<RailCallback> SandboxConnector::parse_callback(std::string_view body,
                                                      std::string_view signature_header) {
  if (callback_secret_.empty()) {
    return Status::error(ErrorKind::kUnauthenticated, "sandbox callbacks are not enabled");
  }
  if (!crypto::verify_hmac_sha256_hex(callback_secret_, body, signature_header)) {
    return Status::error(ErrorKind::kUnauthenticated, "invalid Sandbox-Signature");
  }
  Result<json::Value> parsed = json::parse(body);
  if (!parsed.is_ok()) return Status::invalid_argument("body", "body must be a JSON object");
  const json::Value* payout_id = parsed->is_object() ? parsed->find("payout_id") : nullptr;
  if (payout_id == nullptr || !payout_id->is_string() || payout_id->as_string().empty() ||
      payout_id->as_string().size() > kMaxPayoutKeyChars) {
    return Status::invalid_argument("payout_id", "payout_id must be a payout id");
  }
  return RailCallback{std::string(payout_id->as_string())};
}

}  // namespace payoutd::engine
