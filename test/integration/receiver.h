// A real local HTTP/1.1 server that records what it receives: the merchant's end of notification
// tests.
//
// Listens on 127.0.0.1 on a port of the kernel's choosing; one thread per connection; one request
// per connection (every answer says "Connection: close"). Each request is recorded as soon as it
// has been read completely, before it is answered, so a request counts even when it is answered
// with an error status or never answered at all. What it answers is set per target path.
//
// Plain POSIX sockets and a small parser (no Beast), so any test binary can link it with no more
// than payoutd_core. Bounded: requests over 1 MiB are refused (413) and not recorded, a request
// must arrive within 10 s, at most 256 connections are served at once, and every wait ends at
// stop(), which the destructor calls.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace payoutd::testing {

struct ReceivedRequest {
  int64_t received_at_ms = 0;  // Unix time (system clock), when the request had been read completely
  std::string method;
  std::string target;  // as sent: path and query
  std::vector<std::pair<std::string, std::string>> headers;  // in order, names as sent
  std::string body;

  // The first header named `name` (case-insensitive); "" when absent.
  std::string header(std::string_view name) const;
  // `target` without its query.
  std::string_view path() const;
};

// Every member has a default member initializer so that designated initializers
// ({.never_answer = true}) compile under -Wextra's missing-field-initializers.
struct ReceiverBehaviour {
  // Statuses answered to the first N requests (for this path since set_behaviour), then `then_status`.
  std::vector<int> status_sequence{};
  int then_status = 200;
  // Read the request and hold the connection open without answering until stop() (or until the
  // client gives up and closes it).
  bool never_answer = false;
  // Added to every answer (e.g. Location for a 3xx).
  std::vector<std::pair<std::string, std::string>> response_headers{};
  std::string response_body{};
  // Wait this long after reading a request before answering it (a slow endpoint); ends early at
  // stop().
  int answer_delay_ms = 0;
};

class Receiver {
 public:
  // Starts listening on 127.0.0.1:0. Aborts the test binary if it cannot (no loopback interface).
  Receiver();
  // stop(), then releases the sockets.
  ~Receiver();
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  uint16_t port() const { return port_; }
  // "http://127.0.0.1:<port><path>"
  std::string url(std::string_view path) const;

  // What to answer to requests whose path (target without query) is `path`; other paths get 200.
  // Replacing a behaviour restarts its status_sequence.
  void set_behaviour(std::string_view path, ReceiverBehaviour behaviour);

  // All requests, in arrival order (a copy, thread-safe).
  std::vector<ReceivedRequest> requests() const;
  // Those whose path (target without query) is `path`.
  std::vector<ReceivedRequest> requests_for(std::string_view path) const;
  // Waits until at least `count` requests arrived (for `path`, or any when empty); false on timeout.
  bool wait_for(size_t count, int timeout_ms, std::string_view path = "") const;

  // TCP connections accepted so far (including ones that never sent a full request): lets a test
  // prove that nothing connected at all.
  size_t connections_accepted() const { return connections_accepted_.load(); }
  // The largest number of requests (for `path`, or all when empty) read but not yet answered at the
  // same moment: what a concurrency-limit test looks at, with answer_delay_ms set.
  size_t peak_in_flight(std::string_view path = "") const;

  // Stops accepting, wakes every connection thread (held and delayed answers end unanswered) and
  // joins them all. Idempotent. Recorded requests stay readable.
  void stop();

 private:
  struct Connection {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> finished;
  };
  struct PathState {
    ReceiverBehaviour behaviour;
    size_t requests_seen = 0;  // since set_behaviour
  };

  void accept_loop();
  void serve_connection(int fd);
  // Records `request`, picks its answer. Returns the behaviour to apply and the status to send.
  std::pair<ReceiverBehaviour, int> record(ReceivedRequest request);
  void finish_request(const std::string& path);
  void join_finished_connections();
  size_t count_matching(std::string_view path) const;  // REQUIRES: mutex_ held

  int listen_fd_ = -1;
  int wake_read_fd_ = -1;   // readable once stop() began: every poll() includes it
  int wake_write_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> connections_accepted_{0};

  std::mutex stop_mutex_;
  bool stopped_ = false;  // guarded by stop_mutex_
  std::thread accept_thread_;

  std::mutex connections_mutex_;
  std::vector<Connection> connections_;  // guarded by connections_mutex_

  mutable std::mutex mutex_;
  mutable std::condition_variable arrived_;
  std::vector<ReceivedRequest> requests_;                       // guarded by mutex_
  std::map<std::string, PathState, std::less<>> behaviours_;    // guarded by mutex_
  std::map<std::string, size_t, std::less<>> in_flight_;        // guarded by mutex_
  std::map<std::string, size_t, std::less<>> peak_in_flight_;   // guarded by mutex_
  size_t total_in_flight_ = 0;                                  // guarded by mutex_
  size_t peak_total_in_flight_ = 0;                             // guarded by mutex_
};

}  // namespace payoutd::testing
