#include "commands/commands.h"

#include <future>
#include <memory>
#include <utility>

#include "core/ids.h"
#include "core/ip_address.h"
#include "core/time_format.h"
#include "core/url.h"
#include "crypto/credentials.h"
#include "commands/write_ops.h"
#include "json/writer.h"

namespace payoutd::commands {
namespace {

using internal::submit_op;
using internal::wait_for;

// A payout whose row changed between our read and our conditional write is re-read and the claim
// retried. With SQLite's single writer this cannot happen inside one process; with several
// processes or PostgreSQL it can, and a few retries settle it.
constexpr int kMaxClaimAttempts = 4;
constexpr size_t kCredentialChars = 32;
constexpr size_t kMaxExternalIdChars = 100;
constexpr size_t kMaxMerchantNameChars = 100;
constexpr size_t kMaxNotificationUrlChars = 300;
constexpr size_t kMaxRemarksChars = 255;
constexpr size_t kMaxIpAllowEntries = 64;
constexpr std::string_view kSecretKeyAad = kMerchantSecretKeyAad;



Result<PayoutWithEvents> read_payout_with_events(PayoutReads& tx, int64_t merchant_id,
                                                 const PayoutRef& ref) {
  PAYOUTD_ASSIGN_OR_RETURN(Payout payout, tx.find_payout(merchant_id, ref));
  PAYOUTD_ASSIGN_OR_RETURN(std::vector<PayoutEvent> events, tx.payout_events(payout.cashout_id));
  return PayoutWithEvents{std::move(payout), std::move(events)};
}

Status validate_amount_bounds(int64_t amount_minor, std::string_view field) {
  if (amount_minor <= 0) {
    return Status::invalid_argument(std::string(field), std::string(field) +
                                                            " must be greater than zero");
  }
  if (amount_minor > kMaxAmountMinor) {
    return Status::invalid_argument(std::string(field), std::string(field) +
                                                            " exceeds the maximum");
  }
  return Status::ok();
}

Status validate_remarks(const std::optional<std::string>& remarks) {
  if (remarks && remarks->size() > kMaxRemarksChars) {
    return Status::invalid_argument("remarks", "remarks must be at most 255 characters");
  }
  return Status::ok();
}

std::string default_event_message(PayoutStatus from, PayoutStatus to, Actor actor,
                                   const std::optional<std::string>& failure_reason) {
  if (actor == Actor::kClient) {
    if (to == PayoutStatus::kCancelled) return "Payout cancelled by client";
    if (to == PayoutStatus::kOnHold) return "Payout put on hold by client";
    if (from == PayoutStatus::kOnHold && to == PayoutStatus::kQueued) {
      return "Payout released by client";
    }
  }
  std::string message = "Payout ";
  message += status_name(to);
  if (to == PayoutStatus::kFailed && failure_reason) {
    message += ": ";
    message += *failure_reason;
  }
  if (actor == Actor::kOperator) message += " by operator";
  return message;
}

// Posts the money movement of a transition (domain.md "Movements") as the payout's journal of
// that kind, whose unique (cashout_id, kind) index makes a second refund impossible.
Status post_transition_movement(LedgerWrites& tx, const Payout& payout, LedgerMovement movement,
                                int64_t at) {
  if (movement == LedgerMovement::kNone) return Status::ok();
  PAYOUTD_ASSIGN_OR_RETURN(Wallet wallet, tx.wallet_by_id(payout.merchant_id, payout.wallet_id));

  JournalPosting posting;
  posting.cashout_id = payout.cashout_id;
  posting.currency = payout.currency;
  posting.created_at = at;
  switch (movement) {
    case LedgerMovement::kPostHoldToSettlement: {
      PAYOUTD_ASSIGN_OR_RETURN(int64_t settlement,
                               tx.platform_account(payout.currency, AccountKind::kSettlement));
      posting.kind = kPayoutPostJournal;
      posting.legs = {{wallet.held_account_id, -payout.total_minor},
                      {settlement, payout.total_minor}};
      break;
    }
    case LedgerMovement::kRefundHeldToAvailable:
      posting.kind = kPayoutRefundJournal;
      posting.legs = {{wallet.held_account_id, -payout.total_minor},
                      {wallet.available_account_id, payout.total_minor}};
      break;
    case LedgerMovement::kRefundSettlementToAvailable: {
      PAYOUTD_ASSIGN_OR_RETURN(int64_t settlement,
                               tx.platform_account(payout.currency, AccountKind::kSettlement));
      posting.kind = kPayoutRefundJournal;
      posting.legs = {{settlement, -payout.total_minor},
                      {wallet.available_account_id, payout.total_minor}};
      break;
    }
    case LedgerMovement::kNone:
      PAYOUTD_ASSERT(false);
  }

  PAYOUTD_ASSIGN_OR_RETURN(int64_t journal_id, tx.post_journal(posting));
  // a post is invisible to merchants
  if (posting.kind != kPayoutRefundJournal) return Status::ok();

  PAYOUTD_ASSIGN_OR_RETURN(Wallet after, tx.wallet_by_id(payout.merchant_id, payout.wallet_id));
  WalletTransaction transaction;
  transaction.wallet_id = payout.wallet_id;
  transaction.journal_id = journal_id;
  transaction.type = "PAYOUT_REFUND";
  transaction.transaction_type = "CREDIT";
  transaction.amount_minor = payout.total_minor;
  transaction.currency = payout.currency;
  transaction.balance_after_minor = after.available_minor;
  transaction.reference_type = "payout";
  transaction.reference_id = payout.public_id;
  transaction.remarks = "Refund of payout " + payout.public_id;
  transaction.created_at = at;
  PAYOUTD_RETURN_IF_ERROR(tx.insert_wallet_transaction(transaction));
  return Status::ok();
}

// What apply_status_change wrote into the row, mirrored in memory, so the payout handed to the
// outbox (and to callers that skip the read-back) is the row as committed.
void stamp_status_time(Payout& payout, PayoutStatus to, int64_t at) {
  payout.updated_at = at;
  switch (to) {
    case PayoutStatus::kQueued:
      payout.queued_at = at;
      return;
    case PayoutStatus::kProcessing:
      payout.submitted_at = at;
      return;
    case PayoutStatus::kCompleted:
      payout.completed_at = at;
      return;
    case PayoutStatus::kFailed:
      payout.failed_at = at;
      return;
    case PayoutStatus::kCancelled:
      payout.cancelled_at = at;
      return;
    case PayoutStatus::kExpired:
      payout.expired_at = at;
      return;
    case PayoutStatus::kCreated:
    case PayoutStatus::kOnHold:
    case PayoutStatus::kSettling:
    case PayoutStatus::kActionRequired:
      return;
  }
}

// Outbox rows for one committed event (notifications.md), in the event's own transaction:
// - v3: when the v3 numeric status changes (never for the creation itself, never for internal
//   steps such as processing -> settling), to the cashout's notification_url or the merchant's
//   default;
// - v1: one webhook event to each of the merchant's live endpoints subscribed to
//   "payout.<status>", its body rendered now so it carries the payout as of this event.
// give_up_at stays 0: the dispatcher's configured retry window counts from created_at.
// The two ports are one WriteTx at every call (`write_outbox(tx, tx, ...)`), named apart so that
// the signature says what it does: writes the outbox, only reads merchants (their default URL).
Status write_outbox(OutboxWrites& tx, MerchantReads& merchants, const NotificationFormats& formats,
                    const Payout& after, std::optional<PayoutStatus> from, const PayoutEvent& event,
                    int64_t at) {
  PAYOUTD_ASSERT(after.status == event.to_status);
  const std::string event_id = event_id_for(after.public_id, event.seq);
  if (from && v3_status(*from).code != v3_status(after.status).code) {
    std::string url = after.notification_url.value_or("");
    if (url.empty()) {
      PAYOUTD_ASSIGN_OR_RETURN(Merchant merchant, merchants.merchant_by_id(after.merchant_id));
      url = merchant.notification_url;
    }
    if (!url.empty()) {
      OutboxMessage message;
      message.cashout_id = after.cashout_id;
      message.event_seq = event.seq;
      message.event_id = event_id;
      message.channel = "v3";
      message.destination = notification_destination(url);
      message.target_url = std::move(url);
      message.payload = formats.v3->render(after, at);
      message.created_at = at;
      PAYOUTD_RETURN_IF_ERROR(tx.insert_outbox(message));
    }
  }

  PAYOUTD_ASSIGN_OR_RETURN(std::vector<WebhookEndpoint> endpoints,
                           tx.webhook_endpoints(after.merchant_id));
  if (endpoints.empty()) return Status::ok();
  const std::string type = v1_event_type(after.status);
  std::string body;  // rendered once, only when some endpoint wants it
  for (const WebhookEndpoint& endpoint : endpoints) {
    if (!endpoint.subscribes(type)) continue;
    if (body.empty()) body = formats.v1->render(after, event, event_id);
    OutboxMessage message;
    message.cashout_id = after.cashout_id;
    message.event_seq = event.seq;
    message.event_id = event_id;
    message.channel = "v1";
    message.endpoint_id = endpoint.id;
    message.target_url = endpoint.url;
    message.destination = notification_destination(endpoint.url);
    message.payload = body;
    message.created_at = at;
    PAYOUTD_RETURN_IF_ERROR(tx.insert_outbox(message));
  }
  return Status::ok();
}

// Claims one transition with a conditional write and writes everything that goes with it.
Result<PayoutWithEvents> apply_transition(WriteTx& tx, const NotificationFormats& formats,
                                          const TransitionInput& input, int64_t at) {
  for (int attempt = 0; attempt < kMaxClaimAttempts; ++attempt) {
    PAYOUTD_ASSIGN_OR_RETURN(Payout current, tx.find_payout(input.merchant_id, input.ref));
    Payout payout = std::move(current);
    const PayoutStatus from = payout.status;

    if (input.expected_external_id && *input.expected_external_id != payout.external_id) {
      return Status::not_found("payout not found");
    }
    if (input.expected_from && *input.expected_from != from) {
      return Status::error(ErrorKind::kInvalidTransition,
                           "payout is no longer in status " +
                               std::string(status_name(*input.expected_from)))
          .with_detail_code(static_cast<int>(from));
    }
    PAYOUTD_RETURN_IF_ERROR(check_transition(from, input.to, input.actor, input.context));

    StatusChange change;
    change.cashout_id = payout.cashout_id;
    change.from = from;
    change.to = input.to;
    change.expected_event_seq = payout.event_seq;
    change.at = at;
    change.bank_reference_id = input.bank_reference_id;
    if (input.to == PayoutStatus::kFailed) {
      int code = input.failure_code.value_or(
          from == PayoutStatus::kCompleted ? kRejectionWithdrawalReversed : 808);
      std::string_view reason = rejection_reason_name(code);
      if (reason.empty()) {
        return Status::invalid_argument("reason_code",
                                        "unknown rejection code " + std::to_string(code));
      }
      change.failure_code = code;
      change.failure_reason = std::string(reason);
    } else if (input.to == PayoutStatus::kExpired) {
      change.failure_code = kRejectionWithdrawalExpired;
      change.failure_reason = std::string(rejection_reason_name(kRejectionWithdrawalExpired));
    } else if (input.failure_code) {
      return Status::invalid_argument("reason_code",
                                      "a reason code applies only to failed payouts");
    }

    Status claimed = tx.apply_status_change(change);
    if (claimed.kind() == ErrorKind::kConflict) continue;  // lost a race: re-read and retry
    PAYOUTD_RETURN_IF_ERROR(claimed);

    payout.status = input.to;
    payout.event_seq += 1;
    if (change.failure_code) payout.failure_code = change.failure_code;
    if (change.failure_reason) payout.failure_reason = change.failure_reason;
    if (change.bank_reference_id) payout.bank_reference_id = change.bank_reference_id;

    PAYOUTD_RETURN_IF_ERROR(
        post_transition_movement(tx, payout, ledger_movement_for(from, input.to), at));

    PayoutEvent event;
    event.cashout_id = payout.cashout_id;
    event.seq = payout.event_seq;
    event.from_status = from;
    event.to_status = input.to;
    event.actor = input.actor;
    event.message = input.message.value_or(
        default_event_message(from, input.to, input.actor, payout.failure_reason));
    event.created_at = at;
    PAYOUTD_RETURN_IF_ERROR(tx.insert_event(event));
    stamp_status_time(payout, input.to, at);
    PAYOUTD_RETURN_IF_ERROR(write_outbox(tx, tx, formats, payout, from, event, at));

    // Without the read-back the caller gets the payout as this transition left it and the one
    // event it appended (what on_transition_committed reports), not the whole history.
    if (!input.read_back) return PayoutWithEvents{std::move(payout), {std::move(event)}};
    return read_payout_with_events(tx, input.merchant_id,
                                   PayoutRef::by_cashout_id(payout.cashout_id));
  }
  return Status::unavailable("payout changed concurrently; retry the request");
}

Result<PayoutWithEvents> apply_create_payout(WriteTx& tx, const NotificationFormats& formats,
                                             const CreatePayoutInput& input,
                                             const PayoutLimits& limits, RandomSource& random,
                                             int64_t at) {
  PAYOUTD_RETURN_IF_ERROR(validate_amount_bounds(input.amount_minor, "amount"));
  if (input.external_id.empty() || input.external_id.size() > kMaxExternalIdChars) {
    return Status::invalid_argument("external_id", "external_id must be 1 to 100 characters");
  }
  const Currency* currency = find_currency(input.currency);
  if (currency == nullptr) return Status::invalid_argument("currency", "unknown currency");

  PAYOUTD_ASSIGN_OR_RETURN(Merchant merchant, tx.merchant_by_id(input.merchant_id));
  if (merchant.status != MerchantStatus::kActive) {
    return Status::error(ErrorKind::kDisabled, "merchant is disabled");
  }

  // A used external id is refused whatever the rest of the body says (v3 511, v1 replay/409), and
  // before balance checks: a retry after a successful create must learn it succeeded.
  Result<Payout> existing =
      tx.find_payout(input.merchant_id, PayoutRef::by_external_id(input.external_id));
  if (existing.is_ok()) {
    return Status::error(ErrorKind::kAlreadyExists, "External ID already used");
  }
  if (existing.status().kind() != ErrorKind::kNotFound) return std::move(existing).status();

  PAYOUTD_ASSIGN_OR_RETURN(
      Wallet wallet, input.wallet_id ? tx.wallet_by_id(input.merchant_id, *input.wallet_id)
                                     : tx.wallet_by_currency(input.merchant_id, input.currency));
  if (!wallet.is_active) return Status::not_found("wallet not found");
  if (wallet.currency != input.currency) {
    return Status::invalid_argument("currency", "currency does not match the wallet's currency");
  }

  if (auto minimum = limits.minimum_amount_minor.find(input.currency);
      minimum != limits.minimum_amount_minor.end() && input.amount_minor < minimum->second) {
    return Status::error(ErrorKind::kLimitExceeded,
                         "Invalid Amount. The minimum amount is " + input.currency + " " +
                             format_amount(minimum->second, *currency))
        .with_detail_code(kLimitMinimumAmount);
  }
  if (auto maximum = limits.maximum_transaction_minor.find(input.currency);
      maximum != limits.maximum_transaction_minor.end() && input.amount_minor > maximum->second) {
    return Status::error(ErrorKind::kLimitExceeded, "Limit exceeded: TRANSACTION")
        .with_detail_code(kLimitTransactionMaximum);
  }

  PAYOUTD_ASSIGN_OR_RETURN(FeeSchedule schedule,
                           tx.fee_schedule(input.merchant_id, input.currency));
  const int64_t fees = compute_fees(input.amount_minor, schedule);
  const int64_t total = input.amount_minor + fees;
  if (wallet.available_minor < total) {
    return Status::error(ErrorKind::kInsufficientFunds, "insufficient wallet balance");
  }

  Payout payout;
  payout.public_id = new_public_id(kPayoutIdPrefix, random);
  payout.merchant_id = input.merchant_id;
  payout.wallet_id = wallet.id;
  payout.external_id = input.external_id;
  payout.amount_minor = input.amount_minor;
  payout.fees_minor = fees;
  payout.total_minor = total;
  payout.currency = input.currency;
  payout.country = input.country;
  payout.beneficiary = input.beneficiary;
  payout.description = input.description;
  payout.metadata_json = input.metadata_json.empty() ? "{}" : input.metadata_json;
  payout.notification_url = input.notification_url;
  payout.status = PayoutStatus::kCreated;
  payout.created_at = at;
  payout.updated_at = at;
  payout.event_seq = 1;
  payout.request_fingerprint = input.request_fingerprint;

  PAYOUTD_ASSIGN_OR_RETURN(int64_t cashout_id, tx.insert_payout(payout));
  payout.cashout_id = cashout_id;

  JournalPosting posting;
  posting.kind = kPayoutHoldJournal;
  posting.cashout_id = payout.cashout_id;
  posting.currency = payout.currency;
  posting.created_at = at;
  posting.legs = {{wallet.available_account_id, -total}, {wallet.held_account_id, total}};
  PAYOUTD_ASSIGN_OR_RETURN(int64_t journal_id, tx.post_journal(posting));

  WalletTransaction debit;
  debit.wallet_id = wallet.id;
  debit.journal_id = journal_id;
  debit.type = "PAYOUT";
  debit.transaction_type = "DEBIT";
  debit.amount_minor = total;
  debit.currency = payout.currency;
  // Read back, not computed from the wallet read above: with several writers on one database
  // (PostgreSQL, several nodes) another transaction may have moved the balance in between; the
  // journal's UPDATE applied on top of it and holds the row until this commit.
  PAYOUTD_ASSIGN_OR_RETURN(Wallet after, tx.wallet_by_id(payout.merchant_id, wallet.id));
  debit.balance_after_minor = after.available_minor;
  debit.reference_type = "payout";
  debit.reference_id = payout.public_id;
  debit.remarks = "Payout " + payout.public_id;
  debit.created_at = at;
  PAYOUTD_RETURN_IF_ERROR(tx.insert_wallet_transaction(debit));

  PayoutEvent created;
  created.cashout_id = payout.cashout_id;
  created.seq = 1;
  created.from_status = std::nullopt;
  created.to_status = PayoutStatus::kCreated;
  created.actor = Actor::kSystem;
  created.message = "Payout created";
  created.created_at = at;
  PAYOUTD_RETURN_IF_ERROR(tx.insert_event(created));
  PAYOUTD_RETURN_IF_ERROR(write_outbox(tx, tx, formats, payout, std::nullopt, created, at));

  if (input.on_hold) {
    TransitionInput hold;
    hold.merchant_id = input.merchant_id;
    hold.ref = PayoutRef::by_cashout_id(payout.cashout_id);
    hold.to = PayoutStatus::kOnHold;
    hold.actor = input.actor;
    return apply_transition(tx, formats, hold, at);
  }
  return read_payout_with_events(tx, input.merchant_id, PayoutRef::by_cashout_id(payout.cashout_id));
}

Result<WalletMovementOutput> apply_wallet_movement(WriteTx& tx, const WalletMovementInput& input,
                                                   bool is_deposit, int64_t at) {
  PAYOUTD_RETURN_IF_ERROR(tx.merchant_by_id(input.merchant_id));

  Result<Wallet> wallet = tx.wallet_by_currency(input.merchant_id, input.currency);
  if (!wallet.is_ok()) {
    if (wallet.status().kind() != ErrorKind::kNotFound || !is_deposit) {
      return std::move(wallet).status();
    }
    wallet = tx.insert_wallet(input.merchant_id, input.currency, at);
    if (!wallet.is_ok()) return std::move(wallet).status();
  }
  PAYOUTD_ASSIGN_OR_RETURN(int64_t funding,
                           tx.platform_account(input.currency, AccountKind::kFunding));

  JournalPosting posting;
  posting.kind = is_deposit ? "deposit" : "adjustment";
  posting.currency = input.currency;
  posting.created_at = at;
  posting.legs = {{funding, -input.amount_minor},
                  {wallet->available_account_id, input.amount_minor}};
  PAYOUTD_ASSIGN_OR_RETURN(int64_t journal_id, tx.post_journal(posting));

  PAYOUTD_ASSIGN_OR_RETURN(Wallet after, tx.wallet_by_id(input.merchant_id, wallet->id));

  WalletTransaction transaction;
  transaction.wallet_id = wallet->id;
  transaction.journal_id = journal_id;
  transaction.type = is_deposit ? "DEPOSIT" : "ADJUSTMENT";
  transaction.transaction_type = input.amount_minor > 0 ? "CREDIT" : "DEBIT";
  transaction.amount_minor = input.amount_minor > 0 ? input.amount_minor : -input.amount_minor;
  transaction.currency = input.currency;
  transaction.balance_after_minor = after.available_minor;
  transaction.reference_type = "manual";
  transaction.remarks = input.remarks;
  transaction.created_at = at;
  PAYOUTD_ASSIGN_OR_RETURN(int64_t transaction_id, tx.insert_wallet_transaction(transaction));
  transaction.id = transaction_id;
  return WalletMovementOutput{std::move(after), std::move(transaction)};
}

Status validate_imported_credential(const std::optional<std::string>& value,
                                    std::string_view field) {
  const std::string name(field);
  if (!value || value->empty() || value->size() > kCredentialChars) {
    return Status::invalid_argument(name, name + " must be 1 to 32 characters");
  }
  for (unsigned char c : *value) {
    if (c <= 0x20 || c >= 0x7F) {
      return Status::invalid_argument(name, name + " must be printable ASCII without spaces");
    }
  }
  return Status::ok();
}

Status validate_imported_credentials(const CreateMerchantInput& input) {
  if (!input.v3_login && !input.v3_pass && !input.v3_secret_key) return Status::ok();
  PAYOUTD_RETURN_IF_ERROR(validate_imported_credential(input.v3_login, "v3_login"));
  PAYOUTD_RETURN_IF_ERROR(validate_imported_credential(input.v3_pass, "v3_pass"));
  return validate_imported_credential(input.v3_secret_key, "v3_secret_key");
}

Status validate_wallet_movement(const WalletMovementInput& input, bool is_deposit) {
  if (find_currency(input.currency) == nullptr) {
    return Status::invalid_argument("currency", "unknown currency '" + input.currency + "'");
  }
  if (is_deposit) {
    PAYOUTD_RETURN_IF_ERROR(validate_amount_bounds(input.amount_minor, "amount"));
  } else {
    if (input.amount_minor == 0) {
      return Status::invalid_argument("amount", "adjustment amount must not be zero");
    }
    const int64_t magnitude = input.amount_minor < 0 ? -input.amount_minor : input.amount_minor;
    PAYOUTD_RETURN_IF_ERROR(validate_amount_bounds(magnitude, "amount"));
    if (!input.remarks || input.remarks->empty()) {
      return Status::invalid_argument("remarks", "an adjustment needs remarks");
    }
  }
  return validate_remarks(input.remarks);
}

}  // namespace

Result<PayoutWithEvents> Commands::apply_transition_in(WriteTx& tx, const TransitionInput& input,
                                                       int64_t at) const {
  return apply_transition(tx, options_.formats, input, at);
}

Status validate_notification_url(std::string_view url, std::string_view field, size_t max_chars) {
  const std::string name(field);
  if (url.size() > max_chars) {
    return Status::invalid_argument(
        name, name + " must be at most " + std::to_string(max_chars) + " characters");
  }
  std::string_view rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return Status::invalid_argument(name, name + " must be an absolute http(s) URL");
  }
  const size_t host_end = rest.find_first_of("/?#");
  if (rest.substr(0, host_end).empty()) {
    return Status::invalid_argument(name, name + " has no host");
  }
  for (unsigned char c : url) {
    if (c <= 0x20 || c >= 0x7F) {
      return Status::invalid_argument(name, name + " contains spaces or non-ASCII characters");
    }
  }
  return Status::ok();
}

