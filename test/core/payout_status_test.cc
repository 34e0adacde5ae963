#include "core/payout_status.h"

#include <gtest/gtest.h>

#include <array>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace payoutd {
namespace {

using S = PayoutStatus;

constexpr std::array<Actor, 4> kAllActors = {Actor::kSystem, Actor::kClient, Actor::kOperator,
                                             Actor::kProvider};

// ---- The transition table of domain.md, written out independently ----
//
// Actors: E = engine (Actor::kSystem), M = merchant (kClient), C = connector (kProvider),
// O = operator. domain.md: "An operator may make any transition of this table", so every row has O.
// `merchant_needs_confirm`: processing -> cancelled by the merchant only when the connector
// confirms the cancel.
struct ExpectedEdge {
  S from;
  S to;
  std::string_view actors;
  bool merchant_needs_confirm;
  LedgerMovement movement;  // domain.md "Movements"
};

constexpr LedgerMovement kNone = LedgerMovement::kNone;
constexpr LedgerMovement kPost = LedgerMovement::kPostHoldToSettlement;
constexpr LedgerMovement kRefundHeld = LedgerMovement::kRefundHeldToAvailable;
constexpr LedgerMovement kRefundSettled = LedgerMovement::kRefundSettlementToAvailable;

const ExpectedEdge kDomainTable[] = {
    // created -> queued: engine
    {S::kCreated, S::kQueued, "EO", false, kNone},
    // created, queued -> on_hold: merchant, operator
    {S::kCreated, S::kOnHold, "MO", false, kNone},
    {S::kQueued, S::kOnHold, "MO", false, kNone},
    // on_hold -> queued: merchant, operator
    {S::kOnHold, S::kQueued, "MO", false, kNone},
    // created, queued, on_hold, action_required -> cancelled: merchant, operator
    {S::kCreated, S::kCancelled, "MO", false, kRefundHeld},
    {S::kQueued, S::kCancelled, "MO", false, kRefundHeld},
    {S::kOnHold, S::kCancelled, "MO", false, kRefundHeld},
    {S::kActionRequired, S::kCancelled, "MO", false, kRefundHeld},
    // processing -> cancelled: merchant, only when the connector confirms the cancel
    {S::kProcessing, S::kCancelled, "MO", true, kRefundHeld},
    // queued -> processing: engine
    {S::kQueued, S::kProcessing, "EO", false, kNone},
    // processing -> settling, completed, failed, action_required: connector / operator
    {S::kProcessing, S::kSettling, "CO", false, kNone},
    {S::kProcessing, S::kCompleted, "CO", false, kPost},
    {S::kProcessing, S::kFailed, "CO", false, kRefundHeld},
    {S::kProcessing, S::kActionRequired, "CO", false, kNone},
    // settling -> completed, failed, action_required: connector / operator
    {S::kSettling, S::kCompleted, "CO", false, kPost},
    {S::kSettling, S::kFailed, "CO", false, kRefundHeld},
    {S::kSettling, S::kActionRequired, "CO", false, kNone},
    // action_required -> queued, failed: connector / operator
    {S::kActionRequired, S::kQueued, "CO", false, kNone},
    {S::kActionRequired, S::kFailed, "CO", false, kRefundHeld},
    // action_required, on_hold -> expired: engine
    {S::kActionRequired, S::kExpired, "EO", false, kRefundHeld},
    {S::kOnHold, S::kExpired, "EO", false, kRefundHeld},
    // completed -> failed: connector / operator (bank reversal; refund)
    {S::kCompleted, S::kFailed, "CO", false, kRefundSettled},
    // created -> failed: engine (screening rejection)
    {S::kCreated, S::kFailed, "EO", false, kRefundHeld},
};

char actor_letter(Actor actor) {
  switch (actor) {
    case Actor::kSystem:
      return 'E';
    case Actor::kClient:
      return 'M';
    case Actor::kOperator:
      return 'O';
    case Actor::kProvider:
      return 'C';
  }
  return '?';
}

const ExpectedEdge* expected_edge(S from, S to) {
  for (const ExpectedEdge& edge : kDomainTable) {
    if (edge.from == from && edge.to == to) return &edge;
  }
  return nullptr;
}

bool expected_allowed(S from, S to, Actor actor, bool confirmed) {
  const ExpectedEdge* edge = expected_edge(from, to);
  if (edge == nullptr) return false;
  if (edge->actors.find(actor_letter(actor)) == std::string_view::npos) return false;
  if (edge->merchant_needs_confirm && actor == Actor::kClient && !confirmed) return false;
  return true;
}

std::string describe(S from, S to, Actor actor, bool confirmed) {
  return std::string(status_name(from)) + " -> " + std::string(status_name(to)) + " by " +
         std::string(actor_name(actor)) + (confirmed ? " (connector confirmed)" : "");
}

TEST(TransitionTableTest, ExpectedTableHasNoDuplicateRows) {
  std::set<std::pair<S, S>> seen;
  for (const ExpectedEdge& edge : kDomainTable) {
    EXPECT_TRUE(seen.insert({edge.from, edge.to}).second);
    EXPECT_NE(edge.actors.find('O'), std::string_view::npos);
  }
  EXPECT_EQ(seen.size(), 23u);
}

TEST(TransitionTableTest, FullMatrixMatchesDomainTable) {
  int allowed_cells = 0;
  for (bool confirmed : {false, true}) {
    TransitionContext context;
    context.connector_confirmed_cancel = confirmed;
    for (S from : kAllPayoutStatuses) {
      for (S to : kAllPayoutStatuses) {
        for (Actor actor : kAllActors) {
          const bool expected = expected_allowed(from, to, actor, confirmed);
          const Status status = check_transition(from, to, actor, context);
          EXPECT_EQ(status.is_ok(), expected) << describe(from, to, actor, confirmed);
          if (expected) {
            ++allowed_cells;
            continue;
          }
          EXPECT_EQ(status.kind(), ErrorKind::kInvalidTransition)
              << describe(from, to, actor, confirmed);
          EXPECT_EQ(status.detail_code(), static_cast<int>(from))
              << describe(from, to, actor, confirmed);
          EXPECT_FALSE(status.message().empty());
        }
      }
    }
  }
  // Per pass: 23 operator cells + 5 engine + 7 merchant + 10 connector; the confirmed pass adds
  // processing -> cancelled by the merchant.
  EXPECT_EQ(allowed_cells, (23 + 5 + 7 + 10) * 2 + 1);
}

TEST(TransitionTableTest, DefaultContextDoesNotConfirmTheCancel) {
  EXPECT_FALSE(check_transition(S::kProcessing, S::kCancelled, Actor::kClient).is_ok());
  TransitionContext confirmed;
  confirmed.connector_confirmed_cancel = true;
  EXPECT_TRUE(check_transition(S::kProcessing, S::kCancelled, Actor::kClient, confirmed).is_ok());
  // The operator's own action stands in for the connector's word.
  EXPECT_TRUE(check_transition(S::kProcessing, S::kCancelled, Actor::kOperator).is_ok());
  // The confirmation does not open any other edge for the merchant.
  EXPECT_FALSE(check_transition(S::kSettling, S::kCancelled, Actor::kClient, confirmed).is_ok());
  EXPECT_FALSE(check_transition(S::kCompleted, S::kCancelled, Actor::kClient, confirmed).is_ok());
}

TEST(TransitionTableTest, NoSelfTransitionsAndNothingLeavesTerminalStatuses) {
  for (bool confirmed : {false, true}) {
    TransitionContext context;
    context.connector_confirmed_cancel = confirmed;
    for (S status : kAllPayoutStatuses) {
      for (Actor actor : kAllActors) {
        EXPECT_FALSE(check_transition(status, status, actor, context).is_ok())
            << describe(status, status, actor, confirmed);
        if (!status_is_terminal(status)) continue;
        for (S to : kAllPayoutStatuses) {
          EXPECT_FALSE(check_transition(status, to, actor, context).is_ok())
              << describe(status, to, actor, confirmed);
        }
      }
    }
  }
}

TEST(TransitionTableTest, AllowedFromStatusesAgreesWithCheckTransition) {
  for (bool confirmed : {false, true}) {
    TransitionContext context;
    context.connector_confirmed_cancel = confirmed;
    for (S to : kAllPayoutStatuses) {
      for (Actor actor : kAllActors) {
        const std::array<bool, kPayoutStatusCount> allowed =
            allowed_from_statuses(to, actor, context);
        for (S from : kAllPayoutStatuses) {
          EXPECT_EQ(allowed[static_cast<size_t>(from)],
                    check_transition(from, to, actor, context).is_ok())
              << describe(from, to, actor, confirmed);
        }
      }
    }
  }
  // Spot check the SQL use: the merchant's cancel claims WHERE status IN (these).
  const auto cancel_from = allowed_from_statuses(S::kCancelled, Actor::kClient);
  const std::array<bool, kPayoutStatusCount> expected = {true, true,  true,  false, false,
                                                         true, false, false, false, false};
  EXPECT_EQ(cancel_from, expected);
}

TEST(TransitionTableTest, LedgerMovementForEveryLegalEdge) {
  for (const ExpectedEdge& edge : kDomainTable) {
    EXPECT_EQ(ledger_movement_for(edge.from, edge.to), edge.movement)
        << status_name(edge.from) << " -> " << status_name(edge.to);
  }
}

TEST(TransitionTableDeathTest, LedgerMovementForAnIllegalEdgeIsABug) {
  EXPECT_DEATH((void)ledger_movement_for(S::kCreated, S::kCompleted), "assertion failed");
  EXPECT_DEATH((void)ledger_movement_for(S::kCancelled, S::kQueued), "assertion failed");
}

// A refund out of `held` only happens from a status that holds funds, a post only into completed:
// ledger invariant 3 stays true across every edge.
TEST(TransitionTableTest, MovementsKeepHeldInvariant) {
  for (const ExpectedEdge& edge : kDomainTable) {
    const LedgerMovement movement = ledger_movement_for(edge.from, edge.to);
    const bool held_before = status_holds_funds(edge.from);
    const bool held_after = status_holds_funds(edge.to);
    const bool releases_held = movement == LedgerMovement::kPostHoldToSettlement ||
                               movement == LedgerMovement::kRefundHeldToAvailable;
    EXPECT_EQ(releases_held, held_before && !held_after)
        << status_name(edge.from) << " -> " << status_name(edge.to);
    EXPECT_FALSE(!held_before && held_after) << "nothing re-holds funds";
  }
}

// ---- Names ----

TEST(StatusNamesTest, InternalNamesRoundTrip) {
  const std::array<std::string_view, kPayoutStatusCount> names = {
      "created",         "queued",    "on_hold", "processing", "settling",
      "action_required", "completed", "failed",  "cancelled",  "expired"};
  for (size_t i = 0; i < names.size(); ++i) {
    const S status = kAllPayoutStatuses[i];
    EXPECT_EQ(static_cast<size_t>(status), i);
    EXPECT_EQ(status_name(status), names[i]);
    EXPECT_EQ(parse_status_name(names[i]), status);
  }
  for (std::string_view bad :
       {"", "CREATED", "Created", "on-hold", "canceled", "pending", "created "}) {
    EXPECT_FALSE(parse_status_name(bad).has_value()) << bad;
  }
}

TEST(StatusNamesTest, ActorNamesRoundTrip) {
  const std::array<std::string_view, 4> names = {"system", "client", "operator", "provider"};
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(actor_name(kAllActors[i]), names[i]);
    EXPECT_EQ(parse_actor_name(names[i]), kAllActors[i]);
  }
  for (std::string_view bad : {"", "System", "merchant", "engine", "connector"}) {
    EXPECT_FALSE(parse_actor_name(bad).has_value()) << bad;
  }
}

