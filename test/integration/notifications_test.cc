// Notifications end to end (notifications.md): real `payoutd serve` processes with the engine and
// the dispatcher running, a real local HTTP receiver (integration/receiver.h), a real database.
//
// 1. Both formats as a receiver verifies them: the v3 form with its `control`, the v1 event with
//    Payoutd-Signature; the event carries the payout as of that event.
// 2. Retries: a receiver failing three times gets the notification on the fourth attempt, after
//    the configured backoff; later events of the same payout wait; other payouts do not.
// 3. kill -9 between commit and delivery: after a restart every committed change is delivered,
//    nothing is invented.
// 4. A receiver that never answers costs at most its timeout and its per-destination slots; a
//    healthy receiver is served meanwhile.
// 5. Without --allow-private-callbacks, loopback and private targets are refused with a recorded
//    reason and no connection.
// 6. v3 notifications only when the v3 numeric status changes (processing -> settling: none).
// 7. The v1 webhook endpoints and the operator CLI (list, redeliver).
//
// Time: the servers read the sandbox's test clock, which stands still until a test moves it. The
// tests move it only through the clock driver (driver(true): from one scheduled engine or
// dispatcher event to the next, once every engine and dispatcher is idle), so a retry happens at
// exactly the clock time the dispatcher scheduled, and delays are asserted on that clock (the
// outbox and delivery_attempts rows), never on wall time. Only test 4 spends real time: the HTTP
// client's timeout against a receiver that never answers is a real network timeout.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "crypto/hash.h"
#include "integration/engine_support.h"
#include "integration/receiver.h"
#include "integration/v3_support.h"

namespace payoutd::testing::engine_it {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string quoted(const std::string& text) { return v3::json_string(text); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string form_decode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() + 0 && hex_value(text[i + 1]) >= 0 &&
               hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// application/x-www-form-urlencoded, in order.
Fields parse_form(const std::string& body) {
  Fields fields;
  size_t start = 0;
  while (start <= body.size()) {
    size_t end = body.find('&', start);
    if (end == std::string::npos) end = body.size();
    const std::string pair = body.substr(start, end - start);
    const size_t equals = pair.find('=');
    if (equals != std::string::npos) {
      fields.emplace_back(form_decode(pair.substr(0, equals)), form_decode(pair.substr(equals + 1)));
    }
    start = end + 1;
  }
  return fields;
}

std::string field(const Fields& fields, const std::string& name) {
  for (const auto& [key, value] : fields) {
    if (key == name) return value;
  }
  return "<absent>";
}

// The event id, type and payout status of a v1 webhook body.
struct V1Event {
  std::string id;
  std::string type;
  std::string payout_id;
  std::string payout_status;
};

V1Event v1_event(const std::string& body) {
  V1Event event;
  std::optional<json::Value> parsed = parse_json(body);
  if (!parsed) return event;
  event.id = member_text(*parsed, "id");
  event.type = member_text(*parsed, "type");
  const json::Value* data = parsed->find("data");
  const json::Value* payout = data != nullptr ? data->find("payout") : nullptr;
  if (payout != nullptr) {
    event.payout_id = member_text(*payout, "id");
    event.payout_status = member_text(*payout, "status");
  }
  return event;
}

// The `t` of a "t=<seconds>,v1=<hex>" Payoutd-Signature; -1 when the header is malformed.
int64_t signature_time(const ReceivedRequest& request) {
  static const std::regex kPattern(R"(^t=(\d+),v1=([0-9a-f]{64})$)");
  const std::string header = request.header("Payoutd-Signature");
  std::smatch match;
  if (!std::regex_match(header, match, kPattern)) return -1;
  return std::stoll(match[1].str());
}

// Checks "t=<seconds>,v1=<hex>" against the endpoint secret, as a receiver would, with the
// servers' time (the sandbox's test clock, `now_micros`) as "now".
::testing::AssertionResult signature_valid(const ReceivedRequest& request,
                                           const std::string& secret, int64_t now_micros) {
  static const std::regex kPattern(R"(^t=(\d+),v1=([0-9a-f]{64})$)");
  const std::string header = request.header("Payoutd-Signature");
  std::smatch match;
  if (!std::regex_match(header, match, kPattern)) {
    return ::testing::AssertionFailure() << "bad Payoutd-Signature '" << header << "'";
  }
  const int64_t t = std::stoll(match[1].str());
  if (std::llabs(now_micros / 1'000'000 - t) > 300) {
    return ::testing::AssertionFailure() << "timestamp " << t << " is not within 5 minutes of "
                                         << now_micros / 1'000'000;
  }
  const std::string expected =
      crypto::hex_lower(crypto::hmac_sha256(secret, match[1].str() + "." + request.body));
  if (match[2].str() != expected) {
    return ::testing::AssertionFailure() << "v1 signature " << match[2].str() << " != " << expected;
  }
  return ::testing::AssertionSuccess();
}

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

class NotificationsTest : public EngineTest {
 protected:
  // On the sandbox's test clock: retries, leases and the rail's delays happen when the test moves
  // the clock, so their times are asserted exactly.
  // Fast timings: the engine every 20 ms, the dispatcher every 20 ms, first retry after
  // `backoff_initial_ms` doubling without jitter (notify_backoff_jitter_percent = 0: the exact
  // schedule, no randomness drawn), 1 s per attempt, leases of 2 s.
  std::string notify_config(int64_t backoff_initial_ms = 300, int64_t timeout_ms = 1000,
                            EngineConfig config = fast_paths_config()) {
    config.set("notify_poll_interval_ms", 20)
        .set("notify_backoff_initial_ms", backoff_initial_ms)
        .set("notify_backoff_max_ms", std::max<int64_t>(backoff_initial_ms, 5000))
        .set("notify_backoff_jitter_percent", 0)
        .set("notify_timeout_ms", timeout_ms)
        .set("notify_connect_timeout_ms", std::min<int64_t>(timeout_ms, 1000))
        .set("notify_lease_ms", timeout_ms + 1000);
    return write_config(config, "notify");
  }

