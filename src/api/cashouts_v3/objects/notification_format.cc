#include "api/cashouts_v3/objects/notification_format.h"

#include "core/time_format.h"
#include "json/writer.h"

namespace payoutd::api::cashouts_v3 {

std::string NotificationFormat::render(const Payout& payout, int64_t at) const {
  json::Writer writer;
  writer.begin_object();
  writer.key("date");
  writer.string(format_v3_date(at));
  writer.key("bank_reference_id");
  writer.string(payout.bank_reference_id.value_or(""));
  writer.key("comments");
  writer.string(payout.description.value_or(""));
  writer.key("external_id");
  writer.string(payout.external_id);
  writer.key("cashout_id");
  writer.string(std::to_string(payout.cashout_id));
  writer.key("status_reason");
  writer.string(payout.failure_reason.value_or(""));
  writer.end_object();
  return writer.take();
}

}  // namespace payoutd::api::cashouts_v3
