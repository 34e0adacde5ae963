// The constraints a query answers for: each has one identity, and each backend reports a
// constraint failure with it (DatabaseError::constraint), so no query ever reads an error message.
//
// A backend learns the identity the way its engine tells it:
// - PostgreSQL names the violated constraint in the error's CONSTRAINT field (PG_DIAG_CONSTRAINT_NAME):
//   looked up here by `postgres_name`;
// - SQLite has no such field. Its diagnostic has a fixed, documented shape: a unique or primary key
//   failure names the columns ("UNIQUE constraint failed: payouts.merchant_id, payouts.external_id";
//   an expression index by name: "index 'outbox_one_per_destination'"), a CHECK failure the named
//   constraint. The SQLite backend compares the part after the shape's prefix with `sqlite_key`,
//   whole, in one place (store/sqlite/connection.cc).
// A failure of a constraint not listed here has the identity kUnlisted: its kind still says what it
// was, and no query maps it to a domain answer.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace payoutd::sql {

enum class Constraint : uint8_t {
  kNone = 0,  // not a constraint failure
  kUnlisted,  // a constraint failure of a constraint no query answers for
  kMerchantLogin,
  kMerchantApiUsername,
  kWalletPerCurrency,
  kPayoutPublicId,
  kPayoutExternalId,
  kPayoutEventSeq,
  kOneMovementPerPayout,
  kAvailableBalanceNonNegative,
  kHeldBalanceNonNegative,
  kOutboxOnePerDestination,
  kWebhookEndpointPublicId,
  kApiTokenHash,
  kIdempotencyKey,
};

struct ConstraintName {
  Constraint id;
  std::string_view postgres_name;  // the constraint's or unique index's name in PostgreSQL
  std::string_view sqlite_key;     // what SQLite's diagnostic names after its prefix
};

// Every listed constraint, once. (Test: each is provoked on both backends and reported as itself.)
std::span<const ConstraintName> constraint_names();

// The identity of a PostgreSQL constraint name; kUnlisted when no entry has it.
Constraint constraint_of_postgres_name(std::string_view name);
// The identity of what SQLite's diagnostic names (`payouts.public_id`, `index 'x'`, a CHECK's name);
// kUnlisted when no entry has it.
Constraint constraint_of_sqlite_key(std::string_view key);

std::string_view constraint_label(Constraint constraint);  // for logs and test output

}  // namespace payoutd::sql
