// The HTTP server on Boost.Beast/Asio. The only file of the project that includes Beast or Asio.
//
// Threading: ONE io_context run by N threads, every connection on its own strand. Chosen over
// "N io_contexts, one thread each, round-robin accept" because load then balances itself: a
// connection whose handler blocks (a synchronous store read) holds up only its own strand, while
// the other threads keep serving every other connection; with per-thread contexts the connections
// pinned behind the blocked thread would wait. The cost (a shared run queue) is invisible next to a
// database commit.
//
// Lifetime rules (the subtle part):
// - A Session is owned by shared_ptrs held by its pending asynchronous operations. While a handler
//   runs, the pending handler-timeout wait owns it, and so does the ResponseSlot that the
//   `respond` callback points to.
// - ResponseSlot gives the session out exactly once: to the handler's respond(), to the timeout
//   (503) or to the exception path (500), whichever comes first; the others find it empty and do
//   nothing. So a late respond() is harmless, and a respond callback a handler keeps forever does
//   not keep the connection open (the slot was emptied by the timeout).
// - Lifeline: respond() may run on any thread at any time, also after stop(). It posts to the
//   session's strand only under a shared lock of the lifeline while `alive`; stop() clears `alive`
//   under the exclusive lock after joining the I/O threads and before destroying the io_context,
//   so no post ever reaches a destroyed io_context and no Session dies outside its io_context.
#include "http/server.h"

// GCC 12 at -O2 and above reports -Wnull-dereference false positives inside Asio's inlined scheduler
// and strand code (std::shared_ptr as Asio uses it), attributed through inlining to whichever of our
// functions starts an operation; a push/pop around the includes does not reach them. Only this
// translation unit, only this warning.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <signal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <spdlog/spdlog.h>
#include <thread>
#include <unordered_map>

#include "core/text.h"

namespace payoutd::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using Milliseconds = std::chrono::milliseconds;

constexpr size_t kReadChunkBytes = 4096;
constexpr size_t kMaxRequestIdLength = 128;
constexpr size_t kMaxLoggedMethodLength = 32;
// Lingering close: after an error response we half-close and discard what the client still sends
// (the rest of a too-large body) for a bounded time, so the kernel does not answer the unread
// bytes with a RST that could destroy our response before the client reads it.
constexpr int kLingerTimeoutMs = 1000;
constexpr uint64_t kLingerMaxBytes = 1 << 20;
constexpr int kAcceptRetryDelayMs = 50;
constexpr int kMaxIoThreads = 256;

constexpr std::array<std::string_view, 7> kKnownMethods = {"GET",    "HEAD",  "POST",   "PUT",
                                                           "DELETE", "PATCH", "OPTIONS"};
constexpr size_t kMethodLabelCount = kKnownMethods.size() + 1;  // + "other"

// Metrics label for a method: the method itself when standard, else "other" (bounded labels).
size_t method_label_index(std::string_view method) {
  for (size_t i = 0; i < kKnownMethods.size(); ++i) {
    if (kKnownMethods[i] == method) return i;
  }
  return kKnownMethods.size();
}

std::string_view method_label(size_t index) {
  return index < kKnownMethods.size() ? kKnownMethods[index] : std::string_view("other");
}

bool is_valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// 16 random bytes as 32 hex characters. Not security relevant (only correlates log lines), so a
// per-thread PRNG seeded once from the OS is enough and never contends.
std::string generate_request_id() {
  thread_local std::mt19937_64 engine = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (size_t half = 0; half < 2; ++half) {
    uint64_t bits = engine();
    for (size_t i = 0; i < 16; ++i) {
      id[half * 16 + i] = kHex[bits & 0xf];
      bits >>= 4;
    }
  }
  return id;
}

bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

// Handler-supplied header names must be tokens and values free of CR, LF and NUL (no response
// splitting whatever a handler puts there).
bool is_safe_header(std::string_view name, std::string_view value) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) return false;
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// Headers the server owns: a handler cannot set framing or override the request id.
bool is_reserved_header(std::string_view name) {
  return equals_ignoring_ascii_case(name, "content-length") ||
         equals_ignoring_ascii_case(name, "transfer-encoding") || equals_ignoring_ascii_case(name, "connection") ||
         equals_ignoring_ascii_case(name, "x-request-id") || equals_ignoring_ascii_case(name, "content-type");
}

