// Runs the real payoutd binary against a temporary database, and payoutd servers as child
// processes that are always killed when the test ends (even on a failed assertion).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace payoutd::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Single-quotes `text` for /bin/sh.
std::string shell_quote(const std::string& text);

// Lines of `text` (without the newlines; a trailing newline does not make an empty last line).
std::vector<std::string> split_lines(const std::string& text);

// The first capture group of `pattern` (std::regex ECMAScript) in `text`, or nullopt.
std::optional<std::string> regex_capture(const std::string& text, const std::string& pattern);

// A temporary directory holding the database and the master key file, and helpers that run the
// binary with `--db sqlite://<dir>/p.db --master-key-file <dir>/mk.key`.
// The PAYOUTD_* environment variables of the test process are removed for every child, so the
// results do not depend on the developer's shell.
class CliSandbox {
 public:
  CliSandbox();

  const std::string& directory() const { return directory_; }
  std::string db_path() const { return directory_ + "/p.db"; }
  std::string db_url() const { return "sqlite://" + db_path(); }
  std::string key_path() const { return directory_ + "/mk.key"; }
  std::string file(const std::string& name) const { return directory_ + "/" + name; }

  // `payoutd <arguments> --db ... --master-key-file ...`, run from the sandbox directory.
  // `arguments` is shell text (quote values with shell_quote when needed).
  CommandResult run(const std::string& arguments) const;
  // `payoutd <arguments>` exactly as given (no --db / --master-key-file added), with extra
  // environment assignments (e.g. "PAYOUTD_DB=...") placed before the binary.
  CommandResult run_raw(const std::string& arguments, const std::string& environment = "") const;

  // sqlite3 <db> <sql> → stdout (the sqlite3 command-line shell).
  std::string sql(const std::string& statements) const;
  // Every table the operator commands can change, as text: equal before and after = unchanged.
  std::string snapshot() const;

 private:
  TempDir temp_;
  std::string directory_;
};

// A payoutd child process (serve / demo) with stdout on a pipe and stderr in a file.
// The destructor SIGKILLs and reaps it if it is still running.
class ServerProcess {
 public:
  // Starts `payoutd <arguments...>` with `working_directory` as its current directory.
  ServerProcess(const std::string& working_directory, const std::vector<std::string>& arguments,
                const std::string& stderr_path);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Reads stdout until a line "payoutd listening on <host:port>" arrives (or timeout / exit).
  // Returns the port, or 0 on failure (then output() holds what was printed).
  int wait_until_listening(int timeout_ms);
  // Everything read from stdout so far.
  const std::string& output() const { return output_; }

  // Sends `signal_number` and waits up to `timeout_ms` for the exit. Returns the exit code
  // (128 + signal when killed by one), or -1 when it did not exit in time.
  int stop(int signal_number, int timeout_ms);
  bool running() const { return pid_ > 0; }

 private:
  void read_available(int timeout_ms);

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string output_;
};

// GET http://127.0.0.1:<port><path> with curl; the body (empty on failure).
std::string http_get(int port, const std::string& path);

}  // namespace payoutd::testing
