// The test receiver itself (test/integration/receiver.*), driven by a raw socket client so that its
// behaviour is checked independently of the sender under test.
#include "integration/receiver.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace payoutd::testing {
namespace {

// One raw HTTP exchange: connects to 127.0.0.1:port, sends `request`, reads until the server closes
// or `timeout_ms` passes. Returns what was read ("" if the connection failed).
std::string exchange(uint16_t port, const std::string& request, int timeout_ms = 5000) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  std::string response;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    char chunk[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd poll_fd = {fd, POLLIN, 0};
      if (poll(&poll_fd, 1, 50) <= 0) continue;
      const ssize_t received = recv(fd, chunk, sizeof chunk, 0);
      if (received <= 0) break;
      response.append(chunk, static_cast<size_t>(received));
    }
  }
  close(fd);
  return response;
}

std::string post(std::string_view target, std::string_view body, std::string_view extra_headers = "") {
  return "POST " + std::string(target) + " HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\n" +
         std::string(extra_headers) + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return -1;
  return std::stoi(response.substr(9, 3));
}

TEST(ReceiverTest, AnswersTwoHundredByDefaultAndRecordsTheRequest) {
  Receiver receiver;
  EXPECT_NE(receiver.port(), 0);
  EXPECT_EQ(receiver.url("/a"), "http://127.0.0.1:" + std::to_string(receiver.port()) + "/a");
  const std::string response = exchange(receiver.port(), post("/a?x=1", "hello", "X-Custom:  spaced value \r\n"));
  EXPECT_EQ(status_of(response), 200) << response;
  EXPECT_NE(response.find("Connection: close"), std::string::npos);
  const std::vector<ReceivedRequest> requests = receiver.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/a?x=1");
  EXPECT_EQ(requests[0].path(), "/a");
  EXPECT_EQ(requests[0].body, "hello");
  EXPECT_EQ(requests[0].header("x-custom"), "spaced value");
  EXPECT_EQ(requests[0].header("HOST"), "test");
  EXPECT_EQ(requests[0].header("Missing"), "");
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(requests[0].received_at_ms, now_ms);
  EXPECT_GT(requests[0].received_at_ms, now_ms - 60'000);
  EXPECT_EQ(receiver.connections_accepted(), 1u);
}

TEST(ReceiverTest, StatusSequenceIsHonouredInOrderThenThenStatus) {
  Receiver receiver;
  receiver.set_behaviour("/seq", {.status_sequence = {500, 503, 429}, .then_status = 204});
  std::vector<int> statuses;
  for (int i = 0; i < 5; ++i) statuses.push_back(status_of(exchange(receiver.port(), post("/seq", std::to_string(i)))));
  EXPECT_EQ(statuses, (std::vector<int>{500, 503, 429, 204, 204}));
  // Requests answered with errors count and are recorded, in arrival order.
  const std::vector<ReceivedRequest> requests = receiver.requests_for("/seq");
  ASSERT_EQ(requests.size(), 5u);
  for (size_t i = 0; i < requests.size(); ++i) EXPECT_EQ(requests[i].body, std::to_string(i));
  // Other paths keep the default.
  EXPECT_EQ(status_of(exchange(receiver.port(), post("/other", ""))), 200);
  // Setting the behaviour again restarts the sequence.
  receiver.set_behaviour("/seq", {.status_sequence = {418}});
  EXPECT_EQ(status_of(exchange(receiver.port(), post("/seq", ""))), 418);
  EXPECT_EQ(status_of(exchange(receiver.port(), post("/seq", ""))), 200);
}

TEST(ReceiverTest, ResponseHeadersAndBody) {
  Receiver receiver;
  receiver.set_behaviour("/r", {.then_status = 302, .response_headers = {{"Location", "/elsewhere"}}, .response_body = "see"});
  const std::string response = exchange(receiver.port(), post("/r", ""));
  EXPECT_EQ(status_of(response), 302);
  EXPECT_NE(response.find("Location: /elsewhere\r\n"), std::string::npos) << response;
  EXPECT_EQ(response.substr(response.size() - 3), "see");
}

TEST(ReceiverTest, RequestsForAndWaitFor) {
  Receiver receiver;
  EXPECT_FALSE(receiver.wait_for(1, 50));
  // A wait started before the requests exist returns true once they have arrived (woken by the
  // arrivals: long before its 30 s deadline), and not while only some of them have.
  std::promise<void> waiting;
  std::future<bool> two_for_one = std::async(std::launch::async, [&] {
    waiting.set_value();
    return receiver.wait_for(2, 30'000, "/one");
  });
  waiting.get_future().wait();
  EXPECT_EQ(status_of(exchange(receiver.port(), post("/one", "1"))), 200);
  EXPECT_EQ(status_of(exchange(receiver.port(), post("/two?q", "2"))), 200);
  // Recorded before answered: two requests, one of them for /one, so the wait cannot be over.
  ASSERT_EQ(receiver.requests().size(), 2u);
  EXPECT_EQ(two_for_one.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "wait_for(2, \"/one\") returned with one /one request";
  EXPECT_EQ(status_of(exchange(receiver.port(), post("/one", "3"))), 200);
  ASSERT_EQ(two_for_one.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(two_for_one.get());  // woken by the arrival: ready well before its own deadline
  EXPECT_TRUE(receiver.wait_for(1, 5000, "/two"));
  EXPECT_TRUE(receiver.wait_for(3, 5000));
  EXPECT_FALSE(receiver.wait_for(3, 50, "/one"));
  EXPECT_FALSE(receiver.wait_for(1, 50, "/three"));
  const std::vector<ReceivedRequest> one = receiver.requests_for("/one");
  ASSERT_EQ(one.size(), 2u);
  EXPECT_EQ(one[0].body, "1");
  EXPECT_EQ(one[1].body, "3");
  ASSERT_EQ(receiver.requests_for("/two").size(), 1u);
  EXPECT_EQ(receiver.requests_for("/two")[0].target, "/two?q");
  ASSERT_EQ(receiver.requests().size(), 3u);
  EXPECT_EQ(receiver.requests()[1].body, "2");
}

TEST(ReceiverTest, NeverAnswerRecordsAndHoldsUntilStop) {
  Receiver receiver;
  receiver.set_behaviour("/hold", {.never_answer = true});
  std::string response = "not set";
  std::thread client([&] { response = exchange(receiver.port(), post("/hold", "held"), 10'000); });
  ASSERT_TRUE(receiver.wait_for(1, 5000, "/hold"));
  EXPECT_EQ(receiver.requests_for("/hold")[0].body, "held");
  EXPECT_EQ(receiver.peak_in_flight("/hold"), 1u);
  const auto start = std::chrono::steady_clock::now();
  receiver.stop();  // must end the held connection, not wait for the client's 10 s
  client.join();
  const auto elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(response, "");  // closed without an answer
  EXPECT_LT(elapsed_ms, 3000);
  EXPECT_EQ(receiver.requests().size(), 1u);  // still readable after stop()
  receiver.stop();                            // idempotent
}

TEST(ReceiverTest, DelayedAnswersOverlapAndArePeakCounted) {
  Receiver receiver;
  receiver.set_behaviour("/slow", {.answer_delay_ms = 300});
  std::vector<std::thread> clients;
  std::vector<int> statuses(3, 0);
  for (size_t i = 0; i < statuses.size(); ++i) {
    clients.emplace_back([&, i] { statuses[i] = status_of(exchange(receiver.port(), post("/slow", ""))); });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 200}));
  EXPECT_EQ(receiver.peak_in_flight("/slow"), 3u);
  EXPECT_EQ(receiver.peak_in_flight(), 3u);
  EXPECT_EQ(receiver.peak_in_flight("/other"), 0u);
}

TEST(ReceiverTest, BoundsAndMalformedRequests) {
  Receiver receiver;
  // Over 1 MiB: refused and not recorded.
  EXPECT_EQ(status_of(exchange(receiver.port(), "POST /big HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n")), 413);
  EXPECT_EQ(status_of(exchange(receiver.port(), "GARBAGE\r\n\r\n")), 400);
  EXPECT_EQ(status_of(exchange(receiver.port(), "POST /x HTTP/1.1\r\nContent-Length: 12x\r\n\r\n")), 400);
  EXPECT_EQ(status_of(exchange(receiver.port(), "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")), 501);
  EXPECT_TRUE(receiver.requests().empty());
  // Expect: 100-continue gets its interim answer, then the final one.
  const std::string response = exchange(receiver.port(), post("/continue", "body", "Expect: 100-continue\r\n"));
  EXPECT_EQ(response.rfind("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 0), 0u) << response;
  ASSERT_EQ(receiver.requests_for("/continue").size(), 1u);
  EXPECT_EQ(receiver.requests_for("/continue")[0].body, "body");
}

TEST(ReceiverTest, StopsPromptlyWithAnIdleConnectionOpen) {
  auto receiver = std::make_unique<Receiver>();
  // A client that connects and sends half a request, then nothing.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(receiver->port());
  ASSERT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(send(fd, "POST / HTTP/1.1\r\n", 17, MSG_NOSIGNAL), 17);
  const auto start = std::chrono::steady_clock::now();
  receiver.reset();  // destructor: stop() and join
  const auto elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(elapsed_ms, 3000);
  close(fd);
}

}  // namespace
}  // namespace payoutd::testing
