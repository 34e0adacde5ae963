// CurlSender against a real local receiver: what arrives, how answers are classified, the bounds
// (timeouts, response size), and the SSRF guard refusing before any connection is made.
#include "notify/http_sender.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

#include "integration/receiver.h"

namespace payoutd::notify {
namespace {

using payoutd::testing::ReceivedRequest;
using payoutd::testing::Receiver;
using payoutd::testing::ReceiverBehaviour;

// How long a refusal or a local answer may take at most. Generous: this checks that nothing waits
// for a timeout or a network, not how fast anything is (sanitizer builds are slow).
constexpr int64_t kQuickMs = 900;

SenderOptions local_options() {
  SenderOptions options;
  options.allow_private = true;  // the receiver is on 127.0.0.1 and a high port
  options.connect_timeout_ms = 2000;
  options.total_timeout_ms = 5000;
  return options;
}

OutboundRequest json_post(std::string url, std::string body = R"({"ok":true})") {
  OutboundRequest request;
  request.url = std::move(url);
  request.content_type = "application/json";
  request.body = std::move(body);
  return request;
}

// A TCP port on 127.0.0.1 that is bound but not listening: a connection to it is refused, and no
// other process can take it while `fd` is open.
struct ClosedPort {
  int fd = -1;
  uint16_t port = 0;
  ClosedPort() {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
    socklen_t length = sizeof address;
    EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
    port = ntohs(address.sin_port);
  }
  ~ClosedPort() { close(fd); }
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;
};

class HttpSenderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { init_http_client_library(); }
  Receiver receiver_;
};

TEST_F(HttpSenderTest, TwoHundredIsDeliveredWithBodyHeadersAndContentTypeIntact) {
  // The receiver holds its answer this long after reading the request, so the latency has a known
  // floor: post() cannot return before the answer exists.
  constexpr int kAnswerDelayMs = 250;
  receiver_.set_behaviour("/hooks/v1",
                          {.then_status = 200, .response_body = "thanks", .answer_delay_ms = kAnswerDelayMs});
  CurlSender sender(local_options());
  OutboundRequest request = json_post(receiver_.url("/hooks/v1?merchant=7"), R"({"id":"evt_1","type":"payout.created"})");
  request.headers = {{"Payoutd-Event-Id", "evt_1"}, {"Payoutd-Signature", "t=1700000000,v1=abc"}};

  const auto start = std::chrono::steady_clock::now();
  const OutboundResult result = sender.post(request);
  const int64_t observed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(result.outcome, OutboundOutcome::kAnswered) << result.error;
  EXPECT_EQ(result.http_status, 200);
  EXPECT_TRUE(result.delivered());
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.response_excerpt, "thanks");
  // Bounded from both sides: at least the receiver's delay, at most the interval observed around
  // the call (no timing guess: both bounds hold however slow the machine is).
  EXPECT_GE(result.latency_ms, kAnswerDelayMs);
  EXPECT_LE(result.latency_ms, observed_ms);
  EXPECT_LT(result.latency_ms, 5000);  // answered, so within the total timeout

  const std::vector<ReceivedRequest> received = receiver_.requests_for("/hooks/v1");
  ASSERT_EQ(received.size(), 1u);
  const ReceivedRequest& got = received.front();
  EXPECT_EQ(got.method, "POST");
  EXPECT_EQ(got.target, "/hooks/v1?merchant=7");
  EXPECT_EQ(got.body, R"({"id":"evt_1","type":"payout.created"})");
  EXPECT_EQ(got.header("content-type"), "application/json");
  EXPECT_EQ(got.header("Payoutd-Event-Id"), "evt_1");
  EXPECT_EQ(got.header("PAYOUTD-SIGNATURE"), "t=1700000000,v1=abc");
  EXPECT_EQ(got.header("User-Agent"), "payoutd-notifications/1");
  EXPECT_EQ(got.header("Content-Length"), std::to_string(got.body.size()));
  EXPECT_EQ(got.header("Expect"), "");  // never waits for a 100-continue
  EXPECT_EQ(got.header("Host"), "127.0.0.1:" + std::to_string(receiver_.port()));
}

