#include "engine/screening.h"

#include <string_view>

namespace payoutd::engine {

ScreeningDecision BuiltinScreening::screen(const Payout& payout) {
  const std::optional<std::string>& account = payout.beneficiary.bank_account;
  constexpr std::string_view kRejectedSuffix = "911";
  if (account && account->size() >= kRejectedSuffix.size() &&
      std::string_view(*account).substr(account->size() - kRejectedSuffix.size()) ==
          kRejectedSuffix) {
    return ScreeningDecision{false, 811, "Payout rejected by screening: RISK_POLICY"};
  }
  return ScreeningDecision{};
}

}  // namespace payoutd::engine
