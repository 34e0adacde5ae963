// The payoutd command line: argument parsing (CLI11), settings, and the operator subcommands.
//
// Every subcommand validates all of its arguments before it opens the database or loads the master
// key, so a bad invocation exits 2 and changes nothing. Domain work goes through
// commands::Commands only; this file never touches SQL or the ledger.
#include "cli/cli.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cli/logging.h"
#include "cli/output.h"
#include "cli/server.h"
#include "cli/session.h"
#include "commands/commands.h"
#include "config/config.h"
#include "core/ids.h"
#include "core/money.h"
#include "core/payout_status.h"
#include "http/server.h"
#include "store/database_url.h"

namespace payoutd::cli {
namespace {

constexpr size_t kMaxMerchantNameChars = 100;
constexpr size_t kMaxRemarksChars = 255;
constexpr size_t kMaxBankReferenceChars = 100;
constexpr size_t kMaxEventMessageChars = 255;
constexpr size_t kMaxIpAllowEntries = 64;
constexpr int32_t kMaxPercentBps = 10000;

// Everything the command line can carry, as raw text: values are validated after parsing, by the
// subcommand that uses them, so every error message is ours and one line long.
struct Arguments {
  config::FlagOverrides flags;
  std::optional<std::string> threads_text;
  bool json = false;

  std::string id;  // positional ID (merchant, payout, event)
  std::string name;
  std::vector<std::string> ip_allow;
  std::optional<std::string> notification_url;
  std::optional<std::string> v3_login;
  std::optional<std::string> v3_pass;
  std::optional<std::string> v3_secret_key;
  std::string merchant;
  std::string currency;
  std::string amount;
  std::string fixed;
  std::string percent_bps;
  std::optional<std::string> remarks;
  std::string status;
  std::optional<std::string> reason_code;
  std::optional<std::string> bank_reference;
  std::optional<std::string> message;
  std::optional<std::string> notification_status;
};

using Handler = std::function<int(const Arguments&, const config::Settings&)>;

// ---- Argument validation (pure) ----

Status usage_error(std::string field, std::string message) {
  return Status::invalid_argument(std::move(field), std::move(message));
}

Result<int64_t> parse_id_argument(std::string_view text, std::string_view what) {
  std::optional<int64_t> id = parse_cashout_id(text);
  if (!id) {
    return usage_error(std::string(what), std::string(what) + " '" + std::string(text) +
                                              "' is not a positive integer");
  }
  return *id;
}

Result<const Currency*> parse_currency_argument(std::string_view text) {
  const Currency* currency = find_currency(text);
  if (currency == nullptr) {
    return usage_error(
        "currency", "unknown currency '" + std::string(text) + "' (an ISO 4217 code such as BRL)");
  }
  return currency;
}

// Text arguments stored and shown later: no control characters, bounded length.
Status check_text_argument(std::string_view field, std::string_view text, size_t max_chars,
                           bool allow_empty) {
  if (!allow_empty && text.empty()) {
    return usage_error(std::string(field), "--" + std::string(field) + " must not be empty");
  }
  if (text.size() > max_chars) {
    return usage_error(std::string(field), "--" + std::string(field) + " must be at most " +
                                               std::to_string(max_chars) + " characters");
  }
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7F) {
      return usage_error(std::string(field),
                         "--" + std::string(field) + " must not contain control characters");
    }
  }
  return Status::ok();
}

Result<int64_t> parse_amount_argument(std::string_view text, const Currency& currency,
                                      bool allow_negative) {
  AmountParseOptions options;
  options.allow_negative = allow_negative;
  Result<int64_t> amount = parse_amount(text, currency, options);
  if (!amount.is_ok()) {
    return usage_error("amount", "invalid amount '" + std::string(text) + "' for " +
                                     std::string(currency.code) + ": " + amount.status().message());
  }
  return amount;
}

// A fixed fee may be zero ("0", "0.00"); anything else is an exact positive amount.
Result<int64_t> parse_fee_argument(std::string_view text, const Currency& currency) {
  bool all_zero = !text.empty() && text.front() == '0';
  if (all_zero && text.size() > 1) {
    all_zero = text[1] == '.' && text.size() > 2 &&
               text.substr(2).find_first_not_of('0') == std::string_view::npos;
  }
  if (all_zero) return int64_t{0};
  Result<int64_t> amount = parse_amount(text, currency);
  if (!amount.is_ok()) {
    return usage_error("fixed", "invalid fixed fee '" + std::string(text) + "' for " +
                                    std::string(currency.code) + ": " + amount.status().message());
  }
  return amount;
}

// Decimal digits only, 0..max.
std::optional<int64_t> parse_bounded_integer(std::string_view text, int64_t max) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value > max) return std::nullopt;
  return value;
}

