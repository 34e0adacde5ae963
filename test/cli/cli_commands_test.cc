// The operator commands through the real binary: outputs, exit codes, and what they leave in the
// database.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "cli/cli_harness.h"

namespace payoutd::testing {
namespace {

// Creates a merchant with --json and returns its id (asserting the exact output shape).
int64_t create_merchant(const CliSandbox& sandbox, const std::string& name) {
  CommandResult created = sandbox.run("merchant create --json --name " + shell_quote(name));
  EXPECT_EQ(created.exit_code, 0) << created.err;
  std::optional<std::string> id = regex_capture(created.out, R"(^\{"merchant_id":([0-9]+),)");
  EXPECT_TRUE(id.has_value()) << created.out;
  return id ? std::stoll(*id) : 0;
}

TEST(CliCommands, MerchantCreateJsonHasExactShapeAndFreshCredentials) {
  CliSandbox sandbox;
  CommandResult created = sandbox.run("merchant create --name 'Acme Ltd' --json");
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_TRUE(std::regex_match(
      created.out,
      std::regex(
          R"(\{"merchant_id":1,"name":"Acme Ltd","cashouts_api":\{"login":"[0-9A-Za-z]{32}",)"
          R"("pass":"[0-9A-Za-z]{32}","secret_key":"[0-9A-Za-z]{32}"\},"api":\{)"
          R"("username":"[^"]+","password":"[0-9A-Za-z]{32}"\}\}\n)")))
      << created.out;
  EXPECT_EQ(created.err, "");

  // The pass and the secret key are not stored in plain text.
  const std::string pass = *regex_capture(created.out, R"re("pass":"([^"]+)")re");
  const std::string secret = *regex_capture(created.out, R"re("secret_key":"([^"]+)")re");
  std::string dump;
  run_command("sqlite3 " + shell_quote(sandbox.db_path()) + " .dump", &dump, true);
  EXPECT_EQ(dump.find(pass), std::string::npos);
  EXPECT_EQ(dump.find(secret), std::string::npos);

  // show / list never print credential material.
  CommandResult shown = sandbox.run("merchant show 1 --json");
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("\"name\":\"Acme Ltd\""), std::string::npos);
  EXPECT_NE(shown.out.find("\"status\":\"active\""), std::string::npos);
  EXPECT_EQ(shown.out.find(pass), std::string::npos);
  EXPECT_EQ(shown.out.find(secret), std::string::npos);
  CommandResult listed = sandbox.run("merchant list");
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("Acme Ltd"), std::string::npos);
  EXPECT_EQ(listed.out.find(pass), std::string::npos);

  // Rotation issues different credentials, in the same shape.
  CommandResult rotated = sandbox.run("merchant rotate-credentials 1 --json");
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  EXPECT_TRUE(std::regex_search(
      rotated.out, std::regex(R"(^\{"merchant_id":1,"name":"Acme Ltd","cashouts_api":\{"login":)")))
      << rotated.out;
  EXPECT_EQ(rotated.out.find(pass), std::string::npos);
  EXPECT_EQ(rotated.out.find(secret), std::string::npos);
}

TEST(CliCommands, FundThenLedgerCheckHolds) {
  CliSandbox sandbox;
  const int64_t merchant = create_merchant(sandbox, "Funded");
  CommandResult funded = sandbox.run("wallet fund --merchant " + std::to_string(merchant) +
                                     " --currency BRL --amount 1000.00 --remarks 'initial' --json");
  ASSERT_EQ(funded.exit_code, 0) << funded.err;
  EXPECT_TRUE(std::regex_match(
      funded.out,
      std::regex(R"(\{"id":[0-9]+,"merchant_id":1,"currency":"BRL","currency_id":986,)"
                 R"("amount":1000\.00,"held_amount":0\.00,"type":"PREPAID","is_active":true,)"
                 R"("created_at":"[0-9T:-]+Z","updated_at":"[0-9T:-]+Z"\}\n)")))
      << funded.out;

  // A second deposit adds up exactly; CLP has no decimals.
  ASSERT_EQ(sandbox.run("wallet fund --merchant 1 --currency BRL --amount 0.10").exit_code, 0);
  ASSERT_EQ(sandbox.run("wallet fund --merchant 1 --currency CLP --amount 5000").exit_code, 0);
  CommandResult shown = sandbox.run("wallet show --merchant 1 --json");
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("\"currency\":\"BRL\",\"currency_id\":986,\"amount\":1000.10,"),
            std::string::npos)
      << shown.out;
  EXPECT_NE(shown.out.find("\"currency\":\"CLP\",\"currency_id\":152,\"amount\":5000,"),
            std::string::npos)
      << shown.out;

  CommandResult check = sandbox.run("ledger check");
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("ledger OK"), std::string::npos) << check.out;
  for (int number = 1; number <= 6; ++number) {
    EXPECT_NE(check.out.find("invariant " + std::to_string(number) + " ("), std::string::npos)
        << check.out;
  }
  CommandResult check_json = sandbox.run("ledger check --json");
  EXPECT_EQ(check_json.exit_code, 0);
  EXPECT_TRUE(check_json.out.starts_with("{\"ok\":true,\"invariants\":[{\"number\":1,"))
      << check_json.out;
}

TEST(CliCommands, FeesAcceptExactAmountsAndZero) {
  CliSandbox sandbox;
  create_merchant(sandbox, "Fees");
  CommandResult fees =
      sandbox.run("merchant fees 1 --currency USD --fixed 1.50 --percent-bps 50 --json");
  ASSERT_EQ(fees.exit_code, 0) << fees.err;
  EXPECT_EQ(fees.out,
            "{\"merchant_id\":1,\"currency\":\"USD\",\"fixed\":1.50,\"percent_bps\":50}\n");
  EXPECT_EQ(sandbox.sql("select fixed_minor, percent_bps from merchant_fees;"), "150|50\n");

  CommandResult zero = sandbox.run("merchant fees 1 --currency USD --fixed 0 --percent-bps 0");
  ASSERT_EQ(zero.exit_code, 0) << zero.err;
  EXPECT_NE(zero.out.find("fixed 0.00 + 0 bps"), std::string::npos) << zero.out;
  EXPECT_EQ(sandbox.sql("select fixed_minor, percent_bps from merchant_fees;"), "0|0\n");
  EXPECT_EQ(
      sandbox.run("merchant fees 1 --currency CLP --fixed 0.00 --percent-bps 10000").exit_code, 0);
}

TEST(CliCommands, AdjustDebitsAndRefusesOverdraftWithoutChangingTheBalance) {
  CliSandbox sandbox;
  create_merchant(sandbox, "Adjusted");
  ASSERT_EQ(sandbox.run("wallet fund --merchant 1 --currency BRL --amount 1000.00").exit_code, 0);

  // A negative amount works both as "--amount -10.00" and "--amount=-10.00".
  CommandResult debit = sandbox.run(
      "wallet adjust --merchant 1 --currency BRL --amount -10.00 --remarks 'fee' --json");
  ASSERT_EQ(debit.exit_code, 0) << debit.err;
  EXPECT_NE(debit.out.find("\"amount\":990.00,"), std::string::npos) << debit.out;
  CommandResult credit =
      sandbox.run("wallet adjust --merchant 1 --currency BRL --amount=5.00 --remarks 'refund'");
  ASSERT_EQ(credit.exit_code, 0) << credit.err;
  EXPECT_NE(credit.out.find("available 995.00"), std::string::npos) << credit.out;

  const std::string before = sandbox.snapshot();
  CommandResult overdraft = sandbox.run(
      "wallet adjust --merchant 1 --currency BRL --amount=-995.01 --remarks 'too much'");
  EXPECT_EQ(overdraft.exit_code, 1) << overdraft.out << overdraft.err;
  EXPECT_EQ(split_lines(overdraft.err).size(), 1u) << overdraft.err;
  EXPECT_TRUE(overdraft.err.starts_with("error: ")) << overdraft.err;
  EXPECT_EQ(overdraft.out, "");
  EXPECT_EQ(sandbox.snapshot(), before);
  CommandResult shown = sandbox.run("wallet show --merchant 1 --json");
  EXPECT_NE(shown.out.find("\"amount\":995.00,"), std::string::npos) << shown.out;

  // Exactly the balance is allowed: available may reach zero, never below.
  EXPECT_EQ(
      sandbox.run("wallet adjust --merchant 1 --currency BRL --amount=-995.00 --remarks 'all'")
          .exit_code,
      0);
  EXPECT_EQ(sandbox.run("ledger check").exit_code, 0);
}

TEST(CliCommands, DisableEnableShowStatus) {
  CliSandbox sandbox;
  create_merchant(sandbox, "Toggle");
  CommandResult disabled = sandbox.run("merchant disable 1 --json");
  ASSERT_EQ(disabled.exit_code, 0) << disabled.err;
  EXPECT_NE(disabled.out.find("\"status\":\"disabled\""), std::string::npos);
  EXPECT_NE(sandbox.run("merchant show 1").out.find("status: disabled"), std::string::npos);
  CommandResult enabled = sandbox.run("merchant enable 1");
  ASSERT_EQ(enabled.exit_code, 0) << enabled.err;
  EXPECT_NE(sandbox.run("merchant list --json").out.find("\"status\":\"active\""),
            std::string::npos);
}

TEST(CliCommands, PayoutCommandsOnUnknownIdsFail) {
  CliSandbox sandbox;
  create_merchant(sandbox, "NoPayouts");
  const std::string before = sandbox.snapshot();
  for (const std::string arguments :
       {"payout set-status 424242 --status cancelled", "payout show 424242",
        "payout show pyt_AAAAAAAAAAAAAAAA",
        "payout set-status pyt_AAAAAAAAAAAAAAAA --status failed --reason-code 800"}) {
    CommandResult result = sandbox.run(arguments);
    EXPECT_EQ(result.exit_code, 1) << arguments << "\n" << result.err;
    EXPECT_EQ(split_lines(result.err).size(), 1u) << arguments << "\n" << result.err;
    EXPECT_TRUE(result.err.starts_with("error: ")) << result.err;
  }
  EXPECT_EQ(sandbox.snapshot(), before);
}

// There is no payout-creating command yet (the dialects create payouts), so this test writes one
// `created` payout of 100.00 BRL with its hold exactly as the domain does, and lets `ledger check`
// prove the fixture consistent before driving it with `payout set-status`.
void insert_created_payout(const CliSandbox& sandbox) {
  const std::string output = sandbox.sql(
      "INSERT INTO payouts (public_id, merchant_id, wallet_id, external_id, amount, fees, "
      "  total_amount, currency, country, status, created_at, updated_at, event_seq) "
      "VALUES ('pyt_TestTestTestTest', 1, 1, 'ext-1', 10000, 0, 10000, 'BRL', 'BR', 'created', "
      "  1700000000000000, 1700000000000000, 1);"
      "INSERT INTO journal_transactions (kind, cashout_id, currency, created_at) "
      "VALUES ('payout_hold', (SELECT max(cashout_id) FROM payouts), 'BRL', 1700000000000000);"
      "INSERT INTO journal_entries (journal_id, account_id, amount, currency) VALUES "
      "  ((SELECT max(id) FROM journal_transactions), "
      "   (SELECT id FROM accounts WHERE wallet_id = 1 AND kind = 'available'), -10000, 'BRL'),"
      "  ((SELECT max(id) FROM journal_transactions), "
      "   (SELECT id FROM accounts WHERE wallet_id = 1 AND kind = 'held'), 10000, 'BRL');"
      "UPDATE accounts SET balance = balance - 10000 WHERE wallet_id = 1 AND kind = 'available';"
      "UPDATE accounts SET balance = balance + 10000 WHERE wallet_id = 1 AND kind = 'held';"
      "INSERT INTO payout_events (cashout_id, seq, event_type, from_status, to_status, actor_type,"
      "  message, created_at) VALUES ((SELECT max(cashout_id) FROM payouts), 1, 'status_change',"
      "  NULL, 'created', 'client', 'Payout created', 1700000000000000);");
  EXPECT_EQ(output, "");
}

TEST(CliCommands, SetStatusFollowsTheTransitionTableAndMovesMoney) {
  CliSandbox sandbox;
  create_merchant(sandbox, "Payouts");
  ASSERT_EQ(sandbox.run("wallet fund --merchant 1 --currency BRL --amount 1000.00").exit_code, 0);
  insert_created_payout(sandbox);
  CommandResult fixture_check = sandbox.run("ledger check");
  ASSERT_EQ(fixture_check.exit_code, 0) << fixture_check.out;
  std::string cashout_id = sandbox.sql("SELECT max(cashout_id) FROM payouts;");
  while (!cashout_id.empty() && cashout_id.back() == '\n') cashout_id.pop_back();
  ASSERT_FALSE(cashout_id.empty());

  CommandResult shown = sandbox.run("payout show pyt_TestTestTestTest --json");
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("\"status\":\"created\",\"amount\":100.00,\"currency\":\"BRL\","),
            std::string::npos)
      << shown.out;
  EXPECT_NE(shown.out.find("\"events\":[{\"seq\":1,\"event_type\":\"status_change\","
                           "\"from_status\":null,\"to_status\":\"created\""),
            std::string::npos)
      << shown.out;

  // created -> completed is not in the table: refused, one line, nothing changes.
  std::string before = sandbox.snapshot();
  CommandResult refused = sandbox.run("payout set-status " + cashout_id + " --status completed");
  EXPECT_EQ(refused.exit_code, 1);
  ASSERT_EQ(split_lines(refused.err).size(), 1u) << refused.err;
  EXPECT_TRUE(refused.err.starts_with("error: cannot move payout " + cashout_id +
                                      " from created to completed"))
      << refused.err;
  EXPECT_EQ(refused.out, "");
  EXPECT_EQ(sandbox.snapshot(), before);

  CommandResult queued = sandbox.run("payout set-status " + cashout_id + " --status queued");
  ASSERT_EQ(queued.exit_code, 0) << queued.err;
  EXPECT_TRUE(queued.out.starts_with("Payout " + cashout_id + ": created -> queued\n"))
      << queued.out;
  ASSERT_EQ(sandbox.run("payout set-status pyt_TestTestTestTest --status processing").exit_code, 0);
  CommandResult failed = sandbox.run("payout set-status " + cashout_id +
                                     " --status failed --reason-code 800 --bank-reference BR-77 "
                                     "--message 'account closed' --json");
  ASSERT_EQ(failed.exit_code, 0) << failed.err;
  EXPECT_NE(failed.out.find("\"status\":\"failed\""), std::string::npos) << failed.out;
  EXPECT_NE(failed.out.find("\"failure_code\":800,\"failure_reason\":\"ERROR_ACCOUNT_INCORRECT\""),
            std::string::npos)
      << failed.out;
  EXPECT_NE(failed.out.find("\"bank_reference_id\":\"BR-77\""), std::string::npos) << failed.out;
  EXPECT_NE(failed.out.find("\"seq\":4,\"event_type\":\"status_change\",\"from_status\":"
                            "\"processing\",\"to_status\":\"failed\",\"actor_type\":\"operator\","
                            "\"message\":\"account closed\""),
            std::string::npos)
      << failed.out;

  // The refund is back in the wallet, and a terminal payout cannot move again.
  CommandResult wallet = sandbox.run("wallet show --merchant 1 --json");
  EXPECT_NE(wallet.out.find("\"amount\":1000.00,\"held_amount\":0.00,"), std::string::npos)
      << wallet.out;
  before = sandbox.snapshot();
  CommandResult again = sandbox.run("payout set-status " + cashout_id + " --status cancelled");
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(split_lines(again.err).size(), 1u) << again.err;
  EXPECT_EQ(sandbox.snapshot(), before);
  CommandResult check = sandbox.run("ledger check");
  EXPECT_EQ(check.exit_code, 0) << check.out;
}

TEST(CliCommands, LedgerCheckNamesACorruptedBalance) {
  CliSandbox sandbox;
  create_merchant(sandbox, "Corrupted");
  ASSERT_EQ(sandbox.run("wallet fund --merchant 1 --currency BRL --amount 100.00").exit_code, 0);
  ASSERT_EQ(sandbox.run("ledger check").exit_code, 0);

  sandbox.sql("UPDATE accounts SET balance = balance + 1 WHERE kind='available';");
  CommandResult check = sandbox.run("ledger check");
  EXPECT_NE(check.exit_code, 0);
  EXPECT_TRUE(std::regex_search(check.out, std::regex(R"(invariant 2 \([^)]*\): VIOLATED \(1\))")))
      << check.out;
  EXPECT_NE(check.out.find("invariant 1 ("), std::string::npos);
  EXPECT_NE(check.out.find("FAILED"), std::string::npos);

  CommandResult check_json = sandbox.run("ledger check --json");
  EXPECT_NE(check_json.exit_code, 0);
  EXPECT_TRUE(check_json.out.starts_with("{\"ok\":false,")) << check_json.out;
  EXPECT_TRUE(std::regex_search(
      check_json.out, std::regex(R"(\{"number":2,"name":"[^"]+","ok":false,"violations":1,)")))
      << check_json.out;
}

TEST(CliCommands, MasterKeyFileIsCreatedWithMode0600OnlyWhenNeeded) {
  CliSandbox sandbox;
  const std::string key = sandbox.file("keys/master.key");
  const std::string db =
      " --db " + shell_quote(sandbox.db_url()) + " --master-key-file " + shell_quote(key);

  // Commands that never handle credentials do not create the key.
  for (const std::string arguments :
       {"migrate", "merchant list", "ledger check", "wallet show --merchant 1", "payout show 1"}) {
    sandbox.run_raw(arguments + db);
    EXPECT_FALSE(std::filesystem::exists(key)) << arguments;
  }

  CommandResult created = sandbox.run_raw("merchant create --name Keyed" + db);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  struct stat info {};
  ASSERT_EQ(stat(key.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  // The existing key file is loaded again (not replaced); a malformed key in the environment is
  // refused with a one-line reason that does not echo it.
  EXPECT_EQ(sandbox.run_raw("merchant rotate-credentials 1" + db).exit_code, 0);
  CommandResult bad_env =
      sandbox.run_raw("merchant create --name Other" + db, "PAYOUTD_MASTER_KEY=not-hex");
  EXPECT_EQ(bad_env.exit_code, 2) << bad_env.err;
  EXPECT_EQ(split_lines(bad_env.err).size(), 1u) << bad_env.err;
  EXPECT_EQ(bad_env.err.find("not-hex"), std::string::npos) << bad_env.err;
  EXPECT_EQ(sandbox.sql("select count(*) from merchants;"), "1\n");

  // A key given in the environment is used instead of any file.
  const std::string hex_key(64, 'a');
  const std::string other_key_file = sandbox.file("unused.key");
  CommandResult from_env =
      sandbox.run_raw("merchant create --name EnvKeyed --db " + shell_quote(sandbox.db_url()) +
                          " --master-key-file " + shell_quote(other_key_file),
                      "PAYOUTD_MASTER_KEY=" + hex_key);
  EXPECT_EQ(from_env.exit_code, 0) << from_env.err;
  EXPECT_FALSE(std::filesystem::exists(other_key_file));
}

TEST(CliCommands, SettingsPrecedenceFlagOverEnvironmentOverFile) {
  CliSandbox sandbox;
  const std::string key = " --master-key-file " + shell_quote(sandbox.key_path());
  {
    std::ofstream config(sandbox.file("payoutd.toml"));
    config << "db = \"sqlite://" << sandbox.file("from-file.db") << "\"\nlog_level = \"warn\"\n";
  }
  const std::string with_config = " --config " + shell_quote(sandbox.file("payoutd.toml"));

  // File only.
  ASSERT_EQ(sandbox.run_raw("merchant create --name A" + with_config + key).exit_code, 0);
  EXPECT_TRUE(std::filesystem::exists(sandbox.file("from-file.db")));
  // Environment beats the file.
  const std::string env_db = "PAYOUTD_DB=" + shell_quote("sqlite://" + sandbox.file("from-env.db"));
  ASSERT_EQ(sandbox.run_raw("merchant create --name B" + with_config + key, env_db).exit_code, 0);
  EXPECT_TRUE(std::filesystem::exists(sandbox.file("from-env.db")));
  // The flag beats both.
  ASSERT_EQ(
      sandbox
          .run_raw("merchant create --name C --db " +
                       shell_quote("sqlite://" + sandbox.file("from-flag.db")) + with_config + key,
                   env_db)
          .exit_code,
      0);
  EXPECT_TRUE(std::filesystem::exists(sandbox.file("from-flag.db")));
  std::string count;
  run_command("sqlite3 " + shell_quote(sandbox.file("from-file.db")) +
                  " 'select group_concat(name) from merchants;'",
              &count, true);
  EXPECT_EQ(count, "A\n");
  count.clear();
  run_command("sqlite3 " + shell_quote(sandbox.file("from-env.db")) +
                  " 'select group_concat(name) from merchants;'",
              &count, true);
  EXPECT_EQ(count, "B\n");
}

TEST(CliCommands, ConfigFileErrorsNameTheKey) {
  CliSandbox sandbox;
  struct Case {
    std::string content;
    std::string expected;
  };
  const Case cases[] = {
      {"dbx = \"sqlite://x.db\"\n", "unknown key 'dbx'"},
      {"threads = \"four\"\n", "'threads' must be an integer"},
      {"engine = 1\n", "'engine' must be a boolean"},
      {"listen = 8080\n", "'listen' must be a string"},
      {"threads = 1000\n", "threads"},
      {"connector = \"paypal\"\n", "connector"},
      {"this is not toml\n", "payoutd.toml"},
      // Engine and sandbox timings are bounded integers.
      {"engine_lease_ms = 10\n", "'engine_lease_ms' must be between 1000 and 3600000"},
      {"engine_batch_size = 0\n", "'engine_batch_size' must be between 1 and 1000"},
      {"engine_poll_interval_ms = \"fast\"\n", "'engine_poll_interval_ms' must be an integer"},
      {"sandbox_fail_after_ms = -1\n", "'sandbox_fail_after_ms' must be between 0"},
      {"sandbox_settle_after_ms = 5000\nsandbox_complete_after_ms = 10\n",
       "sandbox_complete_after_ms must not be shorter than sandbox_settle_after_ms"},
      {"engine_reconcile_initial_ms = 5000\nengine_reconcile_max_ms = 10\n",
       "engine_reconcile_max_ms must not be shorter"},
      // The store's limits are bounded too.
      {"db_read_connections = 0\n", "'db_read_connections' must be between 1 and 64"},
      {"db_read_connections = 65\n", "'db_read_connections' must be between 1 and 64"},
      {"db_max_batch_ops = 4097\n", "'db_max_batch_ops' must be between 1 and 4096"},
      {"db_group_writes = \"yes\"\n", "'db_group_writes' must be a boolean"},
  };
  for (const Case& test_case : cases) {
    {
      std::ofstream config(sandbox.file("payoutd.toml"));
      config << test_case.content;
    }
    CommandResult result =
        sandbox.run("merchant list --config " + shell_quote(sandbox.file("payoutd.toml")));
    EXPECT_EQ(result.exit_code, 2) << test_case.content << result.err;
    EXPECT_EQ(split_lines(result.err).size(), 1u) << result.err;
    EXPECT_NE(result.err.find(test_case.expected), std::string::npos)
        << test_case.content << " -> " << result.err;
  }
  CommandResult missing =
      sandbox.run("merchant list --config " + shell_quote(sandbox.file("nope.toml")));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_FALSE(std::filesystem::exists(sandbox.db_path()));
}

TEST(CliCommands, HelpForEverySubcommandExitsZero) {
  CliSandbox sandbox;
  for (const std::string arguments : {"--help",
                                      "serve --help",
                                      "demo --help",
                                      "migrate --help",
                                      "merchant --help",
                                      "merchant create --help",
                                      "merchant list --help",
                                      "merchant show --help",
                                      "merchant disable --help",
                                      "merchant enable --help",
                                      "merchant rotate-credentials --help",
                                      "merchant fees --help",
                                      "wallet fund --help",
                                      "wallet adjust --help",
                                      "wallet show --help",
                                      "payout show --help",
                                      "payout set-status --help",
                                      "ledger check --help",
                                      "notifications list --help",
                                      "notifications redeliver --help"}) {
    CommandResult result = sandbox.run_raw(arguments);
    EXPECT_EQ(result.exit_code, 0) << arguments << "\n" << result.err;
    EXPECT_NE(result.out.find("Usage"), std::string::npos) << arguments << "\n" << result.out;
  }
  EXPECT_NE(sandbox.run_raw("merchant create --help").out.find("--db"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(sandbox.file("var")));
}

TEST(CliCommands, NotificationsListAndRedeliverOnAnEmptyOutbox) {
  CliSandbox sandbox;
  CommandResult listed = sandbox.run("notifications list");
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(listed.out, "No notifications\n");
  CommandResult failed = sandbox.run("--json notifications list --status failed");
  EXPECT_EQ(failed.exit_code, 0) << failed.err;
  EXPECT_EQ(failed.out, "[]\n");
  // A malformed id is a usage error; a well-formed id of no payout is refused.
  CommandResult malformed = sandbox.run("notifications redeliver 7");
  EXPECT_EQ(malformed.exit_code, 2);
  EXPECT_NE(malformed.err.find("is not an event id"), std::string::npos) << malformed.err;
  CommandResult unknown = sandbox.run("notifications redeliver evt_AAAAAAAAAAAAAAAA_1");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.err, "error: Event not found\n");
}

}  // namespace
}  // namespace payoutd::testing
