// Port: merchants and their fee schedules (what the operator creates and the dialects read).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/types.h"

namespace payoutd {

class MerchantReads {
 public:
  virtual ~MerchantReads() = default;
  virtual Result<Merchant> merchant_by_id(int64_t merchant_id) = 0;
  virtual Result<std::vector<Merchant>> list_merchants() = 0;
  // Default (all zero) when the merchant has none for that currency.
  virtual Result<FeeSchedule> fee_schedule(int64_t merchant_id, std::string_view currency) = 0;
};

class MerchantWrites : public virtual MerchantReads {
 public:
  // kAlreadyExists when login or api_username is taken.
  virtual Result<int64_t> insert_merchant(const Merchant& merchant) = 0;
  virtual Status update_merchant_status(int64_t merchant_id, MerchantStatus status, int64_t at) = 0;
  // Replaces login, pass, secret_key and v1 credentials (fields of `merchant`).
  virtual Status update_merchant_credentials(const Merchant& merchant) = 0;
  virtual Status upsert_fee_schedule(int64_t merchant_id, std::string_view currency,
                                     const FeeSchedule& schedule, int64_t at) = 0;
};

}  // namespace payoutd
