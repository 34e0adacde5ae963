// Races over real connections: 64 concurrent cancels of one cashout, 64 concurrent creates with
// one external_id. Exactly one winner, the others refused, money moved exactly once.
#include <gtest/gtest.h>

#include <fstream>
#include <latch>
#include <memory>
#include <thread>
#include <vector>

#include "integration/v3_support.h"

namespace payoutd::testing::v3 {
namespace {

constexpr int kRacers = 64;

// Sends requests[i] on its own, already connected connection, all at (nearly) the same moment,
// and returns every response (status 0 for a transport failure).
std::vector<HttpResponse> race(int port, const std::vector<std::string>& requests) {
  const int racers = static_cast<int>(requests.size());
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int i = 0; i < racers; ++i) {
    clients.push_back(std::make_unique<HttpClient>(port));
    EXPECT_TRUE(clients.back()->connect()) << "connection " << i;
  }
  std::vector<HttpResponse> responses(requests.size());
  std::latch start(racers + 1);
  std::vector<std::thread> threads;
  for (int i = 0; i < racers; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      std::optional<HttpResponse> response =
          clients[static_cast<size_t>(i)]->send_raw(requests[static_cast<size_t>(i)]);
      if (response) responses[static_cast<size_t>(i)] = std::move(*response);
    });
  }
  start.arrive_and_wait();
  for (std::thread& thread : threads) thread.join();
  return responses;
}

// `request` on kRacers connections at once.
std::vector<HttpResponse> race(int port, const std::string& request) {
  return race(port, std::vector<std::string>(kRacers, request));
}

// The value of the Prometheus sample `name` (no labels) in a /metrics page; -1 when absent.
int64_t metric(const std::string& page, const std::string& name) {
  const std::string prefix = "\n" + name + " ";
  const size_t at = ("\n" + page).find(prefix);
  if (at == std::string::npos) return -1;
  return std::stoll(page.substr(at + prefix.size() - 1));
}

TEST_F(V3Test, SixtyFourConcurrentCancelsHaveExactlyOneWinner) {
  const std::string id = create_cashout("race-cancel-1", "250.00");
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(wallet_text(), "9750.00/250.00");
  const std::string body = cancel_body(id, "race-cancel-1").text();
  const std::string request = HttpClient::build_request(
      "DELETE", "/v3/cashout/cancel", body, {{"Payload-Signature", sign_hex(kSecretKey, body)}},
      /*close=*/false);

  const std::vector<HttpResponse> responses = race(server_->port(), request);
  int winners = 0;
  int refused = 0;
  for (const HttpResponse& response : responses) {
    if (response.status == 200) {
      EXPECT_EQ(response.body, R"({"cashout_status":2,"cashout_status_description":"Canceled"})");
      ++winners;
    } else if (is_v3_error(response, 412, 510, "Invalid status transition")) {
      ++refused;
    } else {
      ADD_FAILURE() << "unexpected answer: HTTP " << response.status << " " << response.body;
    }
  }
  EXPECT_EQ(winners, 1);
  EXPECT_EQ(refused, kRacers - 1);
  // One refund, of the whole total.
  EXPECT_EQ(wallet_text(), "10000.00/0.00");
  EXPECT_EQ(sandbox_.sql("SELECT count(*) FROM journal_transactions WHERE cashout_id = " + id +
                         " AND kind = 'payout_refund';"),
            "1\n");
  EXPECT_EQ(sandbox_.sql("SELECT count(*), sum(amount) FROM wallet_transactions WHERE type = "
                         "'PAYOUT_REFUND';"),
            "1|25000\n");
  EXPECT_EQ(sandbox_.sql("SELECT count(*) FROM payout_events WHERE cashout_id = " + id + ";"),
            "2\n");
}