  ServerProcess& start(const std::string& config_path, bool allow_private = true,
                       const std::string& connector = "manual") {
    std::vector<std::string> extra{"--connector", connector};
    if (allow_private) extra.push_back("--allow-private-callbacks");
    return start_server(config_path, EngineMode::kRunning, extra);
  }

  Merchant merchant_on(int port, const std::string& name) {
    Merchant merchant = add_merchant(name, "100000.00", "100000.00");
    login(port, merchant);
    return merchant;
  }

  // POST /api/v1/webhooks; returns {id, secret}.
  std::pair<std::string, std::string> add_endpoint(Api& api, const std::string& url,
                                                   const std::string& events_json = "") {
    std::string body = "{\"url\":" + quoted(url);
    if (!events_json.empty()) body += ",\"events\":" + events_json;
    body += "}";
    HttpResponse created = api.v1("POST", "/api/v1/webhooks", body);
    EXPECT_EQ(created.status, 201) << created.body;
    std::optional<json::Value> parsed = parse_json(created.body);
    if (!parsed) return {};
    return {member_text(*parsed, "id"), member_text(*parsed, "secret")};
  }

  // A v3 cashout with its own notification_url; returns its ids.
  PayoutIds create_v3_to(Api& api, const std::string& external_id, const std::string& url,
                         const std::string& bank_account = "000000001") {
    std::string body = api.v3_create_body(external_id, bank_account);
    const std::string from = "\"https://merchant.example/notify\"";
    const size_t at = body.find(from);
    EXPECT_NE(at, std::string::npos);
    body.replace(at, from.size(), quoted(url));
    HttpResponse created = api.v3("POST", "/v3/cashout", body, /*retry=*/false);
    EXPECT_EQ(created.status, 200) << created.body;
    PayoutIds ids;
    std::optional<json::Value> parsed = parse_json(created.body);
    if (!parsed) return ids;
    ids.cashout_id = member_text(*parsed, "cashout_id");
    ids.public_id = trim(sandbox_.sql("SELECT public_id FROM payouts WHERE cashout_id = " +
                                      ids.cashout_id + ";"));
    return ids;
  }

  HttpResponse cancel_v3(Api& api, const PayoutIds& ids, const std::string& external_id) {
    return api.v3("DELETE", "/v3/cashout/cancel",
                  api.v3_body({{"cashout_id", ids.cashout_id},
                               {"external_id", quoted(external_id)}}));
  }

  std::string sql_text(const std::string& statement) { return trim(sandbox_.sql(statement)); }

  int64_t sql_int(const std::string& statement) {
    const std::string text = sql_text(statement);
    if (text.empty() || text.find_first_not_of("-0123456789") != std::string::npos) {
      ADD_FAILURE() << statement << " answered '" << text << "', not a number";
      return -1;
    }
    return std::stoll(text);
  }
  // The integers `statement` prints, one a row.
  std::vector<int64_t> sql_ints(const std::string& statement) {
    std::vector<int64_t> values;
    std::istringstream rows(sandbox_.sql(statement));
    std::string line;
    while (std::getline(rows, line)) {
      if (line.empty() || line.find_first_not_of("-0123456789") != std::string::npos) {
        ADD_FAILURE() << statement << " printed '" << line << "', not a number";
        continue;
      }
      values.push_back(std::stoll(line));
    }
    return values;
  }

  // Moves the test clock from event to event (every running engine and dispatcher watched) until
  // `done` holds; `done` is checked each time all of them are idle, i.e. at every clock value the
  // servers rest at. Real time bounds the wait only (`deadline_ms`); false (a failure recorded)
  // when it passed or nothing is scheduled any more.
  bool drive_until(const std::function<bool()>& done, int deadline_ms = 30000) {
    return driver(/*with_dispatchers=*/true).run_until(done, deadline_ms);
  }
  // drive_until `statement` answers `wanted`.
  bool drive_until_sql(const std::string& statement, const std::string& wanted,
                       int deadline_ms = 30000) {
    std::string answer;
    const bool reached = drive_until(
        [&] {
          answer = sql_text(statement);
          return answer == wanted;
        },
        deadline_ms);
    EXPECT_TRUE(reached) << statement << " answered '" << answer << "', not '" << wanted << "'";
    return reached;
  }
  // drive_until the payout's "status/connector_state" is `wanted` (wait_for_state, with the
  // dispatchers watched too, so the clock never moves past a notification that is due).
  bool drive_to_state(const std::string& cashout_id, const std::string& wanted) {
    return drive_until_sql("SELECT status || '/' || connector_state FROM payouts WHERE "
                           "cashout_id = " + cashout_id + ";",
                           wanted);
  }
  // drive_until `receiver` holds at least `count` requests for `path`.
  bool drive_until_received(const Receiver& receiver, size_t count, std::string_view path) {
    const bool reached = drive_until([&] { return receiver.requests_for(path).size() >= count; });
    EXPECT_TRUE(reached) << receiver.requests_for(path).size() << " requests for " << path
                         << ", not " << count;
    return reached;
  }
  bool wait_until_all_delivered(int deadline_ms = 30000) {
    return drive_until_sql("SELECT count(*) FROM outbox WHERE status != 'delivered';", "0",
                           deadline_ms);
  }

