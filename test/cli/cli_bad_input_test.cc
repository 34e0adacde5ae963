// Every subcommand with missing or invalid arguments: a non-zero exit, exactly one `error:` line on
// stderr, nothing on stdout, and a database that is byte-for-byte the same afterwards.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "cli/cli_harness.h"

namespace payoutd::testing {
namespace {

struct BadInput {
  std::string arguments;  // shell text after `payoutd`
  int exit_code;          // 2 = usage error, 1 = refused by the domain (e.g. unknown merchant)
  std::string mentions;   // a piece of the one-line reason (empty = not checked)
};

const std::vector<BadInput>& bad_inputs() {
  static const std::vector<BadInput> cases = {
      // wallet fund
      {"wallet fund --merchant 1 --currency XXX --amount 10.00", 2, "unknown currency 'XXX'"},
      {"wallet fund --merchant 1 --currency brl --amount 10.00", 2, "unknown currency"},
      {"wallet fund --merchant 1 --currency BRL --amount abc", 2, "invalid amount 'abc'"},
      {"wallet fund --merchant 1 --currency BRL --amount 1.005", 2, "invalid amount '1.005'"},
      {"wallet fund --merchant 1 --currency BRL --amount=-5.00", 2, "invalid amount"},
      {"wallet fund --merchant 1 --currency BRL --amount 0", 2, "invalid amount"},
      {"wallet fund --merchant 1 --currency BRL --amount 1e400", 2, "invalid amount"},
      {"wallet fund --merchant 1 --currency BRL --amount 100000000000.01", 2, "invalid amount"},
      {"wallet fund --merchant 1 --currency CLP --amount 1.5", 2, "invalid amount"},
      {"wallet fund --merchant x --currency BRL --amount 1.00", 2, "merchant id 'x'"},
      {"wallet fund --merchant 01 --currency BRL --amount 1.00", 2, "merchant id"},
      {"wallet fund --merchant 999 --currency BRL --amount 1.00", 1, ""},
      {"wallet fund --merchant 1 --currency BRL", 2, "--amount"},
      {"wallet fund --currency BRL --amount 1.00", 2, "--merchant"},
      // wallet adjust
      {"wallet adjust --merchant 1 --currency BRL --amount=-10.00", 2, "--remarks"},
      {"wallet adjust --merchant 1 --currency BRL --amount=-10.00 --remarks ''", 2, "remarks"},
      {"wallet adjust --merchant 1 --currency BRL --amount 0 --remarks fix", 2, "invalid amount"},
      {"wallet adjust --merchant 1 --currency BRL --amount=-999999.00 --remarks fix", 1, ""},
      {"wallet adjust --merchant 1 --currency USD --amount=-1.00 --remarks fix", 1, ""},
      {"wallet adjust --merchant 1 --currency BRL --amount 1.001 --remarks fix", 2, "1.001"},
      // wallet show
      {"wallet show --merchant -1", 2, ""},
      {"wallet show --merchant abc", 2, "merchant id 'abc'"},
      {"wallet show --merchant 999", 1, "merchant 999 not found"},
      // merchant create
      {"merchant create", 2, "--name"},
      {"merchant create --name ''", 2, "name"},
      {"merchant create --name " + std::string(101, 'n'), 2, "name"},
      {"merchant create --name X --ip-allow 10.0.0.0/33", 2, "10.0.0.0/33"},
      {"merchant create --name X --ip-allow not-a-cidr", 2, "not-a-cidr"},
      {"merchant create --name X --ip-allow 10.0.0.0/8,", 2, "CIDR"},
      {"merchant create --name X --notification-url ftp://example.com/n", 2, "http"},
      {"merchant create --name X --notification-url not-a-url", 2, "http"},
      {"merchant create --name X --notification-url 'http://'", 2, "host"},
      {"merchant create --name X --bogus-flag", 2, "--bogus-flag"},
      // merchant show / disable / enable / rotate
      {"merchant show x", 2, "merchant id 'x'"},
      {"merchant show 999", 1, "merchant 999 not found"},
      {"merchant show", 2, "ID"},
      {"merchant show 1 2", 2, "2"},
      {"merchant disable 0", 2, "merchant id '0'"},
      {"merchant disable 999", 1, ""},
      {"merchant enable -5", 2, ""},
      {"merchant rotate-credentials 999", 1, ""},
      {"merchant rotate-credentials abc", 2, "merchant id"},
      // merchant fees
      {"merchant fees 1 --currency BRL --fixed abc --percent-bps 50", 2, "fixed fee 'abc'"},
      {"merchant fees 1 --currency BRL --fixed=-1.00 --percent-bps 50", 2, "fixed fee"},
      {"merchant fees 1 --currency BRL --fixed 1.505 --percent-bps 50", 2, "fixed fee"},
      {"merchant fees 1 --currency BRL --fixed 1.50 --percent-bps 10001", 2, "--percent-bps"},
      {"merchant fees 1 --currency BRL --fixed 1.50 --percent-bps 1.5", 2, "--percent-bps"},
      {"merchant fees 1 --currency XYZ --fixed 1.50 --percent-bps 5", 2, "XYZ"},
      {"merchant fees 1 --currency BRL --fixed 1.50", 2, "--percent-bps"},
      {"merchant fees 999 --currency BRL --fixed 1.00 --percent-bps 5", 1, ""},
      // payout
      {"payout set-status 1 --status bogus", 2, "unknown status 'bogus'"},
      {"payout set-status 1", 2, "--status"},
      {"payout set-status 123456 --status cancelled", 1, "payout 123456 not found"},
      {"payout set-status pyt_short --status cancelled", 2, "pyt_short"},
      {"payout set-status 1 --status queued --reason-code 800", 2, "--reason-code"},
      {"payout set-status 1 --status failed --reason-code 12", 2, "--reason-code '12'"},
      {"payout set-status abc --status failed", 2, "abc"},
      {"payout show abc", 2, "abc"},
      {"payout show", 2, "ID"},
      // ledger, notifications, migrate
      {"ledger check extra", 2, "extra"},
      {"ledger", 2, "subcommand"},
      {"notifications redeliver", 2, "EVENT_ID"},
      {"notifications list --status weird", 2, "weird"},
      {"migrate now", 2, "now"},
      // global
      {"frobnicate", 2, "frobnicate"},
      {"", 2, "subcommand"},
      {"wallet", 2, "subcommand"},
      {"merchant list extra", 2, "extra"},
      {"merchant list --log-level loud", 2, "log level 'loud'"},
      {"merchant list --log-format xml", 2, "log format 'xml'"},
      // serve / demo settings are validated before anything starts
      {"serve --listen nonsense", 2, "nonsense"},
      {"serve --listen 127.0.0.1:99999", 2, "99999"},
      {"serve --listen example.com:80", 2, "example.com"},
      {"serve --threads 1000", 2, "threads"},
      {"serve --threads many", 2, "threads"},
      {"serve --connector paypal", 2, "paypal"},
      {"serve --handler-timeout-ms 99", 2, "--handler-timeout-ms"},
      {"serve --handler-timeout-ms 600001", 2, "--handler-timeout-ms"},
      {"serve --handler-timeout-ms 1s", 2, "--handler-timeout-ms"},
      {"demo --listen :8080", 2, "listen"},
  };
  return cases;
}

class CliBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    CommandResult created = sandbox_.run("merchant create --name Existing --json");
    ASSERT_EQ(created.exit_code, 0) << created.err;
    ASSERT_EQ(sandbox_.run("wallet fund --merchant 1 --currency BRL --amount 100.00").exit_code, 0);
    ASSERT_EQ(
        sandbox_.run("merchant fees 1 --currency BRL --fixed 1.00 --percent-bps 10").exit_code, 0);
  }