TEST_F(HttpSenderTest, LargerFormBodyArrivesIntactWithoutExpectContinue) {
  CurlSender sender(local_options());
  OutboundRequest request;
  request.url = receiver_.url("/v3");
  request.content_type = "application/x-www-form-urlencoded";
  request.body = "comments=" + std::string(4000, 'x') + "&control=ABC";
  const OutboundResult result = sender.post(request);
  EXPECT_TRUE(result.delivered()) << result.error;
  EXPECT_LT(result.latency_ms, kQuickMs);  // no wait for an interim 100 Continue
  const std::vector<ReceivedRequest> received = receiver_.requests_for("/v3");
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received.front().body, request.body);
  EXPECT_EQ(received.front().header("Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(received.front().header("Expect"), "");
}

TEST_F(HttpSenderTest, EveryTwoHundredStatusIsDelivered) {
  receiver_.set_behaviour("/x", {.status_sequence = {201, 202, 204, 299}});
  CurlSender sender(local_options());
  for (int expected : {201, 202, 204, 299}) {
    const OutboundResult result = sender.post(json_post(receiver_.url("/x")));
    EXPECT_EQ(result.http_status, expected);
    EXPECT_TRUE(result.delivered()) << expected;
  }
}

TEST_F(HttpSenderTest, ServerErrorIsAnsweredButNotDelivered) {
  receiver_.set_behaviour("/fail", {.then_status = 500, .response_body = "database\ndown\x01"});
  CurlSender sender(local_options());
  const OutboundResult result = sender.post(json_post(receiver_.url("/fail")));
  EXPECT_EQ(result.outcome, OutboundOutcome::kAnswered) << result.error;
  EXPECT_EQ(result.http_status, 500);
  EXPECT_FALSE(result.delivered());
  EXPECT_EQ(result.response_excerpt, "database?down?");  // printable ASCII only
  EXPECT_EQ(receiver_.requests_for("/fail").size(), 1u);
}

TEST_F(HttpSenderTest, RedirectIsNotFollowed) {
  receiver_.set_behaviour("/moved", {.then_status = 302, .response_headers = {{"Location", receiver_.url("/target")}}});
  CurlSender sender(local_options());
  const OutboundResult result = sender.post(json_post(receiver_.url("/moved")));
  EXPECT_EQ(result.outcome, OutboundOutcome::kAnswered) << result.error;
  EXPECT_EQ(result.http_status, 302);
  EXPECT_FALSE(result.delivered());
  EXPECT_EQ(receiver_.requests_for("/moved").size(), 1u);
  // Give a (wrongly) following client time to arrive; it must not.
  EXPECT_FALSE(receiver_.wait_for(1, 300, "/target"));
  EXPECT_EQ(receiver_.requests().size(), 1u);
}

TEST_F(HttpSenderTest, NeverAnsweringEndpointTimesOutWithinTheTotalTimeout) {
  receiver_.set_behaviour("/hang", {.never_answer = true});
  SenderOptions options = local_options();
  options.total_timeout_ms = 500;
  CurlSender sender(options);
  const auto start = std::chrono::steady_clock::now();
  const OutboundResult result = sender.post(json_post(receiver_.url("/hang")));
  const auto elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(result.outcome, OutboundOutcome::kTransportError);
  EXPECT_FALSE(result.delivered());
  EXPECT_EQ(result.http_status, 0);
  EXPECT_NE(result.error.find("timed out"), std::string::npos) << result.error;
  EXPECT_GE(elapsed_ms, 450);
  EXPECT_LT(elapsed_ms, 500 + 1500);
  EXPECT_GE(result.latency_ms, 450);
  EXPECT_LE(result.latency_ms, elapsed_ms);
  // The request did arrive (and counts) even though it was never answered.
  EXPECT_EQ(receiver_.requests_for("/hang").size(), 1u);
}

TEST_F(HttpSenderTest, ConnectionRefusedIsATransportError) {
  ClosedPort closed;
  CurlSender sender(local_options());
  const OutboundResult result = sender.post(json_post("http://127.0.0.1:" + std::to_string(closed.port) + "/"));
  EXPECT_EQ(result.outcome, OutboundOutcome::kTransportError);
  EXPECT_FALSE(result.delivered());
  EXPECT_FALSE(result.error.empty());
  EXPECT_LE(result.error.size(), kMaxOutboundErrorBytes);
  EXPECT_LT(result.latency_ms, kQuickMs);
}

TEST_F(HttpSenderTest, TlsToAPlainHttpServerIsATransportError) {
  CurlSender sender(local_options());
  const OutboundResult result = sender.post(json_post("https://127.0.0.1:" + std::to_string(receiver_.port()) + "/tls"));
  EXPECT_EQ(result.outcome, OutboundOutcome::kTransportError);
  EXPECT_FALSE(result.error.empty());
  EXPECT_TRUE(receiver_.requests_for("/tls").empty());
}

TEST_F(HttpSenderTest, LargeResponseBodyStillCountsAsAnAnswer) {
  receiver_.set_behaviour("/big", {.then_status = 200, .response_body = std::string(200 * 1024, 'b')});
  SenderOptions options = local_options();
  options.max_response_bytes = 1024;
  CurlSender sender(options);
  const OutboundResult result = sender.post(json_post(receiver_.url("/big")));
  EXPECT_EQ(result.outcome, OutboundOutcome::kAnswered) << result.error;
  EXPECT_EQ(result.http_status, 200);
  EXPECT_TRUE(result.delivered());
  EXPECT_EQ(result.response_excerpt, std::string(kMaxResponseExcerptBytes, 'b'));
}

TEST_F(HttpSenderTest, ErrorStatusWithLargeBodyIsAnsweredWithItsStatus) {
  receiver_.set_behaviour("/big-error", {.then_status = 503, .response_body = std::string(50 * 1024, 'e')});
  SenderOptions options = local_options();
  options.max_response_bytes = 1024;
  CurlSender sender(options);
  const OutboundResult result = sender.post(json_post(receiver_.url("/big-error")));
  EXPECT_EQ(result.outcome, OutboundOutcome::kAnswered) << result.error;
  EXPECT_EQ(result.http_status, 503);
  EXPECT_LE(result.response_excerpt.size(), kMaxResponseExcerptBytes);
}

TEST_F(HttpSenderTest, OversizedResponseHeadersAreATransportError) {
  ReceiverBehaviour behaviour;
  for (int i = 0; i < 40; ++i) behaviour.response_headers.emplace_back("X-Filler-" + std::to_string(i), std::string(500, 'h'));
  receiver_.set_behaviour("/headers", behaviour);
  CurlSender sender(local_options());
  const OutboundResult result = sender.post(json_post(receiver_.url("/headers")));
  EXPECT_EQ(result.outcome, OutboundOutcome::kTransportError);
  EXPECT_NE(result.error.find("16384"), std::string::npos) << result.error;
}

// Sets environment variables for one scope and puts the previous values back.
class ScopedEnvironment {
 public:
  ScopedEnvironment(std::initializer_list<std::pair<const char*, const char*>> variables) {
    for (const auto& [name, value] : variables) {
      const char* previous = std::getenv(name);
      saved_.push_back({name, previous != nullptr, previous != nullptr ? previous : ""});
      if (value != nullptr) {
        setenv(name, value, 1);
      } else {
        unsetenv(name);
      }
    }
  }
  ~ScopedEnvironment() {
    for (const Saved& saved : saved_) {
      if (saved.existed) {
        setenv(saved.name, saved.value.c_str(), 1);
      } else {
        unsetenv(saved.name);
      }
    }
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;

 private:
  struct Saved {
    const char* name;
    bool existed;
    std::string value;
  };
  std::vector<Saved> saved_;
};

TEST_F(HttpSenderTest, ProxyEnvironmentIsIgnored) {
  // A proxy that refuses connections: a request that went through it would fail.
  ClosedPort closed;
  const std::string proxy = "http://127.0.0.1:" + std::to_string(closed.port);
  OutboundResult result;
  {
    ScopedEnvironment environment({{"http_proxy", proxy.c_str()},
                                   {"HTTP_PROXY", proxy.c_str()},
                                   {"all_proxy", proxy.c_str()},
                                   {"ALL_PROXY", proxy.c_str()},
                                   {"no_proxy", nullptr},
                                   {"NO_PROXY", nullptr}});
    CurlSender sender(local_options());
    result = sender.post(json_post(receiver_.url("/direct")));
  }
  EXPECT_TRUE(result.delivered()) << result.error;
  EXPECT_EQ(receiver_.requests_for("/direct").size(), 1u);
}

TEST_F(HttpSenderTest, ConcurrentPostsFromSeveralThreads) {
  receiver_.set_behaviour("/many", {.then_status = 200, .answer_delay_ms = 50});
  CurlSender sender(local_options());
  constexpr int kThreads = 8;
  std::vector<OutboundResult> results(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] { results[static_cast<size_t>(i)] = sender.post(json_post(receiver_.url("/many"), std::to_string(i))); });
  }
  for (std::thread& thread : threads) thread.join();
  for (const OutboundResult& result : results) EXPECT_TRUE(result.delivered()) << result.error;
  EXPECT_EQ(receiver_.requests_for("/many").size(), static_cast<size_t>(kThreads));
  EXPECT_GE(receiver_.peak_in_flight("/many"), 2u);  // they really overlapped
}