Status validate_cidr(std::string_view cidr) {
  if (!parse_cidr_block(cidr)) {
    return Status::invalid_argument("ip_allow", "invalid CIDR '" + std::string(cidr) + "'");
  }
  return Status::ok();
}

bool ip_allowed(std::string_view address, const std::vector<std::string>& cidrs) {
  return cidrs.empty() || address_in_any(address, cidrs);
}

Commands::Commands(Store& store, Clock& clock, RandomSource& random,
                   const crypto::MasterKey* master_key, CommandsOptions options)
    : store_(store),
      clock_(clock),
      random_(random),
      master_key_(master_key),
      options_(std::move(options)) {
  // Every status change may notify: both formats are wired (cli/session.cc; tests likewise).
  PAYOUTD_ASSERT(options_.formats.v3 != nullptr && options_.formats.v1 != nullptr);
}

Result<IssuedCredentials> Commands::issue_credentials(Merchant& merchant,
                                                     const CreateMerchantInput* imported) {
  if (master_key_ == nullptr) return Status::internal("no master key loaded");
  IssuedCredentials credentials;
  if (imported != nullptr && imported->v3_login) {
    credentials.login = *imported->v3_login;
    credentials.pass = *imported->v3_pass;
    credentials.secret_key = *imported->v3_secret_key;
  } else {
    credentials.login = random_base62(kCredentialChars, random_);
    credentials.pass = random_base62(kCredentialChars, random_);
    credentials.secret_key = random_base62(kCredentialChars, random_);
  }
  credentials.api_username = "api_" + random_base62(kCredentialChars - 4, random_);
  credentials.api_password = random_base62(kCredentialChars, random_);

  crypto::CredentialHash pass = crypto::hash_credential(credentials.pass, random_);
  crypto::CredentialHash password = crypto::hash_credential(credentials.api_password, random_);
  PAYOUTD_ASSIGN_OR_RETURN(std::string sealed,
                           master_key_->seal(credentials.secret_key, random_, kSecretKeyAad));

  merchant.login = credentials.login;
  merchant.pass_salt = std::move(pass.salt);
  merchant.pass_hash = std::move(pass.hash);
  merchant.secret_key_sealed = std::move(sealed);
  merchant.api_username = credentials.api_username;
  merchant.api_password_salt = std::move(password.salt);
  merchant.api_password_hash = std::move(password.hash);
  return credentials;
}