std::string lower_case(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// A client's malformed HTTP (answered 400) as opposed to a vanished or slow client (closed).
bool is_protocol_error(const beast::error_code& ec) {
  if (ec.category() != bhttp::make_error_code(bhttp::error::bad_method).category()) return false;
  return ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message &&
         ec != bhttp::error::need_more && ec != bhttp::error::need_buffer;
}

int64_t unix_micros_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Lifeline {
  std::shared_mutex mutex;
  bool alive = true;  // guarded by mutex
};

// Per (route, method) metric series, created on first use and then reached without any lock.
struct RequestMetrics {
  std::string route_name;
  std::string method;
  Histogram* duration = nullptr;
  std::array<std::atomic<Counter*>, 500> requests_by_status{};  // index: status - 100
};

class Session;

}  // namespace

class Server::Impl {
 public:
  Impl(ServerOptions options, Router& router, Metrics& metrics, AccessLog access_log);
  ~Impl() { stop(); }

  Status start();
  void stop();
  void wait();
  size_t threads_in_wait();
  uint16_t bound_port() const { return bound_port_; }

  // --- used by Session ---
  Response error_response(int status, std::string_view path) const;
  RequestMetrics& request_metrics(size_t route_slot, size_t method_index, std::string_view route_name);
  void record_request(RequestMetrics& metrics, int status, double duration_seconds);
  void on_session_destroyed(uint64_t id);

  size_t unmatched_route_slot() const { return router_.routes().size(); }
  size_t invalid_route_slot() const { return router_.routes().size() + 1; }

  const ServerOptions options_;
  Router& router_;
  Metrics& metrics_;
  const AccessLog access_log_;
  const std::shared_ptr<Lifeline> lifeline_ = std::make_shared<Lifeline>();
  std::atomic<bool> stopping_{false};

  Gauge& connections_open_;
  Counter& connections_rejected_;
  Gauge& requests_in_flight_;
  Counter& handler_timeouts_;
  Counter& handler_exceptions_;

 private:
  enum class State { kNew, kRunning, kStopping, kStopped };

  void accept_next();
  void on_accept(const beast::error_code& ec, tcp::socket socket);
  void run_io_thread();
  std::vector<std::shared_ptr<Session>> live_sessions();

  std::mutex state_mutex_;
  std::condition_variable state_changed_;
  State state_ = State::kNew;  // guarded by state_mutex_
  size_t threads_in_wait_ = 0;  // guarded by state_mutex_

  uint16_t bound_port_ = 0;
  std::vector<std::thread> threads_;

  std::mutex registry_mutex_;
  std::condition_variable registry_drained_;
  std::unordered_map<uint64_t, std::weak_ptr<Session>> sessions_;  // guarded by registry_mutex_
  std::atomic<uint64_t> next_session_id_{0};
  std::atomic<size_t> open_connections_{0};

  std::mutex request_metrics_mutex_;  // only for creating a RequestMetrics
  std::unique_ptr<std::atomic<RequestMetrics*>[]> request_metrics_slots_;
  std::vector<std::unique_ptr<RequestMetrics>> request_metrics_owned_;

  // Declared last so they are destroyed first (stop() resets them explicitly anyway): the pending
  // handlers they destroy own Sessions, whose destructors call back into the members above.
  std::unique_ptr<asio::io_context> io_context_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_guard_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::steady_timer> accept_retry_timer_;
};

namespace {

struct ResponseSlot {
  // Returns the session to whoever answers first; empty ever after.
  std::shared_ptr<Session> take() {
    std::lock_guard<std::mutex> lock(mutex);
    return std::move(session);
  }

  std::mutex mutex;
  std::shared_ptr<Session> session;  // guarded by mutex
  uint64_t sequence = 0;             // the request this slot answers
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server::Impl& server, tcp::socket socket, uint64_t id, std::string remote_address)
      : server_(server),
        executor_(socket.get_executor()),
        stream_(std::move(socket)),
        handler_timer_(executor_),
        id_(id),
        remote_address_(std::move(remote_address)) {}

  ~Session() {
    if (handler_in_flight_) server_.requests_in_flight_.subtract(1);  // dropped by stop()
    server_.on_session_destroyed(id_);
  }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const asio::any_io_executor& executor() const { return executor_; }

  // On the strand.
  void start() { wait_for_request(); }

  // On the strand: the server is draining. Idle connections close now; a request being read or
  // handled finishes and its response closes the connection.
  void on_server_stopping() {
    stopping_ = true;
    if (state_ == State::kWaitingForRequest) stream_.cancel();
  }

  // From stop(), after the I/O threads are joined (nothing else touches the session then).
  void release_response_slot() {
    if (slot_) slot_->take();
  }

