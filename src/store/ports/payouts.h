// Port: payouts, their events and status changes, and the v1 Idempotency-Key records of their
// creates.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/payout_status.h"
#include "core/status.h"
#include "core/types.h"
#include "store/ports/paging.h"

namespace payoutd {

// How a caller names a payout. Exactly one of the fields is set.
struct PayoutRef {
  std::optional<int64_t> cashout_id;
  std::optional<std::string> public_id;
  std::optional<std::string> external_id;  // needs a merchant scope

  static PayoutRef by_cashout_id(int64_t id) { return {id, std::nullopt, std::nullopt}; }
  static PayoutRef by_public_id(std::string id) { return {std::nullopt, std::move(id), std::nullopt}; }
  static PayoutRef by_external_id(std::string id) {
    return {std::nullopt, std::nullopt, std::move(id)};
  }
};

enum class PayoutSortKey : uint8_t { kCreatedAt = 0, kAmount, kStatus };

struct PayoutQuery {
  int64_t merchant_id = 0;  // required: every query is tenant-scoped
  std::optional<std::array<bool, kPayoutStatusCount>> statuses;  // nullopt = any
  std::optional<std::string> currency;
  std::optional<std::string> external_id;
  std::optional<std::string> search;  // external_id or beneficiary email, exact match
  std::optional<int64_t> created_from;  // inclusive, unix micros
  std::optional<int64_t> created_to;    // inclusive, unix micros
  PayoutSortKey sort_key = PayoutSortKey::kCreatedAt;
  bool descending = true;
  int page = 1;    // >= 1
  int limit = 20;  // 1..kMaxPageSize
};

using PayoutPage = Page<Payout>;

// A status change claimed by compare-and-set: applied only if the row's status is still `from`.
struct StatusChange {
  int64_t cashout_id = 0;
  PayoutStatus from = PayoutStatus::kCreated;
  PayoutStatus to = PayoutStatus::kCreated;
  int32_t expected_event_seq = 0;  // the row's event_seq must still be this; becomes +1
  int64_t at = 0;                  // unix micros; sets updated_at and the status's timestamp column
  std::optional<int> failure_code;
  std::optional<std::string> failure_reason;
  std::optional<std::string> bank_reference_id;
  std::optional<int64_t> cancel_requested_at;
};

// The first response to a create carrying an Idempotency-Key, kept so that a retry gets the same
// bytes back.
struct IdempotencyRecord {
  int64_t merchant_id = 0;
  std::string key;           // the header value, 1..256 bytes
  std::string request_hash;  // fingerprint of the request that used the key first
  int response_status = 0;
  std::string response_body;  // exact bytes
  int64_t created_at = 0;
  int64_t expires_at = 0;  // unix micros; an expired record is as good as absent
};

class PayoutReads {
 public:
  virtual ~PayoutReads() = default;
  // merchant_id 0 = any merchant (operator tools only). external_id refs need a merchant.
  virtual Result<Payout> find_payout(int64_t merchant_id, const PayoutRef& ref) = 0;
  virtual Result<std::vector<PayoutEvent>> payout_events(int64_t cashout_id) = 0;
  virtual Result<PayoutPage> list_payouts(const PayoutQuery& query) = 0;
  // kNotFound when absent; an expired record is returned as it is (the caller decides).
  virtual Result<IdempotencyRecord> idempotency_record(int64_t merchant_id,
                                                       std::string_view key) = 0;
};

class PayoutWrites : public virtual PayoutReads {
 public:
  // Assigns payout.cashout_id (returned). kAlreadyExists when (merchant, external_id) is taken.
  virtual Result<int64_t> insert_payout(const Payout& payout) = 0;
  // Conditional update: kConflict when the row's status or event_seq changed (a lost race).
  virtual Status apply_status_change(const StatusChange& change) = 0;
  virtual Status insert_event(const PayoutEvent& event) = 0;
  // kAlreadyExists when (merchant, key) is taken.
  virtual Status insert_idempotency_record(const IdempotencyRecord& record) = 0;
  // Ok whether or not the record existed.
  virtual Status delete_idempotency_record(int64_t merchant_id, std::string_view key) = 0;
  // Deletes up to `limit` of the merchant's records whose expires_at is before `now`; the number
  // deleted. Bounded so that no request pays for an unbounded cleanup.
  virtual Result<int64_t> delete_expired_idempotency_records(int64_t merchant_id, int64_t now,
                                                             int limit) = 0;
};

}  // namespace payoutd
