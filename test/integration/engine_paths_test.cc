// The engine end to end: real `payoutd serve` processes with the engine running and the sandbox
// connector on short timings, driven only through the two HTTP dialects (plus the operator CLI and
// the database to look, never to move anything).
//
// 1. Every sandbox path (docs: the last three digits of the beneficiary's bank account) in both
//    dialects: the v3 codes and v1 statuses seen while polling, the exact events, the ledger.
// 2. v1 cancels of processing payouts: accepted at once, refused, answered later either way; and
//    the v3 cancel, which never cancels processing.
// 3. Two servers on one database, thousands of payouts: each submitted exactly once, each ends
//    completed or failed, the ledger holds; and a server killed with SIGKILL midway.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <cstdio>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "integration/engine_support.h"

namespace payoutd::testing::engine_it {
namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool is_rfc3339(const std::string& text) {
  static const std::regex kPattern(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$)");
  return std::regex_match(text, kPattern);
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// Every timestamp of a v1 payout: the named ones must be RFC 3339 values, all others null.
::testing::AssertionResult timestamps_are(const json::Value& payout,
                                          const std::set<std::string>& set_ones) {
  static const char* kAll[] = {"queued_at",  "submitted_at", "completed_at",       "failed_at",
                               "cancelled_at", "expired_at", "cancel_requested_at"};
  for (const char* name : kAll) {
    const std::string value = member_text(payout, name);
    const bool expected_set = set_ones.count(name) > 0;
    if (expected_set && !is_rfc3339(value)) {
      return ::testing::AssertionFailure() << name << " should be set, is " << value;
    }
    if (!expected_set && value != "<null>") {
      return ::testing::AssertionFailure() << name << " should be null, is " << value;
    }
  }
  return ::testing::AssertionSuccess();
}

// v1 events "from>to/actor" from a list of internal events "to/actor/message" (the paths here
// use no status whose v1 name differs from the internal one).
std::vector<std::string> as_v1_events(const std::vector<std::string>& internal) {
  std::vector<std::string> out;
  std::string from = "<null>";
  for (const std::string& event : internal) {
    const size_t first = event.find('/');
    const size_t second = event.find('/', first + 1);
    const std::string to = event.substr(0, first);
    out.push_back(from + ">" + to + "/" + event.substr(first + 1, second - first - 1));
    from = to;
  }
  return out;
}

// The payout's events as "to_status+<ms>", <ms> the test clock's time of the event after
// `base_micros` (exact: "+<us>us" when it is not a whole millisecond), in order.
std::vector<std::string> timeline(const Sandbox& sandbox, const std::string& cashout_id,
                                  int64_t base_micros) {
  std::vector<std::string> out;
  std::istringstream rows(sandbox.sql("SELECT to_status, created_at FROM payout_events WHERE "
                                      "cashout_id = " + cashout_id + " ORDER BY seq;"));
  for (std::string row; std::getline(rows, row);) {
    const size_t bar = row.find('|');
    if (bar == std::string::npos) {
      out.push_back("<" + row + ">");
      continue;
    }
    const int64_t after = std::stoll(row.substr(bar + 1)) - base_micros;
    out.push_back(row.substr(0, bar) + "+" +
                  (after % 1000 == 0 ? std::to_string(after / 1000)
                                     : std::to_string(after) + "us"));
  }
  return out;
}

const std::vector<int> kAllRejectionCodes = {800, 801, 802, 803, 804, 805, 806, 807, 808, 809,
                                             810, 811, 812, 813, 814, 818, 819, 820, 824, 826};

std::string reason_of(int code) {
  // The reason names as cashouts-v3.md lists them (taken from the v3 answer builder).
  const std::string json = v3_status_json(3, "x", code);
  const size_t at = json.find("\"rejection_reason\":\"") + 20;
  return json.substr(at, json.find('"', at) - at);
}

// ---------------------------------------------------------------------------------------------
// 1. Sandbox paths, both dialects.

// Events shared by every submitted payout.
const std::string kCreated = "created/system/Payout created";
const std::string kQueued = "queued/system/Payout queued";
const std::string kProcessing = "processing/system/Payout submitted to sandbox";
const std::string kSettling = "settling/provider/Payout settling";
const std::string kCompleted = "completed/provider/Payout completed";

struct PathCase {
  std::string name;    // test name suffix
  std::string suffix;  // last three digits of the bank account
  std::string final_v1;
  std::vector<Step> v3_steps;  // after creation
  std::vector<Step> v1_steps;
  std::vector<std::string> events;  // internal "to/actor/message"
  // The final v3 answer: code, description, rejection code; bank_reference_id when `paid_out`.
  int v3_code = 0;
  std::string v3_description;
  std::optional<int> failure_code;
  bool paid_out = false;   // bank_reference_id SBXBANK<cashout_id> was set by a completion
  bool posted = false;     // the final ledger shows the payout paid (not refunded)
  bool submitted = true;   // the rail has a record
  std::set<std::string> timestamps;
  int64_t final_after_create_ms = 0;  // when the sandbox's delays end it (clock time)
};

std::vector<Step> steps(std::initializer_list<std::pair<const char*, bool>> list) {
  std::vector<Step> out;
  for (const auto& [value, optional] : list) out.push_back(Step{value, optional});
  return out;
}

PathCase completes() {
  PathCase c;
  c.name = "DefaultAccountCompletes";
  c.suffix = "789";
  c.final_v1 = "completed";
  c.v3_steps = steps({{"0", false}, {"4", false}, {"1", false}});
  c.v1_steps = steps({{"created", false},
                      {"queued", true},
                      {"processing", false},
                      {"settling", false},
                      {"completed", false}});
  c.events = {kCreated, kQueued, kProcessing, kSettling, kCompleted};
  c.v3_code = 1;
  c.v3_description = "Completed";
  c.paid_out = true;
  c.posted = true;
  c.timestamps = {"queued_at", "submitted_at", "completed_at"};
  c.final_after_create_ms = 600;  // sandbox_complete_after_ms
  return c;
}

PathCase fails_with(int code) {
  PathCase c;
  c.name = "Account" + std::to_string(code) + "FailsWith" + std::to_string(code);
  c.suffix = std::to_string(code);
  c.final_v1 = "failed";
  c.v3_steps = steps({{"0", false}, {"4", false}, {"3", false}});
  c.v1_steps =
      steps({{"created", false}, {"queued", true}, {"processing", false}, {"failed", false}});
  c.events = {kCreated, kQueued, kProcessing,
              "failed/provider/Payout failed: " + reason_of(code)};
  c.v3_code = 3;
  c.v3_description = "Rejected";
  c.failure_code = code;
  c.timestamps = {"queued_at", "submitted_at", "failed_at"};
  c.final_after_create_ms = 200;  // sandbox_fail_after_ms
  return c;
}

PathCase action_required_expires() {
  PathCase c;
  c.name = "Account900ActionRequiredThenExpired809";
  c.suffix = "900";
  c.final_v1 = "expired";
  c.v3_steps = steps({{"0", false}, {"4", false}, {"5", false}, {"3", false}});
  c.v1_steps = steps({{"created", false},
                      {"queued", true},
                      {"processing", false},
                      {"action_required", false},
                      {"expired", false}});
  c.events = {kCreated, kQueued, kProcessing,
              "action_required/provider/Beneficiary verification required",
              "expired/system/Payout expired"};
  c.v3_code = 3;
  c.v3_description = "Rejected";
  c.failure_code = 809;
  c.timestamps = {"queued_at", "submitted_at", "expired_at"};
  // sandbox_action_required_after_ms + action_required_expiry_seconds
  c.final_after_create_ms = 200 + 1000;
  return c;
}

PathCase reversed() {
  PathCase c;
  c.name = "Account905CompletesThenReversed826";
  c.suffix = "905";
  c.final_v1 = "failed";
  c.v3_steps = steps({{"0", false}, {"4", false}, {"1", false}, {"3", false}});
  c.v1_steps = steps({{"created", false},
                      {"queued", true},
                      {"processing", false},
                      {"settling", false},
                      {"completed", false},
                      {"failed", false}});
  c.events = {kCreated, kQueued, kProcessing, kSettling, kCompleted,
              "failed/provider/Payout reversed by the bank"};
  c.v3_code = 3;
  c.v3_description = "Rejected";
  c.failure_code = 826;
  c.paid_out = true;
  c.timestamps = {"queued_at", "submitted_at", "completed_at", "failed_at"};
  c.final_after_create_ms = 600 + 300;  // complete + reversal
  return c;
}

PathCase timeout_then_completes() {
  PathCase c = completes();
  c.name = "Account906UnknownOutcomeThenCompletes";
  c.suffix = "906";
  // Unknown for 500 ms after the submission, then its own timeline: settling 200 ms later,
  // completed 600 ms later.
  c.final_after_create_ms = 500 + 600;
  return c;
}

PathCase screened_out() {
  PathCase c;
  c.name = "Account911RejectedByScreening811";
  c.suffix = "911";
  c.final_v1 = "failed";
  c.v3_steps = steps({{"0", false}, {"3", false}});
  c.v1_steps = steps({{"created", false}, {"failed", false}});
  c.events = {kCreated, "failed/system/Payout rejected by screening: RISK_POLICY"};
  c.v3_code = 3;
  c.v3_description = "Rejected";
  c.failure_code = 811;
  c.submitted = false;
  c.timestamps = {"failed_at"};
  return c;
}

class EnginePathTest : public EngineTest, public ::testing::WithParamInterface<PathCase> {};

// The statuses seen before the engine ran, then those seen while polling (repeats collapsed).
std::vector<std::string> starting_with(const std::string& first, std::vector<std::string> seen) {
  if (seen.empty() || seen.front() != first) seen.insert(seen.begin(), first);
  return seen;
}

// One payout per dialect down the same path, at the same time: v3 from the BRL wallet, v1 from
// the USD wallet of one merchant (different fees, so the figures cannot be confused).
//
// Both are created through a server without the engine, so their initial state (v3 0 Pending, v1
// created) is seen in both dialects before anything can move them; then a second server with the
// engine starts on the same database and drives them, and the test polls it until the end state.
TEST_P(EnginePathTest, BothDialectsEndToEnd) {
  const PathCase& path = GetParam();
  const std::string config = write_config(fast_paths_config());
  ServerProcess& front_server = start_server(config, EngineMode::kOff);
  ASSERT_TRUE(front_server.started());
  Merchant merchant = add_merchant("paths", "1000.00", "1000.00", {"1.50", "100"}, {"3.00", "0"});
  ASSERT_NO_FATAL_FAILURE(login(front_server.port(), merchant));
  Api front(front_server.port(), merchant);

  const std::string account = "0012345" + path.suffix;
  const PayoutIds via_v3 = create_v3(front, "v3-" + path.suffix, account);
  std::string v1_created;
  const PayoutIds via_v1 = create_v1(front, "v1-" + path.suffix, account, "100.00", &v1_created);
  ASSERT_FALSE(via_v3.cashout_id.empty() || via_v1.cashout_id.empty());
  std::optional<json::Value> v1_body = parse_json(v1_created);
  ASSERT_TRUE(v1_body.has_value());
  EXPECT_EQ(member_text(*v1_body, "status"), "created");
  EXPECT_NE(v1_created.find("\"total_amount\":102.50,"), std::string::npos) << v1_created;
  // Created = held: total_amount moved from `available` to `held`.
  EXPECT_EQ(wallet_text(merchant.id, "BRL"), "897.00/103.00");
  EXPECT_EQ(wallet_text(merchant.id, "USD"), "897.50/102.50");
  for (const PayoutIds* ids : {&via_v3, &via_v1}) {
    EXPECT_EQ(front.v3_status(ids->cashout_id).body, v3_status_json(0, "Pending"));
    std::optional<json::Value> initial = parse_json(front.v1_get(ids->public_id).body);
    ASSERT_TRUE(initial.has_value());
    EXPECT_EQ(member_text(*initial, "status"), "created");
    EXPECT_EQ(v1_events(*initial), std::vector<std::string>{"<null>>created/system"});
  }

  const int64_t clock_at_start = sandbox_.clock_micros();
  ServerProcess& engine_server = start_server(config);
  ASSERT_TRUE(engine_server.started());
  Api api(engine_server.port(), merchant);
  const std::vector<Observed> seen = poll_until(api, {via_v3, via_v1},
                                                {path.final_v1, path.final_v1}, 20000);
  const int64_t finished = sandbox_.clock_micros();
  const std::pair<const char*, const PayoutIds*> dialects[] = {{"v3", &via_v3}, {"v1", &via_v1}};
  for (size_t i = 0; i < 2; ++i) {
    SCOPED_TRACE(std::string("created through ") + dialects[i].first);
    const PayoutIds& ids = *dialects[i].second;
    ASSERT_TRUE(seen[i].reached) << "still " << seen[i].last_v1_body;
    EXPECT_TRUE(sequence_matches(starting_with("0", seen[i].v3), path.v3_steps));
    EXPECT_TRUE(sequence_matches(starting_with("created", seen[i].v1), path.v1_steps));

    // v3: the final answer, exactly.
    const std::optional<std::string> bank_reference =
        path.paid_out ? std::optional<std::string>("SBXBANK" + ids.cashout_id) : std::nullopt;
    EXPECT_EQ(seen[i].last_v3_body,
              v3_status_json(path.v3_code, path.v3_description, path.failure_code,
                             bank_reference));

    // v1: status, failure, timestamps, events.
    std::optional<json::Value> v1 = parse_json(seen[i].last_v1_body);
    ASSERT_TRUE(v1.has_value());
    EXPECT_EQ(member_text(*v1, "status"), path.final_v1);
    EXPECT_EQ(member_text(*v1, "failure_code"),
              path.failure_code ? std::to_string(*path.failure_code) : "<null>");
    EXPECT_EQ(member_text(*v1, "failure_reason"),
              path.failure_code ? reason_of(*path.failure_code) : "<null>");
    EXPECT_TRUE(timestamps_are(*v1, path.timestamps));
    EXPECT_EQ(v1_events(*v1), as_v1_events(path.events));

    // The operator's view: events with actors and messages, the connector's bookkeeping.
    std::optional<json::Value> shown = show(ids.cashout_id);
    ASSERT_TRUE(shown.has_value());
    EXPECT_EQ(shown_events(*shown), path.events);
    EXPECT_EQ(member_text(*shown, "connector"), path.submitted ? "sandbox" : "<null>");
    EXPECT_EQ(member_text(*shown, "connector_reference"),
              path.submitted ? "sbx_" + ids.public_id : "<null>");
    EXPECT_EQ(member_text(*shown, "bank_reference_id"), bank_reference.value_or("<null>"));
    // Exactly one submission to the rail (none when screening stopped it).
    EXPECT_EQ(rail_submissions(ids.public_id), path.submitted ? "1" : "<none>");
    EXPECT_TRUE(wait_until_engine_done(ids.cashout_id));
  }
  // The clock moved from event to event: the end came exactly when the sandbox's delays say.
  EXPECT_EQ(finished - clock_at_start, path.final_after_create_ms * 1000)
      << "the sandbox's delays were not honoured";

  // The ledger: refunded (back to the start) or paid (amount + fees gone), nothing held.
  if (path.posted) {
    EXPECT_EQ(wallet_text(merchant.id, "BRL"), "897.00/0.00");
    EXPECT_EQ(wallet_text(merchant.id, "USD"), "897.50/0.00");
    EXPECT_EQ(refunds(api, via_v3.public_id), std::vector<std::string>{});
    EXPECT_EQ(refunds(api, via_v1.public_id), std::vector<std::string>{});
  } else {
    EXPECT_EQ(wallet_text(merchant.id, "BRL"), "1000.00/0.00");
    EXPECT_EQ(wallet_text(merchant.id, "USD"), "1000.00/0.00");
    EXPECT_EQ(refunds(api, via_v3.public_id), std::vector<std::string>{"103.00/1000.00"});
    EXPECT_EQ(refunds(api, via_v1.public_id), std::vector<std::string>{"102.50/1000.00"});
  }
}

INSTANTIATE_TEST_SUITE_P(EngineSandbox, EnginePathTest,
                         ::testing::Values(completes(), fails_with(800), fails_with(807),
                                           fails_with(824), action_required_expires(), reversed(),
                                           timeout_then_completes(), screened_out()),
                         [](const ::testing::TestParamInfo<PathCase>& param_info) {
                           return param_info.param.name;
                         });

// ---------------------------------------------------------------------------------------------

class EnginePathsTest : public EngineTest {};

// 906: the submission's outcome is unknown. The engine records that and asks again on a backoff;
// meanwhile the payout stays processing with its money held: no refund on a guess, no second
// submission.
TEST_F(EnginePathsTest, UnknownOutcomeIsReconciledNeverGuessed) {
  ServerProcess& server = start_server(write_config(fast_paths_config()));
  ASSERT_TRUE(server.started());
  Merchant merchant = add_merchant("unknown", "1000.00", "", {"1.50", "100"});
  ASSERT_NO_FATAL_FAILURE(login(server.port(), merchant));
  Api api(server.port(), merchant);

  const int64_t created_at = sandbox_.clock_micros();
  const PayoutIds ids = create_v1(api, "unknown-1", "4444906");
  ASSERT_FALSE(ids.public_id.empty());
  // Within the unknown window (sandbox_unknown_for_ms from the submission): processing, in doubt,
  // the money still held and not refunded - read in one snapshot of the database at each clock
  // time the engine asks the rail again.
  const std::string in_doubt_query =
      "SELECT p.status || '/' || p.connector_state || '/' || "
      "CAST(p.engine_attempts AS TEXT) || '/' || "
      "(SELECT balance FROM accounts a WHERE a.wallet_id = p.wallet_id AND a.kind = 'held') || "
      "'/' || (SELECT count(*) FROM wallet_transactions t WHERE t.reference_id = p.public_id AND "
      "t.type = 'PAYOUT_REFUND') FROM payouts p WHERE p.cashout_id = " + ids.cashout_id + ";";
  const int64_t unknown_for_ms = config_.get("sandbox_unknown_for_ms", -1);
  const int64_t reconcile_initial_ms = config_.get("engine_reconcile_initial_ms", -1);
  const int64_t reconcile_max_ms = config_.get("engine_reconcile_max_ms", -1);
  ASSERT_TRUE(unknown_for_ms > 0 && reconcile_initial_ms > 0 &&
              reconcile_max_ms >= reconcile_initial_ms);
  ClockDriver clock = driver();
  // Submitted at once (the clock has not moved), and the answer was none.
  ASSERT_TRUE(clock.wait_idle());
  ASSERT_EQ(sandbox_.clock_micros(), created_at);
  ASSERT_EQ(trimmed(sandbox_.sql(in_doubt_query)), "processing/unknown/1/10250/0");
  EXPECT_EQ(rail_submissions(ids.public_id), "1");
  // The engine asks again on its backoff (reconcile_initial_ms, doubling up to reconcile_max_ms):
  // every one of those times inside the window, it is still in doubt, nothing guessed.
  int64_t asked_at_ms = 0;  // after the creation
  for (int attempts = 1;; ++attempts) {
    int64_t delay_ms = reconcile_initial_ms;
    for (int i = 1; i < attempts && delay_ms < reconcile_max_ms; ++i) delay_ms *= 2;
    asked_at_ms += std::min(delay_ms, reconcile_max_ms);
    const std::optional<int64_t> next = clock.next_event_micros();
    ASSERT_TRUE(next.has_value());
    ASSERT_EQ(*next - created_at, asked_at_ms * 1000) << "attempt " << attempts + 1;
    if (asked_at_ms >= unknown_for_ms) break;  // the rail answers again at this one
    sandbox_.set_clock_micros(*next);
    ASSERT_TRUE(clock.wait_idle());
    ASSERT_EQ(trimmed(sandbox_.sql(in_doubt_query)),
              "processing/unknown/" + std::to_string(attempts + 1) + "/10250/0")
        << "at +" << asked_at_ms << " ms";
    EXPECT_EQ(rail_submissions(ids.public_id), "1");
  }
  // The fast config's backoff (100, 200, 200 ms) hits the end of the window exactly.
  ASSERT_EQ(asked_at_ms, unknown_for_ms);

  const std::vector<Observed> seen = poll_until(api, {ids}, {"completed"}, 20000);
  ASSERT_TRUE(seen[0].reached) << seen[0].last_v1_body;
  EXPECT_TRUE(sequence_matches(seen[0].v1, steps({{"processing", false},
                                                  {"settling", false},
                                                  {"completed", false}})));
  // Its timeline started when the rail answered again: settling and completed exactly the
  // sandbox's delays after the end of the window.
  const int64_t settle_after_ms = config_.get("sandbox_settle_after_ms", -1);
  const int64_t complete_after_ms = config_.get("sandbox_complete_after_ms", -1);
  EXPECT_EQ(sandbox_.clock_micros() - created_at, (unknown_for_ms + complete_after_ms) * 1000);
  EXPECT_EQ(timeline(sandbox_, ids.cashout_id, created_at),
            (std::vector<std::string>{
                "created+0", "queued+0", "processing+0",
                "settling+" + std::to_string(unknown_for_ms + settle_after_ms),
                "completed+" + std::to_string(unknown_for_ms + complete_after_ms)}));
  EXPECT_EQ(rail_submissions(ids.public_id), "1");
  EXPECT_EQ(trimmed(sandbox_.sql("SELECT connector_state || '/' || engine_attempts FROM payouts "
                                 "WHERE cashout_id = " + ids.cashout_id + ";")),
            "accepted/0");
  EXPECT_EQ(wallet_text(merchant.id, "USD"), "897.50/0.00");
  EXPECT_TRUE(wait_until_engine_done(ids.cashout_id));
}

// Every v3 rejection code the sandbox can produce ("8xx" accounts), through the v3 dialect: the
// exact rejection code and reason, the v1 failure code, the event message, one refund each.
TEST_F(EnginePathsTest, EveryRejectionCodeThroughV3) {
  // Its own failure delay, so that the exact end time below can only come from this one.
  constexpr int64_t kFailAfterMs = 800;
  EngineConfig config = fast_paths_config();
  config.set("sandbox_fail_after_ms", kFailAfterMs);
  const std::string config_path = write_config(config);
  // Created while no engine runs (see BothDialectsEndToEnd), then driven by an engine server.
  ServerProcess& front_server = start_server(config_path, EngineMode::kOff);
  ASSERT_TRUE(front_server.started());
  Merchant merchant = add_merchant("codes", "", "5000.00", {}, {"3.00", "0"});
  ASSERT_NO_FATAL_FAILURE(login(front_server.port(), merchant));
  Api front(front_server.port(), merchant);

  std::vector<PayoutIds> ids;
  for (int code : kAllRejectionCodes) {
    ids.push_back(create_v3(front, "code-" + std::to_string(code), "98765" + std::to_string(code),
                            "50.00"));
    ASSERT_FALSE(ids.back().cashout_id.empty());
    EXPECT_EQ(front.v3_status(ids.back().cashout_id).body, v3_status_json(0, "Pending"));
  }
  EXPECT_EQ(wallet_text(merchant.id, "BRL"), "3940.00/1060.00");
  const int64_t clock_at_start = sandbox_.clock_micros();
  ServerProcess& engine_server = start_server(config_path);
  ASSERT_TRUE(engine_server.started());
  Api api(engine_server.port(), merchant);
  const std::vector<Observed> seen = poll_until(
      api, ids, std::vector<std::string>(ids.size(), "failed"), 20000);
  // All submitted when the engine started, all failed exactly sandbox_fail_after_ms later.
  EXPECT_EQ(sandbox_.clock_micros() - clock_at_start, kFailAfterMs * 1000);
  for (size_t i = 0; i < ids.size(); ++i) {
    const int code = kAllRejectionCodes[i];
    SCOPED_TRACE("rejection code " + std::to_string(code));
    ASSERT_TRUE(seen[i].reached) << seen[i].last_v1_body;
    EXPECT_TRUE(sequence_matches(starting_with("0", seen[i].v3),
                                 steps({{"0", false}, {"4", false}, {"3", false}})));
    EXPECT_EQ(seen[i].last_v3_body, v3_status_json(3, "Rejected", code));
    std::optional<json::Value> v1 = parse_json(seen[i].last_v1_body);
    ASSERT_TRUE(v1.has_value());
    EXPECT_EQ(member_text(*v1, "failure_code"), std::to_string(code));
    EXPECT_EQ(member_text(*v1, "failure_reason"), reason_of(code));
    std::optional<json::Value> shown = show(ids[i].cashout_id);
    ASSERT_TRUE(shown.has_value());
    EXPECT_EQ(shown_events(*shown),
              (std::vector<std::string>{kCreated, kQueued, kProcessing,
                                        "failed/provider/Payout failed: " + reason_of(code)}));
    EXPECT_EQ(timeline(sandbox_, ids[i].cashout_id, clock_at_start),
              (std::vector<std::string>{"created+0", "queued+0", "processing+0",
                                        "failed+" + std::to_string(kFailAfterMs)}));
    EXPECT_EQ(refunds(api, ids[i].public_id).size(), 1u);
    EXPECT_EQ(rail_submissions(ids[i].public_id), "1");
  }
  EXPECT_EQ(wallet_text(merchant.id, "BRL"), "5000.00/0.00");
  EXPECT_EQ(trimmed(sandbox_.sql("SELECT count(*), sum(amount) FROM wallet_transactions "
                                 "WHERE type = 'PAYOUT_REFUND';")),
            "20|106000");
}

// A cashout created on hold (v3 5) is left alone by the engine: one released with PUT PENDING
// (v3 0 at once) goes through the default path; the other expires after on_hold_expiry_seconds
// (v3 3, 809 WITHDRAWAL_EXPIRED) and is refunded, exactly on_hold_expiry_seconds after it was put
// on hold on the test clock. Nothing moves the clock while the test creates and releases.
TEST_F(EnginePathsTest, OnHoldIsReleasedOrExpires) {
  constexpr int kOnHoldExpirySeconds = 4;
  EngineConfig config = fast_paths_config();
  config.set("on_hold_expiry_seconds", kOnHoldExpirySeconds);
  ServerProcess& server = start_server(write_config(config));
  ASSERT_TRUE(server.started());
  Merchant merchant = add_merchant("hold", "", "1000.00", {}, {"3.00", "0"});
  ASSERT_NO_FATAL_FAILURE(login(server.port(), merchant));
  Api api(server.port(), merchant);

  auto create_on_hold = [&](const std::string& external_id) {
    std::string body = api.v3_create_body(external_id, "0012345789");
    body.insert(body.size() - 1, ",\"on_hold\":true");
    HttpResponse created = api.v3("POST", "/v3/cashout", body, /*retry=*/false);
    EXPECT_EQ(created.status, 200) << created.body;
    std::optional<json::Value> parsed = parse_json(created.body);
    PayoutIds ids;
    if (!parsed) return ids;
    ids.cashout_id = member_text(*parsed, "cashout_id");
    if (std::optional<json::Value> shown = show(ids.cashout_id)) {
      ids.public_id = member_text(*shown, "id");
    }
    return ids;
  };
  const int64_t created_at = sandbox_.clock_micros();
  const PayoutIds released = create_on_hold("hold-released");
  const PayoutIds expiring = create_on_hold("hold-expiring");
  ASSERT_FALSE(released.public_id.empty() || expiring.public_id.empty());
  EXPECT_EQ(wallet_text(merchant.id, "BRL"), "794.00/206.00");
  // Several engine passes at this time, each found nothing to do: on hold is left alone.
  ClockDriver clock = driver();
  for (int pass = 0; pass < 3; ++pass) ASSERT_TRUE(clock.wait_idle());
  // The only thing scheduled is the expiry of both.
  EXPECT_EQ(clock.next_event_micros(), created_at + kOnHoldExpirySeconds * 1'000'000LL);
  EXPECT_EQ(api.v3_status(released.cashout_id).body, v3_status_json(5, "On hold"));
  EXPECT_EQ(api.v3_status(expiring.cashout_id).body, v3_status_json(5, "On hold"));
  HttpResponse release = api.v3("PUT", "/v3/cashout/status",
                                api.v3_body({{"cashout_id", released.cashout_id},
                                             {"status", "\"PENDING\""}}),
                                /*retry=*/false);
  EXPECT_EQ(release.status, 200) << release.body;
  EXPECT_EQ(release.body, v3_status_json(0, "Pending"));

  const std::vector<Observed> seen =
      poll_until(api, {released, expiring}, {"completed", "expired"}, 20000);
  ASSERT_TRUE(seen[0].reached && seen[1].reached)
      << seen[0].last_v1_body << "\n" << seen[1].last_v1_body;
  // The released one went the default path from its release (the clock had not moved), the
  // other one expired exactly on_hold_expiry_seconds after it was put on hold.
  EXPECT_EQ(sandbox_.clock_micros() - created_at, kOnHoldExpirySeconds * 1'000'000LL);
  const int64_t settle_after_ms = config.get("sandbox_settle_after_ms", -1);
  const int64_t complete_after_ms = config.get("sandbox_complete_after_ms", -1);
  EXPECT_EQ(timeline(sandbox_, released.cashout_id, created_at),
            (std::vector<std::string>{"created+0", "on_hold+0", "queued+0", "processing+0",
                                      "settling+" + std::to_string(settle_after_ms),
                                      "completed+" + std::to_string(complete_after_ms)}));
  EXPECT_EQ(timeline(sandbox_, expiring.cashout_id, created_at),
            (std::vector<std::string>{"created+0", "on_hold+0",
                                      "expired+" + std::to_string(kOnHoldExpirySeconds * 1000)}));
  EXPECT_TRUE(sequence_matches(starting_with("0", seen[0].v3),
                               steps({{"0", false}, {"4", false}, {"1", false}})));
  EXPECT_EQ(seen[0].last_v3_body,
            v3_status_json(1, "Completed", std::nullopt, "SBXBANK" + released.cashout_id));
  EXPECT_TRUE(sequence_matches(seen[1].v3, steps({{"5", false}, {"3", false}})));
  EXPECT_EQ(seen[1].last_v3_body, v3_status_json(3, "Rejected", 809));
  const std::string held = "on_hold/client/Payout put on hold by client";
  std::optional<json::Value> shown = show(released.cashout_id);
  ASSERT_TRUE(shown.has_value());
  EXPECT_EQ(shown_events(*shown),
            (std::vector<std::string>{kCreated, held, "queued/client/Payout released by client",
                                      kProcessing, kSettling, kCompleted}));
  shown = show(expiring.cashout_id);
  ASSERT_TRUE(shown.has_value());
  EXPECT_EQ(shown_events(*shown),
            (std::vector<std::string>{kCreated, held, "expired/system/Payout expired"}));
  EXPECT_EQ(rail_submissions(released.public_id), "1");
  EXPECT_EQ(rail_submissions(expiring.public_id), "<none>");
  EXPECT_EQ(refunds(api, released.public_id), std::vector<std::string>{});
  EXPECT_EQ(refunds(api, expiring.public_id), std::vector<std::string>{"103.00/897.00"});
  EXPECT_EQ(wallet_text(merchant.id, "BRL"), "897.00/0.00");
  EXPECT_TRUE(wait_until_engine_done(released.cashout_id));
  EXPECT_TRUE(wait_until_engine_done(expiring.cashout_id));
}

// ---------------------------------------------------------------------------------------------
// 2. Cancelling a processing payout.

// How long a payout waits in action_required before it expires, on the test clock.
constexpr int kCancelTestActionRequiredExpirySeconds = 4;

// The sandbox rail's timeline in these tests, on the test clock: a submitted payout stays
// processing for kProcessingMs (then settling, then completed kSettlingMs later) unless a cancel
// changes it, and a cancel of accounts 903/904 is answered kCancelAnswerAfterMs after it was asked.
// The clock stands still while a test checks what lies in between (a refused or accepted cancel, a
// second request, a CLI wallet read, a SQL look at the rail), so no delay needs slack; they differ
// from each other and from the engine's own intervals, so that each exact time asserted below can
// only come from the delay it names.
constexpr int64_t kProcessingMs = 3000;
constexpr int64_t kSettlingMs = 500;
constexpr int64_t kCancelAnswerAfterMs = 1500;

EngineConfig cancel_config() {
  EngineConfig config = fast_paths_config();
  config.set("sandbox_settle_after_ms", kProcessingMs)
      .set("sandbox_complete_after_ms", kProcessingMs + kSettlingMs)
      .set("sandbox_cancel_answer_after_ms", kCancelAnswerAfterMs)
      .set("action_required_expiry_seconds", kCancelTestActionRequiredExpirySeconds);
  return config;
}

class EngineCancelTest : public EngineTest {
 protected:
  void SetUp() override {
    ServerProcess& server = start_server(write_config(cancel_config()));
    ASSERT_TRUE(server.started());
    merchant_ = add_merchant("cancels", "1000.00", "1000.00", {"1.50", "100"}, {"3.00", "0"});
    ASSERT_NO_FATAL_FAILURE(login(server.port(), merchant_));
    api_ = std::make_unique<Api>(server.port(), merchant_);
  }

  // A v1 payout with this account suffix, processing and accepted by the rail; `*created_at`:
  // the clock when it was created, which is also when the rail got it (the engine submits it at
  // once, before the clock moves).
  PayoutIds processing_payout(const std::string& suffix, int64_t* created_at = nullptr) {
    const int64_t clock_at_create = sandbox_.clock_micros();
    if (created_at != nullptr) *created_at = clock_at_create;
    const PayoutIds ids = create_v1(*api_, "cancel-" + suffix, "5550" + suffix);
    EXPECT_FALSE(ids.public_id.empty());
    if (ids.public_id.empty()) return ids;
    EXPECT_TRUE(wait_until_accepted(ids.cashout_id, 5000));
    EXPECT_EQ(sandbox_.clock_micros(), clock_at_create) << "accepted only after the clock moved";
    EXPECT_EQ(wallet_text(merchant_.id, "USD"), "897.50/102.50");
    return ids;
  }

  std::string cancel_state(const PayoutIds& ids) {
    return trimmed(sandbox_.sql("SELECT cancel_state FROM payouts WHERE cashout_id = " +
                                ids.cashout_id + ";"));
  }

  // The rail's record of when the cancel was asked (unix micros text), or "<none>".
  std::string rail_cancel_requested_at(const PayoutIds& ids) {
    return trimmed(sandbox_.sql(
        "SELECT coalesce((SELECT CAST(cancel_requested_at AS TEXT) FROM rail_records WHERE "
        "payout_key = '" + ids.public_id + "'), '<none>');"));
  }

  std::string rail_cancel_requested(const PayoutIds& ids) {
    return trimmed(sandbox_.sql(
        "SELECT coalesce((SELECT CASE WHEN cancel_requested_at IS NOT NULL THEN '1' ELSE '0' "
        "END FROM rail_records WHERE payout_key = '" + ids.public_id + "'), '<none>');"));
  }

  Merchant merchant_;
  std::unique_ptr<Api> api_;
};

const std::string kCancelledByClient =
    "cancelled/client/Payout cancelled by client (confirmed by sandbox)";

TEST_F(EngineCancelTest, Account901CancelAcceptedAtOnce) {
  int64_t created_at = 0;
  const PayoutIds ids = processing_payout("901", &created_at);
  ASSERT_FALSE(ids.public_id.empty());
  HttpResponse cancelled = api_->v1("POST", "/api/v1/payouts/" + ids.public_id + "/cancel", "",
                                    /*retry=*/false);
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  std::optional<json::Value> body = parse_json(cancelled.body);
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(member_text(*body, "status"), "cancelled");
  EXPECT_TRUE(timestamps_are(*body, {"queued_at", "submitted_at", "cancelled_at"}));
  EXPECT_EQ(v1_events(*body), as_v1_events({kCreated, kQueued, kProcessing, kCancelledByClient}));
  EXPECT_EQ(wallet_text(merchant_.id, "USD"), "1000.00/0.00");
  EXPECT_EQ(refunds(*api_, ids.public_id), std::vector<std::string>{"102.50/1000.00"});
  EXPECT_EQ(api_->v3_status(ids.cashout_id).body, v3_status_json(2, "Canceled"));
  std::optional<json::Value> shown = show(ids.cashout_id);
  ASSERT_TRUE(shown.has_value());
  EXPECT_EQ(shown_events(*shown),
            (std::vector<std::string>{kCreated, kQueued, kProcessing, kCancelledByClient}));
  // At once: the clock never moved.
  EXPECT_EQ(timeline(sandbox_, ids.cashout_id, created_at),
            (std::vector<std::string>{"created+0", "queued+0", "processing+0", "cancelled+0"}));
  EXPECT_EQ(rail_submissions(ids.public_id), "1");
  EXPECT_EQ(rail_cancel_requested(ids), "1");
  EXPECT_TRUE(wait_until_engine_done(ids.cashout_id));
  // A second cancel is refused and refunds nothing more.
  HttpResponse again = api_->v1("POST", "/api/v1/payouts/" + ids.public_id + "/cancel", "", false);
  EXPECT_EQ(again.status, 400) << again.body;
  EXPECT_EQ(again.body,
            R"({"error":"BadRequest","message":"payout cannot be cancelled in current status"})");
  EXPECT_EQ(wallet_text(merchant_.id, "USD"), "1000.00/0.00");
}

TEST_F(EngineCancelTest, Account902CancelRefusedThenCompletes) {
  int64_t created_at = 0;
  const PayoutIds ids = processing_payout("902", &created_at);
  ASSERT_FALSE(ids.public_id.empty());
  HttpResponse refused = api_->v1("POST", "/api/v1/payouts/" + ids.public_id + "/cancel", "",
                                  /*retry=*/false);
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(refused.body,
            R"({"error":"BadRequest","message":"payout cannot be cancelled in current status"})");
  // Nothing changed: still processing (settling comes kProcessingMs after the submission), no
  // cancel recorded anywhere, money still held.
  std::optional<json::Value> now = parse_json(api_->v1_get(ids.public_id).body);
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ(member_text(*now, "status"), "processing");
  EXPECT_EQ(member_text(*now, "cancel_requested_at"), "<null>");
  EXPECT_EQ(v1_events(*now), as_v1_events({kCreated, kQueued, kProcessing}));
  EXPECT_EQ(rail_cancel_requested(ids), "0");
  EXPECT_EQ(wallet_text(merchant_.id, "USD"), "897.50/102.50");

  const std::vector<Observed> seen = poll_until(*api_, {ids}, {"completed"}, 20000);
  ASSERT_TRUE(seen[0].reached) << seen[0].last_v1_body;
  EXPECT_TRUE(sequence_matches(
      seen[0].v1, steps({{"processing", false}, {"settling", false}, {"completed", false}})));
  EXPECT_TRUE(sequence_matches(seen[0].v3, steps({{"4", false}, {"1", false}})));
  std::optional<json::Value> shown = show(ids.cashout_id);
  ASSERT_TRUE(shown.has_value());
  EXPECT_EQ(shown_events(*shown),
            (std::vector<std::string>{kCreated, kQueued, kProcessing, kSettling, kCompleted}));
  // The refused cancel changed nothing of the rail's default timeline.
  EXPECT_EQ(sandbox_.clock_micros() - created_at, (kProcessingMs + kSettlingMs) * 1000);
  EXPECT_EQ(timeline(sandbox_, ids.cashout_id, created_at),
            (std::vector<std::string>{"created+0", "queued+0", "processing+0",
                                      "settling+" + std::to_string(kProcessingMs),
                                      "completed+" +
                                          std::to_string(kProcessingMs + kSettlingMs)}));
  EXPECT_EQ(wallet_text(merchant_.id, "USD"), "897.50/0.00");
  EXPECT_EQ(refunds(*api_, ids.public_id), std::vector<std::string>{});
  EXPECT_TRUE(wait_until_engine_done(ids.cashout_id));
  // Completed: the v1 cancel now says so.
  HttpResponse late = api_->v1("POST", "/api/v1/payouts/" + ids.public_id + "/cancel", "", false);
  EXPECT_EQ(late.body,
            R"({"error":"BadRequest","message":"payout has already been completed"})");
}

// The cancels of 903 and 904 are asked this long after the submission (on the test clock), so that
// the rail's answer time, counted from the request, differs from every submission-based one.
constexpr int64_t kCancelAskedAfterMs = 700;

TEST_F(EngineCancelTest, Account903CancelAnsweredLaterCancelled) {
  int64_t created_at = 0;
  const PayoutIds ids = processing_payout("903", &created_at);
  ASSERT_FALSE(ids.public_id.empty());
  sandbox_.set_clock_micros(created_at + kCancelAskedAfterMs * 1000);
  ASSERT_TRUE(driver().wait_idle());
  EXPECT_EQ(engine_state(ids.cashout_id), "processing/accepted");
  const int64_t asked_at = sandbox_.clock_micros();
  HttpResponse accepted = api_->v1("POST", "/api/v1/payouts/" + ids.public_id + "/cancel", "",
                                   /*retry=*/false);
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  std::optional<json::Value> body = parse_json(accepted.body);
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(member_text(*body, "status"), "processing");
  EXPECT_TRUE(timestamps_are(*body, {"queued_at", "submitted_at", "cancel_requested_at"}));
  EXPECT_EQ(v1_events(*body), as_v1_events({kCreated, kQueued, kProcessing}));
  // Asked again while the rail's answer is pending: the same 202, the first request time kept.
  HttpResponse again = api_->v1("POST", "/api/v1/payouts/" + ids.public_id + "/cancel", "",
                                /*retry=*/false);
  EXPECT_EQ(again.status, 202) << again.body;
  if (std::optional<json::Value> again_body = parse_json(again.body)) {
    EXPECT_EQ(member_text(*again_body, "status"), "processing");
    EXPECT_EQ(member_text(*again_body, "cancel_requested_at"),
              member_text(*body, "cancel_requested_at"));
  }
  EXPECT_EQ(wallet_text(merchant_.id, "USD"), "897.50/102.50");
  EXPECT_EQ(refunds(*api_, ids.public_id), std::vector<std::string>{});
  EXPECT_EQ(rail_cancel_requested_at(ids), std::to_string(asked_at));

  const std::vector<Observed> seen = poll_until(*api_, {ids}, {"cancelled"}, 20000);
  ASSERT_TRUE(seen[0].reached) << seen[0].last_v1_body;
  // Cancelled exactly when the rail's answer was due: not before, and not one engine interval
  // after.
  EXPECT_EQ(sandbox_.clock_micros() - asked_at, kCancelAnswerAfterMs * 1000)
      << "not cancelled when the rail's answer was due";
  EXPECT_TRUE(sequence_matches(seen[0].v1, steps({{"processing", false}, {"cancelled", false}})));
  EXPECT_TRUE(sequence_matches(seen[0].v3, steps({{"4", false}, {"2", false}})));
  EXPECT_EQ(seen[0].last_v3_body, v3_status_json(2, "Canceled"));
  std::optional<json::Value> after = parse_json(seen[0].last_v1_body);
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(timestamps_are(
      *after, {"queued_at", "submitted_at", "cancelled_at", "cancel_requested_at"}));
  std::optional<json::Value> shown = show(ids.cashout_id);
  ASSERT_TRUE(shown.has_value());
  EXPECT_EQ(shown_events(*shown),
            (std::vector<std::string>{kCreated, kQueued, kProcessing, kCancelledByClient}));
  EXPECT_EQ(timeline(sandbox_, ids.cashout_id, created_at),
            (std::vector<std::string>{
                "created+0", "queued+0", "processing+0",
                "cancelled+" + std::to_string(kCancelAskedAfterMs + kCancelAnswerAfterMs)}));
  EXPECT_EQ(wallet_text(merchant_.id, "USD"), "1000.00/0.00");
  EXPECT_EQ(refunds(*api_, ids.public_id), std::vector<std::string>{"102.50/1000.00"});
  EXPECT_EQ(rail_submissions(ids.public_id), "1");
  EXPECT_TRUE(wait_until_engine_done(ids.cashout_id));
}

TEST_F(EngineCancelTest, Account904CancelAnsweredLaterRefusedCompletes) {
  int64_t created_at = 0;
  const PayoutIds ids = processing_payout("904", &created_at);
  ASSERT_FALSE(ids.public_id.empty());
  sandbox_.set_clock_micros(created_at + kCancelAskedAfterMs * 1000);
  ASSERT_TRUE(driver().wait_idle());
  EXPECT_EQ(engine_state(ids.cashout_id), "processing/accepted");
  const int64_t asked_at = sandbox_.clock_micros();
  HttpResponse accepted = api_->v1("POST", "/api/v1/payouts/" + ids.public_id + "/cancel", "",
                                   /*retry=*/false);
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  std::optional<json::Value> body = parse_json(accepted.body);
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(member_text(*body, "status"), "processing");
  EXPECT_TRUE(timestamps_are(*body, {"queued_at", "submitted_at", "cancel_requested_at"}));
  EXPECT_EQ(rail_cancel_requested_at(ids), std::to_string(asked_at));

  const std::vector<Observed> seen = poll_until(*api_, {ids}, {"completed"}, 20000);
  ASSERT_TRUE(seen[0].reached) << seen[0].last_v1_body;
  // Paid out exactly when the rail's answer was due (before its default settling time).
  EXPECT_EQ(sandbox_.clock_micros() - asked_at, kCancelAnswerAfterMs * 1000);
  EXPECT_TRUE(sequence_matches(seen[0].v1, steps({{"processing", false}, {"completed", false}})));
  EXPECT_TRUE(sequence_matches(seen[0].v3, steps({{"4", false}, {"1", false}})));
  EXPECT_EQ(seen[0].last_v3_body,
            v3_status_json(1, "Completed", std::nullopt, "SBXBANK" + ids.cashout_id));
  std::optional<json::Value> shown = show(ids.cashout_id);
  ASSERT_TRUE(shown.has_value());
  // The rail held it while deciding, refused the cancel and paid it out: no settling step.
  EXPECT_EQ(shown_events(*shown),
            (std::vector<std::string>{kCreated, kQueued, kProcessing, kCompleted}));
  EXPECT_EQ(timeline(sandbox_, ids.cashout_id, created_at),
            (std::vector<std::string>{
                "created+0", "queued+0", "processing+0",
                "completed+" + std::to_string(kCancelAskedAfterMs + kCancelAnswerAfterMs)}));
  EXPECT_EQ(wallet_text(merchant_.id, "USD"), "897.50/0.00");
  EXPECT_EQ(refunds(*api_, ids.public_id), std::vector<std::string>{});
  EXPECT_EQ(rail_submissions(ids.public_id), "1");
  EXPECT_EQ(trimmed(sandbox_.sql("SELECT cancel_state FROM payouts WHERE cashout_id = " +
                                 ids.cashout_id + ";")),
            "refused");
  EXPECT_TRUE(wait_until_engine_done(ids.cashout_id));
}

// 906 while the submission's outcome is unknown: the engine cannot ask the rail yet, so the cancel
// is accepted for later (202). Once the rail answers again it refuses (the payout is out) and the
// payout completes: never cancelled, never refunded on a guess.
TEST_F(EngineCancelTest, Account906CancelWhileOutcomeUnknownIsDeferredThenRefused) {
  const int64_t created_at = sandbox_.clock_micros();
  const PayoutIds ids = create_v1(*api_, "cancel-906", "5550906");
  ASSERT_FALSE(ids.public_id.empty());
  ASSERT_TRUE(wait_for_state(ids.cashout_id, "processing/unknown", 3000));
  ASSERT_EQ(sandbox_.clock_micros(), created_at);  // submitted at once, in doubt at once
  HttpResponse accepted = api_->v1("POST", "/api/v1/payouts/" + ids.public_id + "/cancel", "",
                                   /*retry=*/false);
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  std::optional<json::Value> body = parse_json(accepted.body);
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(member_text(*body, "status"), "processing");
  EXPECT_TRUE(timestamps_are(*body, {"queued_at", "submitted_at", "cancel_requested_at"}));
  EXPECT_EQ(wallet_text(merchant_.id, "USD"), "897.50/102.50");
  // The rail could not even record the request while it gave no answer.
  EXPECT_EQ(rail_cancel_requested_at(ids), "<none>");

  // Pending at every event of the unknown window; from the first query after it, the rail's answer
  // is known (the engine only queries a payout in doubt), and the cancel is asked at the engine's
  // next cancel recheck, and refused then.
  const int64_t unknown_for_ms = config_.get("sandbox_unknown_for_ms", -1);
  const int64_t cancel_recheck_ms = config_.get("engine_cancel_recheck_ms", -1);
  ASSERT_TRUE(unknown_for_ms > 0 && cancel_recheck_ms > 0);
  const int64_t known_at = created_at + unknown_for_ms * 1000;
  std::string state;
  std::optional<int64_t> answered_at;  // when the engine first saw the rail's answer
  ASSERT_TRUE(driver().run_until(
      [&] {
        state = engine_state(ids.cashout_id) + "/" + cancel_state(ids);
        const int64_t now = sandbox_.clock_micros();
        if (state == "processing/accepted/refused") return true;
        EXPECT_EQ(state, now < known_at ? "processing/unknown/pending"
                                        : "processing/accepted/pending")
            << "at +" << (now - created_at) << " us";
        if (now >= known_at && !answered_at) answered_at = now;
        return false;
      },
      20000));
  ASSERT_TRUE(answered_at.has_value());
  EXPECT_EQ(sandbox_.clock_micros() - *answered_at, cancel_recheck_ms * 1000);
  EXPECT_EQ(state, "processing/accepted/refused");
  EXPECT_EQ(wallet_text(merchant_.id, "USD"), "897.50/102.50");

  const std::vector<Observed> seen = poll_until(*api_, {ids}, {"completed"}, 20000);
  ASSERT_TRUE(seen[0].reached) << seen[0].last_v1_body;
  EXPECT_TRUE(sequence_matches(seen[0].v1, steps({{"processing", false},
                                                  {"settling", false},
                                                  {"completed", false}})));
  // Its timeline started when the rail answered again.
  EXPECT_EQ(sandbox_.clock_micros() - known_at, (kProcessingMs + kSettlingMs) * 1000);
  EXPECT_EQ(timeline(sandbox_, ids.cashout_id, created_at),
            (std::vector<std::string>{
                "created+0", "queued+0", "processing+0",
                "settling+" + std::to_string(unknown_for_ms + kProcessingMs),
                "completed+" + std::to_string(unknown_for_ms + kProcessingMs + kSettlingMs)}));
  std::optional<json::Value> shown = show(ids.cashout_id);
  ASSERT_TRUE(shown.has_value());
  EXPECT_EQ(shown_events(*shown),
            (std::vector<std::string>{kCreated, kQueued, kProcessing, kSettling, kCompleted}));
  EXPECT_EQ(trimmed(sandbox_.sql("SELECT cancel_state FROM payouts WHERE cashout_id = " +
                                 ids.cashout_id + ";")),
            "refused");
  EXPECT_EQ(wallet_text(merchant_.id, "USD"), "897.50/0.00");
  EXPECT_EQ(refunds(*api_, ids.public_id), std::vector<std::string>{});
  EXPECT_EQ(rail_submissions(ids.public_id), "1");
  EXPECT_TRUE(wait_until_engine_done(ids.cashout_id));
}

// 900 waiting in action_required (v3 5, On hold): cancellable at once in both dialects, refunded
// once; the engine neither expires it afterwards nor keeps following it up.
TEST_F(EngineCancelTest, ActionRequiredIsCancelledAtOnceInBothDialects) {
  const int64_t created_at = sandbox_.clock_micros();
  const PayoutIds via_v3 = create_v3(*api_, "ar-v3", "5551900");
  const PayoutIds via_v1 = create_v1(*api_, "ar-v1", "5552900");
  ASSERT_FALSE(via_v3.public_id.empty() || via_v1.public_id.empty());
  ASSERT_TRUE(wait_for_state(via_v3.cashout_id, "action_required/accepted", 3000));
  ASSERT_TRUE(wait_for_state(via_v1.cashout_id, "action_required/accepted", 3000));
  const int64_t action_required_after_ms = config_.get("sandbox_action_required_after_ms", -1);
  ASSERT_EQ(sandbox_.clock_micros() - created_at, action_required_after_ms * 1000);
  const int64_t expires_at =
      sandbox_.clock_micros() + kCancelTestActionRequiredExpirySeconds * 1'000'000LL;
  EXPECT_EQ(api_->v3_status(via_v3.cashout_id).body, v3_status_json(5, "On hold"));

  HttpResponse v3_cancel = api_->v3(
      "DELETE", "/v3/cashout/cancel",
      api_->v3_body({{"cashout_id", via_v3.cashout_id}, {"external_id", "\"ar-v3\""}}),
      /*retry=*/false);
  EXPECT_EQ(v3_cancel.status, 200) << v3_cancel.body;
  EXPECT_EQ(v3_cancel.body, v3_status_json(2, "Canceled"));
  HttpResponse v1_cancel = api_->v1("POST", "/api/v1/payouts/" + via_v1.public_id + "/cancel", "",
                                    /*retry=*/false);
  ASSERT_EQ(v1_cancel.status, 200) << v1_cancel.body;
  std::optional<json::Value> body = parse_json(v1_cancel.body);
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(member_text(*body, "status"), "cancelled");
  EXPECT_TRUE(timestamps_are(*body, {"queued_at", "submitted_at", "cancelled_at"}));

  // Nothing is scheduled for them any more. At the time they would have expired, and past it:
  // still cancelled, one refund each.
  ClockDriver clock = driver();
  ASSERT_TRUE(clock.wait_idle());
  EXPECT_EQ(clock.next_event_micros(), std::nullopt);
  for (const int64_t at : {expires_at, expires_at + 300'000}) {
    sandbox_.set_clock_micros(at);
    ASSERT_TRUE(clock.wait_idle());
    EXPECT_EQ(engine_state(via_v3.cashout_id), "cancelled/accepted");
    EXPECT_EQ(engine_state(via_v1.cashout_id), "cancelled/accepted");
  }
  for (const PayoutIds* ids : {&via_v3, &via_v1}) {
    std::optional<json::Value> shown = show(ids->cashout_id);
    ASSERT_TRUE(shown.has_value());
    EXPECT_EQ(member_text(*shown, "status"), "cancelled");
    EXPECT_EQ(shown_events(*shown),
              (std::vector<std::string>{
                  kCreated, kQueued, kProcessing,
                  "action_required/provider/Beneficiary verification required",
                  "cancelled/client/Payout cancelled by client"}));
    const std::string ar_at = std::to_string(action_required_after_ms);
    EXPECT_EQ(timeline(sandbox_, ids->cashout_id, created_at),
              (std::vector<std::string>{"created+0", "queued+0", "processing+0",
                                        "action_required+" + ar_at, "cancelled+" + ar_at}));
    EXPECT_EQ(rail_submissions(ids->public_id), "1");
    EXPECT_TRUE(wait_until_engine_done(ids->cashout_id));
  }
  EXPECT_EQ(refunds(*api_, via_v3.public_id), std::vector<std::string>{"103.00/1000.00"});
  EXPECT_EQ(refunds(*api_, via_v1.public_id), std::vector<std::string>{"102.50/1000.00"});
  EXPECT_EQ(wallet_text(merchant_.id, "BRL"), "1000.00/0.00");
  EXPECT_EQ(wallet_text(merchant_.id, "USD"), "1000.00/0.00");
}

// The v3 dialect never cancels a processing (Delivered) cashout, and does not even ask the rail.
TEST_F(EngineCancelTest, V3CancelOfProcessingIsRefused510AndChangesNothing) {
  const PayoutIds ids = create_v3(*api_, "v3-cancel-901", "5550901");
  ASSERT_FALSE(ids.public_id.empty());
  ASSERT_TRUE(wait_until_accepted(ids.cashout_id, 5000));
  EXPECT_EQ(api_->v3_status(ids.cashout_id).body, v3_status_json(4, "Delivered"));
  // The clock stands still: the engine has nothing due, so any change is the cancel's.
  ClockDriver clock = driver();
  ASSERT_TRUE(clock.wait_idle());
  const std::string before = sandbox_.snapshot();
  HttpResponse refused = api_->v3(
      "DELETE", "/v3/cashout/cancel",
      api_->v3_body({{"cashout_id", ids.cashout_id}, {"external_id", "\"v3-cancel-901\""}}),
      /*retry=*/false);
  EXPECT_EQ(refused.status, 412);
  EXPECT_EQ(refused.body, R"({"code":510,"message":"Invalid status transition"})");
  // Nor did it leave the engine anything to do: after a pass of it, still nothing changed.
  ASSERT_TRUE(clock.wait_idle());
  EXPECT_EQ(sandbox_.snapshot(), before);
  EXPECT_EQ(api_->v3_status(ids.cashout_id).body, v3_status_json(4, "Delivered"));
  EXPECT_EQ(rail_cancel_requested(ids), "0");
  EXPECT_EQ(trimmed(sandbox_.sql("SELECT cancel_state || '/' || "
                                 "coalesce(CAST(cancel_requested_at AS TEXT), 'null') FROM payouts "
                                 "WHERE cashout_id = " + ids.cashout_id + ";")),
            "none/null");
  EXPECT_EQ(wallet_text(merchant_.id, "BRL"), "897.00/103.00");

  // The same cashout through v1: the rail accepts the cancel (901), refunded once.
  HttpResponse cancelled =
      api_->v1("POST", "/api/v1/payouts/" + ids.public_id + "/cancel", "", /*retry=*/false);
  EXPECT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_EQ(api_->v3_status(ids.cashout_id).body, v3_status_json(2, "Canceled"));
  EXPECT_EQ(wallet_text(merchant_.id, "BRL"), "1000.00/0.00");
  EXPECT_EQ(refunds(*api_, ids.public_id), std::vector<std::string>{"103.00/1000.00"});
  EXPECT_TRUE(wait_until_engine_done(ids.cashout_id));
}

// ---------------------------------------------------------------------------------------------
// 3. Two servers, one database.

// What kind of payout the i-th of a bulk run is.
struct BulkKind {
  std::string suffix;
  std::string final_status;        // completed | failed
  std::optional<int> failure_code;
  bool submitted = true;
};

BulkKind bulk_kind(int i) {
  if (i % 50 == 7) return {"911", "failed", 811, false};
  if (i % 100 == 11) return {"905", "failed", 826, true};
  if (i % 100 == 13) return {"906", "completed", std::nullopt, true};
  if (i % 10 == 3) {
    static const int kCodes[] = {800, 807, 813, 824};
    const int code = kCodes[(i / 10) % 4];
    return {std::to_string(code), "failed", code, true};
  }
  return {"123", "completed", std::nullopt, true};
}

struct BulkPlan {
  int payouts = 0;
  int threads = 8;
  int merchants = 4;
  // Kill server 1 with SIGKILL once this many payouts were created (0 = never); its clients then
  // finish their work on server 0, retrying the request that was in flight.
  int kill_after_created = 0;
  // Real time allowed for driving the clock from the end of the creation until every payout
  // ended.
  int finish_deadline_ms = 0;
  // While payouts are being created, the test clock moves on by `advance_clock_ms` each time
  // `advance_clock_every` more were created: the engines follow up, settle, complete, fail and
  // reverse earlier payouts while they submit new ones, as they would in real time.
  int advance_clock_every = 0;
  int64_t advance_clock_ms = 0;
};

class EngineMultiServerTest : public EngineTest {
 protected:
  void run(const EngineConfig& config, const BulkPlan& plan);
};

void EngineMultiServerTest::run(const EngineConfig& config, const BulkPlan& plan) {
  const std::string config_path = write_config(config);
  ServerProcess& first = start_server(config_path);
  ServerProcess& second = start_server(config_path);
  ASSERT_TRUE(first.started() && second.started());
  const int ports[2] = {first.port(), second.port()};

  std::vector<Merchant> merchants;
  for (int m = 0; m < plan.merchants; ++m) {
    merchants.push_back(
        add_merchant("bulk" + std::to_string(m), "100000.00", "100000.00"));
    ASSERT_NO_FATAL_FAILURE(login(ports[m % 2], merchants.back()));
  }

  // The instance id the second server's engine claims leases under ("engine <id> running").
  std::string second_instance;
  {
    std::smatch match;
    const std::string log = second.log();
    if (std::regex_search(log, match, std::regex(R"(engine (\S+) running)"))) {
      second_instance = match[1];
    }
  }
  EXPECT_FALSE(second_instance.empty()) << second.log();
  std::string orphaned = "-";  // leases the killed server held when it died
  // Those leases, as rows "cashout_id|lease_until", and the clock when it died.
  std::string orphaned_leases;
  int64_t clock_at_kill = 0;

  // Create: thread t makes payouts t, t + threads, ... on server t % 2 for merchant t % merchants;
  // every third through v3, the others through v1, each over one keep-alive connection.
  std::atomic<int> created{0};
  std::atomic<int> retried{0};  // after a lost connection
  std::atomic<int> busy{0};     // after a "retry later" answer
  std::atomic<bool> killed{false};
  std::mutex clock_mutex;  // one mover of the clock at a time
  std::mutex errors_mutex;
  std::vector<std::string> errors;
  auto report = [&](std::string text) {
    std::lock_guard<std::mutex> lock(errors_mutex);
    if (errors.size() < 20) errors.push_back(std::move(text));
  };
  const int64_t create_started = steady_ms();
  std::vector<std::thread> threads;
  for (int t = 0; t < plan.threads; ++t) {
    threads.emplace_back([&, t] {
      const Merchant& merchant = merchants[static_cast<size_t>(t % plan.merchants)];
      const int home = t % 2;
      std::unique_ptr<Api> api = std::make_unique<Api>(ports[home], merchant);
      bool moved = false;
      for (int i = t; i < plan.payouts; i += plan.threads) {
        const BulkKind kind = bulk_kind(i);
        char account[32];
        std::snprintf(account, sizeof(account), "7%06d%s", i, kind.suffix.c_str());
        const bool v3 = i % 3 == 0;
        const std::string reference = "bulk-" + std::to_string(i);
        const std::string body = v3 ? api->v3_create_body(reference, account, "10.00")
                                    : api->v1_create_body(reference, account, "10.00");
        for (int attempt = 0;; ++attempt) {
          if (home == 1 && !moved && killed.load()) {
            api = std::make_unique<Api>(ports[0], merchant);
            moved = true;
          }
          HttpResponse response = v3 ? api->v3("POST", "/v3/cashout", body, /*retry=*/false)
                                     : api->v1("POST", "/api/v1/payouts", body, /*retry=*/false);
          const bool ok = v3 ? (response.status == 200 ||
                                (attempt > 0 && response.status == 412 &&
                                 response.body.find("\"code\":511") != std::string::npos))
                             : (response.status == 201 || (attempt > 0 && response.status == 200));
          if (ok) break;
          // Retried with the same request (a v1 replay or a v3 511 if it had been committed):
          // a lost connection (the killed server), and the answers that say "retry": v1 503
          // (Retry-After) and v3 703, which both dialects give when the database stayed locked by
          // the other process for longer than the busy timeout.
          const bool transient =
              response.status == 0 || (!v3 && response.status == 503) ||
              (v3 && response.status == 500 &&
               response.body.find("\"code\":703") != std::string::npos);
          if (transient && attempt < 50) {
            (response.status == 0 ? retried : busy).fetch_add(1);
            // A back-off from real contention (a lock held by the other process, a connection
            // being re-made), not a wait for the test clock: nothing here depends on its time.
            std::this_thread::sleep_for(std::chrono::milliseconds(response.status == 0 ? 20 : 200));
            continue;
          }
          report(reference + ": HTTP " + std::to_string(response.status) + " " + response.body);
          break;
        }
        const int created_now = created.fetch_add(1) + 1;
        if (plan.advance_clock_every > 0 && created_now % plan.advance_clock_every == 0) {
          std::lock_guard<std::mutex> lock(clock_mutex);
          sandbox_.advance_clock_ms(plan.advance_clock_ms);
        }
        if (created_now == plan.kill_after_created && plan.kill_after_created > 0) {
          // SIGKILL mid-run: its in-flight requests, transactions and leases die with it.
          // Preferably while it holds leases (in the middle of a connector call), so the
          // survivor has to wait them out and reconcile; at the latest after 3 s.
          const std::string leases_query =
              "SELECT count(*) FROM payouts WHERE engine_claimed_by = '" + second_instance + "';";
          const int64_t watch_until = steady_ms() + 3000;
          while (steady_ms() < watch_until && trimmed(sandbox_.sql(leases_query)) == "0") {
          }
          const int code = kill_server(1);
          EXPECT_EQ(code, 128 + 9);
          {
            // The clock stands still meanwhile (its movers wait for this one).
            std::lock_guard<std::mutex> lock(clock_mutex);
            clock_at_kill = sandbox_.clock_micros();
            orphaned_leases = sandbox_.sql(
                "SELECT cashout_id, engine_lease_until FROM payouts WHERE engine_claimed_by = '" +
                second_instance + "' ORDER BY cashout_id;");
          }
          orphaned = trimmed(sandbox_.sql("SELECT count(*) FROM payouts WHERE "
                                          "engine_claimed_by = '" + second_instance + "';")) +
                     " leases (" +
                     sandbox_.sql_joined("SELECT DISTINCT status FROM payouts WHERE "
                                         "engine_claimed_by = '" + second_instance +
                                         "' ORDER BY status;") +
                     ")";
          killed.store(true);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const int64_t created_ms = steady_ms() - create_started;
  for (const std::string& error : errors) ADD_FAILURE() << error;
  ASSERT_TRUE(errors.empty());
  if (plan.kill_after_created > 0) {
    ASSERT_TRUE(killed.load());
  }
  ASSERT_EQ(trimmed(sandbox_.sql("SELECT count(*) FROM payouts;")),
            std::to_string(plan.payouts));

  // Move the clock from event to event (bounded in real time) until every payout reached its end:
  // completed or failed, and "905" payouts past their reversal. The driver watches the engines
  // still running (not the killed one): the leases the killed server left run out when the clock
  // passes their end, one of its events, and the survivor takes them over then.
  const std::string pending_query =
      "SELECT count(*) FROM payouts WHERE status NOT IN ('completed', 'failed') OR "
      "(status = 'completed' AND beneficiary_bank_account LIKE '%905');";
  const int64_t clock_at_created = sandbox_.clock_micros();
  const int64_t wait_started = steady_ms();
  std::string pending;
  ClockDriver clock = driver();
  const bool all_ended = clock.run_until(
      [&] {
        pending = trimmed(sandbox_.sql(pending_query));
        return pending == "0";
      },
      plan.finish_deadline_ms);
  const int64_t finished_ms = steady_ms() - wait_started;
  ASSERT_TRUE(all_ended && pending == "0")
      << pending << " not ended after " << finished_ms << " ms:\n"
      << sandbox_.sql("SELECT status, connector_state, count(*) FROM payouts GROUP BY 1, 2;");
  // The survivor took over no lease of the killed server before it ran out: none of those payouts
  // has an event after the kill and before the end of its lease.
  if (!orphaned_leases.empty()) {
    std::map<std::string, int64_t> lease_until;
    std::istringstream rows(orphaned_leases);
    std::string ids_list;
    for (std::string row; std::getline(rows, row);) {
      const size_t bar = row.find('|');
      ASSERT_NE(bar, std::string::npos) << orphaned_leases;
      lease_until[row.substr(0, bar)] = std::stoll(row.substr(bar + 1));
      ids_list += (ids_list.empty() ? "" : ",") + row.substr(0, bar);
    }
    std::istringstream events(sandbox_.sql(
        "SELECT cashout_id, created_at, to_status FROM payout_events WHERE cashout_id IN (" +
        ids_list + ") AND created_at > " + std::to_string(clock_at_kill) + " ORDER BY 1, 2;"));
    std::set<std::string> moved_after_lease;
    for (std::string row; std::getline(events, row);) {
      std::vector<std::string> fields;
      std::istringstream split(row);
      for (std::string field; std::getline(split, field, '|');) fields.push_back(field);
      ASSERT_EQ(fields.size(), 3u) << row;
      const int64_t until = lease_until.at(fields[0]);
      EXPECT_GE(std::stoll(fields[1]), until)
          << "payout " << fields[0] << " moved to " << fields[2] << " "
          << (until - std::stoll(fields[1])) << " us before the killed server's lease ran out";
      moved_after_lease.insert(fields[0]);
    }
    // Every one of them was in processing when the server died, and ended after its lease.
    EXPECT_EQ(moved_after_lease.size(), lease_until.size());
  }
  // Nothing left for any engine: no follow-up, no lease.
  EXPECT_EQ(trimmed(sandbox_.sql("SELECT count(*) FROM payouts WHERE engine_next_at IS NOT NULL "
                                 "OR engine_claimed_by IS NOT NULL;")),
            "0");
  std::cerr << "[          ] " << plan.payouts << " payouts created in " << created_ms
            << " ms (" << retried.load() << " retried after a lost connection, " << busy.load()
            << " after a busy answer), all ended " << finished_ms << " ms later ("
            << clock.steps() << " clock steps, "
            << (sandbox_.clock_micros() - clock_at_created) / 1000
            << " ms on the test clock); the killed server left " << orphaned << "\n";

  // Expected outcome of each payout, from its account.
  std::map<std::string, int> by_outcome;  // "status|code" -> count
  std::map<std::pair<int, std::string>, int> completed_per_wallet;
  int submitted = 0;
  for (int i = 0; i < plan.payouts; ++i) {
    const BulkKind kind = bulk_kind(i);
    by_outcome[kind.final_status + "|" +
               (kind.failure_code ? std::to_string(*kind.failure_code) : "")] += 1;
    if (kind.submitted) ++submitted;
    if (kind.final_status == "completed") {
      completed_per_wallet[{(i % plan.threads) % plan.merchants, i % 3 == 0 ? "BRL" : "USD"}] += 1;
    }
  }
  std::string expected_outcomes;
  for (const auto& [key, count] : by_outcome) {
    expected_outcomes += key + "|" + std::to_string(count) + "\n";
  }

  // Exactly once at the rail: no second submission, one record per screened-in payout, none for
  // the screened-out ones.
  EXPECT_EQ(trimmed(sandbox_.sql("SELECT count(*) FROM rail_records WHERE submissions > 1;")), "0");
  EXPECT_EQ(trimmed(sandbox_.sql("SELECT count(*) FROM rail_records;")),
            std::to_string(submitted));
  EXPECT_EQ(trimmed(sandbox_.sql(
                "SELECT count(*) FROM payouts p WHERE beneficiary_bank_account NOT LIKE '%911' "
                "AND NOT EXISTS (SELECT 1 FROM rail_records r WHERE r.connector = 'sandbox' AND "
                "r.payout_key = p.public_id);")),
            "0");
  EXPECT_EQ(trimmed(sandbox_.sql(
                "SELECT count(*) FROM payouts p JOIN rail_records r ON r.payout_key = p.public_id "
                "WHERE p.beneficiary_bank_account LIKE '%911';")),
            "0");
  // One processing event per submitted payout (claimed once), none for the screened-out.
  EXPECT_EQ(trimmed(sandbox_.sql(
                "SELECT count(*) FROM payouts p WHERE (SELECT count(*) FROM payout_events e "
                "WHERE e.cashout_id = p.cashout_id AND e.to_status = 'processing') <> "
                "CASE WHEN p.beneficiary_bank_account LIKE '%911' THEN 0 ELSE 1 END;")),
            "0");
  // Every payout completed or failed, each with the code its account asked for.
  EXPECT_EQ(sandbox_.sql("SELECT status, coalesce(CAST(failure_code AS TEXT), ''), count(*) "
                         "FROM payouts GROUP BY 1, 2 ORDER BY 1, 2;"),
            expected_outcomes);
  // One refund per failed payout, never two.
  EXPECT_EQ(trimmed(sandbox_.sql("SELECT count(*) FROM wallet_transactions WHERE type = "
                                 "'PAYOUT_REFUND';")),
            trimmed(sandbox_.sql("SELECT count(*) FROM payouts WHERE status = 'failed';")));
  EXPECT_EQ(trimmed(sandbox_.sql("SELECT count(*) FROM (SELECT reference_id FROM "
                                 "wallet_transactions WHERE type = 'PAYOUT_REFUND' GROUP BY "
                                 "reference_id HAVING count(*) > 1) AS duplicates;")),
            "0");
  // Each wallet paid exactly its completed payouts (10.00 each, no fees), nothing held.
  for (int m = 0; m < plan.merchants; ++m) {
    for (const char* currency : {"USD", "BRL"}) {
      const int completed = completed_per_wallet[{m, currency}];
      const int64_t cents = 10'000'000 - 1'000LL * completed;
      char expected[64];
      std::snprintf(expected, sizeof(expected), "%lld.%02lld/0.00",
                    static_cast<long long>(cents / 100), static_cast<long long>(cents % 100));
      EXPECT_EQ(wallet_text(merchants[static_cast<size_t>(m)].id, currency), expected)
          << "merchant " << m << " " << currency;
    }
  }
  // No instance ever saw the rail count a second submission.
  for (const std::unique_ptr<ServerProcess>& server : servers_) {
    EXPECT_EQ(server->log().find("submitted 2 times"), std::string::npos);
  }
}

EngineConfig bulk_config() {
  EngineConfig config;
  config.set("engine_poll_interval_ms", 20)
      .set("engine_follow_up_max_ms", 500)
      .set("engine_reconcile_initial_ms", 100)
      .set("engine_reconcile_max_ms", 400)
      .set("engine_cancel_recheck_ms", 200)
      .set("sandbox_settle_after_ms", 100)
      .set("sandbox_complete_after_ms", 200)
      .set("sandbox_fail_after_ms", 100)
      .set("sandbox_reversal_after_ms", 200)
      .set("sandbox_unknown_for_ms", 300);
  return config;
}

TEST_F(EngineMultiServerTest, FiveThousandPayoutsOnTwoServersEachSubmittedOnce) {
  BulkPlan plan;
  plan.payouts = 5000;
  plan.finish_deadline_ms = 180'000;
  plan.advance_clock_every = 250;
  plan.advance_clock_ms = 50;
  run(bulk_config(), plan);
}

// Server 1 dies (SIGKILL) while payouts are being created and processed; its clients move to
// server 0, which takes over server 1's leases when they expire (2 s on the test clock) and
// finishes everything.
TEST_F(EngineMultiServerTest, SurvivorFinishesEverythingAfterKillNine) {
  EngineConfig config = bulk_config();
  config.set("engine_lease_ms", 2000)
      .set("sandbox_settle_after_ms", 500)
      .set("sandbox_complete_after_ms", 1000);
  BulkPlan plan;
  plan.payouts = 1000;
  plan.kill_after_created = 500;
  plan.finish_deadline_ms = 120'000;
  plan.advance_clock_every = 50;
  plan.advance_clock_ms = 50;
  run(config, plan);
}


// ---- The rail's callbacks: POST /connectors/sandbox/callback ----

constexpr std::string_view kCallbackSecret = "rail-callback-secret-0123456789";

class ConnectorCallbackTest : public EngineTest {
 protected:
  void SetUp() override {
    const std::string path = write_config(cancel_config(), "callbacks");
    {
      std::ofstream file(path, std::ios::binary | std::ios::app);
      file << "sandbox_callback_secret = \"" << kCallbackSecret << "\"\n";
    }
    ServerProcess& server = start_server(path);
    ASSERT_TRUE(server.started());
    port_ = server.port();
    merchant_ = add_merchant("callbacks", "1000.00", "1000.00");
    ASSERT_NO_FATAL_FAILURE(login(server.port(), merchant_));
    api_ = std::make_unique<Api>(server.port(), merchant_);
  }

  HttpResponse callback(const std::string& connector, const std::string& body,
                        const std::string& signature) {
    std::optional<HttpResponse> response =
        http_request(port_, "POST", "/connectors/" + connector + "/callback", body,
                     {{"Sandbox-Signature", signature}});
    return response.value_or(HttpResponse{});
  }

  int port_ = 0;
  Merchant merchant_;
  std::unique_ptr<Api> api_;
};

TEST_F(ConnectorCallbackTest, SignedCallbackMakesThePayoutDueAndBadOnesAreRefused) {
  // 901 stays processing at the rail: a callback for it is harmless and observable.
  const PayoutIds ids = create_v1(*api_, "callback-1", "5550901");
  ASSERT_FALSE(ids.public_id.empty());
  ASSERT_TRUE(wait_for_state(ids.cashout_id, "processing/accepted", 5000));
  const std::string body = "{\"payout_id\":\"" + ids.public_id + "\"}";
  const std::string events_before =
      trimmed(sandbox_.sql("SELECT count(*) FROM payout_events WHERE cashout_id = " +
                           ids.cashout_id + ";"));
  // When the engine means to ask the rail next, relative to the clock.
  auto next_follow_up = [&] {
    const std::string next_at =
        trimmed(sandbox_.sql("SELECT coalesce(CAST(engine_next_at AS TEXT), 'null') FROM payouts "
                             "WHERE cashout_id = " + ids.cashout_id + ";"));
    if (next_at.empty() || next_at.find_first_not_of("0123456789") != std::string::npos) {
      return "<" + next_at + ">";
    }
    return "+" + std::to_string((std::stoll(next_at) - sandbox_.clock_micros()) / 1000) + " ms";
  };
  const int64_t follow_up_ms = config_.get("engine_follow_up_max_ms", -1);
  ASSERT_GT(follow_up_ms, 40);
  // Half-way to its next follow-up, nothing is due.
  ClockDriver clock = driver();
  sandbox_.advance_clock_ms(follow_up_ms / 2);
  ASSERT_TRUE(clock.wait_idle());
  EXPECT_EQ(next_follow_up(), "+" + std::to_string(follow_up_ms - follow_up_ms / 2) + " ms");

  // The signed callback makes it due now: the engine asks the rail at once (at this clock time)
  // and schedules its next follow-up a whole interval from now.
  HttpResponse accepted = callback("sandbox", body, sign_hex(kCallbackSecret, body));
  EXPECT_EQ(accepted.status, 204) << accepted.body;
  EXPECT_EQ(accepted.body, "");
  ASSERT_TRUE(clock.wait_idle());
  EXPECT_EQ(next_follow_up(), "+" + std::to_string(follow_up_ms) + " ms");
  // Move on a little (nothing due): a callback that pokes the payout now would show.
  sandbox_.advance_clock_ms(follow_up_ms / 4);
  ASSERT_TRUE(clock.wait_idle());
  const std::string due_after_accepted = next_follow_up();
  EXPECT_EQ(due_after_accepted, "+" + std::to_string(follow_up_ms - follow_up_ms / 4) + " ms");

  HttpResponse forged = callback("sandbox", body, sign_hex("another-secret", body));
  EXPECT_EQ(forged.status, 401) << forged.body;
  HttpResponse unsigned_callback = callback("sandbox", body, "");
  EXPECT_EQ(unsigned_callback.status, 401) << unsigned_callback.body;
  const std::string malformed = "{\"payout\":1}";
  HttpResponse bad_body = callback("sandbox", malformed, sign_hex(kCallbackSecret, malformed));
  EXPECT_EQ(bad_body.status, 400) << bad_body.body;
  const std::string unknown = "{\"payout_id\":\"pyt_doesnotexist\"}";
  HttpResponse missing = callback("sandbox", unknown, sign_hex(kCallbackSecret, unknown));
  EXPECT_EQ(missing.status, 404) << missing.body;
  HttpResponse other = callback("paypal", body, sign_hex(kCallbackSecret, body));
  EXPECT_EQ(other.status, 404) << other.body;

  // None of the refused ones made the payout due.
  ASSERT_TRUE(clock.wait_idle());
  EXPECT_EQ(next_follow_up(), due_after_accepted);

  // A hint only: the engine asked the rail, which still says processing - nothing moved.
  EXPECT_EQ(trimmed(sandbox_.sql("SELECT status || '/' || count(*) FROM payouts JOIN "
                                 "payout_events USING (cashout_id) WHERE cashout_id = " +
                                 ids.cashout_id + " GROUP BY status;")),
            "processing/" + events_before);
  EXPECT_EQ(rail_submissions(ids.public_id), "1");
}

}  // namespace
}  // namespace payoutd::testing::engine_it
