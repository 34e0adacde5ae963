// Integration-test harness: the real `payoutd` binary, a real database, real HTTP.
//
// - Backend: the store backend the suite runs against, chosen by PAYOUTD_TEST_BACKEND: `sqlite`
//   (the default: a SQLite file in the sandbox's directory) or `postgresql` (a fresh database per
//   sandbox on the cluster at PAYOUTD_TEST_POSTGRES_URL, an admin URL such as
//   postgresql://postgres@127.0.0.1:<port>/postgres; scripts/test.sh starts a throwaway cluster
//   with scripts/pg-cluster.sh). CTest registers the suite once per backend: integration_test and
//   integration_test_postgresql (which leaves out the tests named *SqliteOnly*).
// - Sandbox: a temporary directory with the master key and (SQLite) the database, or (PostgreSQL)
//   a database of its own, dropped with the sandbox; runs CLI commands on it (`merchant create
//   --json ...`, `wallet fund ...`, `ledger check`), runs SQL on it with the backend's shell
//   (sqlite3 or psql, both printing the sqlite3 shell's list mode), and snapshots it (row counts of
//   every table, every account balance) so a test can prove that a request changed nothing.
// - DatabaseLock: another client holding the database's write lock, to make storage unavailable.
// - Test clock: each sandbox has one (cli/test_clock.h); every server and CLI command of the
//   sandbox reads its time from it, and only the test moves it (advance_clock_ms): a test that
//   needs time to pass advances the clock, then waits for a condition with a deadline.
// - ServerProcess: `payoutd serve --listen 127.0.0.1:0 --no-engine ...` on a sandbox as a child
//   process; waits for "payoutd listening on 127.0.0.1:<port>"; SIGTERM then SIGKILL on
//   destruction.
// - HttpClient: a small blocking HTTP/1.1 client over POSIX sockets. Sends well-formed requests or
//   arbitrary raw bytes, parses status, headers and body, can keep the connection alive.
// - sign_hex(): the Payload-Signature of a body (HMAC-SHA256, lower-case hex).
//
// Nothing here is specific to one dialect. Every wait is bounded; every child process is reaped.
// SQL in the tests is written so that both SQLite and PostgreSQL accept it and print the same
// (standard SQL: CASE rather than a boolean as a value, CAST(x AS TEXT) before mixing numbers and
// text in coalesce, an alias on every derived table, no group_concat, rows joined in C++).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/test_clock.h"
#include "support/test_support.h"

namespace payoutd::testing {

// ---- Child processes ----

struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed; -1 when it could not run or timed out
  std::string out;
  std::string err;
};

// Runs `argv` (argv[0] a path; no shell involved) and collects stdout and stderr. The child gets a
// clean environment for PAYOUTD_* variables (so the developer's shell cannot change results) and is
// killed after `timeout_ms`.
ProcessResult run_process(const std::vector<std::string>& argv, int timeout_ms = 60000,
                          const std::string& working_directory = "");

// A long-running child with pipes to its stdin and stdout (stderr goes to a file). Used for the
// server and for an interactive SQL shell that holds a lock (DatabaseLock).
class ChildProcess {
 public:
  // Starts `argv`. `stderr_path` receives the child's stderr ("" = /dev/null).
  ChildProcess(const std::vector<std::string>& argv, const std::string& stderr_path,
               const std::string& working_directory = "");
  // SIGTERM, up to 5 s to exit, then SIGKILL; always reaps.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // Writes all of `text` to the child's stdin. False when the child is gone.
  bool write_stdin(std::string_view text);
  // Reads stdout until `needle` appears in what was read so far at or after byte `from`, the
  // child closes stdout, or `timeout_ms` passes. True when found.
  bool wait_for_output(std::string_view needle, int timeout_ms, size_t from = 0);
  const std::string& output() const { return output_; }

  // Sends `signal_number`, waits up to `timeout_ms`, returns the exit code (128 + signal when
  // killed by one) or -1 if it did not exit in time.
  int stop(int signal_number, int timeout_ms);
  // Closes the child's stdin and waits up to `timeout_ms` for it to exit by itself (no signal).
  // Returns the exit code, or -1 if it is still running.
  int wait_for_exit(int timeout_ms);

 private:
  void read_available(int timeout_ms);

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string output_;
};

// ---- Store backends ----

