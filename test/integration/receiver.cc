#include "integration/receiver.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <iterator>
#include <optional>
#include <system_error>

#include "core/status.h"

namespace payoutd::testing {
namespace {

constexpr size_t kMaxRequestBytes = 1024 * 1024;  // head + body
constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr int kRequestReadTimeoutMs = 10'000;
constexpr int kResponseWriteTimeoutMs = 5'000;
constexpr size_t kMaxOpenConnections = 256;
// Upper bound of one poll() while nothing else bounds it: stop() wakes every poll through the wake
// pipe, this is only a second line of defence.
constexpr int kPollSliceMs = 1000;

using SteadyClock = std::chrono::steady_clock;

int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int remaining_ms(SteadyClock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left, kPollSliceMs));
}

char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

// What one poll() on a connection saw.
enum class Readiness { kReadable, kTimedOut, kStopping, kError };

// Waits until `fd` has `events`, the wake pipe fires (stop()) or `deadline` passes.
Readiness wait_for_socket(int fd, int wake_fd, short events, SteadyClock::time_point deadline) {
  while (true) {
    const int timeout_ms = remaining_ms(deadline);
    pollfd fds[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
    const int rc = poll(fds, 2, timeout_ms);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return Readiness::kError;
    }
    if ((fds[1].revents & POLLIN) != 0) return Readiness::kStopping;
    if (fds[0].revents != 0) return Readiness::kReadable;  // includes POLLHUP / POLLERR: the read tells
    if (SteadyClock::now() >= deadline) return Readiness::kTimedOut;
  }
}

// Reads what is available into `buffer`. False on end of stream, error, timeout or stop.
bool read_some(int fd, int wake_fd, std::string& buffer, SteadyClock::time_point deadline) {
  if (wait_for_socket(fd, wake_fd, POLLIN, deadline) != Readiness::kReadable) return false;
  char chunk[16 * 1024];
  while (true) {
    const ssize_t received = recv(fd, chunk, sizeof chunk, 0);
    if (received < 0 && errno == EINTR) continue;
    if (received <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(received));
    return true;
  }
}

bool send_all(int fd, int wake_fd, std::string_view data) {
  const SteadyClock::time_point deadline = SteadyClock::now() + std::chrono::milliseconds(kResponseWriteTimeoutMs);
  while (!data.empty()) {
    const ssize_t sent = send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent > 0) {
      data.remove_prefix(static_cast<size_t>(sent));
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (wait_for_socket(fd, wake_fd, POLLOUT, deadline) != Readiness::kReadable) return false;
      continue;
    }
    return false;  // the client went away (EPIPE, ECONNRESET): nothing more to do
  }
  return true;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

std::string response_text(int status, const std::vector<std::pair<std::string, std::string>>& headers,
                          std::string_view body) {
  // 204 and 304 answers have no body by definition (RFC 9110).
  const bool bodiless = status == 204 || status == 304;
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) + "\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  if (!bodiless) {
    out += "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  out += "Connection: close\r\n\r\n";
  if (!bodiless) out += body;
  return out;
}

void answer_error(int fd, int wake_fd, int status) { send_all(fd, wake_fd, response_text(status, {}, reason_phrase(status))); }

// Parses the request line and header lines of `head` (without the final empty line).
bool parse_head(std::string_view head, ReceivedRequest& request) {
  size_t line_end = head.find("\r\n");
  const std::string_view request_line = head.substr(0, line_end);
  const size_t first_space = request_line.find(' ');
  const size_t second_space = first_space == std::string_view::npos ? first_space : request_line.find(' ', first_space + 1);
  if (first_space == std::string_view::npos || second_space == std::string_view::npos) return false;
  request.method = std::string(request_line.substr(0, first_space));
  request.target = std::string(request_line.substr(first_space + 1, second_space - first_space - 1));
  const std::string_view version = request_line.substr(second_space + 1);
  if (request.method.empty() || request.target.empty() || request.target.front() != '/') return false;
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return false;
  while (line_end != std::string_view::npos) {
    const size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string_view line = head.substr(start, line_end == std::string_view::npos ? std::string_view::npos : line_end - start);
    if (line.empty()) continue;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    request.headers.emplace_back(std::string(line.substr(0, colon)), std::string(trim(line.substr(colon + 1))));
  }
  return true;
}

// Content-Length as a number, nullopt when malformed; 0 when absent.
std::optional<size_t> content_length(const ReceivedRequest& request) {
  const std::string text = request.header("Content-Length");
  if (text.empty()) return size_t{0};
  if (text.size() > 9) return std::nullopt;  // > 999,999,999: far over the bound anyway
  size_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<size_t>(c - '0');
  }
  return value;
}

}  // namespace