// ---- The guard (allow_private = false) ----

SenderOptions guarded_options() {
  SenderOptions options;
  options.allow_private = false;
  options.connect_timeout_ms = 2000;
  options.total_timeout_ms = 5000;
  return options;
}

TEST_F(HttpSenderTest, LoopbackLiteralIsRefusedAndNothingConnects) {
  CurlSender sender(guarded_options());
  const OutboundResult result = sender.post(json_post(receiver_.url("/guarded")));
  EXPECT_EQ(result.outcome, OutboundOutcome::kRefused);
  EXPECT_FALSE(result.delivered());
  EXPECT_EQ(result.error, "refused: 127.0.0.1 is a loopback address (set --allow-private-callbacks to allow)");
  EXPECT_FALSE(receiver_.wait_for(1, 200));
  EXPECT_EQ(receiver_.connections_accepted(), 0u);
}

TEST_F(HttpSenderTest, PrivateLiteralIsRefusedWithoutAnyConnectionAttempt) {
  CurlSender sender(guarded_options());
  const auto start = std::chrono::steady_clock::now();
  const OutboundResult result = sender.post(json_post("http://10.0.0.1/"));
  const auto elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(result.outcome, OutboundOutcome::kRefused);
  EXPECT_NE(result.error.find("10.0.0.1 is a private address"), std::string::npos) << result.error;
  // A connection attempt to 10.0.0.1 would hang until the 2 s connect timeout (or fail); a refusal
  // before any socket returns at once.
  EXPECT_LT(elapsed_ms, kQuickMs);
}