  // On the strand: the handler's respond() arrived.
  void on_handler_response(uint64_t sequence, Response&& response) {
    if (sequence != request_sequence_ || state_ != State::kHandling) return;
    handler_timer_.cancel();
    send_response(std::move(response), /*force_close=*/false);
  }

 private:
  enum class State { kWaitingForRequest, kReading, kHandling, kWriting, kClosing };

  void wait_for_request() {
    state_ = State::kWaitingForRequest;
    if (stopping_ || server_.stopping_.load()) {
      close_now();
      return;
    }
    if (buffer_.size() > 0) {  // a pipelined request is already here
      request_start_ = SteadyClock::now();
      read_header();
      return;
    }
    // A new connection gets the header timeout from accept; a kept-alive one may idle longer
    // before its next request starts, then gets the header timeout from that first byte.
    stream_.expires_after(Milliseconds(first_request_ ? server_.options_.header_read_timeout_ms
                                                      : server_.options_.idle_timeout_ms));
    stream_.async_read_some(buffer_.prepare(kReadChunkBytes),
                            [self = shared_from_this()](beast::error_code ec, size_t bytes) {
                              self->on_first_bytes(ec, bytes);
                            });
  }

  void on_first_bytes(const beast::error_code& ec, size_t bytes) {
    if (ec) {  // timeout, peer closed, or stop() cancelled an idle connection
      close_now();
      return;
    }
    buffer_.commit(bytes);
    request_start_ = SteadyClock::now();
    read_header();
  }