Result<MerchantWithCredentials> Commands::create_merchant(const CreateMerchantInput& input) {
  if (input.name.empty() || input.name.size() > kMaxMerchantNameChars) {
    return Status::invalid_argument("name", "name must be 1 to 100 characters");
  }
  if (input.ip_allow.size() > kMaxIpAllowEntries) {
    return Status::invalid_argument("ip_allow", "at most 64 CIDRs");
  }
  for (const std::string& cidr : input.ip_allow) PAYOUTD_RETURN_IF_ERROR(validate_cidr(cidr));
  PAYOUTD_RETURN_IF_ERROR(validate_imported_credentials(input));
  if (!input.notification_url.empty()) {
    PAYOUTD_RETURN_IF_ERROR(validate_notification_url(input.notification_url, "notification_url"));
  }
  const int64_t at = clock_.now_micros();
  return wait_for<MerchantWithCredentials>([&](Callback<MerchantWithCredentials> done) {
    submit_op<MerchantWithCredentials>(
        store_,
        [this, input, at](WriteTx& tx) -> Result<MerchantWithCredentials> {
          Merchant merchant;
          merchant.name = input.name;
          merchant.status = MerchantStatus::kActive;
          merchant.ip_allow = input.ip_allow;
          merchant.notification_url = input.notification_url;
          merchant.created_at = at;
          merchant.updated_at = at;
          PAYOUTD_ASSIGN_OR_RETURN(IssuedCredentials credentials,
                                   issue_credentials(merchant, &input));
          PAYOUTD_ASSIGN_OR_RETURN(int64_t id, tx.insert_merchant(merchant));
          merchant.id = id;
          return MerchantWithCredentials{std::move(merchant), std::move(credentials)};
        },
        std::move(done));
  });
}