Result<PayoutRef> parse_payout_ref(std::string_view text) {
  if (text.starts_with(kPayoutIdPrefix)) {
    if (!is_valid_public_id(text, kPayoutIdPrefix)) {
      return usage_error("id", "payout id '" + std::string(text) +
                                   "' is not pyt_ followed by 16 letters or digits");
    }
    return PayoutRef::by_public_id(std::string(text));
  }
  std::optional<int64_t> cashout_id = parse_cashout_id(text);
  if (!cashout_id) {
    return usage_error(
        "id", "payout id '" + std::string(text) + "' is neither a cashout id nor a pyt_ id");
  }
  return PayoutRef::by_cashout_id(*cashout_id);
}

std::string known_status_names() {
  std::string names;
  for (PayoutStatus status : kAllPayoutStatuses) {
    if (!names.empty()) names += ", ";
    names += status_name(status);
  }
  return names;
}

// ---- Subcommands ----

// Like report_failure, but a kNotFound names the object the operator asked for ("merchant 999 not
// found") instead of the store's generic text.
// REQUIRES: !status.is_ok(); `what` is the only object the command can fail to find.
int report_lookup_failure(const Status& status, const std::string& what) {
  if (status.kind() != ErrorKind::kNotFound) return report_failure(status);
  std::fprintf(stderr, "error: %s not found\n", what.c_str());
  return kExitRefused;
}

Result<std::unique_ptr<Session>> open_session(const config::Settings& settings,
                                              Session::KeyNeed key_need) {
  StoreOptions options = store_options_for(settings);
  options.read_connections = 2;  // one command, one reader at a time
  return Session::open(settings, key_need, options);
}

int run_migrate(const Arguments& args, const config::Settings& settings) {
  Result<std::unique_ptr<Session>> session = open_session(settings, Session::KeyNeed::kNone);
  if (!session.is_ok()) return report_failure(session.status());
  print_output(args.json ? "{\"migrated\":true}" : "database schema is up to date");
  return kExitOk;
}

int run_merchant_create(const Arguments& args, const config::Settings& settings) {
  commands::CreateMerchantInput input;
  if (Status status = check_text_argument("name", args.name, kMaxMerchantNameChars, false);
      !status.is_ok()) {
    return report_failure(status);
  }
  input.name = args.name;
  if (args.ip_allow.size() > kMaxIpAllowEntries) {
    return report_failure(usage_error("ip-allow", "at most 64 CIDRs in --ip-allow"));
  }
  for (const std::string& cidr : args.ip_allow) {
    if (Status status = commands::validate_cidr(cidr); !status.is_ok()) {
      return report_failure(status);
    }
    input.ip_allow.push_back(cidr);
  }
  if (args.notification_url) {
    if (Status status =
            commands::validate_notification_url(*args.notification_url, "notification-url");
        !status.is_ok()) {
      return report_failure(status);
    }
    input.notification_url = *args.notification_url;
  }
  // Imported cashouts-v3 credentials (a merchant moving from another D24-family provider): all
  // three or none; the command checks each value.
  const int imported = static_cast<int>(args.v3_login.has_value()) +
                       static_cast<int>(args.v3_pass.has_value()) +
                       static_cast<int>(args.v3_secret_key.has_value());
  if (imported != 0 && imported != 3) {
    return report_failure(usage_error(
        "v3-login", "--v3-login, --v3-pass and --v3-secret-key must be given together"));
  }
  input.v3_login = args.v3_login;
  input.v3_pass = args.v3_pass;
  input.v3_secret_key = args.v3_secret_key;
  Result<std::unique_ptr<Session>> session = open_session(settings, Session::KeyNeed::kRequired);
  if (!session.is_ok()) return report_failure(session.status());
  Result<commands::MerchantWithCredentials> created = (*session)->commands().create_merchant(input);
  if (!created.is_ok()) return report_failure(created.status());
  print_output(args.json ? credentials_json(*created) : credentials_text(*created, "created"));
  return kExitOk;
}

int run_merchant_list(const Arguments& args, const config::Settings& settings) {
  Result<std::unique_ptr<Session>> session = open_session(settings, Session::KeyNeed::kNone);
  if (!session.is_ok()) return report_failure(session.status());
  Result<std::vector<Merchant>> merchants = (*session)->commands().list_merchants();
  if (!merchants.is_ok()) return report_failure(merchants.status());
  print_output(args.json ? merchants_json(*merchants) : merchants_text(*merchants));
  return kExitOk;
}

int run_merchant_show(const Arguments& args, const config::Settings& settings) {
  Result<int64_t> merchant_id = parse_id_argument(args.id, "merchant id");
  if (!merchant_id.is_ok()) return report_failure(merchant_id.status());
  Result<std::unique_ptr<Session>> session = open_session(settings, Session::KeyNeed::kNone);
  if (!session.is_ok()) return report_failure(session.status());
  Result<Merchant> merchant = (*session)->commands().get_merchant(*merchant_id);
  if (!merchant.is_ok()) {
    return report_lookup_failure(merchant.status(), "merchant " + std::to_string(*merchant_id));
  }
  print_output(args.json ? merchant_json(*merchant) : merchant_text(*merchant));
  return kExitOk;
}

