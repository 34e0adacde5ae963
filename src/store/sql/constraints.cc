#include "store/sql/constraints.h"

#include <array>

namespace payoutd::sql {
namespace {

// PostgreSQL's names are the schema's own (CONSTRAINT x, CREATE UNIQUE INDEX x) or the ones it
// derives for an unnamed UNIQUE (`table_columns_key`) or PRIMARY KEY (`table_pkey`).
constexpr std::array kNames{
    ConstraintName{Constraint::kMerchantLogin, "merchants_login_key", "merchants.login"},
    ConstraintName{Constraint::kMerchantApiUsername, "merchants_api_username_key",
                   "merchants.api_username"},
    ConstraintName{Constraint::kWalletPerCurrency, "wallets_merchant_id_currency_key",
                   "wallets.merchant_id, wallets.currency"},
    ConstraintName{Constraint::kPayoutPublicId, "payouts_public_id_key", "payouts.public_id"},
    ConstraintName{Constraint::kPayoutExternalId, "payouts_merchant_id_external_id_key",
                   "payouts.merchant_id, payouts.external_id"},
    ConstraintName{Constraint::kPayoutEventSeq, "payout_events_pkey",
                   "payout_events.cashout_id, payout_events.seq"},
    ConstraintName{Constraint::kOneMovementPerPayout, "journal_one_movement_per_payout",
                   "journal_transactions.cashout_id, journal_transactions.kind"},
    ConstraintName{Constraint::kAvailableBalanceNonNegative, "available_balance_non_negative",
                   "available_balance_non_negative"},
    ConstraintName{Constraint::kHeldBalanceNonNegative, "held_balance_non_negative",
                   "held_balance_non_negative"},
    ConstraintName{Constraint::kOutboxOnePerDestination, "outbox_one_per_destination",
                   "index 'outbox_one_per_destination'"},
    ConstraintName{Constraint::kWebhookEndpointPublicId, "webhook_endpoints_public_id_key",
                   "webhook_endpoints.public_id"},
    ConstraintName{Constraint::kApiTokenHash, "api_tokens_pkey", "api_tokens.token_hash"},
    ConstraintName{Constraint::kIdempotencyKey, "idempotency_keys_pkey",
                   "idempotency_keys.merchant_id, idempotency_keys.key"},
};

}  // namespace

std::span<const ConstraintName> constraint_names() { return kNames; }

Constraint constraint_of_postgres_name(std::string_view name) {
  for (const ConstraintName& entry : kNames) {
    if (entry.postgres_name == name) return entry.id;
  }
  return Constraint::kUnlisted;
}

Constraint constraint_of_sqlite_key(std::string_view key) {
  for (const ConstraintName& entry : kNames) {
    if (entry.sqlite_key == key) return entry.id;
  }
  return Constraint::kUnlisted;
}

std::string_view constraint_label(Constraint constraint) {
  switch (constraint) {
    case Constraint::kNone:
      return "none";
    case Constraint::kUnlisted:
      return "unlisted";
    default:
      break;
  }
  for (const ConstraintName& entry : kNames) {
    if (entry.id == constraint) return entry.postgres_name;
  }
  return "unknown";
}

}  // namespace payoutd::sql