std::string ReceivedRequest::header(std::string_view name) const {
  for (const auto& [header_name, value] : headers) {
    if (equals_ignoring_case(header_name, name)) return value;
  }
  return "";
}

std::string_view ReceivedRequest::path() const { return path_of(target); }

Receiver::Receiver() {
  int pipe_fds[2] = {-1, -1};
  const int pipe_rc = pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK);
  PAYOUTD_ASSERT(pipe_rc == 0);
  wake_read_fd_ = pipe_fds[0];
  wake_write_fd_ = pipe_fds[1];

  // Non-blocking: a client that resets between poll() and accept() must not block the accept loop.
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  PAYOUTD_ASSERT(listen_fd_ >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  const int bind_rc = bind(listen_fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  PAYOUTD_ASSERT(bind_rc == 0);
  const int listen_rc = listen(listen_fd_, 128);
  PAYOUTD_ASSERT(listen_rc == 0);
  socklen_t length = sizeof address;
  const int name_rc = getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
  PAYOUTD_ASSERT(name_rc == 0);
  port_ = ntohs(address.sin_port);
  accept_thread_ = std::thread([this] { accept_loop(); });
}

Receiver::~Receiver() {
  stop();
  close(listen_fd_);
  close(wake_read_fd_);
  close(wake_write_fd_);
}

std::string Receiver::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

void Receiver::set_behaviour(std::string_view path, ReceiverBehaviour behaviour) {
  std::lock_guard lock(mutex_);
  behaviours_.insert_or_assign(std::string(path), PathState{std::move(behaviour), 0});
}

std::vector<ReceivedRequest> Receiver::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::vector<ReceivedRequest> Receiver::requests_for(std::string_view path) const {
  std::lock_guard lock(mutex_);
  std::vector<ReceivedRequest> out;
  for (const ReceivedRequest& request : requests_) {
    if (request.path() == path) out.push_back(request);
  }
  return out;
}

size_t Receiver::count_matching(std::string_view path) const {
  if (path.empty()) return requests_.size();
  return static_cast<size_t>(
      std::count_if(requests_.begin(), requests_.end(), [&](const ReceivedRequest& request) { return request.path() == path; }));
}

bool Receiver::wait_for(size_t count, int timeout_ms, std::string_view path) const {
  std::unique_lock lock(mutex_);
  return arrived_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return count_matching(path) >= count; });
}

size_t Receiver::peak_in_flight(std::string_view path) const {
  std::lock_guard lock(mutex_);
  if (path.empty()) return peak_total_in_flight_;
  const auto found = peak_in_flight_.find(path);
  return found == peak_in_flight_.end() ? 0 : found->second;
}

void Receiver::stop() {
  {
    std::lock_guard lock(stop_mutex_);
    if (stopped_) return;
    stopped_ = true;
  }
  stopping_.store(true);
  // Never read: the pipe stays readable, so every present and future poll() sees it.
  const char byte = 1;
  while (write(wake_write_fd_, &byte, 1) < 0 && errno == EINTR) {
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  std::vector<Connection> connections;
  {
    std::lock_guard lock(connections_mutex_);
    connections.swap(connections_);
  }
  for (Connection& connection : connections) connection.thread.join();
}

void Receiver::join_finished_connections() {
  std::vector<Connection> finished;
  {
    std::lock_guard lock(connections_mutex_);
    auto first_finished = std::stable_partition(connections_.begin(), connections_.end(),
                                                [](const Connection& connection) { return !connection.finished->load(); });
    std::move(first_finished, connections_.end(), std::back_inserter(finished));
    connections_.erase(first_finished, connections_.end());
  }
  for (Connection& connection : finished) connection.thread.join();
}

void Receiver::accept_loop() {
  while (!stopping_.load()) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_read_fd_, POLLIN, 0}};
    const int rc = poll(fds, 2, kPollSliceMs);
    if (rc < 0 && errno != EINTR) break;
    if (stopping_.load() || (fds[1].revents & POLLIN) != 0) break;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    connections_accepted_.fetch_add(1);
    join_finished_connections();
    std::lock_guard lock(connections_mutex_);
    if (connections_.size() >= kMaxOpenConnections) {
      close(fd);
      continue;
    }
    auto finished = std::make_shared<std::atomic<bool>>(false);
    try {
      std::thread thread([this, fd, finished] {
        serve_connection(fd);
        close(fd);
        finished->store(true);
      });
      connections_.push_back({std::move(thread), std::move(finished)});
    } catch (const std::system_error&) {
      close(fd);  // out of threads: the client sees the connection closed
    }
  }
}