TEST(StatusNamesTest, HoldsFundsAndTerminal) {
  const std::set<S> holds = {S::kCreated,    S::kQueued,   S::kOnHold,
                             S::kProcessing, S::kSettling, S::kActionRequired};
  const std::set<S> terminal = {S::kFailed, S::kCancelled, S::kExpired};
  for (S status : kAllPayoutStatuses) {
    EXPECT_EQ(status_holds_funds(status), holds.count(status) == 1) << status_name(status);
    EXPECT_EQ(status_is_terminal(status), terminal.count(status) == 1) << status_name(status);
  }
  // completed is final but not terminal: it may still become failed by a bank reversal.
  EXPECT_FALSE(status_is_terminal(S::kCompleted));
  EXPECT_FALSE(status_holds_funds(S::kCompleted));
}

// ---- "Status in each dialect" (domain.md) ----

struct DialectRow {
  S status;
  std::string_view v1;
  int v3_code;
  std::string_view v3_description;
  bool v3_cancellable;
};

const DialectRow kDialectTable[] = {
    {S::kCreated, "created", 0, "Pending", true},
    {S::kQueued, "queued", 0, "Pending", true},
    {S::kOnHold, "action_required", 5, "On hold", true},
    {S::kProcessing, "processing", 4, "Delivered", false},
    {S::kSettling, "settling", 4, "Delivered", false},
    {S::kActionRequired, "action_required", 5, "On hold", true},
    {S::kCompleted, "completed", 1, "Completed", false},
    {S::kFailed, "failed", 3, "Rejected", false},
    {S::kCancelled, "cancelled", 2, "Canceled", false},
    {S::kExpired, "expired", 3, "Rejected", false},
};