enum class Backend : uint8_t { kSqlite = 0, kPostgresql };

// The backend of this run: PAYOUTD_TEST_BACKEND ("sqlite" or unset, "postgresql"). Any other value
// (and postgresql without PAYOUTD_TEST_POSTGRES_URL, or with a cluster that does not answer) fails
// the whole run before its first test.
Backend test_backend();
const char* backend_name(Backend backend);

// ---- Database sandbox and CLI ----

class Sandbox {
 public:
  // SQLite: nothing to create (payoutd creates the file). PostgreSQL: CREATE DATABASE
  // payoutd_it_<random hex> on the cluster (a failure is a test failure).
  Sandbox();
  // PostgreSQL: DROP DATABASE ... WITH (FORCE) (servers still connected are cut off).
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  Backend backend() const { return backend_; }
  const std::string& directory() const { return directory_; }
  // The SQLite file. REQUIRES: backend() == Backend::kSqlite.
  std::string db_path() const { return directory_ + "/p.db"; }
  // What `--db` gets: sqlite://<db_path()>, or the URL of the sandbox's PostgreSQL database.
  const std::string& db_url() const { return db_url_; }
  std::string key_path() const { return directory_ + "/mk.key"; }

  // The sandbox's test clock (cli/test_clock.h): every server and CLI command of the sandbox runs
  // with --test-clock on it, so their time moves only when the test moves it (no integration test
  // waits for real time to pass). It starts at the real time the sandbox was made.
  const std::string& clock_path() const { return clock_path_; }
  int64_t clock_micros() const;
  void set_clock_micros(int64_t now_micros) const;
  void advance_clock_ms(int64_t milliseconds) const {
    set_clock_micros(clock_micros() + milliseconds * 1000);
  }

  // `payoutd <arguments...> --db <url> --master-key-file <key>`.
  ProcessResult cli(std::vector<std::string> arguments) const;

  // `merchant create --json --name <name> <extra...>`: the merchant id, and the full JSON output
  // in `*json_output` when given. nullopt (with the reason in *json_output) on failure.
  std::optional<int64_t> create_merchant(const std::string& name,
                                         const std::vector<std::string>& extra = {},
                                         std::string* json_output = nullptr) const;
  // `wallet fund --merchant <id> --currency <c> --amount <a>`. True on exit 0.
  bool fund_wallet(int64_t merchant_id, const std::string& currency,
                   const std::string& amount) const;
  // The wallet's "amount" (available) and "held_amount" from `wallet show --json`, as exact
  // decimal text; nullopt when there is no such wallet.
  struct WalletAmounts {
    std::string available;
    std::string held;
  };
  std::optional<WalletAmounts> wallet(int64_t merchant_id, const std::string& currency) const;
  // `ledger check`: exit code (0 = all invariants hold) and the report in *report.
  int ledger_check(std::string* report = nullptr) const;

  // Runs `statements` (one or more, each ending in ';') on the database: SQLite with the sqlite3
  // shell (5 s busy timeout), PostgreSQL with psql (stops at the first error). Returns stdout with
  // stderr appended, in the sqlite3 shell's list mode whatever the backend: one line per row,
  // values separated by '|', NULL as nothing, no headers, the rows of every statement in order.
  std::string sql(const std::string& statements) const;
  // The rows `statement` prints, joined by `separator` (what group_concat would give, in the
  // statement's ORDER BY order; portable).
  std::string sql_joined(const std::string& statement, const std::string& separator = ",") const;
  // An SQL expression for the upper-case hex text of the BLOB (SQLite) / BYTEA (PostgreSQL)
  // `expression`: the one spelling the two backends do not share.
  std::string hex_sql(const std::string& expression) const;
  // Row count of every table but the dispatcher's delivery log, the id sequences (SQLite only, see
  // harness.cc), every account balance and every payout's and merchant's status, event count and
  // update time, as text: equal before and after = the database was not changed.
  std::string snapshot() const;
  // Makes the next generated id of `table` (`cashout_id` for payouts, `id` elsewhere) be
  // `next_id`: SQLite's AUTOINCREMENT sequence row (created when missing), PostgreSQL's identity
  // sequence. REQUIRES: no row of `table` has an id >= next_id.
  bool set_next_id(const std::string& table, int64_t next_id) const;