TEST_F(HttpSenderTest, EveryNonPublicClassIsRefused) {
  CurlSender sender(guarded_options());
  struct Case {
    std::string url;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"},
      {"http://[::1]/", "::1 is a loopback address"},
      {"http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 is a loopback address"},
      {"http://[fd00::1]/", "fd00::1 is a private address"},
      {"http://224.0.0.1/", "224.0.0.1 is a multicast address"},
      {"http://0.0.0.0/", "0.0.0.0 is an unspecified address"},
      {"http://192.0.2.1/", "192.0.2.1 is a reserved address"},
      {"http://100.64.0.1/", "100.64.0.1 is a private address"},
  };
  for (const Case& item : cases) {
    SCOPED_TRACE(item.url);
    const OutboundResult result = sender.post(json_post(item.url));
    EXPECT_EQ(result.outcome, OutboundOutcome::kRefused);
    EXPECT_NE(result.error.find(item.reason), std::string::npos) << result.error;
  }
}

TEST_F(HttpSenderTest, LocalhostNameIsRefusedBecauseItResolvesToLoopback) {
  CurlSender sender(guarded_options());
  for (const std::string& url :
       std::vector<std::string>{"http://localhost/", "http://localhost:" + std::to_string(receiver_.port()) + "/x"}) {
    SCOPED_TRACE(url);
    const OutboundResult result = sender.post(json_post(url));
    EXPECT_EQ(result.outcome, OutboundOutcome::kRefused);
    EXPECT_NE(result.error.find("refused: localhost resolves to "), std::string::npos) << result.error;
    EXPECT_NE(result.error.find("loopback"), std::string::npos) << result.error;
  }
  EXPECT_EQ(receiver_.connections_accepted(), 0u);
}

TEST_F(HttpSenderTest, PortsOtherThan80And443AreRefused) {
  CurlSender sender(guarded_options());
  const auto start = std::chrono::steady_clock::now();
  // A public address: the port alone decides, and it decides before any connection.
  const OutboundResult result = sender.post(json_post("http://8.8.8.8:8080/"));
  const auto elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(result.outcome, OutboundOutcome::kRefused);
  EXPECT_EQ(result.error,
            "refused: port 8080 is not allowed for callbacks (only 80 and 443; --allow-private-callbacks allows others)");
  EXPECT_LT(elapsed_ms, kQuickMs);
}

