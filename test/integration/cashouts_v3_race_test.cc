// Races over real connections: 64 concurrent cancels of one cashout, 64 concurrent creates with
// one external_id. Exactly one winner, the others refused, money moved exactly once.
#include <gtest/gtest.h>

#include <latch>
#include <memory>
#include <thread>
#include <vector>

#include "integration/v3_support.h"

namespace payoutd::testing::v3 {
namespace {

constexpr int kRacers = 64;

// Sends `request` on `kRacers` separate, already connected connections at (nearly) the same
// moment and returns every response (status 0 for a transport failure).
std::vector<HttpResponse> race(int port, const std::string& request) {
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int i = 0; i < kRacers; ++i) {
    clients.push_back(std::make_unique<HttpClient>(port));
    EXPECT_TRUE(clients.back()->connect()) << "connection " << i;
  }
  std::vector<HttpResponse> responses(kRacers);
  std::latch start(kRacers + 1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRacers; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      std::optional<HttpResponse> response = clients[static_cast<size_t>(i)]->send_raw(request);
      if (response) responses[static_cast<size_t>(i)] = std::move(*response);
    });
  }
  start.arrive_and_wait();
  for (std::thread& thread : threads) thread.join();
  return responses;
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

}  // namespace
}  // namespace payoutd::testing::v3