int run_merchant_set_status(const Arguments& args, const config::Settings& settings,
                            MerchantStatus status) {
  Result<int64_t> merchant_id = parse_id_argument(args.id, "merchant id");
  if (!merchant_id.is_ok()) return report_failure(merchant_id.status());
  Result<std::unique_ptr<Session>> session = open_session(settings, Session::KeyNeed::kNone);
  if (!session.is_ok()) return report_failure(session.status());
  Result<Merchant> merchant = (*session)->commands().set_merchant_status(*merchant_id, status);
  if (!merchant.is_ok()) {
    return report_lookup_failure(merchant.status(), "merchant " + std::to_string(*merchant_id));
  }
  if (args.json) {
    print_output(merchant_json(*merchant));
  } else {
    print_output("Merchant " + std::to_string(merchant->id) + " (" + merchant->name + ") is now " +
                 (status == MerchantStatus::kActive ? "active" : "disabled"));
  }
  return kExitOk;
}

int run_merchant_rotate(const Arguments& args, const config::Settings& settings) {
  Result<int64_t> merchant_id = parse_id_argument(args.id, "merchant id");
  if (!merchant_id.is_ok()) return report_failure(merchant_id.status());
  Result<std::unique_ptr<Session>> session = open_session(settings, Session::KeyNeed::kRequired);
  if (!session.is_ok()) return report_failure(session.status());
  Result<commands::MerchantWithCredentials> rotated =
      (*session)->commands().rotate_credentials(*merchant_id);
  if (!rotated.is_ok()) {
    return report_lookup_failure(rotated.status(), "merchant " + std::to_string(*merchant_id));
  }
  print_output(args.json ? credentials_json(*rotated)
                         : credentials_text(*rotated,
                                            "has new credentials; the old ones no "
                                            "longer work"));
  return kExitOk;
}

int run_merchant_fees(const Arguments& args, const config::Settings& settings) {
  Result<int64_t> merchant_id = parse_id_argument(args.id, "merchant id");
  if (!merchant_id.is_ok()) return report_failure(merchant_id.status());
  Result<const Currency*> currency = parse_currency_argument(args.currency);
  if (!currency.is_ok()) return report_failure(currency.status());
  Result<int64_t> fixed = parse_fee_argument(args.fixed, **currency);
  if (!fixed.is_ok()) return report_failure(fixed.status());
  std::optional<int64_t> percent_bps = parse_bounded_integer(args.percent_bps, kMaxPercentBps);
  if (!percent_bps) {
    return report_failure(usage_error(
        "percent-bps", "--percent-bps '" + args.percent_bps + "' is not an integer 0..10000"));
  }
  FeeSchedule schedule;
  schedule.fixed_minor = *fixed;
  schedule.percent_bps = static_cast<int32_t>(*percent_bps);
  Result<std::unique_ptr<Session>> session = open_session(settings, Session::KeyNeed::kNone);
  if (!session.is_ok()) return report_failure(session.status());
  Result<FeeSchedule> stored =
      (*session)->commands().set_fees(*merchant_id, std::string((*currency)->code), schedule);
  if (!stored.is_ok()) {
    return report_lookup_failure(stored.status(), "merchant " + std::to_string(*merchant_id));
  }
  print_output(args.json ? fees_json(*merchant_id, (*currency)->code, *stored)
                         : fees_text(*merchant_id, (*currency)->code, *stored));
  return kExitOk;
}

int run_wallet_movement(const Arguments& args, const config::Settings& settings, bool is_deposit) {
  Result<int64_t> merchant_id = parse_id_argument(args.merchant, "merchant id");
  if (!merchant_id.is_ok()) return report_failure(merchant_id.status());
  Result<const Currency*> currency = parse_currency_argument(args.currency);
  if (!currency.is_ok()) return report_failure(currency.status());
  Result<int64_t> amount = parse_amount_argument(args.amount, **currency, !is_deposit);
  if (!amount.is_ok()) return report_failure(amount.status());
  if (args.remarks) {
    if (Status status = check_text_argument("remarks", *args.remarks, kMaxRemarksChars,
                                            /*allow_empty=*/is_deposit);
        !status.is_ok()) {
      return report_failure(status);
    }
  }
  commands::WalletMovementInput input;
  input.merchant_id = *merchant_id;
  input.currency = std::string((*currency)->code);
  input.amount_minor = *amount;
  if (args.remarks && !args.remarks->empty()) input.remarks = *args.remarks;

  Result<std::unique_ptr<Session>> session = open_session(settings, Session::KeyNeed::kNone);
  if (!session.is_ok()) return report_failure(session.status());
  Result<commands::WalletMovementOutput> moved = is_deposit
                                                     ? (*session)->commands().fund_wallet(input)
                                                     : (*session)->commands().adjust_wallet(input);
  if (!moved.is_ok()) return report_failure(moved.status());
  if (args.json) {
    print_output(wallet_json(moved->wallet));
  } else {
    const std::string verb = is_deposit ? "Funded " : "Adjusted by ";
    const std::string sign = moved->transaction.transaction_type == "DEBIT" ? "-" : "";
    print_output(verb + sign + amount_text(moved->transaction.amount_minor, input.currency) + " " +
                 input.currency + ". " + wallet_text(moved->wallet));
  }
  return kExitOk;
}

