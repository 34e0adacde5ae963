// Crash durability (issue 7): `kill -9` the server in the middle of a load of v3 cancels, restart it
// on the same database, and prove that every cancel that was acknowledged (HTTP 200, status 2) is
// durable: the payout is cancelled, refunded exactly once, the wallet balances add up, nothing was
// refunded without being cancelled, and `payoutd ledger check` passes.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "integration/v3_support.h"

namespace payoutd::testing::v3 {
namespace {

constexpr int kPayouts = 2000;
constexpr int kCreateThreads = 8;
constexpr int kCancelThreads = 8;
// The server is killed once this many cancels were acknowledged.
constexpr int kKillAfterAcknowledged = 300;
constexpr const char* kFunding = "1000000.00";
constexpr int64_t kFundingMinor = 100000000;

struct Cashout {
  std::string id;  // decimal text, as the API returned it
  std::string external_id;
};

std::string amount_of(int i) {
  // 1.00 .. 50.99 BRL, varied so a wrong refund amount shows in the balance.
  const int cents = 100 + (i * 7919) % 5000;
  std::string text = std::to_string(cents / 100) + ".";
  if (cents % 100 < 10) text += "0";
  return text + std::to_string(cents % 100);
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::string field;
  for (char c : line) {
    if (c == '|') {
      fields.push_back(field);
      field.clear();
    } else {
      field += c;
    }
  }
  fields.push_back(field);
  return fields;
}

class DurabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string output;
    std::optional<int64_t> id =
        sandbox_.create_merchant("Durability merchant", imported_credentials(), &output);
    ASSERT_TRUE(id.has_value()) << output;
    merchant_id_ = *id;
    ASSERT_TRUE(sandbox_.fund_wallet(merchant_id_, "BRL", kFunding));
    start_server();
  }

  void TearDown() override {
    if (server_ && HasFailure()) {
      const std::string log = server_->log();
      std::cerr << "---- server log (tail) ----\n"
                << (log.size() > 4000 ? log.substr(log.size() - 4000) : log) << "\n";
    }
    if (server_) {
      EXPECT_EQ(server_->stop(), 0) << "the server must stop cleanly on SIGTERM";
    }
  }

  // No v3 rate limit: the server runs on the sandbox's test clock, which this test never moves
  // (nothing here waits for time), so a limiter's bucket would never refill, and 2000 creates
  // and up to 2000 cancels in a few seconds are the load this test needs.
  void start_server() {
    server_.reset();
    server_ = std::make_unique<ServerProcess>(
        sandbox_, std::vector<std::string>{"--max-transaction-amount", "BRL=5000.00",
                                           "--v3-rate-limit-per-second", "0"});
    ASSERT_TRUE(server_->started()) << server_->output() << server_->log();
  }