TEST(DialectMappingTest, MatchesDomainTable) {
  static_assert(std::size(kDialectTable) == kPayoutStatusCount);
  for (const DialectRow& row : kDialectTable) {
    SCOPED_TRACE(std::string(status_name(row.status)));
    EXPECT_EQ(v1_status_name(row.status), row.v1);
    const V3Status v3 = v3_status(row.status);
    EXPECT_EQ(v3.code, row.v3_code);
    EXPECT_EQ(v3.description, row.v3_description);
    // The v3 cancel's own decision: a client cancel without a connector's confirmation, exactly
    // as the v3 handler submits it (api/cashouts_v3: actor client, the default context).
    EXPECT_EQ(check_transition(row.status, S::kCancelled, Actor::kClient).is_ok(), row.v3_cancellable);
  }
}

TEST(DialectMappingTest, V3CancellableMeansTheMerchantMayCancel) {
  // The rule the v3 cancel runs (the transition table, for a client cancel without a connector's
  // confirmation) allows exactly what v3 shows as Pending (0) or On hold (5), and refuses the rest
  // as an invalid transition carrying the current status (what the handler answers 412/510).
  for (S status : kAllPayoutStatuses) {
    SCOPED_TRACE(std::string(status_name(status)));
    const int code = v3_status(status).code;
    const Status decided = check_transition(status, S::kCancelled, Actor::kClient);
    EXPECT_EQ(decided.is_ok(), code == 0 || code == 5) << decided.to_string();
    if (!decided.is_ok()) {
      EXPECT_EQ(decided.kind(), ErrorKind::kInvalidTransition);
      EXPECT_EQ(decided.detail_code().value_or(-1), static_cast<int>(status));
    }
  }
  // Processing (v3 4 Delivered) is never cancelled by v3; only a connector's confirmation, which
  // the v3 cancel never carries, lets a client cancel it (the v1 path).
  EXPECT_FALSE(check_transition(S::kProcessing, S::kCancelled, Actor::kClient).is_ok());
  TransitionContext confirmed;
  confirmed.connector_confirmed_cancel = true;
  EXPECT_TRUE(check_transition(S::kProcessing, S::kCancelled, Actor::kClient, confirmed).is_ok());
}

