// Integration-test harness: the real `payoutd` binary, a real SQLite file, real HTTP.
//
// - Sandbox: a temporary directory with the database and the master key; runs CLI commands on it
//   (`merchant create --json ...`, `wallet fund ...`, `ledger check`), runs SQL on it with the
//   sqlite3 shell, and snapshots it (row counts of every table, every account balance) so a test
//   can prove that a request changed nothing.
// - ServerProcess: `payoutd serve --listen 127.0.0.1:0 --no-engine ...` on a sandbox as a child
//   process; waits for "payoutd listening on 127.0.0.1:<port>"; SIGTERM then SIGKILL on
//   destruction.
// - HttpClient: a small blocking HTTP/1.1 client over POSIX sockets. Sends well-formed requests or
//   arbitrary raw bytes, parses status, headers and body, can keep the connection alive.
// - sign_hex(): the Payload-Signature of a body (HMAC-SHA256, lower-case hex).
//
// Nothing here is specific to one dialect. Every wait is bounded; every child process is reaped.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
// server and for an interactive `sqlite3` shell that holds a lock.
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

// ---- Database sandbox and CLI ----

class Sandbox {
 public:
  Sandbox();

  const std::string& directory() const { return directory_; }
  std::string db_path() const { return directory_ + "/p.db"; }
  std::string db_url() const { return "sqlite://" + db_path(); }
  std::string key_path() const { return directory_ + "/mk.key"; }

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

  // sqlite3 <db> with a 5 s busy timeout; stdout (stderr appended).
  std::string sql(const std::string& statements) const;
  // Row count of every table (found in sqlite_master) but the dispatcher's delivery log, the sqlite_sequence rows, every account
  // balance and every payout's status and event count, as text: equal before and after = the
  // database was not changed.
  std::string snapshot() const;
  // Makes the next AUTOINCREMENT id of `table` be `next_id` (the sequence row is created when
  // missing). REQUIRES: no row of `table` has an id >= next_id.
  bool set_next_id(const std::string& table, int64_t next_id) const;

 private:
  TempDir temp_;
  std::string directory_;
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