  void read_header() {
    state_ = State::kReading;
    if (!first_request_) {
      stream_.expires_after(Milliseconds(server_.options_.header_read_timeout_ms));
    }
    reset_request_state();
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(
        std::min<size_t>(server_.options_.max_header_bytes, UINT32_MAX)));
    parser_->body_limit(static_cast<uint64_t>(server_.options_.max_body_bytes));
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, size_t bytes) {
                               self->on_header(ec, bytes);
                             });
  }

  void on_header(const beast::error_code& ec, size_t bytes) {
    bytes_in_ += bytes;
    if (ec == bhttp::error::header_limit) {
      send_error(431, /*force_close=*/true);
      return;
    }
    if (ec == bhttp::error::body_limit) {  // Content-Length above the limit: no need to read it
      capture_request_head();
      send_error(413, /*force_close=*/true);
      return;
    }
    if (ec) {
      if (is_protocol_error(ec)) {
        send_error(400, /*force_close=*/true);
      } else {
        close_now();
      }
      return;
    }
    if (!capture_request_head()) {
      send_error(400, /*force_close=*/true);
      return;
    }
    if (parser_->is_done()) {
      dispatch();
      return;
    }
    const auto expect = parser_->get().find(bhttp::field::expect);
    if (expect != parser_->get().end() && equals_ignoring_ascii_case(expect->value(), "100-continue")) {
      write_continue();
      return;
    }
    read_body();
  }

  // Clients such as curl wait (about a second) for "100 Continue" before sending a body.
  void write_continue() {
    stream_.expires_after(Milliseconds(server_.options_.body_read_timeout_ms));
    auto interim = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, 11);
    bhttp::async_write(stream_, *interim,
                       [self = shared_from_this(), interim](beast::error_code ec, size_t) {
                         if (ec) {
                           self->close_now();
                         } else {
                           self->read_body();
                         }
                       });
  }

  void read_body() {
    stream_.expires_after(Milliseconds(server_.options_.body_read_timeout_ms));
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, size_t bytes) {
                        self->on_body(ec, bytes);
                      });
  }

  void on_body(const beast::error_code& ec, size_t bytes) {
    bytes_in_ += bytes;
    if (ec == bhttp::error::body_limit) {  // chunked body grew past the limit
      send_error(413, /*force_close=*/true);
      return;
    }
    if (ec) {
      if (is_protocol_error(ec)) {
        send_error(400, /*force_close=*/true);
      } else {
        close_now();
      }
      return;
    }
    dispatch();
  }

  void reset_request_state() {
    bytes_in_ = 0;
    method_.clear();
    target_.clear();
    path_.clear();
    query_.clear();
    request_id_.clear();
    keep_alive_ = false;
    match_.reset();
    route_slot_ = server_.invalid_route_slot();
    route_name_ = "invalid";
    method_index_ = kKnownMethods.size();
    allowed_methods_.clear();
    handler_in_flight_ = false;
  }

  // Reads method, target, request id and keep-alive from the parsed header and routes the path.
  // Returns false when the target is not usable (neither origin-form nor absolute-form).
  bool capture_request_head() {
    const auto& message = parser_->get();
    method_ = std::string(message.method_string());
    method_index_ = method_label_index(method_);
    target_ = std::string(message.target());
    keep_alive_ = message.keep_alive();
    const auto id = message.find("X-Request-Id");
    if (id != message.end() && is_valid_request_id(id->value())) {
      request_id_ = std::string(id->value());
    } else {
      request_id_ = generate_request_id();
    }

    std::string_view origin_form = target_;
    // Absolute-form ("http://host/path?q"): route on the path, ignore the authority.
    for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
      if (origin_form.size() >= scheme.size() &&
          equals_ignoring_ascii_case(origin_form.substr(0, scheme.size()), scheme)) {
        const size_t slash = origin_form.find('/', scheme.size());
        origin_form = slash == std::string_view::npos ? std::string_view("/") : origin_form.substr(slash);
        break;
      }
    }
    if (origin_form.empty() || origin_form.front() != '/') return false;
    const size_t question = origin_form.find('?');
    path_ = std::string(origin_form.substr(0, question));
    if (question != std::string_view::npos) query_ = std::string(origin_form.substr(question + 1));

    match_ = server_.router_.match(method_, path_);
    switch (match_->kind) {
      case Router::MatchKind::kFound:
        route_slot_ = static_cast<size_t>(match_->route - server_.router_.routes().data());
        route_name_ = match_->route->route_name;
        break;
      case Router::MatchKind::kNotFound:
      case Router::MatchKind::kMethodNotAllowed:
        route_slot_ = server_.unmatched_route_slot();
        route_name_ = "unmatched";
        break;
    }
    return true;
  }

  void dispatch() {
    stream_.expires_never();  // the handler has its own timeout
    state_ = State::kHandling;
    if (match_->kind == Router::MatchKind::kNotFound) {
      send_error(404, /*force_close=*/false);
      return;
    }
    if (match_->kind == Router::MatchKind::kMethodNotAllowed) {
      allowed_methods_ = std::move(match_->allowed_methods);
      send_error(405, /*force_close=*/false);
      return;
    }

    auto& message = parser_->get();
    Request request;
    request.method = method_;
    request.target = target_;
    request.path = path_;
    request.query = query_;
    request.headers.reserve(static_cast<size_t>(std::distance(message.begin(), message.end())));
    for (const auto& field : message) {
      request.headers.emplace_back(lower_case(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());
    request.remote_address = remote_address_;
    request.request_id = request_id_;
    request.route_name = route_name_;
    request.params = std::move(match_->params);

    auto slot = std::make_shared<ResponseSlot>();
    slot->session = shared_from_this();
    slot->sequence = ++request_sequence_;
    slot_ = slot;
    handler_in_flight_ = true;
    server_.requests_in_flight_.add(1);
    handler_timer_.expires_after(Milliseconds(server_.options_.handler_timeout_ms));
    handler_timer_.async_wait([self = shared_from_this(), slot](beast::error_code ec) {
      self->on_handler_timeout(slot, ec);
    });

    const Handler& handler = match_->route->handler;
    try {
      handler(std::move(request), make_respond(slot));
    } catch (const std::exception& error) {
      spdlog::error("http: handler of route {} threw: {} (request_id {})", route_name_, error.what(),
                    request_id_);
      fail_handler(slot);
    } catch (...) {
      spdlog::error("http: handler of route {} threw a non-exception (request_id {})", route_name_,
                    request_id_);
      fail_handler(slot);
    }
  }

  Respond make_respond(const std::shared_ptr<ResponseSlot>& slot) {
    return [slot, lifeline = server_.lifeline_](Response&& response) {
      std::shared_lock<std::shared_mutex> lock(lifeline->mutex);
      if (!lifeline->alive) return;  // the server is gone; nobody is listening for this answer
      std::shared_ptr<Session> session = slot->take();
      if (!session) return;  // answered already, or timed out
      const asio::any_io_executor executor = session->executor();
      asio::post(executor, [session = std::move(session), sequence = slot->sequence,
                            response = std::move(response)]() mutable {
        session->on_handler_response(sequence, std::move(response));
      });
    };
  }

  // On the strand, from dispatch(): the handler threw.
  void fail_handler(const std::shared_ptr<ResponseSlot>& slot) {
    server_.handler_exceptions_.increment();
    if (slot->take() == nullptr) return;  // it responded before throwing; that answer stands
    handler_timer_.cancel();
    send_error(500, /*force_close=*/false);
  }

  void on_handler_timeout(const std::shared_ptr<ResponseSlot>& slot, const beast::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    if (slot->take() == nullptr) return;  // the response is on its way
    server_.handler_timeouts_.increment();
    spdlog::warn("http: handler of route {} did not respond within {} ms (request_id {})",
                 route_name_, server_.options_.handler_timeout_ms, request_id_);
    send_error(503, /*force_close=*/false);
  }

  void send_error(int status, bool force_close) {
    Response response = server_.error_response(status, path_);
    if (status == 405 && !allowed_methods_.empty()) {
      std::string allow;
      for (const std::string& method : allowed_methods_) {
        if (!allow.empty()) allow += ", ";
        allow += method;
      }
      response.headers.emplace_back("Allow", std::move(allow));
    }
    if (request_id_.empty()) request_id_ = generate_request_id();
    send_response(std::move(response), force_close);
  }

  void send_response(Response&& response, bool force_close) {
    if (handler_in_flight_) {
      handler_in_flight_ = false;
      server_.requests_in_flight_.subtract(1);
    }
    if (response.status < 200 || response.status > 599) {
      spdlog::error("http: route {} answered invalid status {} (request_id {})", route_name_,
                    response.status, request_id_);
      response = server_.error_response(500, path_);
    }
    const bool keep_alive = keep_alive_ && !force_close && !stopping_ && !server_.stopping_.load();
    status_ = response.status;

    auto& wire = response_.emplace();
    wire.version(11);
    wire.result(static_cast<unsigned>(response.status));
    for (const auto& [name, value] : response.headers) {
      if (is_reserved_header(name) || !is_safe_header(name, value)) {
        spdlog::warn("http: route {} set a header the server refuses: {}", route_name_, lower_case(name));
        continue;
      }
      wire.insert(name, value);
    }
    if (!response.content_type.empty() && is_safe_header("Content-Type", response.content_type)) {
      wire.set(bhttp::field::content_type, response.content_type);
    }
    wire.set("X-Request-Id", request_id_);
    wire.keep_alive(keep_alive);
    wire.body() = std::move(response.body);
    wire.prepare_payload();
    if (method_ == "HEAD") wire.body().clear();  // Content-Length stays that of the body

    state_ = State::kWriting;
    stream_.expires_after(Milliseconds(server_.options_.write_timeout_ms));
    bhttp::async_write(stream_, wire,
                       [self = shared_from_this(), keep_alive](beast::error_code ec, size_t bytes) {
                         self->on_write(ec, bytes, keep_alive);
                       });
  }

  void on_write(const beast::error_code& ec, size_t bytes, bool keep_alive) {
    response_.reset();
    record(bytes);
    if (ec) {
      close_now();
      return;
    }
    if (!keep_alive) {
      linger_close();
      return;
    }
    first_request_ = false;
    wait_for_request();
  }

  void record(size_t bytes_out) {
    const double duration_seconds =
        std::chrono::duration<double>(SteadyClock::now() - request_start_).count();
    RequestMetrics& metrics = server_.request_metrics(route_slot_, method_index_, route_name_);
    server_.record_request(metrics, status_, duration_seconds);
    if (!server_.access_log_) return;
    AccessLogEntry entry;
    entry.timestamp_micros = unix_micros_now();
    entry.request_id = request_id_;
    entry.remote_address = remote_address_;
    entry.method = std::string_view(method_).substr(0, kMaxLoggedMethodLength);
    entry.route_name = route_name_;
    entry.path = path_;
    entry.status = status_;
    entry.bytes_in = bytes_in_;
    entry.bytes_out = bytes_out;
    entry.duration_ms = duration_seconds * 1000.0;
    try {
      server_.access_log_(format_access_log_line(entry));
    } catch (const std::exception& error) {
      spdlog::error("http: access log sink threw: {}", error.what());
    }
  }

  void linger_close() {
    state_ = State::kClosing;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(Milliseconds(kLingerTimeoutMs));
    linger_buffer_ = std::make_unique<char[]>(kReadChunkBytes);
    linger_read();
  }

  void linger_read() {
    stream_.async_read_some(asio::buffer(linger_buffer_.get(), kReadChunkBytes),
                            [self = shared_from_this()](beast::error_code ec, size_t bytes) {
                              self->linger_bytes_ += bytes;
                              if (ec || self->linger_bytes_ > kLingerMaxBytes) {
                                self->close_now();
                              } else {
                                self->linger_read();
                              }
                            });
  }

  void close_now() {
    state_ = State::kClosing;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  Server::Impl& server_;
  const asio::any_io_executor executor_;  // this connection's strand
  beast::tcp_stream stream_;
  asio::steady_timer handler_timer_;
  const uint64_t id_;
  const std::string remote_address_;

  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> response_;  // while being written
  std::shared_ptr<ResponseSlot> slot_;                           // the latest request's
  std::unique_ptr<char[]> linger_buffer_;
  uint64_t linger_bytes_ = 0;

  State state_ = State::kWaitingForRequest;
  bool first_request_ = true;
  bool stopping_ = false;
  uint64_t request_sequence_ = 0;

  // The current request.
  SteadyClock::time_point request_start_ = SteadyClock::now();
  uint64_t bytes_in_ = 0;
  std::string method_;
  std::string target_;
  std::string path_;
  std::string query_;
  std::string request_id_;
  bool keep_alive_ = false;
  std::optional<Router::Match> match_;
  size_t route_slot_ = 0;
  std::string route_name_;
  size_t method_index_ = 0;
  std::vector<std::string> allowed_methods_;
  bool handler_in_flight_ = false;
  int status_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Server::Impl

Server::Impl::Impl(ServerOptions options, Router& router, Metrics& metrics, AccessLog access_log)
    : options_(std::move(options)),
      router_(router),
      metrics_(metrics),
      access_log_(std::move(access_log)),
      connections_open_(metrics.gauge("payoutd_http_connections_open", "Open client connections.")),
      connections_rejected_(metrics.counter(
          "payoutd_http_connections_rejected_total",
          "Connections closed at accept because max_connections were open.")),
      requests_in_flight_(metrics.gauge("payoutd_http_requests_in_flight",
                                        "Requests whose handler has not responded yet.")),
      handler_timeouts_(metrics.counter("payoutd_http_handler_timeouts_total",
                                        "Requests answered 503 because the handler was too slow.")),
      handler_exceptions_(metrics.counter("payoutd_http_handler_exceptions_total",
                                          "Handler invocations that threw (answered 500).")) {}

Response Server::Impl::error_response(int status, std::string_view path) const {
  Response response;
  if (options_.error_responder) {
    try {
      response = options_.error_responder(status, path);
    } catch (const std::exception& error) {
      spdlog::error("http: error responder threw: {}", error.what());
      response = default_error_response(status, path);
    }
  } else {
    response = default_error_response(status, path);
  }
  response.status = status;  // the server decided the status; the responder shapes the answer
  return response;
}

RequestMetrics& Server::Impl::request_metrics(size_t route_slot, size_t method_index,
                                              std::string_view route_name) {
  PAYOUTD_ASSERT(route_slot <= invalid_route_slot() && method_index < kMethodLabelCount);
  std::atomic<RequestMetrics*>& slot = request_metrics_slots_[route_slot * kMethodLabelCount + method_index];
  if (RequestMetrics* existing = slot.load(std::memory_order_acquire)) return *existing;

  std::lock_guard<std::mutex> lock(request_metrics_mutex_);
  if (RequestMetrics* existing = slot.load(std::memory_order_relaxed)) return *existing;
  auto created = std::make_unique<RequestMetrics>();
  created->route_name = std::string(route_name);
  created->method = std::string(method_label(method_index));
  created->duration = &metrics_.histogram(
      "payoutd_http_request_duration_seconds",
      "Time from a request's first byte to its response written, by route.",
      {{"route", created->route_name}, {"method", created->method}}, latency_buckets_seconds());
  RequestMetrics* raw = created.get();
  request_metrics_owned_.push_back(std::move(created));
  slot.store(raw, std::memory_order_release);
  return *raw;
}

void Server::Impl::record_request(RequestMetrics& metrics, int status, double duration_seconds) {
  metrics.duration->observe(duration_seconds);
  if (status < 100 || status > 599) status = 500;
  std::atomic<Counter*>& slot = metrics.requests_by_status[static_cast<size_t>(status - 100)];
  Counter* counter = slot.load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Racing registrations get the same series from the registry; the store is idempotent.
    counter = &metrics_.counter("payoutd_http_requests_total", "HTTP requests answered, by route and status.",
                                {{"route", metrics.route_name},
                                 {"method", metrics.method},
                                 {"status", std::to_string(status)}});
    slot.store(counter, std::memory_order_release);
  }
  counter->increment();
}

void Server::Impl::on_session_destroyed(uint64_t id) {
  open_connections_.fetch_sub(1);
  connections_open_.subtract(1);
  std::lock_guard<std::mutex> lock(registry_mutex_);
  sessions_.erase(id);
  if (sessions_.empty()) registry_drained_.notify_all();
}

std::vector<std::shared_ptr<Session>> Server::Impl::live_sessions() {
  std::vector<std::shared_ptr<Session>> live;
  std::lock_guard<std::mutex> lock(registry_mutex_);
  live.reserve(sessions_.size());
  for (const auto& [id, weak] : sessions_) {
    if (auto session = weak.lock()) live.push_back(std::move(session));
  }
  return live;
}

Status Server::Impl::start() {
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    if (state_ != State::kNew) return Status::error(ErrorKind::kInvalidArgument, "server already started");
  }
  const ServerOptions& o = options_;
  if (o.max_body_bytes == 0 || o.max_header_bytes < 256 || o.max_connections == 0) {
    return Status::invalid_argument("server", "max_body_bytes, max_header_bytes (>= 256) and "
                                              "max_connections must be positive");
  }
  if (o.header_read_timeout_ms <= 0 || o.body_read_timeout_ms <= 0 || o.idle_timeout_ms <= 0 ||
      o.handler_timeout_ms <= 0 || o.write_timeout_ms <= 0 || o.drain_timeout_ms < 0) {
    return Status::invalid_argument("server", "timeouts must be positive");
  }
  beast::error_code ec;
  const asio::ip::address address = asio::ip::make_address(o.listen_address, ec);
  if (ec) {
    return Status::invalid_argument("listen_address",
                                    "not an IP address: '" + o.listen_address + "'");
  }
  int threads = o.io_threads > 0 ? o.io_threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::clamp(threads, 1, kMaxIoThreads);

  io_context_ = std::make_unique<asio::io_context>(threads);
  acceptor_.emplace(asio::make_strand(*io_context_));
  const tcp::endpoint endpoint(address, o.port);
  const std::string where = o.listen_address + ":" + std::to_string(o.port);
  const auto fail = [&](std::string_view what) {
    std::string message = std::string(what) + " " + where + ": " + ec.message();
    acceptor_.reset();
    io_context_.reset();
    return Status::unavailable(std::move(message));
  };
  if (acceptor_->open(endpoint.protocol(), ec); ec) return fail("open");
  if (acceptor_->set_option(asio::socket_base::reuse_address(true), ec); ec) return fail("setsockopt");
  if (acceptor_->bind(endpoint, ec); ec) return fail("bind");
  if (acceptor_->listen(asio::socket_base::max_listen_connections, ec); ec) return fail("listen");
  bound_port_ = acceptor_->local_endpoint(ec).port();
  if (ec) return fail("getsockname");
  accept_retry_timer_.emplace(acceptor_->get_executor());

  const size_t slot_count = (router_.routes().size() + 2) * kMethodLabelCount;
  request_metrics_slots_ = std::make_unique<std::atomic<RequestMetrics*>[]>(slot_count);
  for (size_t i = 0; i < slot_count; ++i) request_metrics_slots_[i].store(nullptr);

  work_guard_.emplace(io_context_->get_executor());
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    state_ = State::kRunning;
  }
  asio::post(acceptor_->get_executor(), [this] { accept_next(); });
  threads_.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run_io_thread(); });
  return Status::ok();
}