  CliSandbox sandbox_;
};

TEST_F(CliBadInput, EveryBadInvocationFailsWithOneLineAndChangesNothing) {
  ASSERT_GE(bad_inputs().size(), 25u);
  const std::string before = sandbox_.snapshot();
  ASSERT_NE(before.find("100"), std::string::npos) << before;  // the fixture really has data
  for (const BadInput& bad : bad_inputs()) {
    SCOPED_TRACE("payoutd " + bad.arguments);
    CommandResult result = sandbox_.run(bad.arguments);
    EXPECT_EQ(result.exit_code, bad.exit_code) << result.err;
    const std::vector<std::string> lines = split_lines(result.err);
    ASSERT_EQ(lines.size(), 1u) << result.err;
    EXPECT_TRUE(lines[0].starts_with("error: ")) << lines[0];
    if (!bad.mentions.empty()) {
      EXPECT_NE(lines[0].find(bad.mentions), std::string::npos) << lines[0];
    }
    EXPECT_EQ(result.out, "");
    EXPECT_EQ(sandbox_.snapshot(), before);
  }
}

// Usage errors are found before anything is touched: on a fresh directory neither the database
// nor the master key file comes into existence.
TEST(CliBadInputFresh, UsageErrorsCreateNeitherDatabaseNorKey) {
  CliSandbox sandbox;
  size_t usage_errors = 0;
  for (const BadInput& bad : bad_inputs()) {
    if (bad.exit_code != 2) continue;
    ++usage_errors;
    SCOPED_TRACE("payoutd " + bad.arguments);
    CommandResult result = sandbox.run(bad.arguments);
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_FALSE(std::filesystem::exists(sandbox.db_path()));
    EXPECT_FALSE(std::filesystem::exists(sandbox.key_path()));
  }
  EXPECT_GE(usage_errors, 25u);
}