int run_wallet_show(const Arguments& args, const config::Settings& settings) {
  Result<int64_t> merchant_id = parse_id_argument(args.merchant, "merchant id");
  if (!merchant_id.is_ok()) return report_failure(merchant_id.status());
  Result<std::unique_ptr<Session>> session = open_session(settings, Session::KeyNeed::kNone);
  if (!session.is_ok()) return report_failure(session.status());
  Result<std::vector<Wallet>> wallets = (*session)->commands().list_all_wallets(*merchant_id);
  if (!wallets.is_ok()) {
    return report_lookup_failure(wallets.status(), "merchant " + std::to_string(*merchant_id));
  }
  print_output(args.json ? wallets_json(*wallets) : wallets_text(*merchant_id, *wallets));
  return kExitOk;
}

int run_payout_show(const Arguments& args, const config::Settings& settings) {
  Result<PayoutRef> ref = parse_payout_ref(args.id);
  if (!ref.is_ok()) return report_failure(ref.status());
  Result<std::unique_ptr<Session>> session = open_session(settings, Session::KeyNeed::kNone);
  if (!session.is_ok()) return report_failure(session.status());
  Result<commands::PayoutWithEvents> payout =
      (*session)->commands().get_payout(/*merchant_id=*/0, *ref);
  if (!payout.is_ok()) return report_lookup_failure(payout.status(), "payout " + args.id);
  print_output(args.json ? payout_json(*payout) : payout_text(*payout));
  return kExitOk;
}

int run_payout_set_status(const Arguments& args, const config::Settings& settings) {
  Result<PayoutRef> ref = parse_payout_ref(args.id);
  if (!ref.is_ok()) return report_failure(ref.status());
  std::optional<PayoutStatus> to = parse_status_name(args.status);
  if (!to) {
    return report_failure(usage_error(
        "status", "unknown status '" + args.status + "' (one of " + known_status_names() + ")"));
  }
  std::optional<int> reason_code;
  if (args.reason_code) {
    std::optional<int64_t> code = parse_bounded_integer(*args.reason_code, 999);
    if (!code || rejection_reason_name(static_cast<int>(*code)).empty()) {
      return report_failure(usage_error("reason-code", "--reason-code '" + *args.reason_code +
                                                           "' is not a known rejection code"));
    }
    if (*to != PayoutStatus::kFailed) {
      return report_failure(
          usage_error("reason-code", "--reason-code applies only to --status failed"));
    }
    reason_code = static_cast<int>(*code);
  }
  if (args.bank_reference) {
    if (Status status = check_text_argument("bank-reference", *args.bank_reference,
                                            kMaxBankReferenceChars, false);
        !status.is_ok()) {
      return report_failure(status);
    }
  }
  if (args.message) {
    if (Status status = check_text_argument("message", *args.message, kMaxEventMessageChars, false);
        !status.is_ok()) {
      return report_failure(status);
    }
  }
  Result<std::unique_ptr<Session>> session = open_session(settings, Session::KeyNeed::kNone);
  if (!session.is_ok()) return report_failure(session.status());
  commands::Commands& commands = (*session)->commands();
  // Read first only to say "from -> to" in the output; the transition itself is claimed by the
  // command's conditional write, so a concurrent change cannot be overwritten.
  Result<commands::PayoutWithEvents> before = commands.get_payout(/*merchant_id=*/0, *ref);
  if (!before.is_ok()) return report_lookup_failure(before.status(), "payout " + args.id);
  Result<commands::PayoutWithEvents> after =
      commands.operator_set_status(*ref, *to, reason_code, args.bank_reference, args.message);
  if (!after.is_ok()) {
    const Status& status = after.status();
    if (status.kind() == ErrorKind::kInvalidTransition) {
      // A refusal of the transition table is a refused operation (exit 1), not a usage error.
      std::fprintf(stderr, "error: cannot move payout %lld from %s to %s: %s\n",
                   static_cast<long long>(before->payout.cashout_id),
                   std::string(status_name(before->payout.status)).c_str(),
                   std::string(status_name(*to)).c_str(), status.message().c_str());
      return kExitRefused;
    }
    return report_failure(status);
  }
  if (args.json) {
    print_output(payout_json(*after));
  } else {
    print_output("Payout " + std::to_string(after->payout.cashout_id) + ": " +
                 std::string(status_name(before->payout.status)) + " -> " +
                 std::string(status_name(after->payout.status)) + "\n" + payout_text(*after));
  }
  return kExitOk;
}

