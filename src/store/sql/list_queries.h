// SQL for the paged, filtered listings. Pure functions (no database), exposed so tests can run
// EXPLAIN QUERY PLAN on exactly the SQL the store executes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"
#include "store/store.h"

namespace payoutd::sql {

// Deepest row a page may start at: (page - 1) * limit must not exceed this. OFFSET walks the
// skipped rows, so an unbounded offset is an unbounded scan.
inline constexpr int64_t kMaxListOffset = 10'000'000;

using SqlValue = std::variant<int64_t, std::string>;

struct ListSql {
  std::string select_sql;  // rows; its last two parameters are LIMIT and OFFSET
  std::string count_sql;   // COUNT(*) with the same filters
  std::vector<SqlValue> filter_values;  // parameters $1..$n shared by both statements
  int64_t limit = 0;
  int64_t offset = 0;
};

// kInvalidArgument (field "page" or "limit") unless page >= 1, 1 <= limit <= kMaxPageSize and
// (page - 1) * limit <= kMaxListOffset.
Status validate_page(int page, int limit);

// The payout columns in the order read_payout() expects, comma-separated, unqualified.
std::string_view payout_columns();

// Calls visit(entry) for each entry of a comma-separated list ("a, b, c"), as the column lists
// above and the write group's are written.
template <typename Visit>
void for_each_listed(std::string_view list, Visit visit) {
  while (!list.empty()) {
    const size_t comma = list.find(", ");
    visit(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 2);
  }
}
inline size_t count_listed(std::string_view list) {
  size_t count = 0;
  for_each_listed(list, [&count](std::string_view) { ++count; });
  return count;
}

Result<ListSql> build_payout_list(const PayoutQuery& query);
Result<ListSql> build_wallet_transaction_list(const WalletTransactionQuery& query);
Result<ListSql> build_wallet_list(const WalletQuery& query);

// The SELECT (no WHERE) that wallet reads share: wallet joined with its two accounts.
std::string_view wallet_select();

}  // namespace payoutd::sql