  // Polls (bounded, real time) until `statement` answers `wanted`, without moving the clock: for
  // the one test where a delivery hangs on a real network timeout, so the dispatcher is never idle
  // and the clock driver cannot be used. Waits for a condition, not for time to pass.
  bool poll_sql_without_clock(const std::string& statement, const std::string& wanted,
                              int deadline_ms) {
    return eventually([&] { return sql_text(statement) == wanted; }, deadline_ms, 5);
  }

  // For every delivery attempt in id order: its start on the clock minus its outbox row's
  // creation (the commit of its event), in microseconds; "0" for each attempt made at the very
  // moment its event was committed.
  std::string attempt_delays() {
    return sandbox_.sql_joined(
        "SELECT CAST(d.started_at - o.created_at AS TEXT) FROM delivery_attempts d "
        "JOIN outbox o ON o.id = d.outbox_id ORDER BY d.id;");
  }
};

// ---------------------------------------------------------------------------------------------
// 1. Both formats, verified as a merchant's receiver verifies them.

TEST_F(NotificationsTest, BothFormatsAreSignedAndCarryThePayoutAsOfTheEvent) {
  Receiver receiver;
  ServerProcess& server = start(notify_config());
  Merchant merchant = merchant_on(server.port(), "acme");
  Api api(server.port(), merchant);
  const auto [endpoint_id, secret] = add_endpoint(api, receiver.url("/v1"));
  ASSERT_EQ(secret.rfind("whsec_", 0), 0u) << secret;

  const PayoutIds ids = create_v3_to(api, "ntf-1", receiver.url("/v3"));
  ASSERT_FALSE(ids.cashout_id.empty());
  // The manual connector stops at queued: created -> queued (same v3 code 0: no v3 notification).
  ASSERT_TRUE(drive_to_state(ids.cashout_id, "queued/none"));
  HttpResponse cancelled = cancel_v3(api, ids, "ntf-1");
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;

  ASSERT_TRUE(drive_until_received(receiver, 1, "/v3"));
  ASSERT_TRUE(drive_until_received(receiver, 3, "/v1"));
  ASSERT_TRUE(wait_until_all_delivered());
  // A healthy receiver gets each notification at the very moment (on the clock) its event was
  // committed: one attempt each, none waiting for time to pass.
  EXPECT_EQ(attempt_delays(), "0,0,0,0");

  // v3: the form fields in notifications.md's order, `control` = HMAC(secret_key, Be4+id+Bo7).
  const std::vector<ReceivedRequest> v3 = receiver.requests_for("/v3");
  ASSERT_EQ(v3.size(), 1u);
  EXPECT_EQ(v3[0].method, "POST");
  EXPECT_EQ(v3[0].header("Content-Type"), "application/x-www-form-urlencoded");
  const Fields fields = parse_form(v3[0].body);
  std::vector<std::string> names;
  for (const auto& [name, value] : fields) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"date", "bank_reference_id", "comments", "external_id",
                                             "control", "cashout_id", "status_reason"}));
  EXPECT_EQ(field(fields, "external_id"), "ntf-1");
  EXPECT_EQ(field(fields, "cashout_id"), ids.cashout_id);
  EXPECT_EQ(field(fields, "bank_reference_id"), "");
  EXPECT_EQ(field(fields, "status_reason"), "");
  EXPECT_TRUE(std::regex_match(field(fields, "date"),
                               std::regex(R"(^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$)")))
      << field(fields, "date");
  EXPECT_EQ(field(fields, "control"),
            crypto::hex_upper(crypto::hmac_sha256(merchant.v3_secret_key, "Be4ntf-1Bo7")));

  // v1: created, queued, cancelled in event order, each signed, each with its own event id and
  // the payout as of that event.
  const std::vector<ReceivedRequest> v1 = receiver.requests_for("/v1");
  ASSERT_EQ(v1.size(), 3u);
  const std::vector<std::string> types = {"payout.created", "payout.queued", "payout.cancelled"};
  const std::string suffix = ids.public_id.substr(4);
  for (size_t i = 0; i < v1.size(); ++i) {
    SCOPED_TRACE("v1 event " + std::to_string(i));
    EXPECT_EQ(v1[i].header("Content-Type"), "application/json");
    EXPECT_TRUE(signature_valid(v1[i], secret, sandbox_.clock_micros()));
    const V1Event event = v1_event(v1[i].body);
    EXPECT_EQ(event.type, types[i]);
    EXPECT_EQ(event.id, "evt_" + suffix + "_" + std::to_string(i + 1));
    EXPECT_EQ(v1[i].header("Payoutd-Event-Id"), event.id);
    EXPECT_EQ(event.payout_id, ids.public_id);
    EXPECT_EQ("payout." + event.payout_status, event.type);
  }

  // The delivery log through the API.
  HttpResponse deliveries = api.v1("GET", "/api/v1/webhooks/" + endpoint_id + "/deliveries");
  ASSERT_EQ(deliveries.status, 200) << deliveries.body;
  std::optional<json::Value> log = parse_json(deliveries.body);
  ASSERT_TRUE(log && log->is_array());
  ASSERT_EQ(log->items().size(), 3u);
  for (const json::Value& attempt : log->items()) {
    EXPECT_EQ(member_text(attempt, "result"), "delivered");
    EXPECT_EQ(member_text(attempt, "http_status"), "200");
    EXPECT_EQ(member_text(attempt, "attempt"), "1");
  }
  EXPECT_EQ(deliveries.header("x-total-count").value_or(""), "3");

  // The dispatcher's series on /metrics.
  HttpResponse metrics = api.v1("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("payoutd_notification_attempts_total{result=\"delivered\"} 4"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("payoutd_notifications_pending 0"), std::string::npos);
  EXPECT_NE(metrics.body.find("payoutd_notifications_failed 0"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// 2. Retries with backoff; order per payout; other payouts are not held up.

TEST_F(NotificationsTest, FailingReceiverGetsItOnTheFourthAttemptInOrderWithoutHoldingOthers) {
  Receiver receiver;
  ReceiverBehaviour flaky;
  flaky.status_sequence = {500, 503, 500};
  receiver.set_behaviour("/v1", flaky);
  constexpr int64_t kBackoffMs = 400;
  ServerProcess& server = start(notify_config(kBackoffMs));
  Merchant merchant = merchant_on(server.port(), "acme");
  Api api(server.port(), merchant);
  const auto [endpoint_id, secret] = add_endpoint(api, receiver.url("/v1"));

  // Payout A: three events to the failing endpoint (created, queued, cancelled).
  const PayoutIds a = create_v1(api, "ref-a", "000000001");
  ASSERT_FALSE(a.public_id.empty());
  const std::string a_event = "evt_" + a.public_id.substr(4) + "_";

  // Looked at every time the servers are idle, i.e. at every clock value they rest at (the clock
  // moves only between two looks): the clock value at which each /v1 request was first seen, and
  // the retry time the dispatcher scheduled for A's first event after each of its failed attempts
  // (failed attempts -> next_attempt_at).
  std::vector<int64_t> v1_seen_at;
  std::map<int64_t, int64_t> a_retry_at;
  auto observe = [&] {
    const size_t requests = receiver.requests_for("/v1").size();
    while (v1_seen_at.size() < requests) v1_seen_at.push_back(sandbox_.clock_micros());
    const std::string row = sql_text(
        "SELECT CAST(attempts AS TEXT) || '|' || CAST(next_attempt_at AS TEXT) FROM outbox "
        "WHERE event_id = '" + a_event + "1' AND status = 'pending' AND attempts > 0;");
    const size_t bar = row.find('|');
    if (bar != std::string::npos) {
      a_retry_at[std::stoll(row.substr(0, bar))] = std::stoll(row.substr(bar + 1));
    }
  };
  ASSERT_TRUE(drive_until([&] {
    observe();
    return engine_state(a.cashout_id) == "queued/none";
  }));
  HttpResponse cancelled = api.v1("POST", "/api/v1/payouts/" + a.public_id + "/cancel", "{}");
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  // A's first event failed once and waits for its first retry.
  const std::string a_first_state = "SELECT status || ':' || CAST(attempts AS TEXT) FROM outbox "
                                    "WHERE event_id = '" + a_event + "1';";
  ASSERT_EQ(sql_text(a_first_state), "pending:1");

  // Payout B of another merchant (no webhook endpoint; a v3 URL of its own) while A's first
  // event is failing.
  Merchant other = merchant_on(server.port(), "other");
  Api other_api(server.port(), other);
  const PayoutIds b = create_v3_to(other_api, "ref-b", receiver.url("/b"));
  ASSERT_EQ(cancel_v3(other_api, b, "ref-b").status, 200);
  ASSERT_TRUE(drive_until([&] {
    observe();
    return receiver.requests_for("/b").size() >= 1;
  }));
  // B went out while A still waited for its first retry.
  EXPECT_EQ(sql_text(a_first_state), "pending:1");

  ASSERT_TRUE(drive_until([&] {
    observe();
    return sql_text("SELECT count(*) FROM outbox WHERE status != 'delivered';") == "0";
  })) << receiver.requests_for("/v1").size() << " requests";
  observe();

  std::vector<ReceivedRequest> a_requests;
  for (const ReceivedRequest& request : receiver.requests_for("/v1")) {
    if (v1_event(request.body).payout_id == a.public_id) a_requests.push_back(request);
  }
  ASSERT_EQ(a_requests.size(), 6u);
  ASSERT_EQ(v1_seen_at.size(), 6u);
  std::vector<std::string> seen;
  for (size_t i = 0; i < a_requests.size(); ++i) {
    seen.push_back(v1_event(a_requests[i].body).type);
    EXPECT_TRUE(signature_valid(a_requests[i], secret, sandbox_.clock_micros()));
    // Each attempt is signed when it is made (the clock then), not when its event was committed.
    EXPECT_EQ(signature_time(a_requests[i]), v1_seen_at[i] / 1'000'000) << "request " << i;
  }
  // The first event four times (three failures), then the later ones: never out of order.
  EXPECT_EQ(seen, (std::vector<std::string>{"payout.created", "payout.created", "payout.created",
                                            "payout.created", "payout.queued",
                                            "payout.cancelled"}));

  // The delivery log has every attempt: three failures with their statuses, then deliveries.
  EXPECT_EQ(sandbox_.sql_joined("SELECT result || ':' || coalesce(CAST(http_status AS TEXT), '-') "
                                "FROM delivery_attempts WHERE event_id = '" + a_event +
                                "1' ORDER BY id;"),
            "failed:500,failed:503,failed:500,delivered:200");
  const std::vector<int64_t> started = sql_ints(
      "SELECT started_at FROM delivery_attempts WHERE event_id = '" + a_event + "1' ORDER BY id;");
  ASSERT_EQ(started.size(), 4u);

  // Backoff on the clock, without jitter: exactly 400, 800, 1600 ms; each retry made exactly when
  // it was scheduled, so the fourth attempt comes exactly 2800 ms after the first.
  int64_t backoff_sum_us = 0;
  for (int retry = 1; retry <= 3; ++retry) {
    SCOPED_TRACE("retry " + std::to_string(retry));
    ASSERT_EQ(a_retry_at.count(retry), 1u) << "no retry was seen scheduled after attempt " << retry;
    const int64_t delay_us = a_retry_at[retry] - started[retry - 1];
    const int64_t floor_us = (kBackoffMs << (retry - 1)) * 1000;
    EXPECT_EQ(delay_us, floor_us);
    EXPECT_EQ(started[retry], a_retry_at[retry]);
    backoff_sum_us += delay_us;
  }
  EXPECT_EQ(started[3] - started[0], backoff_sum_us);
  EXPECT_EQ(backoff_sum_us, 7 * kBackoffMs * 1000);
  // Each request reached the receiver at the clock of its attempt; the later events waited for
  // the first and followed it at once (no backoff of their own).
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(v1_seen_at[i], started[i]) << "request " << i;
  EXPECT_EQ(v1_seen_at[4], started[3]);
  EXPECT_EQ(v1_seen_at[5], started[3]);
  EXPECT_EQ(sandbox_.sql_joined("SELECT CAST(started_at AS TEXT) FROM delivery_attempts WHERE "
                                "event_id IN ('" + a_event + "2', '" + a_event + "3') ORDER BY id;"),
            std::to_string(started[3]) + "," + std::to_string(started[3]));

  // B's notification did not wait for A's failing sequence: its one attempt was made at the
  // moment its cancellation was committed, before A's first retry (on the clock, and in the
  // order the receiver saw the requests: after A's first attempt only).
  const std::vector<int64_t> b_attempts = sql_ints(
      "SELECT d.started_at FROM delivery_attempts d JOIN outbox o ON o.id = d.outbox_id WHERE "
      "o.cashout_id = " + b.cashout_id + " ORDER BY d.id;");
  ASSERT_EQ(b_attempts.size(), 1u);
  EXPECT_EQ(b_attempts[0],
            sql_int("SELECT created_at FROM outbox WHERE cashout_id = " + b.cashout_id + ";"));
  EXPECT_LT(b_attempts[0], started[1]);
  EXPECT_LT(b_attempts[0], started[3]);
  ASSERT_EQ(receiver.requests_for("/b").size(), 1u);
  size_t v1_before_b = 0;
  for (const ReceivedRequest& request : receiver.requests()) {
    if (request.path() == "/b") break;
    if (request.path() == "/v1") ++v1_before_b;
  }
  EXPECT_EQ(v1_before_b, 1u);
}

// ---------------------------------------------------------------------------------------------
// 3. kill -9 between commit and delivery.

TEST_F(NotificationsTest, KillNineBetweenCommitAndDeliveryLosesNothingAndInventsNothing) {
  Receiver receiver;
  ReceiverBehaviour down;
  down.then_status = 503;
  receiver.set_behaviour("/v3", down);
  receiver.set_behaviour("/v1", down);
  const std::string config = notify_config(/*backoff_initial_ms=*/200);
  ServerProcess& first = start(config);
  Merchant merchant = merchant_on(first.port(), "acme");
  Api api(first.port(), merchant);
  add_endpoint(api, receiver.url("/v1"));

  // Commits while every delivery fails: v3 cashouts (half cancelled) and v1 payouts (half
  // cancelled); the engine screens them (manual connector: created -> queued).
  std::vector<std::string> cashouts;
  for (int i = 0; i < 24; ++i) {
    const std::string external_id = "k-" + std::to_string(i);
    const PayoutIds ids = create_v3_to(api, external_id, receiver.url("/v3"));
    ASSERT_FALSE(ids.cashout_id.empty());
    cashouts.push_back(ids.cashout_id);
    if (i % 2 == 0) {
      EXPECT_EQ(cancel_v3(api, ids, external_id).status, 200);
    }
  }
  for (int i = 0; i < 12; ++i) {
    const PayoutIds ids = create_v1(api, "kv1-" + std::to_string(i), "000000001");
    ASSERT_FALSE(ids.public_id.empty());
    if (i % 2 == 0) {
      EXPECT_EQ(api.v1("POST", "/api/v1/payouts/" + ids.public_id + "/cancel", "{}").status, 200);
    }
  }
  ASSERT_TRUE(receiver.wait_for(10, 10000));  // the dispatcher is busy failing
  kill_server(0);

  ReceiverBehaviour up;
  receiver.set_behaviour("/v3", up);
  receiver.set_behaviour("/v1", up);
  const size_t before_restart = receiver.requests().size();
  ServerProcess& second = start(config);
  ASSERT_TRUE(second.started());
  // The clock moves to each retry and to the end of each lease the killed instance held.
  ASSERT_TRUE(wait_until_all_delivered(60000))
      << sql_text("SELECT status, count(*) FROM outbox GROUP BY status;");

  // What must have been sent, computed from the events (not from the outbox): a v1 event per
  // payout event; a v3 notification per change of the v3 numeric status.
  const std::map<std::string, int> v3_code = {
      {"created", 0}, {"queued", 0},    {"on_hold", 5},    {"processing", 4}, {"settling", 4},
      {"action_required", 5}, {"completed", 1}, {"failed", 3}, {"cancelled", 2}, {"expired", 3}};
  std::istringstream rows(sandbox_.sql(
      "SELECT p.public_id, p.cashout_id, e.seq, coalesce(e.from_status, ''), e.to_status, "
      "CASE WHEN p.notification_url IS NOT NULL THEN 1 ELSE 0 END FROM payout_events e "
      "JOIN payouts p USING (cashout_id) "
      "ORDER BY p.cashout_id, e.seq;"));
  std::set<std::string> expected_v1;
  std::map<std::string, int> expected_v3;  // cashout id -> notifications
  std::string line;
  while (std::getline(rows, line)) {
    std::vector<std::string> column;
    std::stringstream split(line);
    std::string cell;
    while (std::getline(split, cell, '|')) column.push_back(cell);
    ASSERT_EQ(column.size(), 6u) << line;
    expected_v1.insert("evt_" + column[0].substr(4) + "_" + column[2]);
    if (!column[3].empty() && column[5] == "1" && v3_code.at(column[3]) != v3_code.at(column[4])) {
      expected_v3[column[1]] += 1;
    }
  }
  // Each payout has its creation, the cancelled ones their cancellation (and each its screening
  // when the engine got to it first).
  ASSERT_GE(expected_v1.size(), 24u + 12u + 12u + 6u);

  std::set<std::string> delivered_v1;
  std::map<std::string, int> delivered_v3;
  const std::vector<ReceivedRequest> all = receiver.requests();
  for (size_t i = 0; i < all.size(); ++i) {
    const ReceivedRequest& request = all[i];
    if (request.path() == "/v1") {
      const std::string id = v1_event(request.body).id;
      EXPECT_EQ(expected_v1.count(id), 1u) << "invented v1 event " << id;
      if (i >= before_restart) delivered_v1.insert(id);
    } else if (request.path() == "/v3") {
      const std::string cashout_id = field(parse_form(request.body), "cashout_id");
      EXPECT_EQ(expected_v3.count(cashout_id), 1u) << "invented v3 notification " << cashout_id;
      if (i >= before_restart) delivered_v3[cashout_id] += 1;
    }
  }
  EXPECT_EQ(delivered_v1, expected_v1);
  for (const auto& [cashout_id, count] : expected_v3) {
    EXPECT_GE(delivered_v3[cashout_id], count) << "cashout " << cashout_id;
  }
  EXPECT_EQ(expected_v3.size(), 12u);  // the cancelled v3 cashouts
  // The outbox holds exactly the expected rows: one per event and destination.
  EXPECT_EQ(sql_text("SELECT count(*) FROM outbox WHERE channel = 'v1';"),
            std::to_string(expected_v1.size()));
  EXPECT_EQ(sql_text("SELECT count(*) FROM outbox WHERE channel = 'v3';"), "12");
}

// ---------------------------------------------------------------------------------------------
// 4. A receiver that never answers.

TEST_F(NotificationsTest, DeadReceiverDoesNotDelayAHealthyOneBeyondItsTimeout) {
  Receiver dead;
  ReceiverBehaviour silent;
  silent.never_answer = true;
  dead.set_behaviour("/dead", silent);
  Receiver healthy;
  constexpr int64_t kTimeoutMs = 3000;
  EngineConfig config = fast_paths_config();
  config.set("notify_workers", 4).set("notify_per_destination_limit", 2);
  ServerProcess& server = start(notify_config(60000, kTimeoutMs, config));
  Merchant merchant = merchant_on(server.port(), "acme");
  Api api(server.port(), merchant);
  // Nothing here waits for the clock: it stands still for the whole test, and the only time spent
  // is the real one of the requests (the sender's timeout is real time).
  const int64_t clock_at_start = sandbox_.clock_micros();

  for (int i = 0; i < 6; ++i) {
    const std::string external_id = "dead-" + std::to_string(i);
    const PayoutIds ids = create_v3_to(api, external_id, dead.url("/dead"));
    ASSERT_EQ(cancel_v3(api, ids, external_id).status, 200);
  }
  ASSERT_TRUE(dead.wait_for(2, 5000, "/dead"));  // both slots of that destination are stuck

  const PayoutIds ids = create_v3_to(api, "alive", healthy.url("/ok"));
  ASSERT_EQ(cancel_v3(api, ids, "alive").status, 200);
  const int64_t committed_ms = steady_ms();
  ASSERT_TRUE(healthy.wait_for(1, static_cast<int>(kTimeoutMs), "/ok"));
  EXPECT_LT(steady_ms() - committed_ms, kTimeoutMs);
  // The dead destination never had more than its limit in flight.
  EXPECT_LE(dead.peak_in_flight("/dead"), 2u);

  // SIGTERM while two attempts hang on the dead receiver: the process does not wait them out
  // (the sender is shut down; the attempts are recorded and retried by the next instance). The
  // healthy attempt is recorded first: its request arriving is not yet its answer being read.
  ASSERT_TRUE(poll_sql_without_clock(
      "SELECT status FROM outbox WHERE cashout_id = " + ids.cashout_id + ";", "delivered", 5000));
  // The healthy notification went out at the very clock time its cancellation was committed.
  EXPECT_EQ(sql_text("SELECT CAST(d.started_at - o.created_at AS TEXT) FROM delivery_attempts d "
                     "JOIN outbox o ON o.id = d.outbox_id WHERE o.cashout_id = " +
                     ids.cashout_id + ";"),
            "0");
  const int64_t stop_started_ms = steady_ms();
  EXPECT_EQ(servers_[0]->stop(), 0);
  EXPECT_LT(steady_ms() - stop_started_ms, kTimeoutMs);
  killed_[0] = true;  // stopped here; TearDown must not stop it again
  EXPECT_EQ(sql_text("SELECT count(*) FROM delivery_attempts WHERE error LIKE 'stopping%';"), "2");
  EXPECT_EQ(sql_text("SELECT count(*) FROM outbox WHERE status = 'pending' AND claimed_by IS NULL "
                     "AND cashout_id IN (SELECT cashout_id FROM payouts WHERE external_id LIKE "
                     "'dead-%');"),
            "6");
  EXPECT_EQ(sandbox_.clock_micros(), clock_at_start);
  dead.stop();
}

// ---------------------------------------------------------------------------------------------
// 5. Outbound safety.

TEST_F(NotificationsTest, PrivateTargetsAreRefusedWithAReasonAndNothingIsSent) {
  Receiver receiver;
  ServerProcess& server = start(notify_config(), /*allow_private=*/false);
  Merchant merchant = merchant_on(server.port(), "acme");
  Api api(server.port(), merchant);

  const PayoutIds loopback = create_v3_to(api, "lo", receiver.url("/x"));
  const PayoutIds private_net = create_v3_to(api, "ten", "http://10.0.0.1/notify");
  ASSERT_EQ(cancel_v3(api, loopback, "lo").status, 200);
  ASSERT_EQ(cancel_v3(api, private_net, "ten").status, 200);

  const int64_t clock_at_commit = sandbox_.clock_micros();
  ASSERT_TRUE(drive_until_sql("SELECT count(*) FROM outbox WHERE status = 'failed';", "2"))
      << sql_text("SELECT status, last_error FROM outbox;");
  // Refused at the first attempt, at once, and never retried: the clock did not have to move.
  EXPECT_EQ(sandbox_.clock_micros(), clock_at_commit);
  EXPECT_EQ(attempt_delays(), "0,0");
  const std::string loopback_error = sql_text(
      "SELECT last_error FROM outbox WHERE cashout_id = " + loopback.cashout_id + ";");
  const std::string private_error = sql_text(
      "SELECT last_error FROM outbox WHERE cashout_id = " + private_net.cashout_id + ";");
  EXPECT_NE(loopback_error.find("loopback"), std::string::npos) << loopback_error;
  EXPECT_NE(private_error.find("private"), std::string::npos) << private_error;
  EXPECT_EQ(sandbox_.sql_joined("SELECT result FROM delivery_attempts ORDER BY id;"),
            "refused,refused");
  EXPECT_EQ(receiver.connections_accepted(), 0u);
}

// ---------------------------------------------------------------------------------------------
// 6. v3 only on numeric status changes.

TEST_F(NotificationsTest, V3NotifiesOnlyWhenTheNumericStatusChanges) {
  Receiver receiver;
  ServerProcess& server = start(notify_config(), true, "sandbox");
  Merchant merchant = merchant_on(server.port(), "acme");
  Api api(server.port(), merchant);
  add_endpoint(api, receiver.url("/v1"));

  const PayoutIds ids = create_v3_to(api, "paid", receiver.url("/v3"), "000000001");
  ASSERT_TRUE(drive_until_sql(
      "SELECT status FROM payouts WHERE cashout_id = " + ids.cashout_id + ";", "completed"));
  ASSERT_TRUE(drive_until_received(receiver, 5, "/v1"));
  ASSERT_TRUE(wait_until_all_delivered());
  // Every notification (5 v1, 2 v3) went out at the clock time its event was committed.
  EXPECT_EQ(attempt_delays(), "0,0,0,0,0,0,0");

  std::vector<std::string> v1_types;
  for (const ReceivedRequest& request : receiver.requests_for("/v1")) {
    v1_types.push_back(v1_event(request.body).type);
  }
  EXPECT_EQ(v1_types, (std::vector<std::string>{"payout.created", "payout.queued",
                                                "payout.processing", "payout.settling",
                                                "payout.completed"}));
  // v3: 0 -> 4 (processing) and 4 -> 1 (completed); created -> queued and processing ->
  // settling keep their number and send nothing.
  const std::vector<ReceivedRequest> v3 = receiver.requests_for("/v3");
  ASSERT_EQ(v3.size(), 2u);
  EXPECT_EQ(field(parse_form(v3[0].body), "bank_reference_id"), "");
  EXPECT_EQ(field(parse_form(v3[1].body), "bank_reference_id"), "SBXBANK" + ids.cashout_id);
  EXPECT_EQ(sandbox_.sql_joined("SELECT e.to_status FROM outbox o JOIN payout_events e "
                                "ON e.cashout_id = o.cashout_id AND e.seq = o.event_seq "
                                "WHERE o.channel = 'v3' ORDER BY o.event_seq;"),
            "processing,completed");
}

// ---------------------------------------------------------------------------------------------
// 7. The v1 webhook endpoints and the operator CLI.

TEST_F(NotificationsTest, WebhookEndpointsApiRefusesBadInputAndRedelivers) {
  Receiver receiver;
  ServerProcess& server = start(notify_config());
  Merchant merchant = merchant_on(server.port(), "acme");
  Merchant other = merchant_on(server.port(), "other");
  Api api(server.port(), merchant);
  Api other_api(server.port(), other);

  // Bad input: 400 with the reason, nothing stored.
  const std::string before = sandbox_.snapshot();
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"not json", "Invalid JSON body"},
      {"[]", "JSON object"},
      {"{}", "url"},
      {"{\"url\":\"ftp://example.com/x\"}", "url"},
      {"{\"url\":\"/relative\"}", "url"},
      {"{\"url\":42}", "url"},
      {"{\"url\":\"https://hooks.example/x\",\"events\":\"payout.cancelled\"}", "events"},
      {"{\"url\":\"https://hooks.example/x\",\"events\":[\"payout.paid\"]}", "payout.paid"},
      {"{\"url\":\"https://hooks.example/x\",\"events\":[7]}", "events[0]"},
      {"{\"url\":\"https://hooks.example/" + std::string(2100, 'a') + "\"}", "2048"},
  };
  for (const auto& [body, reason] : bad) {
    HttpResponse refused = api.v1("POST", "/api/v1/webhooks", body);
    EXPECT_EQ(refused.status, 400) << body << " -> " << refused.body;
    EXPECT_NE(refused.body.find(reason), std::string::npos) << body << " -> " << refused.body;
  }
  EXPECT_EQ(sandbox_.snapshot(), before);
  // Webhook URLs may be longer than a v3 notification_url (300): up to 2048.
  const auto [long_id, long_secret] =
      add_endpoint(api, "https://hooks.example/" + std::string(1500, 'b'));
  EXPECT_FALSE(long_secret.empty());
  EXPECT_EQ(api.v1("DELETE", "/api/v1/webhooks/" + long_id).status, 200);
  HttpResponse anonymous = Api(server.port(), Merchant{}).v1("GET", "/api/v1/webhooks");
  EXPECT_EQ(anonymous.status, 401);

  // Create (subscribed to cancellations only), list without the secret, other merchants see
  // nothing of it.
  const auto [endpoint_id, secret] =
      add_endpoint(api, receiver.url("/hook"), "[\"payout.cancelled\"]");
  ASSERT_TRUE(std::regex_match(endpoint_id, std::regex("^whe_[0-9A-Za-z]{16}$"))) << endpoint_id;
  HttpResponse listed = api.v1("GET", "/api/v1/webhooks");
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(listed.body.find("secret"), std::string::npos) << listed.body;
  EXPECT_NE(listed.body.find(endpoint_id), std::string::npos);
  EXPECT_NE(listed.body.find("[\"payout.cancelled\"]"), std::string::npos) << listed.body;
  EXPECT_EQ(other_api.v1("GET", "/api/v1/webhooks").body, "[]");
  EXPECT_EQ(other_api.v1("GET", "/api/v1/webhooks/" + endpoint_id + "/deliveries").status, 404);
  EXPECT_EQ(other_api.v1("DELETE", "/api/v1/webhooks/" + endpoint_id).status, 404);

  // One cancellation: only payout.cancelled is sent to this endpoint.
  const PayoutIds ids = create_v1(api, "hooked", "000000001");
  ASSERT_EQ(api.v1("POST", "/api/v1/payouts/" + ids.public_id + "/cancel", "{}").status, 200);
  ASSERT_TRUE(drive_until_received(receiver, 1, "/hook"));
  ASSERT_TRUE(wait_until_all_delivered());
  std::vector<ReceivedRequest> hooks = receiver.requests_for("/hook");
  ASSERT_EQ(hooks.size(), 1u);
  const V1Event event = v1_event(hooks[0].body);
  EXPECT_EQ(event.type, "payout.cancelled");

  // Redeliver: the same event again, freshly signed; unknown and foreign events are 404.
  HttpResponse redelivered =
      api.v1("POST", "/api/v1/webhooks/events/" + event.id + "/redeliver", "");
  ASSERT_EQ(redelivered.status, 202) << redelivered.body;
  EXPECT_EQ(redelivered.body, "{\"event_id\":\"" + event.id + "\",\"requeued\":1}");
  ASSERT_TRUE(drive_until_received(receiver, 2, "/hook"));
  hooks = receiver.requests_for("/hook");
  EXPECT_EQ(v1_event(hooks[1].body).id, event.id);
  EXPECT_EQ(hooks[1].body, hooks[0].body);
  EXPECT_TRUE(signature_valid(hooks[1], secret, sandbox_.clock_micros()));
  EXPECT_EQ(other_api.v1("POST", "/api/v1/webhooks/events/" + event.id + "/redeliver", "").status,
            404);
  EXPECT_EQ(api.v1("POST", "/api/v1/webhooks/events/evt_nope/redeliver", "").status, 404);

  // The operator's view and redelivery (every destination of the event).
  ASSERT_TRUE(wait_until_all_delivered());
  ProcessResult list = sandbox_.cli({"--json", "notifications", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find(event.id), std::string::npos) << list.out;
  ProcessResult again = sandbox_.cli({"notifications", "redeliver", event.id});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("Requeued 1"), std::string::npos) << again.out;
  ASSERT_TRUE(drive_until_received(receiver, 3, "/hook"));

  // Delete: nothing more is sent there; deleting again is 404.
  HttpResponse deleted = api.v1("DELETE", "/api/v1/webhooks/" + endpoint_id);
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(deleted.body, "{\"id\":\"" + endpoint_id + "\",\"deleted\":true}");
  EXPECT_EQ(api.v1("DELETE", "/api/v1/webhooks/" + endpoint_id).status, 404);
  EXPECT_EQ(api.v1("GET", "/api/v1/webhooks").body, "[]");
}

}  // namespace
}  // namespace payoutd::testing::engine_it
