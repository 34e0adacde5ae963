// The real server on 127.0.0.1, port 0, driven by a raw-socket client (test_client.h).
#include "http/server.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "http/test_client.h"
#include "support/test_support.h"

namespace payoutd::http {
namespace {

using testing::Client;
using testing::ClientResponse;
using testing::make_request;
using Clock = std::chrono::steady_clock;

int64_t elapsed_ms(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

// Polls `condition` every 10 ms for up to `timeout_ms` (metrics and log lines are recorded just
// after the response is written, so a client can see the response a moment before them).
bool eventually(const std::function<bool()>& condition, int timeout_ms = 3000) {
  return ::payoutd::testing::eventually(condition, timeout_ms, 10);
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

class ServerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (server_) server_->stop();
    join_helpers();
    server_.reset();
  }

  static ServerOptions base_options() {
    ServerOptions options;
    options.port = 0;
    options.io_threads = 2;
    options.version = "1.2.3-test";
    options.drain_timeout_ms = 3000;
    return options;
  }

  void start(ServerOptions options) {
    router_ = std::make_unique<Router>();
    add_builtin_routes(*router_, metrics_, options.version);
    add_test_routes(*router_);
    server_ = std::make_unique<Server>(std::move(options), *router_, metrics_,
                                       [this](std::string_view line) {
                                         std::lock_guard<std::mutex> lock(log_mutex_);
                                         log_lines_.emplace_back(line);
                                       });
    const Status status = server_->start();
    ASSERT_TRUE(status.is_ok()) << status.to_string();
    port_ = server_->bound_port();
    ASSERT_NE(port_, 0);
  }

  // Runs `work` on a helper thread after `delay_ms` (joined in TearDown).
  void run_later(int delay_ms, std::function<void()> work) {
    std::lock_guard<std::mutex> lock(helpers_mutex_);
    helpers_.emplace_back([delay_ms, work = std::move(work)] {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      work();
    });
  }

  void join_helpers() {
    std::vector<std::thread> helpers;
    {
      std::lock_guard<std::mutex> lock(helpers_mutex_);
      helpers.swap(helpers_);
    }
    for (auto& helper : helpers) helper.join();
  }

  void add_test_routes(Router& router) {
    router.add("GET", "/hello", "hello", [](Request&&, Respond respond) {
      Response response;
      response.content_type = "text/plain";
      response.body = "hello";
      respond(std::move(response));
    });
    router.add("POST", "/echo-size", "echo_size", [](Request&& request, Respond respond) {
      Response response;
      response.body = "{\"size\":" + std::to_string(request.body.size()) + "}";
      respond(std::move(response));
    });
    router.add("GET", "/items/:id", "item", [](Request&& request, Respond respond) {
      Response response;
      response.body = std::string(request.param("id").value_or("<none>"));
      respond(std::move(response));
    });
    router.add("GET", "/request-id", "request_id", [](Request&& request, Respond respond) {
      Response response;
      response.body = request.request_id;
      respond(std::move(response));
    });
    router.add("GET", "/async", "async", [this](Request&&, Respond respond) {
      run_later(50, [respond] {
        Response response;
        response.body = "async";
        respond(std::move(response));
      });
    });
    router.add("GET", "/throw", "throw", [](Request&&, Respond) -> void {
      throw std::runtime_error("handler bug");
    });
    router.add("GET", "/never", "never", [this](Request&&, Respond respond) {
      std::lock_guard<std::mutex> lock(stash_mutex_);
      stashed_respond_ = std::move(respond);
    });
    router.add("GET", "/bad-headers", "bad_headers", [](Request&&, Respond respond) {
      Response response;
      response.body = "ok";
      response.headers = {{"X-Ok", "1"},
                          {"X-Evil", "a\r\nInjected: yes"},
                          {"Bad Name", "x"},
                          {"Content-Length", "999"},
                          {"Connection", "close"}};
      respond(std::move(response));
    });
    router.add("GET", "/bad-status", "bad_status", [](Request&&, Respond respond) {
      Response response;
      response.status = 42;
      respond(std::move(response));
    });
  }

  Respond take_stashed_respond() {
    std::lock_guard<std::mutex> lock(stash_mutex_);
    return std::move(stashed_respond_);
  }

  bool has_stashed_respond() {
    std::lock_guard<std::mutex> lock(stash_mutex_);
    return static_cast<bool>(stashed_respond_);
  }

  std::vector<std::string> log_lines() {
    std::lock_guard<std::mutex> lock(log_mutex_);
    return log_lines_;
  }

  std::string scrape() {
    Client client(port_);
    auto response = client.request(make_request("GET", "/metrics"));
    return response ? response->body : std::string();
  }

  Metrics metrics_;  // outlives router_ and server_ (declared first)
  std::unique_ptr<Router> router_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;

  std::mutex helpers_mutex_;
  std::vector<std::thread> helpers_;
  std::mutex stash_mutex_;
  Respond stashed_respond_;
  std::mutex log_mutex_;
  std::vector<std::string> log_lines_;
};

TEST_F(ServerTest, StatusAndMetricsAnswerAndCountRequests) {
  start(base_options());
  Client client(port_);
  auto status = client.request(make_request("GET", "/status"));
  ASSERT_TRUE(status);
  EXPECT_EQ(status->status, 200);
  EXPECT_EQ(status->body, R"({"status":"ok","version":"1.2.3-test"})");
  EXPECT_EQ(status->header("content-type"), "application/json");
  EXPECT_TRUE(status->header("x-request-id").has_value());
  EXPECT_FALSE(status->header("server").has_value());  // no version leaks outside /status

  for (int i = 0; i < 2; ++i) {
    auto hello = client.request(make_request("GET", "/hello"));
    ASSERT_TRUE(hello);
    EXPECT_EQ(hello->body, "hello");
  }
  auto missing = client.request(make_request("GET", "/nope"));
  ASSERT_TRUE(missing);

  std::string text;
  ASSERT_TRUE(eventually([&] {
    text = scrape();
    return contains(text, "payoutd_http_requests_total{method=\"GET\",route=\"hello\",status=\"200\"} 2\n") &&
           contains(text, "payoutd_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1\n");
  })) << text;
  EXPECT_TRUE(contains(text, "# TYPE payoutd_http_request_duration_seconds histogram\n"));
  EXPECT_TRUE(contains(text, "payoutd_http_request_duration_seconds_count{method=\"GET\",route=\"hello\"} 2\n"));
  EXPECT_TRUE(contains(text, "payoutd_http_request_duration_seconds_bucket{method=\"GET\",route=\"hello\",le=\"+Inf\"} 2\n"));
  EXPECT_TRUE(contains(text, "payoutd_http_requests_total{method=\"GET\",route=\"status\",status=\"200\"} 1\n"));
  EXPECT_FALSE(contains(text, "/nope"));  // raw paths never become labels

  Client scraper(port_);
  auto metrics = scraper.request(make_request("GET", "/metrics"));
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  ASSERT_TRUE(metrics->header("content-type"));
  EXPECT_EQ(metrics->header("content-type")->rfind("text/plain; version=0.0.4", 0), 0u);
}

TEST_F(ServerTest, KeepAliveServesThreeRequestsOnOneConnection) {
  start(base_options());
  Client client(port_);
  for (const char* target : {"/hello", "/items/42", "/status"}) {
    SCOPED_TRACE(target);
    auto response = client.request(make_request("GET", target));
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_NE(response->header("connection"), "close");
  }
  EXPECT_FALSE(client.wait_closed(100));
  EXPECT_TRUE(eventually([&] { return metrics_.counter("payoutd_http_requests_total", "",
                                                       {{"route", "item"}, {"method", "GET"}, {"status", "200"}})
                                           .value() == 1; }));
}

TEST_F(ServerTest, ConnectionCloseIsHonoured) {
  start(base_options());
  Client client(port_);
  auto response = client.request(make_request("GET", "/hello", {}, {"Connection: close"}));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(client.wait_closed(3000));
}

TEST_F(ServerTest, PipelinedRequestsAnswerInOrder) {
  start(base_options());
  Client client(port_);
  ASSERT_TRUE(client.send(make_request("GET", "/items/a") + make_request("GET", "/items/b")));
  auto first = client.read_response();
  auto second = client.read_response();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->body, "a");
  EXPECT_EQ(second->body, "b");
}

TEST_F(ServerTest, PathParametersAreDecodedAndMayBeEmpty) {
  start(base_options());
  Client client(port_);
  auto decoded = client.request(make_request("GET", "/items/pyt%5F1?x=1"));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->body, "pyt_1");
  auto empty = client.request(make_request("GET", "/items/"));
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 200);
  EXPECT_EQ(empty->body, "");
}