int run_ledger_check(const Arguments& args, const config::Settings& settings) {
  Result<std::unique_ptr<Session>> session = open_session(settings, Session::KeyNeed::kNone);
  if (!session.is_ok()) return report_failure(session.status());
  Result<LedgerReport> report = (*session)->commands().check_ledger();
  if (!report.is_ok()) return report_failure(report.status());
  print_output(args.json ? ledger_json(*report) : ledger_text(*report));
  return report->all_hold() ? kExitOk : kExitRefused;
}

Result<std::optional<OutboxStatus>> notification_status_filter(const Arguments& args) {
  if (!args.notification_status) return std::optional<OutboxStatus>{};
  std::optional<OutboxStatus> status = parse_outbox_status_name(*args.notification_status);
  if (!status) {
    return usage_error("status", "unknown notification status '" + *args.notification_status +
                                     "' (pending, delivered, failed)");
  }
  return status;
}

int run_notifications_list(const Arguments& args, const config::Settings& settings) {
  Result<std::optional<OutboxStatus>> status = notification_status_filter(args);
  if (!status.is_ok()) return report_failure(status.status());
  Result<std::unique_ptr<Session>> session = open_session(settings, Session::KeyNeed::kNone);
  if (!session.is_ok()) return report_failure(session.status());
  OutboxQuery query;
  query.status = *status;
  query.limit = kMaxPageSize;
  Result<std::vector<OutboxMessage>> messages = (*session)->commands().list_notifications(query);
  if (!messages.is_ok()) return report_failure(messages.status());
  print_output(args.json ? notifications_json(*messages) : notifications_text(*messages));
  return kExitOk;
}

int run_notifications_redeliver(const Arguments& args, const config::Settings& settings) {
  if (!parse_event_id(args.id)) {
    return report_failure(usage_error(
        "EVENT_ID", "EVENT_ID is not an event id (evt_<16 characters>_<sequence number>)"));
  }
  Result<std::unique_ptr<Session>> session = open_session(settings, Session::KeyNeed::kNone);
  if (!session.is_ok()) return report_failure(session.status());
  Result<int64_t> requeued = (*session)->commands().redeliver_event(0, args.id, std::nullopt);
  if (!requeued.is_ok()) return report_failure(requeued.status());
  if (args.json) {
    print_output("{\"event_id\":\"" + args.id + "\",\"requeued\":" + std::to_string(*requeued) +
                 "}");
  } else {
    print_output("Requeued " + std::to_string(*requeued) + " notification(s) of " + args.id);
  }
  return kExitOk;
}

int run_server_mode(const Arguments& args, const config::Settings& settings, bool demo) {
  // Before any thread exists (the store's writer, the I/O threads): they inherit the mask, and
  // the main thread collects SIGTERM/SIGINT with sigwait.
  http::block_termination_signals();
  return demo ? run_demo(settings, args.json) : run_serve(settings, args.json);
}

// ---- Command-line definition ----

void add_global_options(CLI::App& app, Arguments& args) {
  app.add_option_function<std::string>(
      "--db", [&args](const std::string& value) { args.flags.database_url = value; },
      "Database URL: sqlite:///abs.db, sqlite://./rel.db (env PAYOUTD_DB)");
  app.add_option_function<std::string>(
      "--config", [&args](const std::string& value) { args.flags.config_file = value; },
      "TOML config file (flags > environment > file > defaults)");
  app.add_flag("--json", args.json, "Machine-readable JSON output");
  app.add_option_function<std::string>(
      "--master-key-file",
      [&args](const std::string& value) { args.flags.master_key_file = value; },
      "Master key file, created 0600 on first use (default ./var/master.key; env "
      "PAYOUTD_MASTER_KEY holds the key itself, in hex)");
  app.add_option_function<std::string>(
      "--log-level", [&args](const std::string& value) { args.flags.log_level = value; },
      "trace, debug, info, warn, error, critical, off (default info)");
  app.add_option_function<std::string>(
      "--log-format", [&args](const std::string& value) { args.flags.log_format = value; },
      "text or json (default: text on a terminal, else json)");
  // Tests only: every process of a test (servers, CLI commands) reads one time the test sets.
  app.add_option_function<std::string>(
         "--test-clock",
         [&args](const std::string& value) { args.flags.test_clock_file = value; },
         "TESTS ONLY: read the time from this 8-byte file instead of the system clock")
      ->group("Testing");
}

