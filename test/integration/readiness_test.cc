// GET /ready (docs/deploying.md): readiness for a load balancer in front of several nodes. 200
// while the node can run a read transaction on its database; on PostgreSQL, 503 while the
// database refuses the node's connections, and 200 again once it takes them back (each pooled
// connection reconnects before its next transaction). /status stays 200 throughout: liveness.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "integration/harness.h"

namespace payoutd::testing {
namespace {

// Runs one statement on the cluster's admin database (PAYOUTD_TEST_POSTGRES_URL): the sandbox's
// own database may refuse connections while the test runs.
ProcessResult admin_sql(const std::string& statement) {
  const char* url = std::getenv("PAYOUTD_TEST_POSTGRES_URL");
  return run_process({"/usr/bin/env", "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                      url != nullptr ? url : "", "-c", statement});
}

HttpResponse get(int port, const std::string& path) {
  HttpClient client(port);
  std::optional<HttpResponse> response = client.request("GET", path, "", {}, /*close=*/true);
  return response.value_or(HttpResponse{});
}

// Polls `path` until it answers `status` (bounded).
bool wait_for_status(int port, const std::string& path, int status, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (get(port, path).status == status) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TEST(ReadinessTest, ReadyWhileTheDatabaseAnswersAndNotWhileItRefuses) {
  Sandbox sandbox;
  ServerProcess server(sandbox);
  ASSERT_TRUE(server.started()) << server.log();

  HttpResponse ready = get(server.port(), "/ready");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(ready.body, R"({"status":"ready"})");
  EXPECT_EQ(get(server.port(), "/status").status, 200);

  if (sandbox.backend() != Backend::kPostgresql) return;  // the rest needs a server to refuse

  const std::string database = sandbox.sql("SELECT current_database();");
  ASSERT_FALSE(database.empty());
  const std::string name = database.substr(0, database.find('\n'));
  // The database refuses new connections and the node's sessions are cut: every reconnect fails.
  ProcessResult refused = admin_sql("ALTER DATABASE " + name + " ALLOW_CONNECTIONS false");
  ASSERT_EQ(refused.exit_code, 0) << refused.err;
  ProcessResult cut = admin_sql(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '" + name +
      "' AND application_name = 'payoutd'");
  ASSERT_EQ(cut.exit_code, 0) << cut.err;

  EXPECT_TRUE(wait_for_status(server.port(), "/ready", 503, 10000));
  HttpResponse unavailable = get(server.port(), "/ready");
  EXPECT_EQ(unavailable.body, R"({"status":"unavailable","reason":"database"})");
  EXPECT_EQ(unavailable.body.find(name), std::string::npos);  // no database details leak
  EXPECT_EQ(get(server.port(), "/status").status, 200);       // alive all the same

  ProcessResult allowed = admin_sql("ALTER DATABASE " + name + " ALLOW_CONNECTIONS true");
  ASSERT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_TRUE(wait_for_status(server.port(), "/ready", 200, 10000)) << server.log();
}

}  // namespace
}  // namespace payoutd::testing