TEST_F(ServerTest, BodyOfExactlyTheLimitIsAccepted) {
  start(base_options());
  Client client(port_);
  auto response = client.request(make_request("POST", "/echo-size", std::string(65536, 'x')));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, R"({"size":65536})");
}

TEST_F(ServerTest, BodyOneByteOverTheLimitIs413WithTheConfiguredBody) {
  ServerOptions options = base_options();
  options.error_responder = [](int status, std::string_view path) {
    if (path.rfind("/v3/", 0) == 0) {
      Response response;
      response.body = R"({"code":502,"message":"Invalid request body - Please check that the JSON is well formatted"})";
      return response;
    }
    return default_error_response(status, path);
  };
  start(std::move(options));
  {
    Client client(port_);
    auto response = client.request(make_request("POST", "/echo-size", std::string(65537, 'x')));
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 413);
    EXPECT_EQ(response->body, R"({"error":"PayloadTooLarge","message":"Request body too large"})");
    EXPECT_EQ(response->header("connection"), "close");
    EXPECT_TRUE(response->header("x-request-id").has_value());
    EXPECT_TRUE(client.wait_closed(3000));
  }
  {
    Client client(port_);
    auto response = client.request(make_request("POST", "/v3/cashout", std::string(70000, '{')));
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 413);  // the responder shapes the body, the server keeps the status
    EXPECT_EQ(response->body,
              R"({"code":502,"message":"Invalid request body - Please check that the JSON is well formatted"})");
  }
}

