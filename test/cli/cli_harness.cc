#include "cli/cli_harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace payoutd::testing {
namespace {

constexpr const char* kClearEnvironment =
    "env -u PAYOUTD_DB -u PAYOUTD_LISTEN -u PAYOUTD_THREADS -u PAYOUTD_CONNECTOR "
    "-u PAYOUTD_MASTER_KEY -u PAYOUTD_BRAND ";

constexpr const char* kPayoutdVariables[] = {"PAYOUTD_DB",         "PAYOUTD_LISTEN",
                                             "PAYOUTD_THREADS",    "PAYOUTD_CONNECTOR",
                                             "PAYOUTD_MASTER_KEY", "PAYOUTD_BRAND"};

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += "'";
  return out;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::string current;
  for (char c : text) {
    if (c == '\n') {
      lines.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty()) lines.push_back(current);
  return lines;
}

std::optional<std::string> regex_capture(const std::string& text, const std::string& pattern) {
  std::smatch match;
  if (!std::regex_search(text, match, std::regex(pattern)) || match.size() < 2) {
    return std::nullopt;
  }
  return match[1].str();
}

CliSandbox::CliSandbox() : directory_(temp_.path().string()) {}

CommandResult CliSandbox::run(const std::string& arguments) const {
  return run_raw(arguments + " --db " + shell_quote(db_url()) + " --master-key-file " +
                 shell_quote(key_path()));
}

CommandResult CliSandbox::run_raw(const std::string& arguments,
                                  const std::string& environment) const {
  const std::string stderr_path = directory_ + "/last-stderr.txt";
  // `timeout` bounds a test even if a command that should fail at once started serving instead.
  const std::string command = "cd " + shell_quote(directory_) + " && " + kClearEnvironment +
                              environment + " timeout 60 " + shell_quote(payoutd_binary()) + " " +
                              arguments + " 2>" + shell_quote(stderr_path);
  CommandResult result;
  result.exit_code = run_command(command, &result.out, /*merge_stderr=*/false);
  result.err = read_file(stderr_path);
  return result;
}

std::string CliSandbox::sql(const std::string& statements) const {
  std::string out;
  run_command("sqlite3 " + shell_quote(db_path()) + " " + shell_quote(statements), &out, true);
  return out;
}

std::string CliSandbox::snapshot() const {
  return sql(
      "select count(*), group_concat(status), group_concat(updated_at) from merchants;"
      "select count(*), group_concat(fixed_minor) from merchant_fees;"
      "select count(*) from wallets;"
      "select group_concat(balance) from accounts;"
      "select count(*) from journal_transactions;"
      "select count(*) from journal_entries;"
      "select count(*) from wallet_transactions;"
      "select count(*) from payouts;"
      "select count(*) from payout_events;"
      "select count(*) from outbox;");
}

ServerProcess::ServerProcess(const std::string& working_directory,
                             const std::vector<std::string>& arguments,
                             const std::string& stderr_path) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return;
  const std::string binary = payoutd_binary();
  std::vector<std::string> argv_strings;
  argv_strings.push_back(binary);
  for (const std::string& argument : arguments) argv_strings.push_back(argument);
  std::vector<char*> argv;
  for (std::string& argument : argv_strings) argv.push_back(argument.data());
  argv.push_back(nullptr);

  const pid_t pid = fork();
  if (pid == 0) {
    // Child: stdout into the pipe, stderr into the file, a clean PAYOUTD_* environment.
    dup2(pipe_fds[1], STDOUT_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    const int err_fd = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (err_fd >= 0) {
      dup2(err_fd, STDERR_FILENO);
      close(err_fd);
    }
    for (const char* name : kPayoutdVariables) unsetenv(name);
    if (chdir(working_directory.c_str()) != 0) _exit(126);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  if (pid < 0) {
    close(pipe_fds[0]);
    return;
  }
  pid_ = pid;
  stdout_fd_ = pipe_fds[0];
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

void ServerProcess::read_available(int timeout_ms) {
  if (stdout_fd_ < 0) return;
  pollfd descriptor{stdout_fd_, POLLIN, 0};
  if (poll(&descriptor, 1, timeout_ms) <= 0) return;
  char buffer[4096];
  const ssize_t count = read(stdout_fd_, buffer, sizeof(buffer));
  if (count > 0) {
    output_.append(buffer, static_cast<size_t>(count));
  } else {
    close(stdout_fd_);  // EOF: the child closed stdout (it exited)
    stdout_fd_ = -1;
  }
}

int ServerProcess::wait_until_listening(int timeout_ms) {
  const int64_t deadline = now_ms() + timeout_ms;
  while (now_ms() < deadline) {
    std::optional<std::string> port =
        regex_capture(output_, R"(payoutd listening on [0-9.]+:([0-9]+)\n)");
    if (port) return std::atoi(port->c_str());
    if (stdout_fd_ < 0) return 0;
    read_available(100);
  }
  return 0;
}

int ServerProcess::stop(int signal_number, int timeout_ms) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal_number);
  const int64_t deadline = now_ms() + timeout_ms;
  while (now_ms() < deadline) {
    int status = 0;
    const pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      for (int attempt = 0; attempt < 1000 && stdout_fd_ >= 0; ++attempt) read_available(10);
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    // Keep draining stdout so the child can never block on a full pipe.
    read_available(20);
  }
  return -1;
}

std::string http_get(int port, const std::string& path) {
  std::string body;
  run_command(
      "curl -s --max-time 5 " + shell_quote("http://127.0.0.1:" + std::to_string(port) + path),
      &body, /*merge_stderr=*/false);
  return body;
}

}  // namespace payoutd::testing