Result<Merchant> Commands::set_merchant_status(int64_t merchant_id, MerchantStatus status) {
  const int64_t at = clock_.now_micros();
  return wait_for<Merchant>([&](Callback<Merchant> done) {
    submit_op<Merchant>(
        store_,
        [merchant_id, status, at](WriteTx& tx) -> Result<Merchant> {
          PAYOUTD_RETURN_IF_ERROR(tx.update_merchant_status(merchant_id, status, at));
          return tx.merchant_by_id(merchant_id);
        },
        std::move(done));
  });
}

Result<MerchantWithCredentials> Commands::rotate_credentials(int64_t merchant_id) {
  const int64_t at = clock_.now_micros();
  return wait_for<MerchantWithCredentials>([&](Callback<MerchantWithCredentials> done) {
    submit_op<MerchantWithCredentials>(
        store_,
        [this, merchant_id, at](WriteTx& tx) -> Result<MerchantWithCredentials> {
          PAYOUTD_ASSIGN_OR_RETURN(Merchant merchant, tx.merchant_by_id(merchant_id));
          PAYOUTD_ASSIGN_OR_RETURN(IssuedCredentials credentials, issue_credentials(merchant));
          merchant.updated_at = at;
          PAYOUTD_RETURN_IF_ERROR(tx.update_merchant_credentials(merchant));
          return MerchantWithCredentials{std::move(merchant), std::move(credentials)};
        },
        std::move(done));
  });
}

