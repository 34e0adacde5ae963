// `payoutd serve` and `payoutd demo` as child processes: listening line, GET /status, graceful
// stop on SIGTERM/SIGINT, and the demo's idempotent set-up.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "cli/cli_harness.h"

namespace payoutd::testing {
namespace {

constexpr int kStartTimeoutMs = 20000;
constexpr int kStopTimeoutMs = 10000;

std::string read_text(const std::string& path) {
  std::ifstream file(path);
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

std::vector<std::string> serve_arguments(const CliSandbox& sandbox) {
  return {"serve", "--listen",       "127.0.0.1:0",       "--threads",       "2",
          "--db",  sandbox.db_url(), "--master-key-file", sandbox.key_path()};
}

TEST(CliServe, ListensAnswersStatusAndStopsOnSigterm) {
  CliSandbox sandbox;
  std::vector<std::string> arguments = serve_arguments(sandbox);
  arguments.insert(arguments.end(), {"--log-format", "json", "--no-engine"});
  ServerProcess server(sandbox.directory(), arguments, sandbox.file("serve.err"));
  const int port = server.wait_until_listening(kStartTimeoutMs);
  ASSERT_GT(port, 0) << server.output() << read_text(sandbox.file("serve.err"));
  EXPECT_EQ(server.output(), "payoutd listening on 127.0.0.1:" + std::to_string(port) + "\n");

  const std::string status = http_get(port, "/status");
  EXPECT_TRUE(std::regex_match(status, std::regex(R"(\{"status":"ok","version":"[^"]+"\}\n?)")))
      << status;
  EXPECT_NE(http_get(port, "/metrics").find("# TYPE"), std::string::npos);

  // The database is shared: an operator command works while the server runs.
  CommandResult created = sandbox.run("merchant create --name WhileServing");
  EXPECT_EQ(created.exit_code, 0) << created.err;

  EXPECT_EQ(server.stop(SIGTERM, kStopTimeoutMs), 0);
  const std::string log = read_text(sandbox.file("serve.err"));
  EXPECT_NE(log.find("listening on 127.0.0.1:" + std::to_string(port)), std::string::npos) << log;
  // --log-format json: every line is one JSON object (log lines and access-log lines alike).
  size_t access_lines = 0;
  for (const std::string& line : split_lines(log)) {
    EXPECT_TRUE(line.starts_with("{\"time\":\"") || line.starts_with("{\"ts\":\"")) << line;
    EXPECT_TRUE(line.ends_with("}")) << line;
    if (line.find("\"route\":\"status\"") != std::string::npos) ++access_lines;
  }
  EXPECT_EQ(access_lines, 1u) << log;
  // Stopped means not listening any more.
  EXPECT_EQ(http_get(port, "/status"), "");
}

TEST(CliServe, StopsOnSigintAndRefusesAPortInUse) {
  CliSandbox sandbox;
  ServerProcess server(sandbox.directory(), serve_arguments(sandbox), sandbox.file("serve.err"));
  const int port = server.wait_until_listening(kStartTimeoutMs);
  ASSERT_GT(port, 0) << server.output() << read_text(sandbox.file("serve.err"));

  CommandResult second = sandbox.run("serve --listen 127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(second.exit_code, 1) << second.out << second.err;
  bool has_error_line = false;
  for (const std::string& line : split_lines(second.err)) {
    if (line.starts_with("error: ")) has_error_line = true;
  }
  EXPECT_TRUE(has_error_line) << second.err;

  EXPECT_EQ(server.stop(SIGINT, kStopTimeoutMs), 0);
}

// The HMAC-SHA256 of `body` keyed with `key`, computed by openssl (independent of our crypto).
std::string openssl_hmac_hex(const std::string& key, const std::string& body) {
  std::string out;
  run_command("printf '%s' " + shell_quote(body) + " | openssl dgst -sha256 -hmac " +
                  shell_quote(key) + " | sed 's/^.*= //'",
              &out, false);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

TEST(CliDemo, FreshDirectoryThenRestartReusesTheMerchantAndKeepsBalancesBounded) {
  CliSandbox sandbox;
  const std::string db = " --db " + shell_quote("sqlite://" + sandbox.file("var/payoutd.db")) +
                         " --master-key-file " + shell_quote(sandbox.file("var/master.key"));
  std::string first_login;
  {
    ServerProcess demo(sandbox.directory(), {"demo", "--listen", "127.0.0.1:0"},
                       sandbox.file("demo.err"));
    const int port = demo.wait_until_listening(kStartTimeoutMs);
    ASSERT_GT(port, 0) << demo.output() << read_text(sandbox.file("demo.err"));
    const std::string& out = demo.output();
    EXPECT_NE(out.find("(created)"), std::string::npos) << out;
    EXPECT_NE(out.find("ROTATES"), std::string::npos) << out;
    EXPECT_NE(out.find("http://127.0.0.1:" + std::to_string(port) + "/v3/cashout'"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("-X DELETE"), std::string::npos) << out;
    EXPECT_NE(out.find("/v3/cashout/cancel"), std::string::npos) << out;
    EXPECT_NE(out.find("/auth/login"), std::string::npos) << out;
    EXPECT_NE(out.find("/api/v1/payouts"), std::string::npos) << out;
    std::optional<std::string> login = regex_capture(out, R"(login: +([0-9A-Za-z]{32})\n)");
    std::optional<std::string> pass = regex_capture(out, R"(pass: +([0-9A-Za-z]{32})\n)");
    std::optional<std::string> secret = regex_capture(out, R"(secret_key: +([0-9A-Za-z]{32})\n)");
    ASSERT_TRUE(login && pass && secret) << out;
    first_login = *login;

    // The first signed example really is signed with the secret key over the exact body.
    std::optional<std::string> signature =
        regex_capture(out, R"(-H 'Payload-Signature: ([0-9a-f]{64})')");
    std::optional<std::string> body =
        regex_capture(out, R"(Payload-Signature: [0-9a-f]{64}' \\\n  -d '(\{[^']*\})')");
    ASSERT_TRUE(signature && body) << out;
    EXPECT_NE(body->find("\"login\":\"" + *login + "\""), std::string::npos) << *body;
    EXPECT_EQ(openssl_hmac_hex(*secret, *body), *signature);

    EXPECT_NE(http_get(port, "/status").find("\"status\":\"ok\""), std::string::npos);
    EXPECT_EQ(demo.stop(SIGTERM, kStopTimeoutMs), 0);
  }
  ASSERT_TRUE(std::filesystem::exists(sandbox.file("var/payoutd.db")));
  struct stat info {};
  ASSERT_EQ(stat(sandbox.file("var/master.key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  CommandResult wallets = sandbox.run_raw("wallet show --merchant 1 --json" + db);
  ASSERT_EQ(wallets.exit_code, 0) << wallets.err;
  for (const std::string expected :
       {"\"currency\":\"BRL\",\"currency_id\":986,\"amount\":10000.00,",
        "\"currency\":\"USD\",\"currency_id\":840,\"amount\":10000.00,",
        "\"currency\":\"MXN\",\"currency_id\":484,\"amount\":10000.00,",
        "\"currency\":\"CLP\",\"currency_id\":152,\"amount\":10000,"}) {
    EXPECT_NE(wallets.out.find(expected), std::string::npos) << expected << "\n" << wallets.out;
  }
  CommandResult fees = sandbox.run_raw("ledger check" + db);
  EXPECT_EQ(fees.exit_code, 0) << fees.out;
  EXPECT_EQ(sandbox.sql("select 1;"), "1\n");  // sqlite3 is usable for the checks below
  std::string fee_row;
  run_command("sqlite3 " + shell_quote(sandbox.file("var/payoutd.db")) +
                  " 'select currency, fixed_minor, percent_bps from merchant_fees;'",
              &fee_row, true);
  EXPECT_EQ(fee_row, "USD|150|0\n");

  // Spend some BRL and add USD above the target, then start again.
  ASSERT_EQ(sandbox
                .run_raw("wallet adjust --merchant 1 --currency BRL --amount=-500.00 "
                         "--remarks spent" +
                         db)
                .exit_code,
            0);
  ASSERT_EQ(
      sandbox.run_raw("wallet fund --merchant 1 --currency USD --amount 1000.00" + db).exit_code,
      0);
  {
    ServerProcess demo(sandbox.directory(), {"demo", "--listen", "127.0.0.1:0", "--json"},
                       sandbox.file("demo2.err"));
    const int port = demo.wait_until_listening(kStartTimeoutMs);
    ASSERT_GT(port, 0) << demo.output() << read_text(sandbox.file("demo2.err"));
    const std::vector<std::string> lines = split_lines(demo.output());
    ASSERT_EQ(lines.size(), 2u) << demo.output();
    EXPECT_TRUE(std::regex_search(
        lines[0], std::regex(R"(^\{"merchant_id":1,"name":"Demo Merchant","created":false,)"
                             R"("credentials":\{"cashouts_api":\{"login":"[0-9A-Za-z]{32}",)")))
        << lines[0];
    EXPECT_NE(lines[0].find("\"base_url\":\"http://127.0.0.1:" + std::to_string(port) + "\""),
              std::string::npos)
        << lines[0];
    // Credentials were rotated: the first start's login is gone.
    EXPECT_EQ(lines[0].find(first_login), std::string::npos);
    EXPECT_EQ(demo.stop(SIGTERM, kStopTimeoutMs), 0);
  }

  CommandResult merchants = sandbox.run_raw("merchant list --json" + db);
  ASSERT_EQ(merchants.exit_code, 0) << merchants.err;
  size_t demo_merchants = 0;
  for (size_t at = merchants.out.find("\"Demo Merchant\""); at != std::string::npos;
       at = merchants.out.find("\"Demo Merchant\"", at + 1)) {
    ++demo_merchants;
  }
  EXPECT_EQ(demo_merchants, 1u) << merchants.out;

  wallets = sandbox.run_raw("wallet show --merchant 1 --json" + db);
  EXPECT_NE(wallets.out.find("\"currency\":\"BRL\",\"currency_id\":986,\"amount\":10000.00,"),
            std::string::npos)
      << wallets.out;
  EXPECT_NE(wallets.out.find("\"currency\":\"USD\",\"currency_id\":840,\"amount\":11000.00,"),
            std::string::npos)
      << wallets.out;
  EXPECT_EQ(sandbox.run_raw("ledger check" + db).exit_code, 0);
}

}  // namespace
}  // namespace payoutd::testing
