#include "integration/harness.h"

#include <atomic>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "crypto/hash.h"
#include "json/value.h"

extern char** environ;

namespace payoutd::testing {
namespace {

constexpr size_t kMaxResponseBytes = 16 * 1024 * 1024;  // a bound, far above any real answer
constexpr int kStopGraceMs = 5000;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int remaining_ms(int64_t deadline_ms) {
  const int64_t left = deadline_ms - now_ms();
  return left <= 0 ? 0 : static_cast<int>(left);
}

// A write to a pipe or socket whose reader is gone must be an error value, not a dead test.
void ignore_sigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { signal(SIGPIPE, SIG_IGN); });
}

// The environment without PAYOUTD_* variables, built before fork (the child may not allocate).
struct CleanEnvironment {
  std::vector<std::string> storage;
  std::vector<char*> pointers;
  CleanEnvironment() {
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
      if (std::strncmp(*entry, "PAYOUTD_", 8) == 0) continue;
      storage.emplace_back(*entry);
    }
    for (std::string& text : storage) pointers.push_back(text.data());
    pointers.push_back(nullptr);
  }
};

struct Argv {
  std::vector<std::string> storage;
  std::vector<char*> pointers;
  explicit Argv(const std::vector<std::string>& argv) : storage(argv) {
    for (std::string& text : storage) pointers.push_back(text.data());
    pointers.push_back(nullptr);
  }
};

int exit_code_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

std::string read_whole_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

std::string lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

std::string trim(std::string_view text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && (text[begin] == ' ' || text[begin] == '\t')) ++begin;
  while (end > begin && (text[end - 1] == ' ' || text[end - 1] == '\t')) --end;
  return std::string(text.substr(begin, end - begin));
}

}  // namespace

// ---- run_process ----

ProcessResult run_process(const std::vector<std::string>& argv, int timeout_ms,
                          const std::string& working_directory) {
  ignore_sigpipe();
  ProcessResult result;
  if (argv.empty()) return result;
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return result;
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return result;
  }
  CleanEnvironment environment;
  Argv arguments(argv);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    if (!working_directory.empty() && chdir(working_directory.c_str()) != 0) _exit(126);
    execve(arguments.pointers[0], arguments.pointers.data(), environment.pointers.data());
    _exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (pid < 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return result;
  }
  const int64_t deadline = now_ms() + timeout_ms;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_count = 2;
  bool timed_out = false;
  while (open_count > 0) {
    const int left = remaining_ms(deadline);
    if (left == 0) {
      timed_out = true;
      break;
    }
    const int ready = poll(fds, 2, left);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[8192];
      const ssize_t count = read(fds[i].fd, buffer, sizeof(buffer));
      if (count > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(count));
      } else if (count == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  for (pollfd& descriptor : fds) {
    if (descriptor.fd >= 0) ::close(descriptor.fd);
  }
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = timed_out ? -1 : exit_code_of(status);
  return result;
}