Result<FeeSchedule> Commands::set_fees(int64_t merchant_id, const std::string& currency,
                                       const FeeSchedule& schedule) {
  if (find_currency(currency) == nullptr) {
    return Status::invalid_argument("currency", "unknown currency '" + currency + "'");
  }
  if (schedule.fixed_minor < 0 || schedule.fixed_minor > kMaxAmountMinor) {
    return Status::invalid_argument("fixed", "fixed fee must be between 0 and the maximum amount");
  }
  if (schedule.percent_bps < 0 || schedule.percent_bps > 10000) {
    return Status::invalid_argument("percent_bps", "percent_bps must be between 0 and 10000");
  }
  const int64_t at = clock_.now_micros();
  return wait_for<FeeSchedule>([&](Callback<FeeSchedule> done) {
    submit_op<FeeSchedule>(
        store_,
        [merchant_id, currency, schedule, at](WriteTx& tx) -> Result<FeeSchedule> {
          PAYOUTD_RETURN_IF_ERROR(tx.merchant_by_id(merchant_id));
          PAYOUTD_RETURN_IF_ERROR(tx.upsert_fee_schedule(merchant_id, currency, schedule, at));
          return tx.fee_schedule(merchant_id, currency);
        },
        std::move(done));
  });
}

Result<Merchant> Commands::get_merchant(int64_t merchant_id) {
  return internal::read_value<Merchant>(store_, [merchant_id](ReadTx& tx) {
    return tx.merchant_by_id(merchant_id);
  });
}

