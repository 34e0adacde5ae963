// Payouts API v1: paging over 20,000 payouts. The payouts are created through the API itself
// (concurrent creates over keep-alive connections, which the store's writer group-commits); then
// every page of several listings is walked: pages are disjoint, together they are exactly the
// payouts, the X-* headers are right on every page, and the order holds across page boundaries.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "integration/v1_support.h"

namespace payoutd::testing::v1 {
namespace {

constexpr int kPayouts = 20'000;
constexpr int kConnections = 16;
constexpr int kCancelled = 500;

class V1PagingTest : public V1Test {};

struct Page {
  std::vector<json::Value> items;
  std::string total_count;
  std::string total_pages;
  std::string page;
  std::string per_page;
};

TEST_F(V1PagingTest, TwentyThousandPayoutsPageDisjointlyWithRightCounts) {
  const auto started = std::chrono::steady_clock::now();
  const V1Merchant merchant = add_merchant("paging", "1000000.00");
  const V1Merchant other = add_merchant("paging_other", "1000.00");
  const std::string token = login(merchant).access;
  const std::string other_token = login(other).access;
  ASSERT_FALSE(create_payout(other_token, other.usd_wallet_id, "OTHER-1").empty());

  // Creates: kConnections keep-alive connections, each sending its share in sequence.
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int connection = 0; connection < kConnections; ++connection) {
    threads.emplace_back([&, connection] {
      HttpClient client(server_->port());
      for (int i = connection; i < kPayouts; i += kConnections) {
        // Amounts 0.01 .. 9.99 in a scattered order, so amount order differs from creation order.
        const int cents = 1 + (i * 7919) % 999;
        const std::string amount =
            std::to_string(cents / 100) + "." + (cents % 100 < 10 ? "0" : "") +
            std::to_string(cents % 100);
        std::optional<HttpResponse> response = client.request(
            "POST", "/api/v1/payouts",
            seed_create_body("PAGE-" + std::to_string(i), merchant.usd_wallet_id, amount),
            {{"Authorization", "Bearer " + token}});
        if (!response || response->status != 201) {
          if (failures.fetch_add(1) < 5) {
            ADD_FAILURE() << (response ? response->body : std::string("no response"));
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_EQ(failures.load(), 0);
  const auto created = std::chrono::steady_clock::now();

  // Cancel some through bulk cancel (100 ids per call), so the status filter has a subset.
  HttpClient client(server_->port());
  auto get_page = [&](const std::string& target) {
    std::optional<HttpResponse> response =
        client.request("GET", target, "", {{"Authorization", "Bearer " + token}});
    Page page;
    EXPECT_TRUE(response && response->status == 200) << target;
    if (!response || response->status != 200) return page;
    std::optional<json::Value> body = parse_json(response->body);
    EXPECT_TRUE(body && body->is_array());
    if (body && body->is_array()) page.items = body->items();
    page.total_count = response->header("x-total-count").value_or("");
    page.total_pages = response->header("x-total-pages").value_or("");
    page.page = response->header("x-page").value_or("");
    page.per_page = response->header("x-per-page").value_or("");
    return page;
  };
  std::set<std::string> to_cancel;
  {
    Page oldest = get_page("/api/v1/payouts?sort_order=ASC&limit=100&page=3");
    ASSERT_EQ(oldest.items.size(), 100u);
    for (int page = 1; page <= kCancelled / 100; ++page) {
      Page chunk = get_page("/api/v1/payouts?sort_by=amount&sort_order=DESC&limit=100&page=" +
                            std::to_string(page));
      std::string body = "{\"ids\":[";
      for (size_t i = 0; i < chunk.items.size(); ++i) {
        const std::string id = member_text(chunk.items[i], "id");
        to_cancel.insert(id);
        body += (i ? ",\"" : "\"") + id + "\"";
      }
      body += "]}";
      std::optional<HttpResponse> cancelled = client.request(
          "POST", "/api/v1/payouts/cancel", body, {{"Authorization", "Bearer " + token}});
      ASSERT_TRUE(cancelled && cancelled->status == 200);
      std::optional<json::Value> outcome = parse_json(cancelled->body);
      ASSERT_TRUE(outcome.has_value());
      EXPECT_EQ(outcome->find("cancelled")->items().size(), 100u);
      EXPECT_TRUE(outcome->find("failed")->items().empty());
    }
  }
  ASSERT_EQ(to_cancel.size(), static_cast<size_t>(kCancelled));

  // Walks every page of `query` with `limit`; checks headers and disjointness; returns the items
  // in listing order.
  auto walk = [&](const std::string& query, int limit, int expected_total) {
    std::vector<json::Value> all;
    std::set<std::string> seen;
    const int pages = (expected_total + limit - 1) / limit;
    for (int page = 1; page <= pages + 1; ++page) {
      Page current = get_page("/api/v1/payouts?" + query + (query.empty() ? "" : "&") +
                              "limit=" + std::to_string(limit) + "&page=" + std::to_string(page));
      EXPECT_EQ(current.total_count, std::to_string(expected_total)) << query << " page " << page;
      EXPECT_EQ(current.total_pages, std::to_string(pages)) << query;
      EXPECT_EQ(current.page, std::to_string(page));
      EXPECT_EQ(current.per_page, std::to_string(limit));
      const size_t expected_items =
          page <= pages ? static_cast<size_t>(std::min(limit, expected_total - (page - 1) * limit))
                        : 0;
      EXPECT_EQ(current.items.size(), expected_items) << query << " page " << page;
      for (json::Value& item : current.items) {
        EXPECT_TRUE(seen.insert(member_text(item, "id")).second)
            << "payout on two pages: " << member_text(item, "id");
        all.push_back(std::move(item));
      }
    }
    EXPECT_EQ(seen.size(), static_cast<size_t>(expected_total)) << query;
    return all;
  };

  // Default order (newest first) over 200 pages of 100.
  std::vector<json::Value> newest = walk("", 100, kPayouts);
  for (size_t i = 1; i < newest.size(); ++i) {
    ASSERT_GE(member_text(newest[i - 1], "created_at"), member_text(newest[i], "created_at")) << i;
    EXPECT_EQ(member_text(newest[i], "client_id"), std::to_string(merchant.id));
  }
  // The default page size: 1000 pages of 20; spot-check the first and the last.
  Page first = get_page("/api/v1/payouts");
  EXPECT_EQ(first.items.size(), 20u);
  EXPECT_EQ(first.total_pages, "1000");
  EXPECT_EQ(member_text(first.items[0], "id"), member_text(newest[0], "id"));
  Page last = get_page("/api/v1/payouts?page=1000");
  ASSERT_EQ(last.items.size(), 20u);
  EXPECT_EQ(member_text(last.items[19], "id"), member_text(newest.back(), "id"));

  // Amount order, ascending, across page boundaries (ties broken by id: disjoint still).
  std::vector<json::Value> by_amount = walk("sort_by=amount&sort_order=ASC", 100, kPayouts);
  auto cents_of = [](const json::Value& item) {
    const std::string text = member_text(item, "amount");
    const size_t dot = text.find('.');
    return std::stoll(text.substr(0, dot)) * 100 + std::stoll(text.substr(dot + 1));
  };
  for (size_t i = 1; i < by_amount.size(); ++i) {
    ASSERT_LE(cents_of(by_amount[i - 1]), cents_of(by_amount[i])) << i;
  }

  // Status filter: exactly the cancelled ones, and the rest.
  std::vector<json::Value> cancelled = walk("status=cancelled", 100, kCancelled);
  std::set<std::string> cancelled_ids;
  for (const json::Value& item : cancelled) {
    cancelled_ids.insert(member_text(item, "id"));
    EXPECT_EQ(member_text(item, "status"), "cancelled");
  }
  EXPECT_EQ(cancelled_ids, to_cancel);
  walk("status=created", 100, kPayouts - kCancelled);

  // The other merchant sees only its own payout.
  std::optional<HttpResponse> other_list =
      client.request("GET", "/api/v1/payouts", "", {{"Authorization", "Bearer " + other_token}});
  ASSERT_TRUE(other_list.has_value());
  EXPECT_EQ(other_list->header("x-total-count"), "1");

  const auto done = std::chrono::steady_clock::now();
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  std::cerr << "[ paging ] created " << kPayouts << " payouts in "
            << duration_cast<milliseconds>(created - started).count() << " ms; whole test "
            << duration_cast<milliseconds>(done - started).count() << " ms\n";
  // Reported, not asserted: speed is measured by bench/ on a quiet machine, not by a test whose
  // timing depends on the backend, the build type and whatever else shares the cores.
}

}  // namespace
}  // namespace payoutd::testing::v1