TEST(CliBadInputFresh, BadEnvironmentValuesAreUsageErrors) {
  CliSandbox sandbox;
  const std::pair<std::string, std::string> cases[] = {
      {"PAYOUTD_THREADS=abc", "PAYOUTD_THREADS"},
      {"PAYOUTD_THREADS=257", "PAYOUTD_THREADS"},
      {"PAYOUTD_CONNECTOR=paypal", "paypal"},
      {"PAYOUTD_LISTEN=nowhere", "nowhere"},
      {"PAYOUTD_BRAND=", "brand"},
      {"PAYOUTD_HANDLER_TIMEOUT_MS=0", "PAYOUTD_HANDLER_TIMEOUT_MS"},
  };
  for (const auto& [environment, mentions] : cases) {
    CommandResult result =
        sandbox.run_raw("merchant list --db " + shell_quote(sandbox.db_url()), environment);
    EXPECT_EQ(result.exit_code, 2) << environment << result.err;
    EXPECT_EQ(split_lines(result.err).size(), 1u) << result.err;
    EXPECT_NE(result.err.find(mentions), std::string::npos) << environment << " -> " << result.err;
  }
  EXPECT_FALSE(std::filesystem::exists(sandbox.db_path()));
}

TEST_F(CliBadInput, BadDatabaseUrlSchemeIsAUsageError) {
  for (const std::string url : {"mysql://localhost/payoutd", "payoutd.db", "sqlite://"}) {
    CommandResult result = sandbox_.run_raw("merchant list --db " + shell_quote(url));
    EXPECT_EQ(result.exit_code, 2) << url << result.err;
    EXPECT_EQ(split_lines(result.err).size(), 1u) << result.err;
    EXPECT_NE(result.err.find("database URL"), std::string::npos) << result.err;
  }
  // The environment variable is validated the same way.
  CommandResult from_env = sandbox_.run_raw("merchant list", "PAYOUTD_DB=mysql://x");
  EXPECT_EQ(from_env.exit_code, 2) << from_env.err;
}

}  // namespace
}  // namespace payoutd::testing