TEST_F(V3Test, SixtyFourConcurrentCreatesWithOneExternalIdMakeOneCashout) {
  const std::string body = create_body("race-create-1").text();
  const std::string request = HttpClient::build_request(
      "POST", "/v3/cashout", body, {{"Payload-Signature", sign_hex(kSecretKey, body)}},
      /*close=*/false);

  const std::vector<HttpResponse> responses = race(server_->port(), request);
  int winners = 0;
  int refused = 0;
  for (const HttpResponse& response : responses) {
    if (response.status == 200) {
      ++winners;
    } else if (is_v3_error(response, 412, 511, "External ID already used")) {
      ++refused;
    } else {
      ADD_FAILURE() << "unexpected answer: HTTP " << response.status << " " << response.body;
    }
  }
  EXPECT_EQ(winners, 1);
  EXPECT_EQ(refused, kRacers - 1);
  EXPECT_EQ(sandbox_.sql("SELECT count(*) FROM payouts WHERE external_id = 'race-create-1';"),
            "1\n");
  EXPECT_EQ(wallet_text(), "9900.00/100.00");
}

// Many payouts cancelled at once are each refunded once, however the writer writes them. On
// PostgreSQL consecutive cancels of one batch are written as one write group, unless the config
// key db_group_writes turns that off; SQLite never groups. The writer's metrics show which it did.
class V3WriteGroupsTest : public V3Test, public ::testing::WithParamInterface<bool> {
 protected:
  std::vector<std::string> server_arguments() const override {
    const std::string config = sandbox_.directory() + "/groups.toml";
    std::ofstream(config) << "db_group_writes = " << (GetParam() ? "true" : "false") << "\n";
    std::vector<std::string> arguments = V3Test::server_arguments();
    arguments.push_back("--config");
    arguments.push_back(config);
    return arguments;
  }
};

TEST_P(V3WriteGroupsTest, ConcurrentCancelsOfManyPayoutsRefundEachOnce) {
  const bool grouping = GetParam() && sandbox_.backend() == Backend::kPostgresql;
  constexpr int kPayouts = 48;
  int cancelled = 0;
  int64_t groups = 0;
  // Whether a batch holds two cancels depends on timing: up to three waves to see a group form.
  for (int wave = 0; wave < 3 && (wave == 0 || (grouping && groups == 0)); ++wave) {
    std::vector<std::string> requests;
    for (int i = 0; i < kPayouts; ++i) {
      const std::string external_id = "group-" + std::to_string(wave) + "-" + std::to_string(i);
      const std::string id = create_cashout(external_id, "10.00");
      ASSERT_FALSE(id.empty());
      const std::string body = cancel_body(id, external_id).text();
      requests.push_back(HttpClient::build_request(
          "DELETE", "/v3/cashout/cancel", body,
          {{"Payload-Signature", sign_hex(kSecretKey, body)}}, /*close=*/false));
    }
    for (const HttpResponse& response : race(server_->port(), requests)) {
      EXPECT_EQ(response.status, 200) << response.body;
      EXPECT_EQ(response.body, R"({"cashout_status":2,"cashout_status_description":"Canceled"})");
    }
    cancelled += kPayouts;
    const HttpResponse page = send("GET", "/metrics", "", Signing::kNone);
    ASSERT_EQ(page.status, 200);
    groups = metric(page.body, "payoutd_commit_write_groups_total");
    ASSERT_GE(groups, 0) << page.body;
  }
  if (grouping) {
    EXPECT_GT(groups, 0);
  } else {
    EXPECT_EQ(groups, 0);
  }
  EXPECT_EQ(wallet_text(), "10000.00/0.00");
  EXPECT_EQ(sandbox_.sql("SELECT count(*), count(DISTINCT cashout_id) FROM journal_transactions "
                         "WHERE kind = 'payout_refund';"),
            std::to_string(cancelled) + "|" + std::to_string(cancelled) + "\n");
}

INSTANTIATE_TEST_SUITE_P(Grouping, V3WriteGroupsTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? "On" : "Off";
                         });

}  // namespace
}  // namespace payoutd::testing::v3