TEST(DialectMappingTest, V1StatusFilter) {
  std::array<bool, kPayoutStatusCount> out{};
  ASSERT_TRUE(v1_status_filter("action_required", out));
  std::array<bool, kPayoutStatusCount> expected{};
  expected[static_cast<size_t>(S::kOnHold)] = true;
  expected[static_cast<size_t>(S::kActionRequired)] = true;
  EXPECT_EQ(out, expected);

  for (const DialectRow& row : kDialectTable) {
    if (row.v1 == "action_required") continue;
    ASSERT_TRUE(v1_status_filter(row.v1, out)) << row.v1;
    expected = {};
    expected[static_cast<size_t>(row.status)] = true;
    EXPECT_EQ(out, expected) << row.v1;
  }

  out.fill(true);
  EXPECT_FALSE(v1_status_filter("on_hold", out));  // not a v1 status
  EXPECT_EQ(out, (std::array<bool, kPayoutStatusCount>{})) << "cleared on failure";
  for (std::string_view bad : {"", "CREATED", "pending", "canceled"}) {
    EXPECT_FALSE(v1_status_filter(bad, out)) << bad;
  }
}

TEST(RejectionCodeTest, AllCodesOfCashoutsV3) {
  const std::vector<std::pair<int, std::string_view>> codes = {
      {800, "ERROR_ACCOUNT_INCORRECT"},
      {801, "ERROR_ACCOUNT_CLOSED"},
      {802, "ERROR_AMOUNT_INCORRECT"},
      {803, "ERROR_BANK_INVALID"},
      {804, "ERROR_BANK_BRANCH_INCORRECT"},
      {805, "ERROR_BENEFICIARY_DOCUMENT_ID_INVALID"},
      {806, "ERROR_BENEFICIARY_NAME_INCORRECT"},
      {807, "ERROR_REJECTED_BY_BANK"},
      {808, "ERROR_OTHER"},
      {809, "WITHDRAWAL_EXPIRED"},
      {810, "LIMIT_EXCEEDED"},
      {811, "RISK_POLICY"},
      {812, "BLOCKED_FROZEN_ACCOUNT"},
      {813, "DOCUMENT_ACCOUNT_MISMATCH"},
      {814, "INVALID_PIX_KEY"},
      {818, "ACCOUNT_UNABLE"},
      {819, "INVALID_ACCOUNT_TYPE"},
      {820, "REJECTED_BY_MERCHANT_REQUEST"},
      {824, "REJECTED_BY_THIRD_PARTY_CONTROL"},
      {826, "WITHDRAWAL_REVERSED"},
  };
  std::set<int> known;
  for (const auto& [code, name] : codes) {
    EXPECT_EQ(rejection_reason_name(code), name) << code;
    known.insert(code);
  }
  for (int code = -1; code <= 1000; ++code) {
    if (known.count(code) == 1) continue;
    EXPECT_TRUE(rejection_reason_name(code).empty()) << code;
  }
  EXPECT_EQ(rejection_reason_name(kRejectionWithdrawalExpired), "WITHDRAWAL_EXPIRED");
  EXPECT_EQ(rejection_reason_name(kRejectionWithdrawalReversed), "WITHDRAWAL_REVERSED");
}

}  // namespace
}  // namespace payoutd