Result<std::vector<Merchant>> Commands::list_merchants() {
  return internal::read_value<std::vector<Merchant>>(store_,
                                                     [](MerchantReads& tx) { return tx.list_merchants(); });
}

Result<V3Principal> Commands::authenticate_v3(std::string_view login, std::string_view pass) {
  if (master_key_ == nullptr) return Status::internal("no master key loaded");
  Result<Merchant> merchant = internal::read_value<Merchant>(
      store_, [login](CredentialReads& tx) { return tx.merchant_by_login(login); },
      internal::ReadShape::kSingleStatement);
  const Status invalid = Status::error(ErrorKind::kUnauthenticated, "Invalid credentials");
  if (!merchant.is_ok()) {
    if (merchant.status().kind() != ErrorKind::kNotFound) return std::move(merchant).status();
    // Spend the same work as a real check so an unknown login is not distinguishable by timing.
    static const crypto::CredentialHash kDummy{std::string(16, '\0'), std::string(32, '\0')};
    (void)crypto::verify_credential(pass, kDummy);
    return invalid;
  }
  if (!crypto::verify_credential(pass, {merchant->pass_salt, merchant->pass_hash})) return invalid;
  PAYOUTD_ASSIGN_OR_RETURN(std::string secret_key,
                           master_key_->open(merchant->secret_key_sealed, kSecretKeyAad));
  return V3Principal{std::move(merchant).value(), std::move(secret_key)};
}

Result<Merchant> Commands::authenticate_v1(std::string_view username, std::string_view password) {
  Result<Merchant> merchant = internal::read_value<Merchant>(
      store_, [username](CredentialReads& tx) { return tx.merchant_by_api_username(username); },
      internal::ReadShape::kSingleStatement);
  const Status invalid = Status::error(ErrorKind::kUnauthenticated, "Invalid credentials");
  if (!merchant.is_ok()) {
    if (merchant.status().kind() != ErrorKind::kNotFound) return std::move(merchant).status();
    static const crypto::CredentialHash kDummy{std::string(16, '\0'), std::string(32, '\0')};
    (void)crypto::verify_credential(password, kDummy);
    return invalid;
  }
  if (!crypto::verify_credential(password,
                                 {merchant->api_password_salt, merchant->api_password_hash})) {
    return invalid;
  }
  return merchant;
}

Result<WalletMovementOutput> Commands::fund_wallet(const WalletMovementInput& input) {
  PAYOUTD_RETURN_IF_ERROR(validate_wallet_movement(input, /*is_deposit=*/true));
  const int64_t at = clock_.now_micros();
  return wait_for<WalletMovementOutput>([&](Callback<WalletMovementOutput> done) {
    submit_op<WalletMovementOutput>(
        store_,
        [input, at](WriteTx& tx) { return apply_wallet_movement(tx, input, true, at); },
        std::move(done));
  });
}

Result<WalletMovementOutput> Commands::adjust_wallet(const WalletMovementInput& input) {
  PAYOUTD_RETURN_IF_ERROR(validate_wallet_movement(input, /*is_deposit=*/false));
  const int64_t at = clock_.now_micros();
  return wait_for<WalletMovementOutput>([&](Callback<WalletMovementOutput> done) {
    submit_op<WalletMovementOutput>(
        store_,
        [input, at](WriteTx& tx) { return apply_wallet_movement(tx, input, false, at); },
        std::move(done));
  });
}

Result<std::vector<Wallet>> Commands::list_all_wallets(int64_t merchant_id) {
  return internal::read_value<std::vector<Wallet>>(
      store_, [merchant_id](ReadTx& tx) -> Result<std::vector<Wallet>> {
        PAYOUTD_RETURN_IF_ERROR(tx.merchant_by_id(merchant_id));
        WalletQuery query;
        query.merchant_id = merchant_id;
        query.limit = kMaxPageSize;
        PAYOUTD_ASSIGN_OR_RETURN(WalletPage page, tx.list_wallets(query));
        return std::move(page.items);
      });
}