void add_server_options(CLI::App& app, Arguments& args) {
  app.add_option_function<std::string>(
      "--listen", [&args](const std::string& value) { args.flags.listen = value; },
      "API listen address host:port (default 127.0.0.1:8080; port 0 = any free port)");
  app.add_option_function<std::string>(
      "--threads", [&args](const std::string& value) { args.threads_text = value; },
      "I/O threads, 0 = number of cores (env PAYOUTD_THREADS)");
  app.add_option_function<std::string>(
      "--connector", [&args](const std::string& value) { args.flags.connector = value; },
      "sandbox or manual (env PAYOUTD_CONNECTOR)");
  app.add_flag_function(
      "--engine,!--no-engine", [&args](int64_t count) { args.flags.engine = count > 0; },
      "Run the engine (workers, dispatcher) in this process (default on)");
  app.add_flag_function(
      "--allow-private-callbacks",
      [&args](int64_t count) { args.flags.allow_private_callbacks = count > 0; },
      "Allow notifications to private and loopback addresses");
  app.add_option_function<std::string>(
      "--brand", [&args](const std::string& value) { args.flags.brand = value; },
      "Brand shown in messages (env PAYOUTD_BRAND)");
  app.add_option_function<std::string>(
      "--v3-rate-limit-per-second",
      [&args](const std::string& value) { args.flags.v3_rate_limit_per_second = value; },
      "Cashouts v3 requests per second per merchant, 0 = no limit (default 1000; env "
      "PAYOUTD_V3_RATE_LIMIT_PER_SECOND)");
  app.add_option_function<std::string>(
      "--v3-rate-limit-burst",
      [&args](const std::string& value) { args.flags.v3_rate_limit_burst = value; },
      "Cashouts v3 burst per merchant (default 2000; env PAYOUTD_V3_RATE_LIMIT_BURST)");
  app.add_option_function<std::string>(
      "--v1-access-token-ttl-seconds",
      [&args](const std::string& value) { args.flags.v1_access_token_ttl_seconds = value; },
      "Payouts v1 access token lifetime in seconds, 1..86400 (default 1800; env "
      "PAYOUTD_V1_ACCESS_TOKEN_TTL_SECONDS)");
  app.add_option_function<std::string>(
      "--v1-refresh-token-ttl-seconds",
      [&args](const std::string& value) { args.flags.v1_refresh_token_ttl_seconds = value; },
      "Payouts v1 refresh token lifetime in seconds, 60..7776000 (default 604800; env "
      "PAYOUTD_V1_REFRESH_TOKEN_TTL_SECONDS)");
  app.add_option_function<std::string>(
      "--handler-timeout-ms",
      [&args](const std::string& value) { args.flags.handler_timeout_ms = value; },
      "Answer 503 when a request's handler takes longer, 100..600000 (default 30000; env "
      "PAYOUTD_HANDLER_TIMEOUT_MS)");
  // Repeatable (one value per occurrence) and comma-separated: all occurrences form one list.
  const auto join = [](const std::vector<std::string>& values) {
    std::string list;
    for (const std::string& value : values) list += (list.empty() ? "" : ",") + value;
    return list;
  };
  app.add_option_function<std::vector<std::string>>(
         "--min-amount",
         [&args, join](const std::vector<std::string>& values) {
           args.flags.minimum_amounts = join(values);
         },
         "Minimum payout amount per currency, CUR=AMOUNT, repeatable (env PAYOUTD_MIN_AMOUNTS)")
      ->allow_extra_args(false);
  app.add_option_function<std::vector<std::string>>(
         "--max-transaction-amount",
         [&args, join](const std::vector<std::string>& values) {
           args.flags.maximum_transaction_amounts = join(values);
         },
         "Largest single payout per currency, CUR=AMOUNT, repeatable (env "
         "PAYOUTD_MAX_TRANSACTION_AMOUNTS)")
      ->allow_extra_args(false);
}

// A leaf subcommand: global options, and the handler to run when it is chosen.
CLI::App* add_leaf(CLI::App& parent, const std::string& name, const std::string& description,
                   Arguments& args, Handler& chosen, Handler handler) {
  CLI::App* leaf = parent.add_subcommand(name, description);
  add_global_options(*leaf, args);
  leaf->callback([&chosen, handler = std::move(handler)] { chosen = handler; });
  return leaf;
}

std::string single_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

int run_parsed(CLI::App& app, int argc, char** argv, Arguments& args, Handler& chosen) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      app.exit(error);  // --help: prints the help of the chosen (sub)command to stdout
      return kExitOk;
    }
    std::string reason = single_line(error.what());
    // CLI11 checks "a subcommand is required" before it complains about leftovers, so
    // `payoutd frobnicate` would otherwise not name the word it did not understand.
    if (dynamic_cast<const CLI::RequiredError*>(&error) != nullptr) {
      const std::vector<std::string> leftovers = app.remaining(/*recurse=*/true);
      if (!leftovers.empty()) reason = "unknown subcommand or argument '" + leftovers.front() + "'";
    }
    std::fprintf(stderr, "error: %s (see payoutd --help)\n", reason.c_str());
    return kExitUsage;
  }
  if (!chosen) {
    std::fprintf(stderr, "error: a subcommand is required (see payoutd --help)\n");
    return kExitUsage;
  }

  if (args.threads_text) {
    bool valid = !args.threads_text->empty() && args.threads_text->size() <= 3;
    int threads = 0;
    for (char c : *args.threads_text) {
      if (c < '0' || c > '9') valid = false;
      threads = threads * 10 + (c - '0');
    }
    if (!valid || threads > config::kMaxThreads) {
      return report_failure(usage_error("threads", "--threads must be an integer between 0 and " +
                                                       std::to_string(config::kMaxThreads)));
    }
    args.flags.threads = threads;
  }
  Result<config::Settings> settings =
      config::load_settings(args.flags, config::process_environment(), isatty(STDERR_FILENO) == 1);
  if (!settings.is_ok()) return report_failure(settings.status());
  // The full URL syntax too, so a malformed URL is a usage error before anything is opened.
  if (Result<DatabaseUrl> url = parse_database_url(settings->database_url); !url.is_ok()) {
    return report_failure(url.status());
  }
  if (Status status = configure_logging(settings->log_level, settings->log_format);
      !status.is_ok()) {
    return report_failure(status);
  }
  return chosen(args, *settings);
}

}  // namespace