TEST_F(ServerTest, HugeContentLengthIs413WithoutWaitingForTheBody) {
  start(base_options());
  Client client(port_);
  const auto started = Clock::now();
  auto response = client.request(
      "POST /echo-size HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n");  // no body sent
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_LT(elapsed_ms(started), 2000);
}

std::string chunked_request(size_t chunk_count, size_t chunk_size) {
  std::string request = "POST /echo-size HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk_size);
  for (size_t i = 0; i < chunk_count; ++i) {
    request += size_line;
    request += std::string(chunk_size, 'c');
    request += "\r\n";
  }
  request += "0\r\n\r\n";
  return request;
}

TEST_F(ServerTest, ChunkedBodiesCountAgainstTheLimit) {
  start(base_options());
  {
    Client client(port_);
    auto response = client.request(chunked_request(4, 16384));  // exactly 64 KiB
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, R"({"size":65536})");
  }
  {
    Client client(port_);
    auto response = client.request(chunked_request(5, 16384));  // 80 KiB
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 413);
    EXPECT_EQ(response->body, R"({"error":"PayloadTooLarge","message":"Request body too large"})");
    EXPECT_TRUE(client.wait_closed(3000));
  }
}

TEST_F(ServerTest, ExpectContinueGetsAnInterimResponse) {
  start(base_options());
  Client client(port_);
  ASSERT_TRUE(client.send(
      "POST /echo-size HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  auto interim = client.read_response();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(client.send("12345"));
  auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, R"({"size":5})");
}

TEST_F(ServerTest, OversizedHeaderSectionIs431AndCloses) {
  start(base_options());
  Client client(port_);
  auto response = client.request(make_request("GET", "/hello", {}, {"X-Big: " + std::string(9000, 'a')}));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_TRUE(client.wait_closed(3000));

  Client fine(port_);  // a header just under the limit is fine
  auto ok = fine.request(make_request("GET", "/hello", {}, {"X-Big: " + std::string(7000, 'a')}));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ServerTest, MalformedRequestsAre400AndClose) {
  start(base_options());
  const std::string cases[] = {
      "HELLO\r\n\r\n",
      "GET /hello HTTP/1.1 extra\r\nHost: x\r\n\r\n",
      "GET /hello XTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /hello HTTP/1.1\r\nNo colon here\r\n\r\n",
      "POST /echo-size HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
      "POST /echo-size HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      "POST /echo-size HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "GET hello HTTP/1.1\r\nHost: x\r\n\r\n",
  };
  for (const std::string& raw : cases) {
    SCOPED_TRACE(raw);
    Client client(port_);
    auto response = client.request(raw);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 400);
    EXPECT_EQ(response->body, R"({"error":"BadRequest","message":"Malformed request"})");
    EXPECT_TRUE(client.wait_closed(3000));
  }
  Client after(port_);
  auto ok = after.request(make_request("GET", "/hello"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ServerTest, UnknownRouteIs404AndWrongMethodIs405WithAllow) {
  start(base_options());
  Client client(port_);
  auto missing = client.request(make_request("GET", "/no/such/route?x=1"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->body, R"({"error":"NotFound","message":"Route not found"})");
  auto wrong = client.request(make_request("POST", "/hello"));
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 405);
  EXPECT_EQ(wrong->header("allow"), "GET");
  // Both keep the connection.
  auto ok = client.request(make_request("GET", "/hello"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ServerTest, ErrorResponderShapesNotFound) {
  ServerOptions options = base_options();
  options.error_responder = [](int status, std::string_view path) {
    Response response;
    response.status = 599;  // ignored: the server decides the status
    response.body = "{\"status\":" + std::to_string(status) + ",\"path\":\"" + std::string(path) + "\"}";
    response.headers.emplace_back("X-Dialect", "test");
    return response;
  };
  start(std::move(options));
  Client client(port_);
  auto missing = client.request(make_request("GET", "/v3/nothing?secret=1"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->body, R"({"status":404,"path":"/v3/nothing"})");
  EXPECT_EQ(missing->header("x-dialect"), "test");
}

TEST_F(ServerTest, SlowHeaderSenderIsCutOff) {
  ServerOptions options = base_options();
  options.header_read_timeout_ms = 300;
  start(std::move(options));
  Client client(port_);
  const std::string request = make_request("GET", "/hello", {}, {"X-Padding: " + std::string(100, 'p')});
  const auto started = Clock::now();
  bool closed = false;
  for (size_t i = 0; i < request.size() && !closed && elapsed_ms(started) < 5000; ++i) {
    if (!client.send(request.substr(i, 1))) {
      closed = true;
      break;
    }
    closed = client.wait_closed(100);
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(elapsed_ms(started), 5000);
}

TEST_F(ServerTest, SlowBodySenderIsCutOff) {
  ServerOptions options = base_options();
  options.body_read_timeout_ms = 300;
  start(std::move(options));
  Client client(port_);
  ASSERT_TRUE(client.send("POST /echo-size HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"));
  const auto started = Clock::now();
  bool closed = false;
  for (int i = 0; i < 100 && !closed && elapsed_ms(started) < 5000; ++i) {
    if (!client.send("x")) {
      closed = true;
      break;
    }
    closed = client.wait_closed(100);
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(elapsed_ms(started), 5000);
}

TEST_F(ServerTest, SilentNewConnectionIsClosedAfterTheHeaderTimeout) {
  ServerOptions options = base_options();
  options.header_read_timeout_ms = 300;
  start(std::move(options));
  Client client(port_);
  ASSERT_TRUE(client.connected());
  const auto started = Clock::now();
  EXPECT_TRUE(client.wait_closed(5000));
  EXPECT_GE(elapsed_ms(started), 200);
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosed) {
  ServerOptions options = base_options();
  options.idle_timeout_ms = 300;
  start(std::move(options));
  Client client(port_);
  auto response = client.request(make_request("GET", "/hello"));
  ASSERT_TRUE(response);
  const auto started = Clock::now();
  EXPECT_TRUE(client.wait_closed(5000));
  EXPECT_GE(elapsed_ms(started), 200);
}

TEST_F(ServerTest, RequestIdIsEchoedWhenValidAndGeneratedOtherwise) {
  start(base_options());
  struct Case {
    std::string header_line;  // empty: no X-Request-Id
    bool echoed;
  };
  const std::string max_length(128, 'a');
  const Case cases[] = {
      {"X-Request-Id: abc-123_x.Y", true},
      {"x-request-id: lower-case-name-works", true},
      {"X-Request-Id: " + max_length, true},
      {"X-Request-Id: " + max_length + "b", false},
      {"X-Request-Id: " + std::string(200, 'z'), false},
      {"X-Request-Id: has space", false},
      {"X-Request-Id: tab\there", false},
      {"X-Request-Id: slash/no", false},
      {"X-Request-Id: quote\"no", false},
      {"", false},
  };
  Client client(port_);
  std::string previous_generated;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.header_line);
    std::vector<std::string> headers;
    if (!c.header_line.empty()) headers.push_back(c.header_line);
    auto response = client.request(make_request("GET", "/request-id", {}, headers));
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status, 200);
    const std::optional<std::string> id = response->header("x-request-id");
    ASSERT_TRUE(id.has_value());
    EXPECT_EQ(*id, response->body);  // the handler saw the same id
    if (c.echoed) {
      EXPECT_EQ(*id, c.header_line.substr(c.header_line.find(": ") + 2));
    } else {
      EXPECT_EQ(id->size(), 32u);
      EXPECT_EQ(id->find_first_not_of("0123456789abcdef"), std::string::npos);
      EXPECT_NE(*id, previous_generated);
      previous_generated = *id;
    }
  }
}

TEST_F(ServerTest, AsyncHandlerRespondsFromAnotherThread) {
  start(base_options());
  Client client(port_);
  const auto started = Clock::now();
  auto response = client.request(make_request("GET", "/async"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "async");
  EXPECT_GE(elapsed_ms(started), 45);
  auto next = client.request(make_request("GET", "/hello"));  // the connection goes on
  ASSERT_TRUE(next);
  EXPECT_EQ(next->body, "hello");
}

TEST_F(ServerTest, ThrowingHandlerIs500AndTheServerGoesOn) {
  start(base_options());
  Client client(port_);
  auto thrown = client.request(make_request("GET", "/throw"));
  ASSERT_TRUE(thrown);
  EXPECT_EQ(thrown->status, 500);
  EXPECT_EQ(thrown->body, R"({"error":"InternalServerError","message":"Internal server error"})");
  auto same_connection = client.request(make_request("GET", "/hello"));
  ASSERT_TRUE(same_connection);
  EXPECT_EQ(same_connection->status, 200);
  Client other(port_);
  auto new_connection = other.request(make_request("GET", "/hello"));
  ASSERT_TRUE(new_connection);
  EXPECT_EQ(new_connection->status, 200);
  EXPECT_EQ(metrics_.counter("payoutd_http_handler_exceptions_total", "").value(), 1u);
}

TEST_F(ServerTest, SilentHandlerIs503AndALateRespondIsHarmless) {
  ServerOptions options = base_options();
  options.handler_timeout_ms = 300;
  start(std::move(options));
  Client client(port_);
  const auto started = Clock::now();
  auto timed_out = client.request(make_request("GET", "/never"));
  ASSERT_TRUE(timed_out);
  EXPECT_EQ(timed_out->status, 503);
  EXPECT_GE(elapsed_ms(started), 250);
  EXPECT_LT(elapsed_ms(started), 3000);

  Respond late = take_stashed_respond();
  ASSERT_TRUE(late);
  Response response;
  response.body = "too late";
  late(std::move(response));
  late(Response{});  // and again: still nothing

  auto next = client.request(make_request("GET", "/hello"));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(next->body, "hello");  // not "too late"
  EXPECT_FALSE(client.wait_closed(100));
  EXPECT_EQ(metrics_.counter("payoutd_http_handler_timeouts_total", "").value(), 1u);
}

TEST_F(ServerTest, RespondAfterTheServerIsGoneIsHarmless) {
  ServerOptions options = base_options();
  options.drain_timeout_ms = 100;
  start(std::move(options));
  Client client(port_);
  ASSERT_TRUE(client.send(make_request("GET", "/never")));
  ASSERT_TRUE(eventually([&] { return has_stashed_respond(); }));
  server_->stop();  // the handler never answers: the drain times out
  EXPECT_TRUE(client.wait_closed(3000));
  Respond late = take_stashed_respond();
  late(Response{});  // after stop
  server_.reset();
  late(Response{});  // after destruction
}

TEST_F(ServerTest, GracefulStopFinishesTheRequestInFlight) {
  ServerOptions options = base_options();
  options.drain_timeout_ms = 60'000;  // the drain ends with the answer, long before this
  start(std::move(options));
  Client idle(port_);  // an idle keep-alive connection: stop() closes it at once
  ASSERT_TRUE(idle.request(make_request("GET", "/hello")));

  // The request is in its handler (stashed, unanswered) when stop() begins: the order is made by
  // the test, not by a handler's delay.
  std::optional<ClientResponse> in_flight_response;
  std::thread in_flight_client([&] {
    Client client(port_);
    in_flight_response = client.request(make_request("GET", "/never"));
  });
  ASSERT_TRUE(eventually([&] { return has_stashed_respond(); }));
  std::atomic<bool> stop_returned{false};
  std::thread stopper([&] {
    server_->stop();
    stop_returned = true;
  });
  // stop() has begun (it closed the idle connection and refuses new ones) and waits for the
  // request in flight.
  EXPECT_TRUE(idle.wait_closed(10'000));
  EXPECT_TRUE(eventually([&] { return !Client(port_).connected(); }));
  EXPECT_FALSE(stop_returned.load()) << "stop() returned with a request in flight";

  Respond respond = take_stashed_respond();
  ASSERT_TRUE(respond);
  Response response;
  response.body = "finished";
  respond(std::move(response));
  stopper.join();
  in_flight_client.join();
  ASSERT_TRUE(in_flight_response);
  EXPECT_EQ(in_flight_response->status, 200);
  EXPECT_EQ(in_flight_response->body, "finished");
  EXPECT_EQ(in_flight_response->header("connection"), "close");

  Client refused(port_);
  EXPECT_FALSE(refused.connected());
  server_->stop();  // idempotent
  server_->wait();  // returns: already stopped
}

TEST_F(ServerTest, WaitReturnsWhenAnotherThreadStops) {
  start(base_options());
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    server_->wait();
    returned = true;
  });
  // The waiter is inside wait(), having found the server running and blocked (not merely not yet
  // returned); it stays there while the server serves.
  EXPECT_TRUE(eventually([&] { return server_->threads_in_wait() == 1; }));
  EXPECT_FALSE(returned.load());
  Client client(port_);
  auto served = client.request(make_request("GET", "/hello"));
  EXPECT_TRUE(served && served->body == "hello");
  EXPECT_EQ(server_->threads_in_wait(), 1u);
  EXPECT_FALSE(returned.load());
  server_->stop();
  waiter.join();
  EXPECT_TRUE(returned.load());
  EXPECT_EQ(server_->threads_in_wait(), 0u);
}

TEST_F(ServerTest, AccessLogHasTheFieldsAndNeverSecrets) {
  start(base_options());
  Client client(port_);
  const std::string body = R"({"login":"merchant","pass":"SECRET123","amount":"10.00"})";
  auto response = client.request(make_request("POST", "/echo-size?token=QUERYSECRET", body,
                                              {"Authorization: Bearer SECRETTOKEN",
                                               "X-Request-Id: trace-me-1", "Cookie: session=COOKIESECRET"}));
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200);
  std::vector<std::string> lines;
  ASSERT_TRUE(eventually([&] {
    lines = log_lines();
    return !lines.empty();
  }));
  ASSERT_EQ(lines.size(), 1u);
  const std::string& line = lines.front();
  EXPECT_EQ(line.front(), '{');
  EXPECT_EQ(line.back(), '}');
  EXPECT_EQ(line.find('\n'), std::string::npos);
  for (std::string_view field :
       {R"("ts":")", R"("request_id":"trace-me-1")", R"("remote":"127.0.0.1")", R"("method":"POST")",
        R"("route":"echo_size")", R"("path":"/echo-size")", R"("status":200)", R"("bytes_in":)",
        R"("bytes_out":)", R"("duration_ms":)"}) {
    EXPECT_TRUE(contains(line, field)) << field << " missing in " << line;
  }
  const auto number_after = [&line](std::string_view key) -> uint64_t {
    const size_t at = line.find(key);
    return at == std::string::npos ? 0 : std::stoull(line.substr(at + key.size()));
  };
  EXPECT_GE(number_after("\"bytes_in\":"), body.size() + 100);  // request line + headers + body
  EXPECT_GE(number_after("\"bytes_out\":"), response->body.size() + 40);
  for (std::string_view secret : {"SECRET123", "SECRETTOKEN", "QUERYSECRET", "COOKIESECRET", "merchant",
                                  "Authorization", "token="}) {
    EXPECT_FALSE(contains(line, secret)) << secret << " leaked into " << line;
  }
}

TEST_F(ServerTest, ErrorsTheServerAnswersItselfAreLoggedAndCounted) {
  start(base_options());
  {
    Client client(port_);
    auto response = client.request(make_request("POST", "/echo-size?pass=QUERYSECRET", std::string(70000, 's')));
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status, 413);
  }
  {
    Client client(port_);
    auto response = client.request("BROKEN\r\n\r\n");
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status, 400);
  }
  std::vector<std::string> lines;
  ASSERT_TRUE(eventually([&] {
    lines = log_lines();
    return lines.size() == 2;
  }));
  // The two connections finish independently: find each line by content, not by order.
  const std::string both = lines[0] + "\n" + lines[1];
  EXPECT_TRUE(contains(both, R"("route":"echo_size","path":"/echo-size","status":413)")) << both;
  EXPECT_TRUE(contains(both, R"("route":"invalid","path":"","status":400)")) << both;
  EXPECT_FALSE(contains(both, "QUERYSECRET"));
  EXPECT_EQ(metrics_.counter("payoutd_http_requests_total", "",
                             {{"route", "echo_size"}, {"method", "POST"}, {"status", "413"}})
                .value(),
            1u);
  EXPECT_EQ(metrics_.counter("payoutd_http_requests_total", "",
                             {{"route", "invalid"}, {"method", "other"}, {"status", "400"}})
                .value(),
            1u);
}

TEST_F(ServerTest, HandlerHeadersCannotBreakFraming) {
  start(base_options());
  Client client(port_);
  auto response = client.request(make_request("GET", "/bad-headers"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "ok");
  EXPECT_EQ(response->header("x-ok"), "1");
  EXPECT_FALSE(response->header("x-evil").has_value());
  EXPECT_FALSE(response->header("injected").has_value());
  EXPECT_EQ(response->header("content-length"), "2");
  EXPECT_NE(response->header("connection"), "close");
  auto bad_status = client.request(make_request("GET", "/bad-status"));
  ASSERT_TRUE(bad_status);
  EXPECT_EQ(bad_status->status, 500);
}

TEST_F(ServerTest, TwoHundredConcurrentConnectionsTwentyRequestsEach) {
  ServerOptions options = base_options();
  options.io_threads = 4;
  start(std::move(options));
  constexpr int kConnections = 200;
  constexpr int kRequests = 20;
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> clients;
  clients.reserve(kConnections);
  for (int c = 0; c < kConnections; ++c) {
    clients.emplace_back([&, c] {
      Client client(port_, 10000);
      for (int r = 0; r < kRequests; ++r) {
        const std::string id = std::to_string(c) + "-" + std::to_string(r);
        auto response = client.request(make_request("GET", "/items/" + id));
        if (response && response->status == 200 && response->body == id) {
          ++ok;
        } else {
          ++failed;
        }
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(ok.load(), kConnections * kRequests);
  EXPECT_EQ(failed.load(), 0);
  Client after(port_);
  auto status = after.request(make_request("GET", "/status"));
  ASSERT_TRUE(status);
  EXPECT_EQ(status->status, 200);
}

TEST_F(ServerTest, ConnectionsBeyondTheMaximumAreClosedAtOnce) {
  ServerOptions options = base_options();
  options.max_connections = 2;
  start(std::move(options));
  auto first = std::make_unique<Client>(port_);
  Client second(port_);
  ASSERT_TRUE(first->request(make_request("GET", "/hello")));
  ASSERT_TRUE(second.request(make_request("GET", "/hello")));
  Client third(port_);
  ASSERT_TRUE(third.connected());  // the kernel accepts; the server closes it
  EXPECT_TRUE(third.wait_closed(3000));
  EXPECT_EQ(metrics_.counter("payoutd_http_connections_rejected_total", "").value(), 1u);

  first.reset();  // frees a place
  EXPECT_TRUE(eventually([&] {
    Client again(port_);
    auto response = again.request(make_request("GET", "/hello"));
    return response && response->status == 200;
  }));
}

TEST(ServerStartTest, StartErrorsAreStatuses) {
  Metrics metrics;
  Router router;
  ServerOptions options;
  options.port = 0;
  options.io_threads = 1;
  Server first(options, router, metrics, {});
  ASSERT_TRUE(first.start().is_ok());
  EXPECT_EQ(first.start().kind(), ErrorKind::kInvalidArgument);  // at most once

  ServerOptions taken = options;
  taken.port = first.bound_port();
  Server second(taken, router, metrics, {});
  const Status in_use = second.start();
  EXPECT_EQ(in_use.kind(), ErrorKind::kUnavailable) << in_use.to_string();

  ServerOptions bad_address = options;
  bad_address.listen_address = "localhost:80";
  Server third(bad_address, router, metrics, {});
  EXPECT_EQ(third.start().kind(), ErrorKind::kInvalidArgument);

  ServerOptions bad_limits = options;
  bad_limits.max_body_bytes = 0;
  Server fourth(bad_limits, router, metrics, {});
  EXPECT_EQ(fourth.start().kind(), ErrorKind::kInvalidArgument);

  Server never_started(options, router, metrics, {});
  never_started.wait();  // returns at once
  never_started.stop();
}

TEST(SignalTest, WaitForTerminationSignalReturnsTheSignal) {
  sigset_t old_mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &old_mask);
  block_termination_signals();
  ASSERT_EQ(pthread_kill(pthread_self(), SIGTERM), 0);  // pending: blocked in this thread
  EXPECT_EQ(wait_for_termination_signal(), SIGTERM);
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
}

}  // namespace
}  // namespace payoutd::http
