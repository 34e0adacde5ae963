// A real SQLite store in a temp directory with the domain commands over it.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "commands/commands.h"
#include "crypto/master_key.h"
#include "store/store.h"
#include "support/test_support.h"
#include "support/notification_formats.h"

namespace payoutd::testing {

inline constexpr std::string_view kTestMasterKeyHex =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

inline std::unique_ptr<Store> open_test_store(const TempDir& dir, const StoreOptions& options = {}) {
  Result<std::unique_ptr<Store>> store = open_store("sqlite://" + dir.file("payoutd.db"), options);
  EXPECT_TRUE(store.is_ok()) << store.status().to_string();
  if (!store.is_ok()) return nullptr;
  Status migrated = (*store)->migrate();
  EXPECT_TRUE(migrated.is_ok()) << migrated.to_string();
  return std::move(store).value();
}

class CommandsFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_test_store(dir_);
    ASSERT_NE(store_, nullptr);
    Result<crypto::MasterKey> key = crypto::MasterKey::from_hex(kTestMasterKeyHex);
    ASSERT_TRUE(key.is_ok());
    master_key_ = std::make_unique<crypto::MasterKey>(std::move(key).value());
    commands_ = std::make_unique<commands::Commands>(*store_, clock_, random_, master_key_.get(),
                                                      with_notification_formats());
  }

  void TearDown() override {
    commands_.reset();
    if (store_) store_->close();
  }

  int64_t new_merchant(const std::string& name = "Acme") {
    commands::CreateMerchantInput input;
    input.name = name;
    auto created = commands_->create_merchant(input);
    EXPECT_TRUE(created.is_ok()) << created.status().to_string();
    return created.is_ok() ? created->merchant.id : 0;
  }

  Wallet fund(int64_t merchant_id, const std::string& currency, int64_t amount_minor) {
    commands::WalletMovementInput input;
    input.merchant_id = merchant_id;
    input.currency = currency;
    input.amount_minor = amount_minor;
    auto funded = commands_->fund_wallet(input);
    EXPECT_TRUE(funded.is_ok()) << funded.status().to_string();
    return funded.is_ok() ? funded->wallet : Wallet{};
  }

  commands::CreatePayoutInput payout_input(int64_t merchant_id, const std::string& external_id,
                                           int64_t amount_minor,
                                           const std::string& currency = "USD") {
    commands::CreatePayoutInput input;
    input.merchant_id = merchant_id;
    input.external_id = external_id;
    input.amount_minor = amount_minor;
    input.currency = currency;
    input.country = currency == "BRL" ? "BR" : "US";
    input.beneficiary.first_name = "John";
    input.beneficiary.last_name = "Doe";
    input.beneficiary.email = "john.doe@example.com";
    return input;
  }

  void expect_ledger_holds() {
    auto report = commands_->check_ledger();
    ASSERT_TRUE(report.is_ok()) << report.status().to_string();
    for (const auto& invariant : report->invariants) {
      EXPECT_EQ(invariant.violations, 0)
          << "invariant " << invariant.number << " (" << invariant.name << ") violated: "
          << (invariant.samples.empty() ? "" : invariant.samples.front());
    }
    EXPECT_TRUE(report->all_hold());
  }

  TempDir dir_;
  ManualClock clock_;
  SeededRandom random_{42};
  std::unique_ptr<Store> store_;
  std::unique_ptr<crypto::MasterKey> master_key_;
  std::unique_ptr<commands::Commands> commands_;
};

}  // namespace payoutd::testing