Result<WalletPage> Commands::list_wallets(const WalletQuery& query) {
  return internal::read_value<WalletPage>(store_, [&query](LedgerReads& tx) { return tx.list_wallets(query); });
}

Result<Wallet> Commands::get_wallet(int64_t merchant_id, int64_t wallet_id) {
  return internal::read_value<Wallet>(store_, [merchant_id, wallet_id](ReadTx& tx) {
    return tx.wallet_by_id(merchant_id, wallet_id);
  });
}

Result<WalletTransactionPage> Commands::list_wallet_transactions(
    const WalletTransactionQuery& query) {
  return internal::read_value<WalletTransactionPage>(
      store_, [&query](LedgerReads& tx) { return tx.list_wallet_transactions(query); });
}

Callback<PayoutWithEvents> Commands::observed(Callback<PayoutWithEvents> done,
                                              size_t new_events) const {
  if (!options_.on_transition_committed) return done;
  return [this, done = std::move(done), new_events](Result<PayoutWithEvents> result) {
    if (result.is_ok()) {
      const auto& events = result->events;
      const size_t first = events.size() > new_events ? events.size() - new_events : 0;
      for (size_t i = first; i < events.size(); ++i) {
        options_.on_transition_committed(events[i].from_status, events[i].to_status);
      }
    }
    done(std::move(result));
  };
}

void Commands::create_payout_async(CreatePayoutInput input, Callback<PayoutWithEvents> done) {
  const int64_t at = clock_.now_micros();
  const size_t new_events = input.on_hold ? 2 : 1;
  submit_op<PayoutWithEvents>(
      store_,
      [this, input = std::move(input), at](WriteTx& tx) {
        return apply_create_payout(tx, options_.formats, input, options_.limits, random_, at);
      },
      observed(std::move(done), new_events));
}

Result<PayoutWithEvents> Commands::create_payout(CreatePayoutInput input) {
  return wait_for<PayoutWithEvents>([&](Callback<PayoutWithEvents> done) {
    create_payout_async(std::move(input), std::move(done));
  });
}

void Commands::create_payout_idempotent_async(CreatePayoutInput input,
                                              std::optional<IdempotencyKeyInput> key,
                                              RenderCreateResponse render,
                                              Callback<IdempotentCreateOutput> done) {
  PAYOUTD_ASSERT(render != nullptr);
  const int64_t at = clock_.now_micros();
  // Bounded cleanup: each keyed create removes a few of the merchant's expired records.
  constexpr int kExpiredRecordsPerCreate = 16;
  auto apply = [this, input = std::move(input), key = std::move(key), render = std::move(render),
                at](WriteTx& tx) -> Result<IdempotentCreateOutput> {
    if (key) {
      Result<IdempotencyRecord> record = tx.idempotency_record(input.merchant_id, key->key);
      if (record.is_ok()) {
        if (record->expires_at > at) {
          if (record->request_hash != key->request_hash) {
            return Status::error(ErrorKind::kConflict,
                                 "Idempotency-Key already used with a different request")
                .with_detail_code(kConflictIdempotencyKey);
          }
          return IdempotentCreateOutput{
              IdempotentCreateKind::kKeyReplay,
              RenderedResponse{record->response_status, std::move(record->response_body)}};
        }
        PAYOUTD_RETURN_IF_ERROR(tx.delete_idempotency_record(input.merchant_id, key->key));
      } else if (record.status().kind() != ErrorKind::kNotFound) {
        return std::move(record).status();
      }
      Result<int64_t> purged =
          tx.delete_expired_idempotency_records(input.merchant_id, at, kExpiredRecordsPerCreate);
      if (!purged.is_ok()) return std::move(purged).status();
    }

    IdempotentCreateOutput output;
    Result<PayoutWithEvents> created =
        apply_create_payout(tx, options_.formats, input, options_.limits, random_, at);
    if (created.is_ok()) {
      output.kind = IdempotentCreateKind::kCreated;
      output.response = render(*created, /*created=*/true);
    } else if (created.status().kind() == ErrorKind::kAlreadyExists) {
      // The reference id is taken: a safe retry of the same request gets the earlier payout.
      PAYOUTD_ASSIGN_OR_RETURN(
          PayoutWithEvents existing,
          read_payout_with_events(tx, input.merchant_id,
                                  PayoutRef::by_external_id(input.external_id)));
      if (input.request_fingerprint.empty() ||
          existing.payout.request_fingerprint != input.request_fingerprint) {
        return Status::error(ErrorKind::kConflict,
                             "reference_id already used with a different request")
            .with_detail_code(kConflictReference);
      }
      output.kind = IdempotentCreateKind::kReferenceReplay;
      output.response = render(existing, /*created=*/false);
    } else {
      return std::move(created).status();
    }

    if (key) {
      IdempotencyRecord record;
      record.merchant_id = input.merchant_id;
      record.key = key->key;
      record.request_hash = key->request_hash;
      record.response_status = output.response.status;
      record.response_body = output.response.body;
      record.created_at = at;
      record.expires_at = at + key->ttl_micros;
      PAYOUTD_RETURN_IF_ERROR(tx.insert_idempotency_record(record));
    }
    return output;
  };
  Callback<IdempotentCreateOutput> observed_done = std::move(done);
  if (options_.on_transition_committed) {
    observed_done = [this, done = std::move(observed_done)](Result<IdempotentCreateOutput> result) {
      if (result.is_ok() && result->kind == IdempotentCreateKind::kCreated) {
        options_.on_transition_committed(std::nullopt, PayoutStatus::kCreated);
      }
      done(std::move(result));
    };
  }
  submit_op<IdempotentCreateOutput>(store_, std::move(apply), std::move(observed_done));
}

