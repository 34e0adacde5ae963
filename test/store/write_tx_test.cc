// The write primitives, their constraint mapping, and the read queries that go with them.
#include "store/sql/transactions.h"
#include "store_fixture.h"

namespace payoutd::testing {
namespace {

TEST_F(StoreTest, MerchantRoundTripsEveryField) {
  const int64_t id = add_merchant("acme");
  ASSERT_GT(id, 0);
  const Merchant expected = ledger::merchant_value("acme");
  for (int lookup = 0; lookup < 3; ++lookup) {
    SCOPED_TRACE(lookup);
    Merchant merchant;
    Status status = store_->read([&](ReadTx& tx) -> Status {
      Result<Merchant> found = lookup == 0   ? tx.merchant_by_id(id)
                               : lookup == 1 ? tx.merchant_by_login("login-acme")
                                             : tx.merchant_by_api_username("user-acme");
      if (!found.is_ok()) return std::move(found).status();
      merchant = *found;
      return Status::ok();
    });
    ASSERT_TRUE(status.is_ok()) << status.to_string();
    EXPECT_EQ(merchant.id, id);
    EXPECT_EQ(merchant.name, "acme");
    EXPECT_EQ(merchant.status, MerchantStatus::kActive);
    EXPECT_EQ(merchant.login, expected.login);
    EXPECT_EQ(merchant.pass_salt, expected.pass_salt);  // embedded NUL byte kept
    EXPECT_EQ(merchant.pass_salt.size(), 6u);
    EXPECT_EQ(merchant.pass_hash, expected.pass_hash);
    EXPECT_EQ(merchant.secret_key_sealed, expected.secret_key_sealed);
    EXPECT_EQ(merchant.api_username, expected.api_username);
    EXPECT_EQ(merchant.api_password_salt, "");
    EXPECT_EQ(merchant.api_password_hash, expected.api_password_hash);
    EXPECT_EQ(merchant.ip_allow, expected.ip_allow);
    EXPECT_EQ(merchant.notification_url, expected.notification_url);
    EXPECT_EQ(merchant.created_at, kT0);
  }
  Status status = store_->read([](ReadTx& tx) { return status_of(tx.merchant_by_login("nobody")); });
  EXPECT_EQ(status.kind(), ErrorKind::kNotFound);
}

TEST_F(StoreTest, MerchantUniqueKeysAreAlreadyExists) {
  add_merchant("acme");
  Merchant same_login = ledger::merchant_value("other");
  same_login.login = "login-acme";
  Merchant same_username = ledger::merchant_value("third");
  same_username.api_username = "user-acme";
  for (const Merchant& merchant : {same_login, same_username}) {
    Status status = store_->write([&](WriteTx& tx) { return status_of(tx.insert_merchant(merchant)); });
    EXPECT_EQ(status.kind(), ErrorKind::kAlreadyExists) << status.to_string();
  }
  // Rotating credentials onto another merchant's login is refused the same way.
  const int64_t second = add_merchant("second");
  Merchant rotated = ledger::merchant_value("second");
  rotated.id = second;
  rotated.login = "login-acme";
  Status status = store_->write([&](WriteTx& tx) { return tx.update_merchant_credentials(rotated); });
  EXPECT_EQ(status.kind(), ErrorKind::kAlreadyExists);
}

TEST_F(StoreTest, MerchantUpdates) {
  const int64_t id = add_merchant("acme");
  Merchant rotated = ledger::merchant_value("acme");
  rotated.id = id;
  rotated.login = "new-login";
  rotated.pass_hash = std::string(32, '\x55');
  rotated.updated_at = kT0 + 5;
  ASSERT_TRUE(store_->write([&](WriteTx& tx) { return tx.update_merchant_credentials(rotated); })
                  .is_ok());
  ASSERT_TRUE(store_
                  ->write([&](WriteTx& tx) {
                    return tx.update_merchant_status(id, MerchantStatus::kDisabled, kT0 + 9);
                  })
                  .is_ok());
  Merchant merchant;
  ASSERT_TRUE(store_
                  ->read([&](ReadTx& tx) -> Status {
                    Result<Merchant> found = tx.merchant_by_login("new-login");
                    if (!found.is_ok()) return std::move(found).status();
                    merchant = *found;
                    return Status::ok();
                  })
                  .is_ok());
  EXPECT_EQ(merchant.id, id);
  EXPECT_EQ(merchant.pass_hash, rotated.pass_hash);
  EXPECT_EQ(merchant.status, MerchantStatus::kDisabled);
  EXPECT_EQ(merchant.updated_at, kT0 + 9);
  Status missing = store_->write(
      [](WriteTx& tx) { return tx.update_merchant_status(999, MerchantStatus::kActive, kT0); });
  EXPECT_EQ(missing.kind(), ErrorKind::kNotFound);
  Result<std::vector<Merchant>> all = std::vector<Merchant>{};
  ASSERT_TRUE(store_
                  ->read([&](ReadTx& tx) -> Status {
                    all = tx.list_merchants();
                    return all.is_ok() ? Status::ok() : all.status();
                  })
                  .is_ok());
  ASSERT_EQ(all->size(), 1u);
}

TEST_F(StoreTest, FeeScheduleDefaultsToZeroAndUpserts) {
  const int64_t id = add_merchant("acme");
  auto read_fees = [&](const std::string& currency) {
    FeeSchedule schedule{-1, -1};
    EXPECT_TRUE(store_
                    ->read([&](ReadTx& tx) -> Status {
                      Result<FeeSchedule> found = tx.fee_schedule(id, currency);
                      if (!found.is_ok()) return std::move(found).status();
                      schedule = *found;
                      return Status::ok();
                    })
                    .is_ok());
    return schedule;
  };
  EXPECT_EQ(read_fees("BRL").fixed_minor, 0);
  EXPECT_EQ(read_fees("BRL").percent_bps, 0);
  for (FeeSchedule schedule : {FeeSchedule{150, 50}, FeeSchedule{0, 10000}}) {
    ASSERT_TRUE(store_
                    ->write([&](WriteTx& tx) {
                      return tx.upsert_fee_schedule(id, "BRL", schedule, kT0);
                    })
                    .is_ok());
    EXPECT_EQ(read_fees("BRL").fixed_minor, schedule.fixed_minor);
    EXPECT_EQ(read_fees("BRL").percent_bps, schedule.percent_bps);
  }
  EXPECT_EQ(read_fees("USD").percent_bps, 0);
  Status out_of_range = store_->write(
      [&](WriteTx& tx) { return tx.upsert_fee_schedule(id, "BRL", FeeSchedule{0, 10001}, kT0); });
  EXPECT_EQ(out_of_range.kind(), ErrorKind::kInvalidArgument);
  Status unknown_merchant = store_->write(
      [&](WriteTx& tx) { return tx.upsert_fee_schedule(777, "BRL", FeeSchedule{1, 1}, kT0); });
  EXPECT_EQ(unknown_merchant.kind(), ErrorKind::kNotFound);
}

TEST_F(StoreTest, WalletsCarryTheirAccountsAndAreUniquePerCurrency) {
  const int64_t acme = add_merchant("acme");
  const int64_t other = add_merchant("other");
  Wallet usd = add_wallet(acme, "USD", 10'000);
  EXPECT_EQ(usd.merchant_id, acme);
  EXPECT_EQ(usd.currency, "USD");
  EXPECT_EQ(usd.available_minor, 10'000);
  EXPECT_EQ(usd.held_minor, 0);
  EXPECT_TRUE(usd.is_active);
  EXPECT_NE(usd.available_account_id, usd.held_account_id);

  Status duplicate = store_->write(
      [&](WriteTx& tx) { return status_of(tx.insert_wallet(acme, "USD", kT0)); });
  EXPECT_EQ(duplicate.kind(), ErrorKind::kAlreadyExists);
  Status no_merchant = store_->write(
      [&](WriteTx& tx) { return status_of(tx.insert_wallet(4242, "USD", kT0)); });
  EXPECT_EQ(no_merchant.kind(), ErrorKind::kNotFound);

  // Tenant scoping: another merchant's wallet is not found.
  EXPECT_EQ(status_of(wallet(other, usd.id)).kind(), ErrorKind::kNotFound);
  Status by_currency = store_->read([&](ReadTx& tx) -> Status {
    Result<Wallet> found = tx.wallet_by_currency(acme, "USD");
    if (!found.is_ok()) return std::move(found).status();
    EXPECT_EQ(found->id, usd.id);
    return status_of(tx.wallet_by_currency(other, "USD"));
  });
  EXPECT_EQ(by_currency.kind(), ErrorKind::kNotFound);

  add_wallet(acme, "BRL", 0);
  add_wallet(acme, "CLP", 0);
  WalletQuery query;
  query.merchant_id = acme;
  query.limit = 2;
  Status listed = store_->read([&](ReadTx& tx) -> Status {
    Result<WalletPage> page = tx.list_wallets(query);
    if (!page.is_ok()) return std::move(page).status();
    EXPECT_EQ(page->total_count, 3);
    EXPECT_EQ(page->items.size(), 2u);
    query.currency = "BRL";
    page = tx.list_wallets(query);
    if (!page.is_ok()) return std::move(page).status();
    EXPECT_EQ(page->total_count, 1);
    EXPECT_EQ(page->items.at(0).currency, "BRL");
    return Status::ok();
  });
  EXPECT_TRUE(listed.is_ok()) << listed.to_string();
}

TEST_F(StoreTest, PlatformAccountsAreCreatedOncePerCurrencyAndKind) {
  int64_t first = 0;
  int64_t again = 0;
  int64_t settlement = 0;
  int64_t other_currency = 0;
  ASSERT_TRUE(store_
                  ->write([&](WriteTx& tx) -> Status {
                    first = tx.platform_account("USD", AccountKind::kFunding).value();
                    again = tx.platform_account("USD", AccountKind::kFunding).value();
                    settlement = tx.platform_account("USD", AccountKind::kSettlement).value();
                    other_currency = tx.platform_account("BRL", AccountKind::kFunding).value();
                    return status_of(tx.platform_account("USD", AccountKind::kAvailable));
                  })
                  .kind() == ErrorKind::kInvalidArgument);
  EXPECT_EQ(first, again);
  EXPECT_NE(first, settlement);
  EXPECT_NE(first, other_currency);
}

TEST_F(StoreTest, PostJournalMovesBalancesAndRefusesOverdraft) {
  const int64_t acme = add_merchant("acme");
  Wallet usd = add_wallet(acme, "USD", 1'000);
  RawDatabase raw(path_);
  const int64_t journals_before = raw.integer("SELECT count(*) FROM journal_transactions");

  // available -> held for more than available: the CHECK constraint refuses it.
  Status overdraft = store_->write([&](WriteTx& tx) -> Status {
    JournalPosting posting;
    posting.kind = "adjustment";  // no payout: the store alone, no movement
    posting.currency = "USD";
    posting.created_at = kT0;
    posting.legs = {{usd.available_account_id, -1'001}, {usd.held_account_id, 1'001}};
    return status_of(tx.post_journal(posting));
  });
  EXPECT_EQ(overdraft.kind(), ErrorKind::kInsufficientFunds) << overdraft.to_string();
  EXPECT_EQ(raw.integer("SELECT count(*) FROM journal_transactions"), journals_before);
  EXPECT_EQ(wallet(acme, usd.id)->available_minor, 1'000);

  // Even an op that ignores the refusal and commits leaves no half-written journal behind.
  Status ignored = store_->write([&](WriteTx& tx) -> Status {
    JournalPosting posting;
    posting.kind = "adjustment";  // no payout: the store alone, no movement
    posting.currency = "USD";
    posting.created_at = kT0;
    posting.legs = {{usd.held_account_id, 5'000}, {usd.available_account_id, -5'000}};
    EXPECT_EQ(status_of(tx.post_journal(posting)).kind(), ErrorKind::kInsufficientFunds);
    return Status::ok();
  });
  EXPECT_TRUE(ignored.is_ok());
  EXPECT_EQ(raw.integer("SELECT count(*) FROM journal_transactions"), journals_before);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM journal_entries WHERE account_id = " +
                        std::to_string(usd.held_account_id)),
            0);
  EXPECT_EQ(wallet(acme, usd.id)->held_minor, 0);

  // An exact-balance move succeeds and the wallet shows it.
  Status exact = store_->write([&](WriteTx& tx) -> Status {
    JournalPosting posting;
    posting.kind = "adjustment";  // no payout: the store alone, no movement
    posting.currency = "USD";
    posting.created_at = kT0 + 7;
    posting.legs = {{usd.available_account_id, -1'000}, {usd.held_account_id, 1'000}};
    Result<int64_t> journal = tx.post_journal(posting);
    if (!journal.is_ok()) return std::move(journal).status();
    Result<Wallet> after = tx.wallet_by_id(acme, usd.id);  // sees the transaction's own writes
    EXPECT_EQ(after->available_minor, 0);
    EXPECT_EQ(after->held_minor, 1'000);
    return Status::ok();
  });
  EXPECT_TRUE(exact.is_ok()) << exact.to_string();
  Result<Wallet> after = wallet(acme, usd.id);
  EXPECT_EQ(after->available_minor, 0);
  EXPECT_EQ(after->held_minor, 1'000);
  EXPECT_EQ(after->updated_at, kT0 + 7);  // balance changes show in the wallet's updated_at

  // A leg on an account of another currency or a missing account.
  Status wrong_currency = store_->write([&](WriteTx& tx) -> Status {
    Result<int64_t> brl = tx.platform_account("BRL", AccountKind::kFunding);
    JournalPosting posting;
    posting.kind = "adjustment";
    posting.currency = "USD";
    posting.created_at = kT0;
    posting.legs = {{*brl, -5}, {usd.available_account_id, 5}};
    return status_of(tx.post_journal(posting));
  });
  EXPECT_EQ(wrong_currency.kind(), ErrorKind::kInternal) << wrong_currency.to_string();
  Status missing_account = store_->write([&](WriteTx& tx) -> Status {
    JournalPosting posting;
    posting.kind = "adjustment";
    posting.currency = "USD";
    posting.created_at = kT0;
    posting.legs = {{99'999, -5}, {usd.available_account_id, 5}};
    return status_of(tx.post_journal(posting));
  });
  EXPECT_EQ(missing_account.kind(), ErrorKind::kNotFound) << missing_account.to_string();
}

TEST_F(StoreTest, UnbalancedJournalIsABug) {
  const int64_t acme = add_merchant("acme");
  Wallet usd = add_wallet(acme, "USD", 1'000);
  JournalPosting posting;
  posting.kind = "adjustment";
  posting.currency = "USD";
  posting.legs = {{usd.available_account_id, 5}, {usd.held_account_id, 4}};
  // The writer is a thread: the death test must re-run the binary, not fork this process.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        (void)store_->write([&](WriteTx& tx) { return status_of(tx.post_journal(posting)); });
      },
      "sum == 0");
}

TEST_F(StoreTest, PayoutRoundTripsEveryField) {
  const int64_t acme = add_merchant("acme");
  Wallet usd = add_wallet(acme, "USD", 100'000);
  Payout payout = ledger::payout_value(acme, usd, "ext-1", 10'000, 150, kT0 + 3);
  payout.country = "BR";
  payout.beneficiary.phone = "+5511999999999";
  payout.beneficiary.country = "BR";
  payout.beneficiary.document_id = "12345678909";
  payout.beneficiary.document_type = "CPF";
  payout.beneficiary.bank_code = "001";
  payout.beneficiary.bank_account = "12345-6";
  payout.beneficiary.bank_branch = "0001";
  payout.beneficiary.account_type = "checking";
  payout.beneficiary.routing_number = "021000021";
  payout.beneficiary.address = "Rua A, 1";
  payout.beneficiary.city = "São Paulo";
  payout.beneficiary.postal_code = "01000-000";
  payout.beneficiary.birthdate = "1990-01-31";
  payout.description = "Bonus";
  payout.metadata_json = R"({"k":"v"})";
  payout.notification_url = "https://n.example/x";
  payout.request_fingerprint = "abc123";
  payout.connector = "sandbox";
  Payout created;
  ASSERT_TRUE(store_
                  ->write([&](WriteTx& tx) -> Status {
                    Result<Payout> result = ledger::create_payout(tx, payout);
                    if (!result.is_ok()) return std::move(result).status();
                    created = *result;
                    return Status::ok();
                  })
                  .is_ok());
  ASSERT_GT(created.cashout_id, 0);
  for (const PayoutRef& ref : {PayoutRef::by_cashout_id(created.cashout_id),
                               PayoutRef::by_public_id(payout.public_id),
                               PayoutRef::by_external_id("ext-1")}) {
    Result<Payout> found = this->payout(acme, ref);
    ASSERT_TRUE(found.is_ok()) << found.status().to_string();
    EXPECT_EQ(found->cashout_id, created.cashout_id);
    EXPECT_EQ(found->public_id, payout.public_id);
    EXPECT_EQ(found->merchant_id, acme);
    EXPECT_EQ(found->wallet_id, usd.id);
    EXPECT_EQ(found->amount_minor, 10'000);
    EXPECT_EQ(found->fees_minor, 150);
    EXPECT_EQ(found->total_minor, 10'150);
    EXPECT_EQ(found->country, "BR");
    EXPECT_EQ(found->beneficiary.first_name, "John");
    EXPECT_EQ(found->beneficiary.email, "john.doe@example.com");
    EXPECT_EQ(found->beneficiary.routing_number, "021000021");
    EXPECT_EQ(found->beneficiary.city, "São Paulo");
    EXPECT_EQ(found->beneficiary.birthdate, "1990-01-31");
    EXPECT_EQ(found->description, "Bonus");
    EXPECT_EQ(found->metadata_json, R"({"k":"v"})");
    EXPECT_EQ(found->notification_url, "https://n.example/x");
    EXPECT_EQ(found->status, PayoutStatus::kCreated);
    EXPECT_FALSE(found->failure_code.has_value());
    EXPECT_EQ(found->connector, "sandbox");
    EXPECT_EQ(found->created_at, kT0 + 3);
    EXPECT_FALSE(found->queued_at.has_value());
    EXPECT_EQ(found->event_seq, 1);
    EXPECT_EQ(found->request_fingerprint, "abc123");
  }
  Result<Wallet> after = wallet(acme, usd.id);
  EXPECT_EQ(after->available_minor, 100'000 - 10'150);
  EXPECT_EQ(after->held_minor, 10'150);
}

TEST_F(StoreTest, FindPayoutIsTenantScoped) {
  const int64_t acme = add_merchant("acme");
  const int64_t other = add_merchant("other");
  Wallet usd = add_wallet(acme, "USD", 100'000);
  Payout created = add_payout(acme, usd, "ext-1", 1'000);
  EXPECT_EQ(status_of(payout(other, PayoutRef::by_cashout_id(created.cashout_id))).kind(),
            ErrorKind::kNotFound);
  EXPECT_EQ(status_of(payout(other, PayoutRef::by_public_id(created.public_id))).kind(),
            ErrorKind::kNotFound);
  EXPECT_EQ(status_of(payout(other, PayoutRef::by_external_id("ext-1"))).kind(),
            ErrorKind::kNotFound);
  // Unscoped (operator) lookups by the global ids work; by external id they are ambiguous.
  EXPECT_TRUE(payout(0, PayoutRef::by_cashout_id(created.cashout_id)).is_ok());
  EXPECT_TRUE(payout(0, PayoutRef::by_public_id(created.public_id)).is_ok());
  EXPECT_EQ(status_of(payout(0, PayoutRef::by_external_id("ext-1"))).kind(),
            ErrorKind::kInvalidArgument);
  EXPECT_EQ(status_of(payout(acme, PayoutRef{})).kind(), ErrorKind::kInvalidArgument);
  Result<Payout> missing = payout(acme, PayoutRef::by_cashout_id(created.cashout_id + 100));
  ASSERT_EQ(status_of(missing).kind(), ErrorKind::kNotFound);
  EXPECT_EQ(missing.status().message(), "Payout not found");
}

TEST_F(StoreTest, DuplicateExternalIdIsAlreadyExistsAndLeavesNoTrace) {
  const int64_t acme = add_merchant("acme");
  const int64_t other = add_merchant("other");
  Wallet usd = add_wallet(acme, "USD", 100'000);
  Wallet other_usd = add_wallet(other, "USD", 100'000);
  add_payout(acme, usd, "dup", 1'000);
  Status duplicate = store_->write([&](WriteTx& tx) {
    return status_of(ledger::create_payout(tx, ledger::payout_value(acme, usd, "dup", 2'000, 0, kT0)));
  });
  EXPECT_EQ(duplicate.kind(), ErrorKind::kAlreadyExists);
  EXPECT_EQ(duplicate.message(), "External ID already used");
  EXPECT_EQ(wallet(acme, usd.id)->held_minor, 1'000);
  // The same external id is free for another merchant.
  Payout theirs = add_payout(other, other_usd, "dup", 3'000);
  EXPECT_GT(theirs.cashout_id, 0);
}

TEST_F(StoreTest, PayoutMustUseItsMerchantsWalletInItsCurrency) {
  const int64_t acme = add_merchant("acme");
  const int64_t other = add_merchant("other");
  Wallet usd = add_wallet(acme, "USD", 100'000);
  Wallet theirs = add_wallet(other, "USD", 100'000);
  Payout foreign_wallet = ledger::payout_value(acme, theirs, "x1", 100, 0, kT0);
  Status status = store_->write([&](WriteTx& tx) { return status_of(tx.insert_payout(foreign_wallet)); });
  EXPECT_EQ(status.kind(), ErrorKind::kNotFound) << status.to_string();
  Payout wrong_currency = ledger::payout_value(acme, usd, "x2", 100, 0, kT0);
  wrong_currency.currency = "BRL";
  status = store_->write([&](WriteTx& tx) { return status_of(tx.insert_payout(wrong_currency)); });
  EXPECT_EQ(status.kind(), ErrorKind::kNotFound) << status.to_string();
}

TEST_F(StoreTest, CashoutIdsAreNeverReused) {
  const int64_t acme = add_merchant("acme");
  Wallet usd = add_wallet(acme, "USD", 100'000);
  Payout first = add_payout(acme, usd, "a", 100);
  // A refused insert consumes nothing visible, and later ids keep growing.
  (void)store_->write([&](WriteTx& tx) {
    return status_of(tx.insert_payout(ledger::payout_value(acme, usd, "a", 100, 0, kT0)));
  });
  Payout second = add_payout(acme, usd, "b", 100);
  EXPECT_GT(second.cashout_id, first.cashout_id);
  RawDatabase raw(path_);
  EXPECT_NE(raw.text("SELECT sql FROM sqlite_schema WHERE name = 'payouts'").find("AUTOINCREMENT"),
            std::string::npos);
}

TEST_F(StoreTest, SecondRefundMovementIsAlreadyExists) {
  const int64_t acme = add_merchant("acme");
  Wallet usd = add_wallet(acme, "USD", 100'000);
  Payout created = add_payout(acme, usd, "ext", 1'000);
  ASSERT_TRUE(move(created.cashout_id, PayoutStatus::kCancelled).is_ok());
  EXPECT_EQ(wallet(acme, usd.id)->available_minor, 100'000);

  // A buggy second refund: the journal's unique (cashout_id, kind) index refuses it and the whole
  // op rolls back.
  Status second = store_->write([&](WriteTx& tx) -> Status {
    JournalPosting posting;
    posting.kind = "payout_refund";
    posting.cashout_id = created.cashout_id;
    posting.currency = "USD";
    posting.created_at = kT0;
    Result<int64_t> settlement = tx.platform_account("USD", AccountKind::kSettlement);
    posting.legs = {{*settlement, -1'000}, {usd.available_account_id, 1'000}};
    return tx.post_journal(posting).status();
  });
  EXPECT_EQ(second.kind(), ErrorKind::kAlreadyExists);
  EXPECT_EQ(second.message(), "payout " + std::to_string(created.cashout_id) +
                                  " already has its payout_refund movement");
  EXPECT_EQ(wallet(acme, usd.id)->available_minor, 100'000);
  EXPECT_TRUE(check().all_hold());

  // A second hold is refused the same way.
  Payout other = add_payout(acme, usd, "ext2", 500);
  Status hold_again = store_->write([&](WriteTx& tx) -> Status {
    JournalPosting posting;
    posting.kind = "payout_hold";
    posting.cashout_id = other.cashout_id;
    posting.currency = "USD";
    posting.created_at = kT0;
    posting.legs = {{usd.available_account_id, -500}, {usd.held_account_id, 500}};
    return tx.post_journal(posting).status();
  });
  EXPECT_EQ(hold_again.kind(), ErrorKind::kAlreadyExists) << hold_again.to_string();
  EXPECT_EQ(hold_again.message(), "payout " + std::to_string(other.cashout_id) +
                                      " already has its payout_hold movement");
  EXPECT_EQ(wallet(acme, usd.id)->available_minor, 100'000 - 500);
  EXPECT_TRUE(check().all_hold());

  // Under the store: the schema refuses a payout journal of another kind, and a movement kind
  // without a payout (the assertion in post_journal keeps the store from writing either).
  RawDatabase raw(path_);
  for (const std::string& sql :
       {"INSERT INTO journal_transactions (kind, cashout_id, currency, created_at) VALUES "
        "('deposit', " + std::to_string(other.cashout_id) + ", 'USD', 1)",
        std::string("INSERT INTO journal_transactions (kind, cashout_id, currency, created_at) "
                    "VALUES ('payout_refund', NULL, 'USD', 1)")}) {
    SCOPED_TRACE(sql);
    std::string error;
    EXPECT_NE(raw.exec(sql, &error), SQLITE_OK);
    EXPECT_NE(error.find("payout_journals_are_movements"), std::string::npos) << error;
  }
  EXPECT_EQ(raw.integer("SELECT count(*) FROM journal_transactions WHERE cashout_id = " +
                        std::to_string(other.cashout_id)),
            1);
}

TEST_F(StoreTest, StatusChangeIsCompareAndSet) {
  const int64_t acme = add_merchant("acme");
  Wallet usd = add_wallet(acme, "USD", 100'000);
  Payout created = add_payout(acme, usd, "ext", 1'000);

  StatusChange change;
  change.cashout_id = created.cashout_id;
  change.from = PayoutStatus::kCreated;
  change.to = PayoutStatus::kQueued;
  change.expected_event_seq = 1;
  change.at = kT0 + 10;
  ASSERT_TRUE(store_->write([&](WriteTx& tx) { return tx.apply_status_change(change); }).is_ok());
  Result<Payout> queued = payout(acme, PayoutRef::by_cashout_id(created.cashout_id));
  EXPECT_EQ(queued->status, PayoutStatus::kQueued);
  EXPECT_EQ(queued->queued_at, kT0 + 10);
  EXPECT_EQ(queued->updated_at, kT0 + 10);
  EXPECT_EQ(queued->event_seq, 2);

  // Same change again: the status moved on.
  Status stale_status = store_->write([&](WriteTx& tx) { return tx.apply_status_change(change); });
  EXPECT_EQ(stale_status.kind(), ErrorKind::kConflict);
  // Right status, stale event_seq.
  StatusChange stale_seq = change;
  stale_seq.from = PayoutStatus::kQueued;
  stale_seq.to = PayoutStatus::kProcessing;
  stale_seq.expected_event_seq = 1;
  Status stale = store_->write([&](WriteTx& tx) { return tx.apply_status_change(stale_seq); });
  EXPECT_EQ(stale.kind(), ErrorKind::kConflict);
  EXPECT_EQ(payout(acme, PayoutRef::by_cashout_id(created.cashout_id))->status,
            PayoutStatus::kQueued);

  // Failure fields are set when given and kept when not.
  StatusChange processing = stale_seq;
  processing.expected_event_seq = 2;
  processing.bank_reference_id = "BANK-1";
  processing.at = kT0 + 20;
  ASSERT_TRUE(store_->write([&](WriteTx& tx) { return tx.apply_status_change(processing); })
                  .is_ok());
  StatusChange failed;
  failed.cashout_id = created.cashout_id;
  failed.from = PayoutStatus::kProcessing;
  failed.to = PayoutStatus::kFailed;
  failed.expected_event_seq = 3;
  failed.at = kT0 + 30;
  failed.failure_code = 808;
  failed.failure_reason = "REJECTED";
  ASSERT_TRUE(store_->write([&](WriteTx& tx) { return tx.apply_status_change(failed); }).is_ok());
  Result<Payout> after = payout(acme, PayoutRef::by_cashout_id(created.cashout_id));
  EXPECT_EQ(after->status, PayoutStatus::kFailed);
  EXPECT_EQ(after->submitted_at, kT0 + 20);
  EXPECT_EQ(after->failed_at, kT0 + 30);
  EXPECT_EQ(after->failure_code, 808);
  EXPECT_EQ(after->failure_reason, "REJECTED");
  EXPECT_EQ(after->bank_reference_id, "BANK-1");
  EXPECT_EQ(after->event_seq, 4);
}

TEST_F(StoreTest, EventsAreOrderedAndUnique) {
  const int64_t acme = add_merchant("acme");
  Wallet usd = add_wallet(acme, "USD", 100'000);
  Payout created = add_payout(acme, usd, "ext", 1'000);
  ASSERT_TRUE(move(created.cashout_id, PayoutStatus::kQueued).is_ok());
  ASSERT_TRUE(move(created.cashout_id, PayoutStatus::kOnHold).is_ok());
  std::vector<PayoutEvent> events;
  ASSERT_TRUE(store_
                  ->read([&](ReadTx& tx) -> Status {
                    Result<std::vector<PayoutEvent>> found = tx.payout_events(created.cashout_id);
                    if (!found.is_ok()) return std::move(found).status();
                    events = *found;
                    return Status::ok();
                  })
                  .is_ok());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].seq, 1);
  EXPECT_FALSE(events[0].from_status.has_value());
  EXPECT_EQ(events[0].to_status, PayoutStatus::kCreated);
  EXPECT_EQ(events[0].actor, Actor::kSystem);
  EXPECT_EQ(events[2].seq, 3);
  EXPECT_EQ(events[2].from_status, PayoutStatus::kQueued);
  EXPECT_EQ(events[2].to_status, PayoutStatus::kOnHold);
  EXPECT_EQ(events[2].actor, Actor::kOperator);

  PayoutEvent duplicate = events[1];
  Status status = store_->write([&](WriteTx& tx) { return tx.insert_event(duplicate); });
  EXPECT_EQ(status.kind(), ErrorKind::kConflict);
  duplicate.cashout_id = 424242;
  duplicate.seq = 1;
  status = store_->write([&](WriteTx& tx) { return tx.insert_event(duplicate); });
  EXPECT_EQ(status.kind(), ErrorKind::kNotFound);
}

TEST_F(StoreTest, OutboxRowsAreInsertedPending) {
  const int64_t acme = add_merchant("acme");
  Wallet usd = add_wallet(acme, "USD", 100'000);
  Payout created = add_payout(acme, usd, "ext", 1'000);
  OutboxMessage message;
  message.cashout_id = created.cashout_id;
  message.event_seq = 1;
  message.channel = "v3";
  message.target_url = "https://merchant.example/notify";
  message.payload = R"({"cashout_id":"1"})";
  message.created_at = kT0 + 5;
  ASSERT_TRUE(store_->write([&](WriteTx& tx) { return tx.insert_outbox(message); }).is_ok());
  message.channel = "v9";
  EXPECT_EQ(store_->write([&](WriteTx& tx) { return tx.insert_outbox(message); }).kind(),
            ErrorKind::kInternal);
  RawDatabase raw(path_);
  EXPECT_EQ(raw.text("SELECT status || ',' || attempts || ',' || next_attempt_at FROM outbox"),
            "pending,0," + std::to_string(kT0 + 5));
}

TEST_F(StoreTest, HistoryTablesAreAppendOnly) {
  const int64_t acme = add_merchant("acme");
  Wallet usd = add_wallet(acme, "USD", 100'000);
  Payout created = add_payout(acme, usd, "ext", 1'000);
  ASSERT_TRUE(move(created.cashout_id, PayoutStatus::kCancelled).is_ok());
  RawDatabase raw(path_);
  raw.must_exec("PRAGMA foreign_keys = ON");
  const std::vector<std::string> forbidden = {
      "UPDATE payout_events SET message = 'rewritten'",
      "DELETE FROM payout_events",
      "UPDATE journal_entries SET amount = amount * 2",
      "DELETE FROM journal_entries",
      "UPDATE journal_transactions SET kind = 'x'",
      "DELETE FROM journal_transactions",
      "UPDATE wallet_transactions SET amount = 1",
      "DELETE FROM wallet_transactions",
      "DELETE FROM payouts",
  };
  for (const std::string& sql : forbidden) {
    SCOPED_TRACE(sql);
    std::string error;
    EXPECT_NE(raw.exec(sql, &error), SQLITE_OK);
    EXPECT_TRUE(error.find("append-only") != std::string::npos ||
                error.find("never deleted") != std::string::npos)
        << error;
  }
  EXPECT_EQ(raw.integer("SELECT count(*) FROM payout_events"), 2);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM journal_transactions WHERE cashout_id IS NOT NULL"),
            2);
  EXPECT_TRUE(check().all_hold());
}

TEST_F(StoreTest, WalletTransactionsListNewestFirstWithFilters) {
  const int64_t acme = add_merchant("acme");
  const int64_t other = add_merchant("other");
  Wallet usd = add_wallet(acme, "USD", 100'000);  // one DEPOSIT
  Wallet brl = add_wallet(acme, "BRL", 50'000);   // one DEPOSIT
  add_wallet(other, "USD", 70'000);
  Payout first = add_payout(acme, usd, "p1", 1'000);
  add_payout(acme, usd, "p2", 2'000);
  ASSERT_TRUE(move(first.cashout_id, PayoutStatus::kCancelled).is_ok());

  auto list = [&](WalletTransactionQuery query) {
    WalletTransactionPage page;
    Status status = store_->read([&](ReadTx& tx) -> Status {
      Result<WalletTransactionPage> found = tx.list_wallet_transactions(query);
      if (!found.is_ok()) return std::move(found).status();
      page = *found;
      return Status::ok();
    });
    EXPECT_TRUE(status.is_ok()) << status.to_string();
    return page;
  };
  WalletTransactionQuery query;
  query.merchant_id = acme;
  WalletTransactionPage all = list(query);
  EXPECT_EQ(all.total_count, 4);  // 2 deposits + 2 payouts (the test refund writes no wallet tx)
  for (size_t i = 1; i < all.items.size(); ++i) EXPECT_GT(all.items[i - 1].id, all.items[i].id);

  query.wallet_id = usd.id;
  EXPECT_EQ(list(query).total_count, 3);
  query.type = "PAYOUT";
  WalletTransactionPage payouts = list(query);
  ASSERT_EQ(payouts.total_count, 2);
  EXPECT_EQ(payouts.items[0].amount_minor, 2'000);
  EXPECT_EQ(payouts.items[0].balance_after_minor, 100'000 - 1'000 - 2'000);
  EXPECT_EQ(payouts.items[1].reference_id, first.public_id);
  query.type.reset();
  query.transaction_type = "CREDIT";
  EXPECT_EQ(list(query).total_count, 1);
  query.transaction_type.reset();
  query.reference_id = first.public_id;
  EXPECT_EQ(list(query).total_count, 1);
  query.reference_id.reset();
  query.wallet_id = brl.id;
  EXPECT_EQ(list(query).total_count, 1);

  // Another merchant's wallet id yields nothing, not their rows.
  WalletTransactionQuery foreign;
  foreign.merchant_id = other;
  foreign.wallet_id = usd.id;
  EXPECT_EQ(list(foreign).total_count, 0);
  EXPECT_TRUE(list(foreign).items.empty());

  WalletTransactionQuery bad;
  bad.merchant_id = acme;
  bad.type = "refund";  // the v1 alias is the dialect's job
  Status refused = store_->read([&](ReadTx& tx) { return status_of(tx.list_wallet_transactions(bad)); });
  EXPECT_EQ(refused.kind(), ErrorKind::kInvalidArgument);
}

}  // namespace
}  // namespace payoutd::testing