// ---- ChildProcess ----

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& stderr_path,
                           const std::string& working_directory) {
  ignore_sigpipe();
  if (argv.empty()) return;
  int in_pipe[2];
  int out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return;
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    return;
  }
  CleanEnvironment environment;
  Argv arguments(argv);
  const std::string error_file = stderr_path.empty() ? "/dev/null" : stderr_path;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], STDIN_FILENO);
    dup2(out_pipe[1], STDOUT_FILENO);
    const int err_fd = open(error_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (err_fd >= 0) dup2(err_fd, STDERR_FILENO);
    if (!working_directory.empty() && chdir(working_directory.c_str()) != 0) _exit(126);
    execve(arguments.pointers[0], arguments.pointers.data(), environment.pointers.data());
    _exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  if (pid < 0) {
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    return;
  }
  pid_ = pid;
  stdin_fd_ = in_pipe[1];
  stdout_fd_ = out_pipe[0];
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && stop(SIGTERM, kStopGraceMs) < 0 && pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

bool ChildProcess::write_stdin(std::string_view text) {
  if (stdin_fd_ < 0) return false;
  while (!text.empty()) {
    const ssize_t written = write(stdin_fd_, text.data(), text.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    text.remove_prefix(static_cast<size_t>(written));
  }
  return true;
}

void ChildProcess::read_available(int timeout_ms) {
  if (stdout_fd_ < 0) return;
  pollfd descriptor{stdout_fd_, POLLIN, 0};
  if (poll(&descriptor, 1, timeout_ms) <= 0) return;
  char buffer[4096];
  const ssize_t count = read(stdout_fd_, buffer, sizeof(buffer));
  if (count > 0) {
    output_.append(buffer, static_cast<size_t>(count));
  } else if (count == 0 || errno != EINTR) {
    ::close(stdout_fd_);  // EOF: the child closed stdout (it exited)
    stdout_fd_ = -1;
  }
}

bool ChildProcess::wait_for_output(std::string_view needle, int timeout_ms, size_t from) {
  const int64_t deadline = now_ms() + timeout_ms;
  while (true) {
    if (output_.size() >= from && output_.find(needle, from) != std::string::npos) return true;
    if (stdout_fd_ < 0 || remaining_ms(deadline) == 0) return false;
    read_available(std::min(remaining_ms(deadline), 100));
  }
}

int ChildProcess::stop(int signal_number, int timeout_ms) {
  if (pid_ <= 0) return -1;
  if (stdin_fd_ >= 0) {  // a shell reading stdin exits on EOF
    ::close(stdin_fd_);
    stdin_fd_ = -1;
  }
  kill(pid_, signal_number);
  return wait_for_exit(timeout_ms);
}

int ChildProcess::wait_for_exit(int timeout_ms) {
  if (pid_ <= 0) return -1;
  if (stdin_fd_ >= 0) {
    ::close(stdin_fd_);
    stdin_fd_ = -1;
  }
  const int64_t deadline = now_ms() + timeout_ms;
  while (true) {
    int status = 0;
    const pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      for (int attempt = 0; attempt < 100 && stdout_fd_ >= 0; ++attempt) read_available(10);
      return exit_code_of(status);
    }
    if (remaining_ms(deadline) == 0) return -1;
    // Keep draining stdout so the child can never block on a full pipe while stopping.
    if (stdout_fd_ >= 0) {
      read_available(20);
    } else {
      usleep(20 * 1000);
    }
  }
}

// ---- Backends ----

namespace {

constexpr int kSqlTimeoutMs = 30000;

// PAYOUTD_TEST_BACKEND as given ("" when unset).
std::string backend_variable() {
  const char* value = std::getenv("PAYOUTD_TEST_BACKEND");
  return value == nullptr ? std::string() : std::string(value);
}

// PAYOUTD_TEST_POSTGRES_URL ("" when unset).
std::string postgres_admin_url() {
  const char* value = std::getenv("PAYOUTD_TEST_POSTGRES_URL");
  return value == nullptr ? std::string() : std::string(value);
}

// psql of the newest PostgreSQL under /usr/lib/postgresql (Debian), else /usr/bin/psql (Debian's
// wrapper, a Perl script: slower to start, and sql() runs in polling loops).
const std::string& psql_binary() {
  static const std::string path = [] {
    std::string best;
    int best_version = -1;
    std::error_code error;
    for (const std::filesystem::directory_entry& entry :
         std::filesystem::directory_iterator("/usr/lib/postgresql", error)) {
      const std::string candidate = entry.path().string() + "/bin/psql";
      if (access(candidate.c_str(), X_OK) != 0) continue;
      const int version = std::atoi(entry.path().filename().string().c_str());
      if (version > best_version) {
        best_version = version;
        best = candidate;
      }
    }
    return best.empty() ? std::string("/usr/bin/psql") : best;
  }();
  return path;
}

// psql in the sqlite3 shell's list mode: unaligned, tuples only, '|' between values, NULL as
// nothing, quiet (no command tags), no ~/.psqlrc, stop at the first error.
std::vector<std::string> psql_command(const std::string& url) {
  return {psql_binary(), "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1", "-d", url};
}

// `admin_url` with its database replaced by `database`: postgresql://user@host:port/<database>.
std::string with_database(const std::string& admin_url, const std::string& database) {
  const size_t scheme_end = admin_url.find("://");
  const size_t authority_start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  const size_t path_start = admin_url.find('/', authority_start);
  const size_t query_start = admin_url.find('?', authority_start);
  const std::string base = admin_url.substr(0, std::min(path_start, query_start));
  const std::string query = query_start == std::string::npos ? "" : admin_url.substr(query_start);
  return base + "/" + database + query;
}

// A database name no other sandbox (of this or a concurrent run) picks: payoutd_it_<16 hex>.
std::string random_database_name() {
  std::random_device device;
  const uint64_t value = (static_cast<uint64_t>(device()) << 32) ^ device();
  char name[40];
  std::snprintf(name, sizeof(name), "payoutd_it_%016llx", static_cast<unsigned long long>(value));
  return name;
}

// Fails the run before its first test when the backend cannot be used, so a misconfigured run
// says why once instead of failing every test on its own.
class BackendEnvironment final : public ::testing::Environment {
 public:
  void SetUp() override {
    const std::string backend = backend_variable();
    if (!backend.empty() && backend != "sqlite" && backend != "postgresql") {
      GTEST_FAIL() << "PAYOUTD_TEST_BACKEND=" << backend << ": expected sqlite or postgresql";
    }
    if (test_backend() != Backend::kPostgresql) return;
    const std::string url = postgres_admin_url();
    if (url.empty()) {
      GTEST_FAIL() << "PAYOUTD_TEST_BACKEND=postgresql needs PAYOUTD_TEST_POSTGRES_URL, the admin "
                      "URL of a PostgreSQL cluster the tests may create databases on (scripts/"
                      "test.sh starts one: scripts/pg-cluster.sh start <dir> prints it)";
    }
    std::vector<std::string> probe = psql_command(url);
    probe.insert(probe.end(), {"-c", "SELECT 1;"});
    const ProcessResult answer = run_process(probe, kSqlTimeoutMs);
    if (answer.exit_code != 0 || answer.out != "1\n") {
      GTEST_FAIL() << "PostgreSQL at PAYOUTD_TEST_POSTGRES_URL=" << url << " does not answer ("
                   << psql_binary() << " exit " << answer.exit_code << "): " << answer.out
                   << answer.err;
    }
    std::fprintf(stderr, "[ backend  ] postgresql at %s\n", url.c_str());
  }
};

[[maybe_unused]] ::testing::Environment* const kBackendEnvironment =
    ::testing::AddGlobalTestEnvironment(new BackendEnvironment);

}  // namespace

Backend test_backend() {
  return backend_variable() == "postgresql" ? Backend::kPostgresql : Backend::kSqlite;
}

const char* backend_name(Backend backend) {
  return backend == Backend::kPostgresql ? "postgresql" : "sqlite";
}

// ---- Sandbox ----

Sandbox::Sandbox()
    : backend_(test_backend()),
      directory_(temp_.path().string()),
      clock_path_(directory_ + "/clock") {
  const int64_t real_now_micros = std::chrono::duration_cast<std::chrono::microseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
  Result<std::unique_ptr<cli::TestClockFile>> clock =
      cli::TestClockFile::create(clock_path_, real_now_micros);
  if (clock.is_ok()) {
    clock_ = std::move(clock).value();
  } else {
    ADD_FAILURE() << "test clock: " << clock.status().to_string();
  }
  if (backend_ == Backend::kSqlite) {
    db_url_ = "sqlite://" + db_path();
    return;
  }
  const std::string admin_url = postgres_admin_url();
  const std::string name = random_database_name();
  db_url_ = with_database(admin_url, name);
  if (admin_url.empty()) {
    ADD_FAILURE() << "PAYOUTD_TEST_POSTGRES_URL is not set";
    return;
  }
  // template0 with the C collation: text sorts by bytes as in SQLite, whatever the cluster's
  // default locale (the tests compare ordered output).
  std::vector<std::string> create = psql_command(admin_url);
  create.insert(create.end(), {"-c", "CREATE DATABASE " + name +
                                         " TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' "
                                         "LC_CTYPE 'C';"});
  const ProcessResult created = run_process(create, kSqlTimeoutMs);
  if (created.exit_code != 0) {
    ADD_FAILURE() << "CREATE DATABASE " << name << " failed (exit " << created.exit_code
                  << "): " << created.out << created.err;
    return;
  }
  database_name_ = name;
}

Sandbox::~Sandbox() {
  if (database_name_.empty()) return;
  std::vector<std::string> drop = psql_command(postgres_admin_url());
  drop.insert(drop.end(), {"-c", "DROP DATABASE IF EXISTS " + database_name_ + " WITH (FORCE);"});
  const ProcessResult dropped = run_process(drop, kSqlTimeoutMs);
  if (dropped.exit_code != 0) {
    ADD_FAILURE() << "DROP DATABASE " << database_name_ << " failed (exit " << dropped.exit_code
                  << "): " << dropped.out << dropped.err;
  }
}

int64_t Sandbox::clock_micros() const {
  PAYOUTD_ASSERT(clock_ != nullptr);
  return clock_->load();
}

void Sandbox::set_clock_micros(int64_t now_micros) const {
  PAYOUTD_ASSERT(clock_ != nullptr);
  clock_->store(now_micros);
}

ProcessResult Sandbox::cli(std::vector<std::string> arguments) const {
  arguments.insert(arguments.begin(), payoutd_binary());
  arguments.push_back("--test-clock");
  arguments.push_back(clock_path());
  arguments.push_back("--db");
  arguments.push_back(db_url());
  arguments.push_back("--master-key-file");
  arguments.push_back(key_path());
  return run_process(arguments, 60000, directory_);
}

std::optional<int64_t> Sandbox::create_merchant(const std::string& name,
                                                const std::vector<std::string>& extra,
                                                std::string* json_output) const {
  std::vector<std::string> arguments = {"merchant", "create", "--json", "--name", name};
  arguments.insert(arguments.end(), extra.begin(), extra.end());
  ProcessResult result = cli(arguments);
  if (json_output != nullptr) *json_output = result.exit_code == 0 ? result.out : result.err;
  if (result.exit_code != 0) return std::nullopt;
  Result<json::Value> parsed = json::parse(result.out);
  if (!parsed.is_ok()) return std::nullopt;
  const json::Value* id = parsed->find("merchant_id");
  if (id == nullptr || !id->is_number()) return std::nullopt;
  return std::stoll(id->number_text());
}

bool Sandbox::fund_wallet(int64_t merchant_id, const std::string& currency,
                          const std::string& amount) const {
  return cli({"wallet", "fund", "--merchant", std::to_string(merchant_id), "--currency", currency,
              "--amount", amount})
             .exit_code == 0;
}

std::optional<Sandbox::WalletAmounts> Sandbox::wallet(int64_t merchant_id,
                                                      const std::string& currency) const {
  ProcessResult result = cli({"wallet", "show", "--json", "--merchant", std::to_string(merchant_id)});
  if (result.exit_code != 0) return std::nullopt;
  Result<json::Value> parsed = json::parse(result.out);
  if (!parsed.is_ok() || !parsed->is_array()) return std::nullopt;
  for (const json::Value& item : parsed->items()) {
    const json::Value* code = item.find("currency");
    const json::Value* available = item.find("amount");
    const json::Value* held = item.find("held_amount");
    if (code == nullptr || !code->is_string() || code->as_string() != currency) continue;
    if (available == nullptr || held == nullptr || !available->is_number() || !held->is_number()) {
      return std::nullopt;
    }
    return WalletAmounts{available->number_text(), held->number_text()};
  }
  return std::nullopt;
}

int Sandbox::ledger_check(std::string* report) const {
  ProcessResult result = cli({"ledger", "check"});
  if (report != nullptr) *report = result.out + result.err;
  return result.exit_code;
}

std::string Sandbox::sql(const std::string& statements) const {
  if (backend_ == Backend::kSqlite) {
    ProcessResult result = run_process(
        {"/usr/bin/sqlite3", "-cmd", ".timeout 5000", db_path(), statements}, kSqlTimeoutMs);
    return result.out + result.err;
  }
  // From a file, not -c: psql runs the statements of a -c string as one transaction, while the
  // sqlite3 shell (and psql -f) runs each on its own.
  static std::atomic<uint64_t> next_file{0};
  const std::string path = directory_ + "/sql-" + std::to_string(next_file.fetch_add(1)) + ".sql";
  {
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file << statements << "\n";
    if (!file.good()) return "harness: could not write " + path + "\n";
  }
  std::vector<std::string> command = psql_command(db_url_);
  command.insert(command.end(), {"-f", path});
  ProcessResult result = run_process(command, kSqlTimeoutMs);
  std::remove(path.c_str());
  return result.out + result.err;
}

std::string Sandbox::sql_joined(const std::string& statement, const std::string& separator) const {
  std::istringstream rows(sql(statement));
  std::string joined;
  bool first = true;
  for (std::string row; std::getline(rows, row);) {
    if (!first) joined += separator;
    joined += row;
    first = false;
  }
  return joined;
}

std::string Sandbox::hex_sql(const std::string& expression) const {
  if (backend_ == Backend::kSqlite) return "hex(" + expression + ")";
  return "upper(encode(" + expression + ", 'hex'))";
}

std::string Sandbox::snapshot() const {
  const std::string table_query =
      backend_ == Backend::kSqlite
          ? "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name;"
          : "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "ORDER BY tablename;";
  std::string query;
  std::istringstream tables(sql(table_query));
  for (std::string table; std::getline(tables, table);) {
    // The delivery log is written by the notification dispatcher on its own schedule, never by a
    // request: a running dispatcher may append to it between two snapshots of an unchanged
    // database (the outbox rows a request would write are counted).
    if (table.empty() || table == "delivery_attempts") continue;
    query += "SELECT '" + table + "', count(*) FROM \"" + table + "\";";
  }
  // SQLite's AUTOINCREMENT sequences roll back with their transaction: a change shows a change.
  // PostgreSQL's sequences do not (nextval is never undone), so a refused request whose
  // transaction inserted and rolled back moves them without changing the database: left out;
  // the row counts show every insert that stayed.
  if (backend_ == Backend::kSqlite) {
    query += "SELECT 'sequence', name, seq FROM sqlite_sequence ORDER BY name;";
  }
  query +=
      "SELECT 'account', id, kind, balance FROM accounts ORDER BY id;"
      "SELECT 'payout', cashout_id, status, event_seq, updated_at FROM payouts ORDER BY cashout_id;"
      "SELECT 'merchant', id, status, updated_at FROM merchants ORDER BY id;";
  return sql(query);
}

bool Sandbox::set_next_id(const std::string& table, int64_t next_id) const {
  if (backend_ == Backend::kPostgresql) {
    const std::string id_column = table == "payouts" ? "cashout_id" : "id";
    // is_called = false: the next nextval() returns next_id itself.
    const std::string next = std::to_string(next_id);
    return sql("SELECT setval(pg_get_serial_sequence('" + table + "', '" + id_column + "'), " +
               next + ", false);") == next + "\n";
  }
  const std::string seq = std::to_string(next_id - 1);
  const std::string output = sql(
      "UPDATE sqlite_sequence SET seq = " + seq + " WHERE name = '" + table + "';" +
      "INSERT INTO sqlite_sequence (name, seq) SELECT '" + table + "', " + seq +
      " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '" + table + "');" +
      "SELECT seq FROM sqlite_sequence WHERE name = '" + table + "';");
  return output == seq + "\n";
}

// ---- DatabaseLock ----

namespace {

std::vector<std::string> lock_shell_command(const Sandbox& sandbox) {
  if (sandbox.backend() == Backend::kSqlite) return {"/usr/bin/sqlite3", sandbox.db_path()};
  return psql_command(sandbox.db_url());
}

}  // namespace

DatabaseLock::DatabaseLock(const Sandbox& sandbox, int timeout_ms)
    : backend_(sandbox.backend()), shell_(lock_shell_command(sandbox), "") {
  // Taking the lock waits up to 2 s for a writer in progress, as `.timeout 2000` does.
  const std::string take =
      backend_ == Backend::kSqlite
          ? ".timeout 2000\nBEGIN IMMEDIATE;\nSELECT 'locked';\n"
          : "SET lock_timeout = '2s';\n"
            "BEGIN;\n"
            "DO $$\n"
            "DECLARE item record;\n"
            "BEGIN\n"
            "  FOR item IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema()\n"
            "              ORDER BY tablename LOOP\n"
            "    EXECUTE format('LOCK TABLE %I IN EXCLUSIVE MODE', item.tablename);\n"
            "  END LOOP;\n"
            "END\n"
            "$$;\n"
            "SELECT 'locked';\n";
  held_ = shell_.write_stdin(take) && shell_.wait_for_output("locked", timeout_ms);
}

int DatabaseLock::release(int timeout_ms) {
  const std::string end = backend_ == Backend::kSqlite ? "ROLLBACK;\n.quit\n" : "ROLLBACK;\n\\q\n";
  if (!shell_.write_stdin(end)) return -1;
  held_ = false;
  return shell_.wait_for_exit(timeout_ms);
}

// ---- ServerProcess ----

namespace {
// Several servers may share one sandbox (several processes on one database): each logs to its own
// file.
int next_server_number() {
  static std::atomic<int> number{0};
  return number.fetch_add(1);
}
}  // namespace

ServerProcess::ServerProcess(const Sandbox& sandbox, const std::vector<std::string>& extra,
                             int startup_timeout_ms, EngineMode engine)
    : stderr_path_(sandbox.directory() + "/server-stderr-" +
                   std::to_string(next_server_number()) + ".txt"),
      process_(
          [&] {
            std::vector<std::string> argv = {payoutd_binary(), "serve",
                                             "--listen",       "127.0.0.1:0",
                                             "--db",           sandbox.db_url(),
                                             "--master-key-file", sandbox.key_path(),
                                             "--log-format",   "text"};
            argv.push_back("--test-clock");
            argv.push_back(sandbox.clock_path());
            if (engine == EngineMode::kOff) argv.push_back("--no-engine");
            argv.insert(argv.end(), extra.begin(), extra.end());
            return argv;
          }(),
          stderr_path_, sandbox.directory()) {
  constexpr std::string_view kPrefix = "payoutd listening on 127.0.0.1:";
  if (!process_.wait_for_output(kPrefix, startup_timeout_ms)) return;
  // The whole line: the port is complete once its newline arrived.
  const size_t start = process_.output().find(kPrefix) + kPrefix.size();
  if (!process_.wait_for_output("\n", startup_timeout_ms, start)) return;
  const size_t end = process_.output().find('\n', start);
  const std::string port_text = process_.output().substr(start, end - start);
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos) {
    return;
  }
  port_ = std::stoi(port_text);
}

