// One outbound notification POST, bounded in every dimension, with the SSRF guard applied.
//
// HttpSender is the seam between the dispatcher (which decides what to send, when, and what an
// answer means for retries) and the network. CurlSender is the real one, on libcurl's easy API.
//
// CurlSender, in order:
// 1. Parses the URL with parse_callback_url(); a bad URL is refused (kRefused).
// 2. Unless allow_private: classifies the host (an IP literal directly; a name by resolving it with
//    getaddrinfo, bounded by the connect timeout) and refuses when ANY address is not public, then
//    refuses ports other than 80 and 443. The address is checked before the port because it is the
//    more useful reason to give.
// 3. Pins the name to the checked addresses (CURLOPT_RESOLVE), so libcurl does not ask DNS again
//    and a second, different answer (DNS rebinding) cannot redirect the connection; and checks the
//    address once more, at the socket, in CURLOPT_OPENSOCKETFUNCTION. Refusal at any step means no
//    socket is ever opened to the target.
// 4. POSTs over HTTP/1.1 with TLS verification on, proxies ignored, redirects not followed (a 3xx is
//    just a non-2xx answer), the response body read up to max_response_bytes and the response
//    headers up to 16 KiB.
//
// A fresh easy handle per post, not a reused one: nothing (connections, DNS pins, TLS sessions,
// cookies) can carry over from one merchant's endpoint to another's, and a pin dies with its
// handle. Notifications are few compared to what a handle set-up costs (a TLS handshake without
// session reuse, loading the CA store), so the simplicity is worth it.
//
// Never throws on the request path, never logs, and never puts request headers (they carry
// signatures) or bodies into OutboundResult::error.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace payoutd::notify {

inline constexpr size_t kMaxOutboundErrorBytes = 300;
inline constexpr size_t kMaxResponseExcerptBytes = 256;
inline constexpr size_t kMaxResponseHeaderBytes = 16 * 1024;

struct OutboundRequest {
  std::string url;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  std::string body;
};

enum class OutboundOutcome : uint8_t {
  kAnswered,        // an HTTP status line arrived (any status)
  kRefused,         // the guard refused the URL; no connection was made
  kTransportError,  // DNS failure, connection refused, timeout, TLS failure, malformed answer...
};

struct OutboundResult {
  OutboundOutcome outcome = OutboundOutcome::kTransportError;
  int http_status = 0;  // when kAnswered
  // Refusal reason / transport error text, <= 300 bytes of printable ASCII, never contains request
  // headers or body.
  std::string error;
  // First <= 256 bytes of the response body (printable ASCII only; others replaced by '?').
  std::string response_excerpt;
  int64_t latency_ms = 0;  // from the call to post() to its return (DNS included)
  bool delivered() const { return outcome == OutboundOutcome::kAnswered && http_status >= 200 && http_status <= 299; }
};

struct SenderOptions {
  // Budget for DNS + TCP connect + TLS handshake.
  int connect_timeout_ms = 5000;
  // Budget for the whole post, DNS included (notifications.md: 10 s).
  int total_timeout_ms = 10000;
  // Read at most this much of a response body, then stop (the status still counts).
  size_t max_response_bytes = 65536;
  // --allow-private-callbacks: no address class or port restriction at all (local development and
  // tests). Name resolution is then left to libcurl.
  bool allow_private = false;
  std::string user_agent = "payoutd-notifications/1";
};

class HttpSender {  // interface: the dispatcher and its tests use it
 public:
  virtual ~HttpSender() = default;
  // Thread-safe: called concurrently from several worker threads.
  virtual OutboundResult post(const OutboundRequest& request) = 0;
  // Makes every post in progress, and every later one, end promptly as a transport error
  // ("stopping"), so a process stops without waiting out slow receivers. Thread-safe; permanent.
  virtual void shut_down() {}
};

class CurlSender final : public HttpSender {
 public:
  // REQUIRES: connect_timeout_ms >= 1, total_timeout_ms >= 1, max_response_bytes >= 1.
  explicit CurlSender(SenderOptions options);
  CurlSender(const CurlSender&) = delete;
  CurlSender& operator=(const CurlSender&) = delete;

  OutboundResult post(const OutboundRequest& request) override;
  void shut_down() override { shutting_down_.store(true); }

  const SenderOptions& options() const { return options_; }

 private:
  const SenderOptions options_;
  std::atomic<bool> shutting_down_{false};
};

// Process-wide curl_global_init; call once at start-up before threads (idempotent, safe to call from
// tests). CurlSender's constructor calls it too, as a safety net. If libcurl cannot initialise,
// every post() returns kTransportError saying so.
void init_http_client_library();

namespace detail {
// Test seam: post() with the pre-connect checks skipped and the URL's host pinned to
// `pinned_addresses` (IP literals) as given. A test uses it to play a DNS-rebinding answer and show
// that the socket-level check alone refuses it. Not for production code.
OutboundResult post_pinned_for_testing(const SenderOptions& options, const OutboundRequest& request,
                                       const std::vector<std::string>& pinned_addresses);
}  // namespace detail

}  // namespace payoutd::notify