int run(int argc, char** argv) {
  Arguments args;
  Handler chosen;

  CLI::App app{"payoutd: payout engine with a double-entry ledger and two wire dialects",
               "payoutd"};
  app.require_subcommand(1);
  // Global options may appear before or after the subcommand: unknown options fall through to the
  // parent, and each leaf also declares them so that its --help lists them.
  app.fallthrough();
  app.footer(
      "Exit codes: 0 success; 1 refused or failed operation (reason on stderr); 2 usage error "
      "(nothing was changed).");
  add_global_options(app, args);

  // serve / demo
  CLI::App* serve =
      add_leaf(app, "serve", "Run the API server (and, unless --no-engine, the engine)", args,
               chosen, [](const Arguments& a, const config::Settings& s) {
                 return run_server_mode(a, s, /*demo=*/false);
               });
  add_server_options(*serve, args);
  CLI::App* demo = add_leaf(
      app, "demo",
      "Create or reuse a demo merchant with funded wallets, print its credentials and signed curl "
      "examples, then serve",
      args, chosen, [](const Arguments& a, const config::Settings& s) {
        return run_server_mode(a, s, /*demo=*/true);
      });
  add_server_options(*demo, args);

  add_leaf(app, "migrate", "Create or migrate the database schema", args, chosen, run_migrate);

  // merchant
  CLI::App* merchant = app.add_subcommand("merchant", "Manage merchants");
  merchant->require_subcommand(1);
  CLI::App* create = add_leaf(*merchant, "create", "Create a merchant and print its credentials",
                              args, chosen, run_merchant_create);
  create->add_option("--name", args.name, "Merchant name (1..100 characters)")->required();
  create
      ->add_option_function<std::vector<std::string>>(
          "--ip-allow",
          [&args](const std::vector<std::string>& values) {
            // Comma-separated; the flag may also be repeated. Empty items are kept so that they
            // are refused as invalid CIDRs rather than silently dropped.
            for (const std::string& value : values) {
              size_t start = 0;
              while (args.ip_allow.size() <= kMaxIpAllowEntries) {
                const size_t comma = value.find(',', start);
                args.ip_allow.push_back(value.substr(start, comma - start));
                if (comma == std::string::npos) break;
                start = comma + 1;
              }
            }
          },
          "Allowed CIDRs for the v3 dialect, comma-separated or repeated (default: any address)")
      ->allow_extra_args(false);
  create->add_option_function<std::string>(
      "--notification-url", [&args](const std::string& value) { args.notification_url = value; },
      "Default v3 notification URL");
  create->add_option_function<std::string>(
      "--v3-login", [&args](const std::string& value) { args.v3_login = value; },
      "Import an existing cashouts-v3 login (with --v3-pass and --v3-secret-key)");
  create->add_option_function<std::string>(
      "--v3-pass", [&args](const std::string& value) { args.v3_pass = value; },
      "Import an existing cashouts-v3 pass");
  create->add_option_function<std::string>(
      "--v3-secret-key", [&args](const std::string& value) { args.v3_secret_key = value; },
      "Import an existing cashouts-v3 secret key (API Signature)");
  add_leaf(*merchant, "list", "List merchants", args, chosen, run_merchant_list);
  add_leaf(*merchant, "show", "Show one merchant", args, chosen, run_merchant_show)
      ->add_option("ID", args.id, "Merchant id")
      ->required();
  add_leaf(*merchant, "disable", "Disable a merchant (its API calls are refused)", args, chosen,
           [](const Arguments& a, const config::Settings& s) {
             return run_merchant_set_status(a, s, MerchantStatus::kDisabled);
           })
      ->add_option("ID", args.id, "Merchant id")
      ->required();
  add_leaf(*merchant, "enable", "Enable a merchant", args, chosen,
           [](const Arguments& a, const config::Settings& s) {
             return run_merchant_set_status(a, s, MerchantStatus::kActive);
           })
      ->add_option("ID", args.id, "Merchant id")
      ->required();
  add_leaf(*merchant, "rotate-credentials",
           "Issue new credentials (the old ones stop working) and print them", args, chosen,
           run_merchant_rotate)
      ->add_option("ID", args.id, "Merchant id")
      ->required();
  CLI::App* fees = add_leaf(*merchant, "fees", "Set a merchant's fee schedule for one currency",
                            args, chosen, run_merchant_fees);
  fees->add_option("ID", args.id, "Merchant id")->required();
  fees->add_option("--currency", args.currency, "ISO 4217 currency code")->required();
  fees->add_option("--fixed", args.fixed, "Fixed fee per payout, exact decimal (0 allowed)")
      ->required();
  fees->add_option("--percent-bps", args.percent_bps, "Percentage fee in basis points, 0..10000")
      ->required();

  // wallet
  CLI::App* wallet = app.add_subcommand("wallet", "Fund, adjust and show wallets");
  wallet->require_subcommand(1);
  CLI::App* fund = add_leaf(*wallet, "fund", "Credit a wallet (created if needed)", args, chosen,
                            [](const Arguments& a, const config::Settings& s) {
                              return run_wallet_movement(a, s, /*is_deposit=*/true);
                            });
  fund->add_option("--merchant", args.merchant, "Merchant id")->required();
  fund->add_option("--currency", args.currency, "ISO 4217 currency code")->required();
  fund->add_option("--amount", args.amount, "Positive exact decimal amount")->required();
  fund->add_option_function<std::string>(
      "--remarks", [&args](const std::string& value) { args.remarks = value; }, "Remarks");
  CLI::App* adjust =
      add_leaf(*wallet, "adjust", "Adjust a wallet by a signed amount (remarks required)", args,
               chosen, [](const Arguments& a, const config::Settings& s) {
                 return run_wallet_movement(a, s, /*is_deposit=*/false);
               });
  adjust->add_option("--merchant", args.merchant, "Merchant id")->required();
  adjust->add_option("--currency", args.currency, "ISO 4217 currency code")->required();
  adjust->add_option("--amount", args.amount, "Signed exact decimal amount (negative debits)")
      ->required();
  adjust
      ->add_option_function<std::string>(
          "--remarks", [&args](const std::string& value) { args.remarks = value; },
          "Why (required)")
      ->required();
  add_leaf(*wallet, "show", "Show a merchant's wallets", args, chosen, run_wallet_show)
      ->add_option("--merchant", args.merchant, "Merchant id")
      ->required();

  // payout
  CLI::App* payout = app.add_subcommand("payout", "Inspect payouts and move them as an operator");
  payout->require_subcommand(1);
  add_leaf(*payout, "show", "Show a payout with its events", args, chosen, run_payout_show)
      ->add_option("ID", args.id, "Cashout id or pyt_ id")
      ->required();
  CLI::App* set_status = add_leaf(
      *payout, "set-status",
      "Operator transition (same transition table, ledger movement, events and notifications)",
      args, chosen, run_payout_set_status);
  set_status->add_option("ID", args.id, "Cashout id or pyt_ id")->required();
  set_status->add_option("--status", args.status, "Target status (" + known_status_names() + ")")
      ->required();
  set_status->add_option_function<std::string>(
      "--reason-code", [&args](const std::string& value) { args.reason_code = value; },
      "Rejection code for --status failed (e.g. 800)");
  set_status->add_option_function<std::string>(
      "--bank-reference", [&args](const std::string& value) { args.bank_reference = value; },
      "Bank reference id");
  set_status->add_option_function<std::string>(
      "--message", [&args](const std::string& value) { args.message = value; }, "Event message");

  // ledger
  CLI::App* ledger = app.add_subcommand("ledger", "Ledger tools");
  ledger->require_subcommand(1);
  add_leaf(*ledger, "check", "Verify every ledger invariant; exit 0 only when all hold", args,
           chosen, run_ledger_check);

  // notifications
  CLI::App* notifications = app.add_subcommand("notifications", "Notification outbox tools");
  notifications->require_subcommand(1);
  add_leaf(*notifications, "list", "List the newest notifications (at most 1000)", args, chosen,
           run_notifications_list)
      ->add_option_function<std::string>(
          "--status", [&args](const std::string& value) { args.notification_status = value; },
          "pending, delivered or failed");
  add_leaf(*notifications, "redeliver",
           "Send one event's notifications again (every destination; new retry window)", args,
           chosen, run_notifications_redeliver)
      ->add_option("EVENT_ID", args.id, "Event id")
      ->required();

  try {
    return run_parsed(app, argc, argv, args, chosen);
  } catch (const std::exception& error) {
    // Library code below may throw (allocation, filesystem); the process must still exit with
    // a one-line reason instead of terminate().
    std::fprintf(stderr, "error: %s\n", single_line(error.what()).c_str());
    return kExitRefused;
  }
}

}  // namespace payoutd::cli