std::string ServerProcess::log() const { return read_whole_file(stderr_path_); }

// ---- HTTP ----

std::optional<std::string> HttpResponse::header(std::string_view lowercase_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lowercase_name) return value;
  }
  return std::nullopt;
}

HttpClient::HttpClient(int port, int timeout_ms) : port_(port), timeout_ms_(timeout_ms) {
  ignore_sigpipe();
}

HttpClient::~HttpClient() { close(); }

bool HttpClient::connect() {
  if (fd_ >= 0) return true;
  buffer_.clear();
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port_));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return false;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fd_ = fd;
  return true;
}

void HttpClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
}

bool HttpClient::write_only(std::string_view bytes) {
  if (!connect()) return false;
  const int64_t deadline = now_ms() + timeout_ms_;
  while (!bytes.empty()) {
    pollfd descriptor{fd_, POLLOUT, 0};
    if (poll(&descriptor, 1, remaining_ms(deadline)) <= 0) return false;
    const ssize_t sent = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;  // the server may have answered and closed early (e.g. 413): read it anyway
    }
    bytes.remove_prefix(static_cast<size_t>(sent));
  }
  return true;
}

std::optional<HttpResponse> HttpClient::read_response() {
  if (fd_ < 0) return std::nullopt;
  const int64_t deadline = now_ms() + timeout_ms_;
  bool eof = false;
  // Reads more bytes into buffer_; false on timeout, error or EOF (eof set on EOF/reset).
  auto fill = [&]() -> bool {
    if (eof || buffer_.size() > kMaxResponseBytes) return false;
    pollfd descriptor{fd_, POLLIN, 0};
    const int ready = poll(&descriptor, 1, remaining_ms(deadline));
    if (ready <= 0) return false;
    char chunk[16384];
    const ssize_t count = recv(fd_, chunk, sizeof(chunk), 0);
    if (count > 0) {
      buffer_.append(chunk, static_cast<size_t>(count));
      return true;
    }
    if (count < 0 && errno == EINTR) return true;
    eof = true;
    return false;
  };

  while (true) {
    size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) {
        close();
        return std::nullopt;
      }
    }
    HttpResponse response;
    const std::string head = buffer_.substr(0, head_end);
    buffer_.erase(0, head_end + 4);
    std::istringstream lines(head);
    std::string status_line;
    std::getline(lines, status_line);
    if (!status_line.empty() && status_line.back() == '\r') status_line.pop_back();
    // "HTTP/1.1 200 OK"
    const size_t first_space = status_line.find(' ');
    if (!status_line.starts_with("HTTP/1.") || first_space == std::string::npos) {
      close();
      return std::nullopt;
    }
    response.status = std::atoi(status_line.c_str() + first_space + 1);
    const size_t second_space = status_line.find(' ', first_space + 1);
    if (second_space != std::string::npos) response.reason = status_line.substr(second_space + 1);
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      response.headers.emplace_back(lower(line.substr(0, colon)), trim(line.substr(colon + 1)));
    }
    if (response.status >= 100 && response.status < 200) continue;  // interim (100 Continue)

    const std::optional<std::string> length = response.header("content-length");
    const std::optional<std::string> encoding = response.header("transfer-encoding");
    if (encoding && lower(*encoding).find("chunked") != std::string::npos) {
      while (true) {
        size_t line_end;
        while ((line_end = buffer_.find("\r\n")) == std::string::npos) {
          if (!fill()) {
            close();
            return std::nullopt;
          }
        }
        const size_t size = std::strtoul(buffer_.substr(0, line_end).c_str(), nullptr, 16);
        if (size > kMaxResponseBytes) {
          close();
          return std::nullopt;
        }
        while (buffer_.size() < line_end + 2 + size + 2) {
          if (!fill()) {
            close();
            return std::nullopt;
          }
        }
        response.body.append(buffer_, line_end + 2, size);
        buffer_.erase(0, line_end + 2 + size + 2);
        if (size == 0) break;
      }
    } else if (length) {
      const size_t size = std::strtoul(length->c_str(), nullptr, 10);
      if (size > kMaxResponseBytes) {
        close();
        return std::nullopt;
      }
      while (buffer_.size() < size) {
        if (!fill()) {
          close();
          return std::nullopt;
        }
      }
      response.body = buffer_.substr(0, size);
      buffer_.erase(0, size);
    } else {
      while (fill()) {
      }
      response.body = std::move(buffer_);
      buffer_.clear();
      eof = true;
    }
    const std::optional<std::string> connection = response.header("connection");
    if (eof || (connection && lower(*connection) == "close")) close();
    return response;
  }
}

std::optional<HttpResponse> HttpClient::send_raw(std::string_view bytes) {
  if (!connect()) return std::nullopt;
  (void)write_only(bytes);  // a failed write may still have an answer waiting (413, 431)
  return read_response();
}

std::string HttpClient::build_request(
    const std::string& method, const std::string& path, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers, bool close) {
  std::string out = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  bool has_content_type = false;
  for (const auto& [name, value] : headers) {
    if (lower(name) == "content-type") has_content_type = true;
    out += name + ": " + value + "\r\n";
  }
  if (!has_content_type) out += "Content-Type: application/json\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  out += body;
  return out;
}

std::optional<HttpResponse> HttpClient::request(
    const std::string& method, const std::string& path, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers, bool close) {
  return send_raw(build_request(method, path, body, headers, close));
}

std::optional<HttpResponse> http_request(
    int port, const std::string& method, const std::string& path, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  HttpClient client(port);
  return client.request(method, path, body, headers, /*close=*/true);
}

std::string sign_hex(std::string_view key, std::string_view body) {
  return crypto::hex_lower(crypto::hmac_sha256(key, body));
}

}  // namespace payoutd::testing