  // Creates kPayouts cashouts over kCreateThreads keep-alive connections.
  std::vector<Cashout> create_all() {
    std::vector<Cashout> cashouts(kPayouts);
    std::atomic<int> failures{0};
    std::mutex failure_mutex;
    std::string first_failure;
    std::vector<std::thread> threads;
    const int port = server_->port();
    for (int t = 0; t < kCreateThreads; ++t) {
      threads.emplace_back([&, t] {
        HttpClient client(port);
        for (int i = t; i < kPayouts; i += kCreateThreads) {
          const std::string external_id = "durable-" + std::to_string(i);
          Body body = create_body(external_id);
          body.set("amount", amount_of(i));
          const std::string text = body.text();
          std::optional<HttpResponse> response = client.request(
              "POST", "/v3/cashout", text, {{"Payload-Signature", sign_hex(kSecretKey, text)}});
          std::optional<json::Value> parsed;
          const json::Value* id = nullptr;
          if (response && response->status == 200) parsed = parse_body(response->body);
          if (parsed && parsed->is_object()) id = parsed->find("cashout_id");
          if (id == nullptr || !id->is_string()) {
            if (failures.fetch_add(1) == 0) {
              std::lock_guard<std::mutex> lock(failure_mutex);
              first_failure = response ? "HTTP " + std::to_string(response->status) + " " +
                                             response->body
                                       : "transport failure";
            }
            return;
          }
          cashouts[static_cast<size_t>(i)] = {id->as_string(), external_id};
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(failures.load(), 0) << "first failed create: " << first_failure;
    return cashouts;
  }

  Sandbox sandbox_;
  int64_t merchant_id_ = 0;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(DurabilityTest, EveryAcknowledgedCancelSurvivesKillNine) {
  const auto started = std::chrono::steady_clock::now();
  const std::vector<Cashout> cashouts = create_all();
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(sandbox_.sql("SELECT count(*) FROM payouts;"), std::to_string(kPayouts) + "\n");

  // ---- cancel load, killed midway ----
  std::atomic<int> acknowledged_count{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::set<std::string> acknowledged;      // HTTP 200 with cashout_status 2
  std::vector<std::string> unexpected;     // any other complete answer
  int transport_failures = 0;              // no (complete) answer: the kill
  const int port = server_->port();
  std::vector<std::thread> threads;
  for (int t = 0; t < kCancelThreads; ++t) {
    threads.emplace_back([&, t] {
      HttpClient client(port, /*timeout_ms=*/10000);
      for (int i = t; i < kPayouts && !stop.load(); i += kCancelThreads) {
        const Cashout& cashout = cashouts[static_cast<size_t>(i)];
        const std::string text = cancel_body(cashout.id, cashout.external_id).text();
        std::optional<HttpResponse> response =
            client.request("DELETE", "/v3/cashout/cancel", text,
                           {{"Payload-Signature", sign_hex(kSecretKey, text)}});
        std::lock_guard<std::mutex> lock(mutex);
        if (!response) {
          ++transport_failures;
          return;  // the server is gone (or going): this connection is done
        }
        if (response->status == 200 &&
            response->body == R"({"cashout_status":2,"cashout_status_description":"Canceled"})") {
          acknowledged.insert(cashout.id);
          acknowledged_count.fetch_add(1);
        } else {
          unexpected.push_back(cashout.id + ": HTTP " + std::to_string(response->status) + " " +
                               response->body);
        }
      }
    });
  }
  // Kill once enough cancels were acknowledged (bounded wait: 60 s).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (acknowledged_count.load() < kKillAfterAcknowledged &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const int acknowledged_at_kill = acknowledged_count.load();
  EXPECT_EQ(server_->kill(), 128 + 9) << "the server must die of SIGKILL";
  stop.store(true);
  for (std::thread& thread : threads) thread.join();

  ASSERT_GE(acknowledged_at_kill, kKillAfterAcknowledged) << "the cancel load was too slow";
  EXPECT_TRUE(unexpected.empty()) << unexpected.size() << " unexpected answers, e.g. "
                                  << unexpected.front();
  EXPECT_LT(static_cast<int>(acknowledged.size()), kPayouts)
      << "every cancel finished before the kill: the crash did not happen mid-load";
  std::cerr << "[durability] acknowledged " << acknowledged.size() << " cancels ("
            << acknowledged_at_kill << " at the kill), " << transport_failures
            << " connections cut by the kill\n";

  // ---- restart on the same database ----
  start_server();

  // Every payout: id, status, total, refund movements, refund wallet transactions (via journal).
  const std::string rows = sandbox_.sql(
      "SELECT p.cashout_id, p.status, p.total_amount,"
      " (SELECT count(*) FROM journal_transactions m WHERE m.cashout_id = p.cashout_id"
      "   AND m.kind = 'payout_refund'),"
      " (SELECT count(*) FROM wallet_transactions w JOIN journal_transactions j"
      "   ON j.id = w.journal_id WHERE j.cashout_id = p.cashout_id AND w.type = 'PAYOUT_REFUND'),"
      " (SELECT coalesce(sum(w.amount), 0) FROM wallet_transactions w JOIN journal_transactions j"
      "   ON j.id = w.journal_id WHERE j.cashout_id = p.cashout_id AND w.type = 'PAYOUT_REFUND')"
      " FROM payouts p ORDER BY p.cashout_id;");
  const std::vector<std::string> lines = split_lines(rows);
  ASSERT_EQ(static_cast<int>(lines.size()), kPayouts) << rows.substr(0, 400);
  int64_t outstanding_minor = 0;
  int cancelled = 0;
  std::set<std::string> cancelled_ids;
  for (const std::string& line : lines) {
    const std::vector<std::string> f = split_fields(line);
    ASSERT_EQ(f.size(), 6u) << line;
    const std::string& id = f[0];
    const bool is_cancelled = f[1] == "cancelled";
    if (is_cancelled) {
      ++cancelled;
      cancelled_ids.insert(id);
      // Cancelled (acknowledged or in flight at the kill): refunded exactly once, in full.
      EXPECT_EQ(f[3], "1") << "refund movements of cancelled payout " << id;
      EXPECT_EQ(f[4], "1") << "PAYOUT_REFUND transactions of cancelled payout " << id;
      EXPECT_EQ(f[5], f[2]) << "refunded amount of payout " << id;
    } else {
      EXPECT_EQ(f[3], "0") << "payout " << id << " (" << f[1] << ") refunded without a cancel";
      EXPECT_EQ(f[4], "0") << "payout " << id << " (" << f[1] << ") has a PAYOUT_REFUND";
      outstanding_minor += std::stoll(f[2]);
    }
  }
  for (const std::string& id : acknowledged) {
    EXPECT_TRUE(cancelled_ids.count(id) == 1)
        << "cancel of " << id << " was acknowledged but is not in the database";
  }
  EXPECT_GE(cancelled, static_cast<int>(acknowledged.size()));
  // At most one in-flight cancel per connection can have committed without its answer arriving.
  EXPECT_LE(cancelled, static_cast<int>(acknowledged.size()) + kCancelThreads);

  // Totals: one refund per cancelled payout, and the balances add up.
  EXPECT_EQ(sandbox_.sql("SELECT count(*) FROM wallet_transactions WHERE type = 'PAYOUT_REFUND';"),
            std::to_string(cancelled) + "\n");
  EXPECT_EQ(sandbox_.sql("SELECT count(*) FROM journal_transactions WHERE kind = 'payout_refund';"),
            std::to_string(cancelled) + "\n");
  const std::string balances = sandbox_.sql(
      "SELECT a.kind, a.balance FROM accounts a JOIN wallets w ON w.id = a.wallet_id"
      " WHERE w.merchant_id = " +
      std::to_string(merchant_id_) + " AND w.currency = 'BRL' ORDER BY a.kind;");
  EXPECT_EQ(balances, "available|" + std::to_string(kFundingMinor - outstanding_minor) +
                          "\nheld|" + std::to_string(outstanding_minor) + "\n");

  // The v3 API agrees: every acknowledged cancel reads back as status 2 after the restart.
  {
    HttpClient client(server_->port());
    int checked = 0;
    for (const std::string& id : acknowledged) {
      const std::string text = status_body(id).text();
      std::optional<HttpResponse> response =
          client.request("POST", "/v3/cashout/status", text,
                         {{"Payload-Signature", sign_hex(kSecretKey, text)}});
      ASSERT_TRUE(response.has_value()) << "status of " << id;
      ASSERT_EQ(response->status, 200) << response->body;
      std::optional<json::Value> parsed = parse_body(response->body);
      ASSERT_TRUE(parsed && parsed->is_object()) << response->body;
      const json::Value* status = parsed->find("cashout_status");
      ASSERT_TRUE(status != nullptr && status->is_number()) << response->body;
      EXPECT_EQ(status->number_text(), "2") << "cashout " << id << ": " << response->body;
      ++checked;
    }
    EXPECT_EQ(checked, static_cast<int>(acknowledged.size()));
  }

  // The restarted server still serves cancels of the payouts the crash left alone.
  for (const Cashout& cashout : cashouts) {
    if (cancelled_ids.count(cashout.id) != 0) continue;
    const std::string text = cancel_body(cashout.id, cashout.external_id).text();
    std::optional<HttpResponse> response =
        http_request(server_->port(), "DELETE", "/v3/cashout/cancel", text,
                     {{"Payload-Signature", sign_hex(kSecretKey, text)}});
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200) << response->body;
    break;
  }

  std::string report;
  EXPECT_EQ(sandbox_.ledger_check(&report), 0) << report;
  std::cerr << "[durability] " << cancelled << " cancelled in the database; run took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count()
            << " ms\n";
}

}  // namespace
}  // namespace payoutd::testing::v3