void Server::Impl::run_io_thread() {
  // A handler that throws out of Asio (a bug; our completion handlers do not throw on client
  // input) must not take the process down: log and keep serving.
  while (true) {
    try {
      io_context_->run();
      return;
    } catch (const std::exception& error) {
      spdlog::error("http: exception escaped an I/O handler: {}", error.what());
    } catch (...) {
      spdlog::error("http: non-exception escaped an I/O handler");
    }
  }
}

// On the acceptor's strand.
void Server::Impl::accept_next() {
  if (!acceptor_->is_open()) return;
  acceptor_->async_accept(asio::make_strand(*io_context_),
                          [this](beast::error_code ec, tcp::socket socket) {
                            on_accept(ec, std::move(socket));
                          });
}

// On the acceptor's strand.
void Server::Impl::on_accept(const beast::error_code& ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor_->is_open()) return;
  if (ec) {
    // EMFILE and friends: back off briefly instead of spinning, then try again.
    spdlog::warn("http: accept failed: {}", ec.message());
    accept_retry_timer_->expires_after(Milliseconds(kAcceptRetryDelayMs));
    accept_retry_timer_->async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec) accept_next();
    });
    return;
  }
  beast::error_code ignored;
  if (stopping_.load()) {
    socket.close(ignored);
    return;
  }
  if (open_connections_.load() >= options_.max_connections) {
    connections_rejected_.increment();
    socket.close(ignored);
    accept_next();
    return;
  }
  beast::error_code endpoint_ec;
  const tcp::endpoint remote = socket.remote_endpoint(endpoint_ec);
  if (endpoint_ec) {  // the peer is already gone
    socket.close(ignored);
    accept_next();
    return;
  }
  asio::ip::address remote_address = remote.address();
  if (remote_address.is_v6() && remote_address.to_v6().is_v4_mapped()) {
    remote_address = asio::ip::make_address_v4(asio::ip::v4_mapped, remote_address.to_v6());
  }
  socket.set_option(tcp::no_delay(true), ignored);

  const uint64_t id = next_session_id_.fetch_add(1) + 1;
  open_connections_.fetch_add(1);
  connections_open_.add(1);
  auto session = std::make_shared<Session>(*this, std::move(socket), id, remote_address.to_string());
  {
    std::lock_guard<std::mutex> lock(registry_mutex_);
    sessions_.emplace(id, session);
  }
  asio::post(session->executor(), [session] { session->start(); });
  accept_next();
}