TEST_F(HttpSenderTest, BadUrlsAreRefusedWithTheParserReason) {
  CurlSender sender(local_options());
  for (const char* url : {"ftp://example.com/", "http://user@127.0.0.1/", "/relative", "http://127.1/"}) {
    SCOPED_TRACE(url);
    const OutboundResult result = sender.post(json_post(url));
    EXPECT_EQ(result.outcome, OutboundOutcome::kRefused);
    EXPECT_EQ(result.error.rfind("refused: callback URL", 0), 0u) << result.error;
  }
}

TEST_F(HttpSenderTest, HeaderInjectionIsRefusedWithoutEchoingTheValue) {
  CurlSender sender(local_options());
  OutboundRequest request = json_post(receiver_.url("/inject"));
  request.headers = {{"Payoutd-Signature", "t=1,v1=secret-looking\r\nX-Evil: 1"}};
  const OutboundResult result = sender.post(request);
  EXPECT_EQ(result.outcome, OutboundOutcome::kRefused);
  EXPECT_EQ(result.error.find("secret-looking"), std::string::npos) << result.error;
  request.headers = {{"Bad Name", "x"}};
  EXPECT_EQ(sender.post(request).outcome, OutboundOutcome::kRefused);
  request.headers = {};
  request.content_type = "text/plain\nX-Evil: 1";
  EXPECT_EQ(sender.post(request).outcome, OutboundOutcome::kRefused);
  request.content_type = "";
  EXPECT_EQ(sender.post(request).outcome, OutboundOutcome::kRefused);
  EXPECT_EQ(receiver_.connections_accepted(), 0u);
}

TEST_F(HttpSenderTest, UnresolvableNameIsATransportError) {
  SenderOptions options = guarded_options();
  options.connect_timeout_ms = 1000;
  CurlSender sender(options);
  const OutboundResult result = sender.post(json_post("https://payoutd-test.invalid/hook"));
  EXPECT_EQ(result.outcome, OutboundOutcome::kTransportError);
  EXPECT_NE(result.error.find("could not resolve host payoutd-test.invalid"), std::string::npos) << result.error;
  // Bounded by the connect budget, whatever the machine's DNS does.
  EXPECT_LT(result.latency_ms, 1000 + kQuickMs);
}

// The second line of defence: even if the name resolved (or were pinned) to a non-public address,
// the socket-level check refuses it. Plays a DNS-rebinding answer by pinning a public-looking name
// to 127.0.0.1 behind the pre-connect checks' back.
TEST_F(HttpSenderTest, SocketLevelCheckRefusesARebindingAnswer) {
  const OutboundRequest request = json_post("http://rebind.example:" + std::to_string(receiver_.port()) + "/rebound");
  const OutboundResult refused = detail::post_pinned_for_testing(guarded_options(), request, {"127.0.0.1"});
  EXPECT_EQ(refused.outcome, OutboundOutcome::kRefused);
  EXPECT_EQ(refused.error, "refused: 127.0.0.1 is a loopback address (set --allow-private-callbacks to allow)");
  // IPv6 answers go through the same check (and the pin's bracketed IPv6 form).
  const OutboundResult refused_v6 = detail::post_pinned_for_testing(guarded_options(), request, {"::1"});
  EXPECT_EQ(refused_v6.outcome, OutboundOutcome::kRefused);
  EXPECT_EQ(refused_v6.error, "refused: ::1 is a loopback address (set --allow-private-callbacks to allow)");
  const OutboundResult refused_mapped =
      detail::post_pinned_for_testing(guarded_options(), request, {"::ffff:169.254.169.254"});
  EXPECT_EQ(refused_mapped.outcome, OutboundOutcome::kRefused);
  EXPECT_NE(refused_mapped.error.find("is a link-local address"), std::string::npos) << refused_mapped.error;
  EXPECT_EQ(receiver_.connections_accepted(), 0u);

  // The same pin with private addresses allowed does connect: the pin (not DNS, which has never
  // heard of rebind.example) decided where the connection went.
  const OutboundResult allowed = detail::post_pinned_for_testing(local_options(), request, {"127.0.0.1"});
  EXPECT_TRUE(allowed.delivered()) << allowed.error;
  ASSERT_EQ(receiver_.requests_for("/rebound").size(), 1u);
  EXPECT_EQ(receiver_.requests_for("/rebound").front().header("Host"), "rebind.example:" + std::to_string(receiver_.port()));
}

}  // namespace
}  // namespace payoutd::notify