std::pair<ReceiverBehaviour, int> Receiver::record(ReceivedRequest request) {
  std::lock_guard lock(mutex_);
  const std::string path(request.path());
  ReceiverBehaviour behaviour;
  int status = behaviour.then_status;
  if (auto found = behaviours_.find(path); found != behaviours_.end()) {
    PathState& state = found->second;
    behaviour = state.behaviour;
    status = state.requests_seen < behaviour.status_sequence.size() ? behaviour.status_sequence[state.requests_seen]
                                                                    : behaviour.then_status;
    ++state.requests_seen;
  }
  requests_.push_back(std::move(request));
  const size_t in_flight = ++in_flight_[path];
  peak_in_flight_[path] = std::max(peak_in_flight_[path], in_flight);
  ++total_in_flight_;
  peak_total_in_flight_ = std::max(peak_total_in_flight_, total_in_flight_);
  arrived_.notify_all();
  return {std::move(behaviour), status};
}

void Receiver::finish_request(const std::string& path) {
  std::lock_guard lock(mutex_);
  --in_flight_[path];
  --total_in_flight_;
}

void Receiver::serve_connection(int fd) {
  const SteadyClock::time_point read_deadline = SteadyClock::now() + std::chrono::milliseconds(kRequestReadTimeoutMs);
  std::string buffer;
  size_t head_end = std::string::npos;
  while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
    // Not HTTP at all (a TLS ClientHello starts with 0x16): answer at once instead of waiting for a
    // blank line that will never come, so a client's handshake fails fast.
    if (!buffer.empty() && !(buffer.front() >= 'A' && buffer.front() <= 'Z')) {
      answer_error(fd, wake_read_fd_, 400);
      return;
    }
    if (buffer.size() > kMaxHeadBytes) {
      answer_error(fd, wake_read_fd_, 431);
      return;
    }
    if (!read_some(fd, wake_read_fd_, buffer, read_deadline)) return;
  }

  ReceivedRequest request;
  if (!parse_head(std::string_view(buffer).substr(0, head_end), request)) {
    answer_error(fd, wake_read_fd_, 400);
    return;
  }
  // Bodies come with a Content-Length (libcurl's POSTFIELDS always sends one); chunked bodies are
  // not needed by any test, so they are refused rather than half supported.
  if (!request.header("Transfer-Encoding").empty()) {
    answer_error(fd, wake_read_fd_, 501);
    return;
  }
  const std::optional<size_t> body_bytes = content_length(request);
  if (!body_bytes.has_value()) {
    answer_error(fd, wake_read_fd_, 400);
    return;
  }
  const size_t body_start = head_end + 4;
  if (body_start + *body_bytes > kMaxRequestBytes) {
    answer_error(fd, wake_read_fd_, 413);
    return;
  }
  if (equals_ignoring_case(request.header("Expect"), "100-continue") &&
      !send_all(fd, wake_read_fd_, "HTTP/1.1 100 Continue\r\n\r\n")) {
    return;
  }
  while (buffer.size() < body_start + *body_bytes) {
    if (!read_some(fd, wake_read_fd_, buffer, read_deadline)) return;
  }
  request.body = buffer.substr(body_start, *body_bytes);
  request.received_at_ms = unix_now_ms();

  const std::string path(request.path());
  const auto [behaviour, status] = record(std::move(request));
  if (behaviour.never_answer) {
    // Hold the connection until stop() or until the client hangs up; anything more it sends is
    // read and dropped so that its close is noticed.
    std::string ignored;
    while (!stopping_.load()) {
      const Readiness readiness =
          wait_for_socket(fd, wake_read_fd_, POLLIN, SteadyClock::now() + std::chrono::milliseconds(kPollSliceMs));
      if (readiness == Readiness::kStopping || readiness == Readiness::kError) break;
      if (readiness == Readiness::kReadable) {
        ignored.clear();
        if (!read_some(fd, wake_read_fd_, ignored, SteadyClock::now())) break;
      }
    }
    finish_request(path);
    return;
  }
  if (behaviour.answer_delay_ms > 0) {
    pollfd wake = {wake_read_fd_, POLLIN, 0};
    const SteadyClock::time_point answer_at = SteadyClock::now() + std::chrono::milliseconds(behaviour.answer_delay_ms);
    bool woken = false;
    while (!woken && SteadyClock::now() < answer_at) {
      const int rc = poll(&wake, 1, remaining_ms(answer_at));
      woken = rc > 0;
    }
    if (woken) {
      finish_request(path);
      return;
    }
  }
  send_all(fd, wake_read_fd_, response_text(status, behaviour.response_headers, behaviour.response_body));
  finish_request(path);
  // Half-close and give the client a moment to read everything before close(): closing a socket
  // with unread input would reset the connection and could destroy the answer in flight.
  shutdown(fd, SHUT_WR);
  std::string drained;
  const SteadyClock::time_point drain_deadline = SteadyClock::now() + std::chrono::milliseconds(1000);
  while (read_some(fd, wake_read_fd_, drained, drain_deadline)) drained.clear();
}

}  // namespace payoutd::testing