void Server::Impl::stop() {
  {
    std::unique_lock<std::mutex> lock(state_mutex_);
    if (state_ == State::kNew || state_ == State::kStopped) {
      state_ = State::kStopped;
      state_changed_.notify_all();
      return;
    }
    if (state_ == State::kStopping) {  // another thread is stopping: wait for it to finish
      state_changed_.wait(lock, [this] { return state_ == State::kStopped; });
      return;
    }
    state_ = State::kStopping;
  }
  for (const std::thread& thread : threads_) {
    PAYOUTD_ASSERT(thread.get_id() != std::this_thread::get_id());  // would join itself
  }
  stopping_.store(true);

  // 1. Stop accepting: once this returns the listening socket is closed (connects are refused).
  auto acceptor_closed = std::make_shared<std::promise<void>>();
  asio::post(acceptor_->get_executor(), [this, acceptor_closed] {
    beast::error_code ignored;
    acceptor_->close(ignored);
    accept_retry_timer_->cancel();
    acceptor_closed->set_value();
  });
  if (acceptor_closed->get_future().wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    spdlog::warn("http: every I/O thread is busy; closing the listener late");
  }

  // 2. Idle connections close; busy ones finish their request and close.
  for (const auto& session : live_sessions()) {
    asio::post(session->executor(), [session] { session->on_server_stopping(); });
  }

  // 3. Drain, bounded.
  {
    std::unique_lock<std::mutex> lock(registry_mutex_);
    const bool drained = registry_drained_.wait_for(lock, Milliseconds(options_.drain_timeout_ms),
                                                    [this] { return sessions_.empty(); });
    if (!drained) {
      spdlog::warn("http: {} connection(s) still busy after the {} ms drain; closing them",
                   sessions_.size(), options_.drain_timeout_ms);
    }
  }

  // 4. Stop the I/O threads.
  work_guard_.reset();
  io_context_->stop();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();

  // 5. From now on respond() is a no-op (see Lifeline).
  {
    std::unique_lock<std::shared_mutex> lock(lifeline_->mutex);
    lifeline_->alive = false;
  }

  // 6. Sessions kept alive only by a handler's respond callback die here, while the io_context
  //    their sockets belong to still exists; the rest die with the io_context's pending handlers.
  for (const auto& session : live_sessions()) session->release_response_slot();
  accept_retry_timer_.reset();
  acceptor_.reset();
  io_context_.reset();

  std::lock_guard<std::mutex> lock(state_mutex_);
  state_ = State::kStopped;
  state_changed_.notify_all();
}