Result<IdempotentCreateOutput> Commands::create_payout_idempotent(
    CreatePayoutInput input, std::optional<IdempotencyKeyInput> key, RenderCreateResponse render) {
  return wait_for<IdempotentCreateOutput>([&](Callback<IdempotentCreateOutput> done) {
    create_payout_idempotent_async(std::move(input), std::move(key), std::move(render),
                                   std::move(done));
  });
}

void Commands::transition_async(TransitionInput input, Callback<PayoutWithEvents> done) {
  const int64_t at = clock_.now_micros();
  // A cancel that does not read its history back may be written together with other such ops
  // (PostgreSQL's set-wise write groups); apply_transition keeps no state between runs.
  const bool defers_writes = input.to == PayoutStatus::kCancelled && !input.read_back;
  const std::optional<int64_t> payout = input.ref.cashout_id;
  submit_op<PayoutWithEvents>(
      store_,
      [this, input = std::move(input), at](WriteTx& tx) {
        return apply_transition(tx, options_.formats, input, at);
      },
      observed(std::move(done), 1), defers_writes, payout);
}

Result<PayoutWithEvents> Commands::transition(TransitionInput input) {
  return wait_for<PayoutWithEvents>([&](Callback<PayoutWithEvents> done) {
    transition_async(std::move(input), std::move(done));
  });
}

void Commands::cancel_payout_async(int64_t merchant_id, PayoutRef ref, Actor actor,
                                   Callback<PayoutWithEvents> done) {
  TransitionInput input;
  input.merchant_id = merchant_id;
  input.ref = std::move(ref);
  input.to = PayoutStatus::kCancelled;
  input.actor = actor;
  transition_async(std::move(input), std::move(done));
}

namespace {

// Not inlined: GCC 12 at -O3 reports a false "may be used uninitialized" on the Result's variant
// when this is inlined into the callback below.
[[gnu::noinline]] bool is_processing_refusal(const Status& status) {
  return status.kind() == ErrorKind::kInvalidTransition &&
         status.detail_code() == static_cast<int>(PayoutStatus::kProcessing);
}

}  // namespace

void Commands::merchant_cancel_async(int64_t merchant_id, PayoutRef ref,
                                     Callback<ProcessingCancelResult> done) {
  // The common case first: a payout that has not gone out is cancelled in one write op. Only a
  // refusal because it is processing goes to the rail (after the write, so the rail is never
  // asked about a payout this store could have cancelled itself).
  PayoutRef again = ref;
  cancel_payout_async(
      merchant_id, std::move(ref), Actor::kClient,
      [this, merchant_id, again = std::move(again),
       done = std::move(done)](Result<PayoutWithEvents> result) mutable {
        if (result.is_ok()) {
          done(ProcessingCancelResult{ProcessingCancel::kCancelled, std::move(result).value()});
          return;
        }
        ProcessingCanceller* canceller = canceller_.load();
        if (canceller != nullptr && is_processing_refusal(result.status())) {
          canceller->cancel_processing_async(merchant_id, std::move(again), std::move(done));
          return;
        }
        done(std::move(result).status());
      });
}

Result<PayoutWithEvents> Commands::cancel_payout(int64_t merchant_id, PayoutRef ref, Actor actor) {
  return wait_for<PayoutWithEvents>([&](Callback<PayoutWithEvents> done) {
    cancel_payout_async(merchant_id, std::move(ref), actor, std::move(done));
  });
}

Result<PayoutWithEvents> Commands::hold_payout(int64_t merchant_id, PayoutRef ref, Actor actor) {
  TransitionInput input;
  input.merchant_id = merchant_id;
  input.ref = std::move(ref);
  input.to = PayoutStatus::kOnHold;
  input.actor = actor;
  return transition(std::move(input));
}

Result<PayoutWithEvents> Commands::release_payout(int64_t merchant_id, PayoutRef ref,
                                                  Actor actor) {
  TransitionInput input;
  input.merchant_id = merchant_id;
  input.ref = std::move(ref);
  input.to = PayoutStatus::kQueued;
  input.actor = actor;
  input.expected_from = PayoutStatus::kOnHold;  // "release" means on_hold -> queued only
  return transition(std::move(input));
}

Result<PayoutWithEvents> Commands::operator_set_status(PayoutRef ref, PayoutStatus to,
                                                       std::optional<int> reason_code,
                                                       std::optional<std::string> bank_reference_id,
                                                       std::optional<std::string> message) {
  TransitionInput input;
  input.merchant_id = 0;
  input.ref = std::move(ref);
  input.to = to;
  input.actor = Actor::kOperator;
  input.failure_code = reason_code;
  input.bank_reference_id = std::move(bank_reference_id);
  input.message = std::move(message);
  return transition(std::move(input));
}

Result<PayoutWithEvents> Commands::get_payout(int64_t merchant_id, const PayoutRef& ref) {
  return internal::read_value<PayoutWithEvents>(store_, [merchant_id, &ref](ReadTx& tx) {
    return read_payout_with_events(tx, merchant_id, ref);
  });
}

Result<PayoutPage> Commands::list_payouts(const PayoutQuery& query) {
  return internal::read_value<PayoutPage>(store_, [&query](PayoutReads& tx) { return tx.list_payouts(query); });
}

Result<LedgerReport> Commands::check_ledger() {
  return internal::read_value<LedgerReport>(store_, [](LedgerReads& tx) { return tx.check_ledger(); });
}

Status Commands::check_database() {
  return store_.read([](ReadTx& tx) -> Status {
    // Merchant ids start at 1: the answer is always "not found", and getting it proves the
    // database is reachable and migrated.
    Result<Merchant> none = tx.merchant_by_id(0);
    if (none.is_ok() || none.status().kind() == ErrorKind::kNotFound) return Status::ok();
    return std::move(none).status();
  });
}

}  // namespace payoutd::commands