 private:
  Backend backend_;
  TempDir temp_;
  std::string directory_;
  std::string database_name_;  // PostgreSQL: this sandbox's database; "" when it was not created
  std::string db_url_;
  std::string clock_path_;
  std::unique_ptr<cli::TestClockFile> clock_;
};

// Another client holding the database's write lock, as an operator's shell or a second process
// could: SQLite, the sqlite3 shell in BEGIN IMMEDIATE; PostgreSQL, a psql session holding every
// table in EXCLUSIVE mode. Either way reads go on and every write waits (until the server's busy /
// lock timeout gives up). The constructor waits (bounded) until the lock is held: check held().
class DatabaseLock {
 public:
  explicit DatabaseLock(const Sandbox& sandbox, int timeout_ms = 10000);
  DatabaseLock(const DatabaseLock&) = delete;
  DatabaseLock& operator=(const DatabaseLock&) = delete;

  bool held() const { return held_; }
  // What the shell printed (for failure messages).
  const std::string& output() const { return shell_.output(); }
  // Rolls back, ends the session and waits (bounded): the shell's exit code, 0 when clean.
  int release(int timeout_ms = 10000);

 private:
  Backend backend_;
  ChildProcess shell_;
  bool held_ = false;
};

// `payoutd serve --listen 127.0.0.1:0 --db ... --master-key-file ... --no-engine <extra...>`.
// With EngineMode::kRunning the engine runs (no --no-engine): payouts move by themselves.
enum class EngineMode : uint8_t { kOff = 0, kRunning };
class ServerProcess {
 public:
  // Starts the server and waits (bounded) until it listens; check started().
  explicit ServerProcess(const Sandbox& sandbox, const std::vector<std::string>& extra = {},
                         int startup_timeout_ms = 30000, EngineMode engine = EngineMode::kOff);

  bool started() const { return port_ > 0; }
  int port() const { return port_; }
  // stdout so far and the stderr file (logs), for failure messages.
  std::string output() const { return process_.output(); }
  std::string log() const;
  // SIGTERM and wait: the exit code, or -1 when it did not exit within `timeout_ms`.
  int stop(int timeout_ms = 15000) { return process_.stop(15, timeout_ms); }
  // SIGKILL (a crash) and wait.
  int kill(int timeout_ms = 15000) { return process_.stop(9, timeout_ms); }

 private:
  std::string stderr_path_;
  ChildProcess process_;
  int port_ = 0;
};

// ---- HTTP ----

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;

  // First header named `lowercase_name`.
  std::optional<std::string> header(std::string_view lowercase_name) const;
};

class HttpClient {
 public:
  explicit HttpClient(int port, int timeout_ms = 30000);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Connects when not connected. False on failure.
  bool connect();
  void close();
  bool connected() const { return fd_ >= 0; }

  // Writes `bytes` exactly as given, then reads one response. nullopt when the connection fails or
  // closes before a complete response. The connection is closed afterwards if the server said
  // "Connection: close" (or closed it).
  std::optional<HttpResponse> send_raw(std::string_view bytes);
  // Writes `bytes` without reading (to hold requests and release them together).
  bool write_only(std::string_view bytes);
  // Reads one response after write_only.
  std::optional<HttpResponse> read_response();

  // A well-formed request: Host, Content-Length (when a body is given or the method has one),
  // Content-Type application/json, `headers` (name, value), keep-alive unless `close`.
  std::optional<HttpResponse> request(const std::string& method, const std::string& path,
                                      const std::string& body,
                                      const std::vector<std::pair<std::string, std::string>>&
                                          headers = {},
                                      bool close = false);

  // The request `request()` would send, as bytes.
  static std::string build_request(const std::string& method, const std::string& path,
                                   const std::string& body,
                                   const std::vector<std::pair<std::string, std::string>>& headers,
                                   bool close);

 private:
  int port_;
  int timeout_ms_;
  int fd_ = -1;
  std::string buffer_;  // bytes read past the previous response
};

// One request on a fresh connection.
std::optional<HttpResponse> http_request(int port, const std::string& method,
                                         const std::string& path, const std::string& body,
                                         const std::vector<std::pair<std::string, std::string>>&
                                             headers = {});

// Lower-case hex HMAC-SHA256(key, body): a Payload-Signature.
std::string sign_hex(std::string_view key, std::string_view body);

}  // namespace payoutd::testing