void Server::Impl::wait() {
  std::unique_lock<std::mutex> lock(state_mutex_);
  ++threads_in_wait_;  // seen by others only if the predicate below is false and the lock released
  state_changed_.wait(lock, [this] { return state_ == State::kStopped || state_ == State::kNew; });
  --threads_in_wait_;
}

size_t Server::Impl::threads_in_wait() {
  std::lock_guard<std::mutex> lock(state_mutex_);
  return threads_in_wait_;
}

// ---------------------------------------------------------------------------------------------
// Server

Server::Server(ServerOptions options, Router& router, Metrics& metrics, AccessLog access_log)
    : impl_(std::make_unique<Impl>(std::move(options), router, metrics, std::move(access_log))) {}

Server::~Server() { impl_->stop(); }

Status Server::start() { return impl_->start(); }

uint16_t Server::bound_port() const { return impl_->bound_port(); }

void Server::stop() { impl_->stop(); }

void Server::wait() { impl_->wait(); }

size_t Server::threads_in_wait() const { return impl_->threads_in_wait(); }

// ---------------------------------------------------------------------------------------------
// Signals

void block_termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_for_termination_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int signal_number = 0;
  while (sigwait(&set, &signal_number) != 0) {
  }
  return signal_number;
}

}  // namespace payoutd::http
