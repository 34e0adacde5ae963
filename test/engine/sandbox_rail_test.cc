// The sandbox connector's own book (engine/connectors/sandbox_rail.h) on a real SQLite store,
// through the store's hook for a component's own tables.
#include "engine/connectors/sandbox_rail.h"

#include <gtest/gtest.h>

#include <vector>

#include "commands/commands_fixture.h"

namespace payoutd::testing {
namespace {

using engine::sandbox_rail::RailRecord;
namespace rail = engine::sandbox_rail;

constexpr int64_t kT0 = 1'700'000'000'000'000;

class SandboxRailTest : public CommandsFixture {
 protected:
  Status put(const RailRecord& record) {
    return store_->write_own_tables([&](sql::Connection& c) { return rail::put(c, record); });
  }
};

TEST_F(SandboxRailTest, BookCountsSubmissions) {
  RailRecord record;
  record.connector = "sandbox";
  record.payout_key = "pyt_1";
  record.reference = "sbx_pyt_1";
  record.submitted_at = kT0;
  record.submissions = 1;
  record.updated_at = kT0;
  ASSERT_TRUE(put(record).is_ok());
  record.payout_key = "pyt_2";
  ASSERT_TRUE(put(record).is_ok());
  record.submissions = 2;  // the same key again: replaced, not added
  record.cancel_requested_at = kT0 + 5;
  ASSERT_TRUE(put(record).is_ok());
  ASSERT_TRUE(store_
                  ->read_own_tables([&](sql::Connection& c) -> Status {
                    Result<RailRecord> one = rail::record(c, "sandbox", "pyt_1");
                    EXPECT_TRUE(one.is_ok());
                    EXPECT_EQ(one->submissions, 1);
                    EXPECT_EQ(one->reference, "sbx_pyt_1");
                    EXPECT_FALSE(one->cancel_requested_at.has_value());
                    EXPECT_EQ(rail::record(c, "sandbox", "pyt_3").status().kind(),
                              ErrorKind::kNotFound);
                    EXPECT_EQ(rail::record(c, "other", "pyt_1").status().kind(),
                              ErrorKind::kNotFound);
                    Result<std::vector<RailRecord>> twice =
                        rail::duplicate_submissions(c, "sandbox", 10);
                    EXPECT_TRUE(twice.is_ok());
                    EXPECT_EQ(twice->size(), 1u);
                    EXPECT_EQ(twice->front().payout_key, "pyt_2");
                    EXPECT_EQ(twice->front().cancel_requested_at.value_or(0), kT0 + 5);
                    EXPECT_EQ(*rail::record_count(c, "sandbox"), 2);
                    EXPECT_EQ(*rail::record_count(c, "other"), 0);
                    return Status::ok();
                  })
                  .is_ok());
}

// A write of the book is an op of its own: a refusal rolls back only what the body wrote.
TEST_F(SandboxRailTest, ARefusedWriteLeavesNoRecord) {
  RailRecord record;
  record.connector = "sandbox";
  record.payout_key = "pyt_9";
  record.reference = "sbx_pyt_9";
  record.submitted_at = kT0;
  record.submissions = 1;
  record.updated_at = kT0;
  Status refused = store_->write_own_tables([&](sql::Connection& c) -> Status {
    PAYOUTD_RETURN_IF_ERROR(rail::put(c, record));
    return Status::error(ErrorKind::kConflict, "changed its mind");
  });
  EXPECT_EQ(refused.kind(), ErrorKind::kConflict);
  ASSERT_TRUE(store_
                  ->read_own_tables([&](sql::Connection& c) -> Status {
                    EXPECT_EQ(*rail::record_count(c, "sandbox"), 0);
                    return Status::ok();
                  })
                  .is_ok());
}

}  // namespace
}  // namespace payoutd::testing
