#!/usr/bin/env python3
"""Writes a pgbench script that runs, with no payoutd in the way, the statements payoutd's writer
executes for one v3 cancel of a `created` payout (the PostgreSQL phase of bench/run.sh, issue 8):
the payout read, the wallet read, the conditional status UPDATE, the refund journal (a journal
transaction of kind payout_refund with the payout's cashout_id, which is the refund movement and
whose unique (cashout_id, kind) index is the refund-once key; two entries and two balance UPDATEs in
account order), the wallet read for the balance after, the PAYOUT_REFUND wallet transaction, the
event, the webhook-endpoint lookup and the v3 outbox row. Same tables, indexes, triggers and
constraints as payoutd's, the same SQL texts (parameters as pgbench variables; a column alias where
pgbench must tell two `balance` columns apart). It measures what PostgreSQL itself can do with a
cancel's database work on this machine: the ceiling any payoutd design that keeps these rows has.

  pg_cancel_script.py OUT CANCELS_PER_TRANSACTION [statements|set]

CANCELS_PER_TRANSACTION = 1: BEGIN, one cancel, COMMIT (run with many clients: the parallel
ceiling). N > 1: BEGIN, N cancels each inside SAVEPOINT op / RELEASE op with the journal in its
own savepoint, COMMIT — the shape of payoutd's group-commit writer (run with one client: the
ceiling of one writer connection). `set`: the N cancels of a transaction written set-wise, each
statement once for all N (see set_wise) — what a writer that executed a batch's cancels together
could reach.

Each cancel takes the next row of `ceiling_targets` (n = nextval('ceiling_seq')), which
bench/postgres.sh fills from cloned payouts still in status `created`, with what the statements
need: ids, the accounts in id order with their deltas, the event id and remarks. A target that is
no longer `created` makes the UPDATE change nothing; the journal's unique (cashout_id, kind) index
then fails the refund journal insert, and with it the transaction, so pgbench's failure count shows
it (the phase requires 0). `payoutd ledger check` runs after these loads too: the rows they write
must keep every ledger invariant.
"""
import sys

PAYOUT_COLUMNS = (
    "cashout_id, public_id, merchant_id, wallet_id, external_id, amount, fees, total_amount, "
    "currency, country, beneficiary_first_name, beneficiary_last_name, beneficiary_email, "
    "beneficiary_phone, beneficiary_country, beneficiary_document_id, beneficiary_document_type, "
    "beneficiary_bank_code, beneficiary_bank_account, beneficiary_bank_branch, "
    "beneficiary_account_type, beneficiary_routing_number, beneficiary_address, beneficiary_city, "
    "beneficiary_postal_code, beneficiary_birthdate, description, metadata, notification_url, "
    "status, failure_code, failure_reason, bank_reference_id, connector, connector_reference, "
    "created_at, queued_at, submitted_at, completed_at, failed_at, cancelled_at, expired_at, "
    "cancel_requested_at, updated_at, event_seq, request_fingerprint")

WALLET_SELECT = (
    "SELECT w.id, w.merchant_id, w.currency, w.is_active, w.created_at, "
    "CASE WHEN w.updated_at >= a.updated_at AND w.updated_at >= h.updated_at THEN w.updated_at "
    "WHEN a.updated_at >= h.updated_at THEN a.updated_at ELSE h.updated_at END, "
    "a.id, a.balance AS available_after, h.id, h.balance "
    "FROM wallets w "
    "JOIN accounts a ON a.wallet_id = w.id AND a.kind = 'available' "
    "JOIN accounts h ON h.wallet_id = w.id AND h.kind = 'held' "
    "WHERE w.id = :wallet_id AND w.merchant_id = :merchant_id")

# One cancel; `savepoints` adds the writer's per-op and per-journal savepoints.
def cancel(savepoints):
    lines = []
    if savepoints:
        lines.append("SAVEPOINT op;")
    lines += [
        "SELECT t.cashout_id, t.merchant_id, t.wallet_id, t.total_amount, t.currency, t.public_id, "
        "t.first_account, t.first_delta, t.second_account, t.second_delta, t.event_id, t.remarks, "
        "t.payload, t.target_url, t.destination, t.event_message "
        "FROM ceiling_targets t WHERE t.n = (SELECT nextval('ceiling_seq'))",
        "\\gset",
        f"SELECT {PAYOUT_COLUMNS} FROM payouts WHERE cashout_id = :cashout_id "
        "AND (:merchant_id = 0 OR merchant_id = :merchant_id);",
        WALLET_SELECT + ";",
        "UPDATE payouts SET status = 'cancelled', updated_at = :now, cancelled_at = :now, "
        "engine_next_at = NULL, engine_claimed_by = NULL, engine_lease_until = NULL, "
        "failure_code = coalesce(NULL, failure_code), failure_reason = coalesce(NULL, failure_reason), "
        "bank_reference_id = coalesce(NULL, bank_reference_id), "
        "cancel_requested_at = coalesce(NULL, cancel_requested_at), event_seq = event_seq + 1 "
        "WHERE cashout_id = :cashout_id AND status = 'created' AND event_seq = 1;",
    ]
    if savepoints:
        lines.append("SAVEPOINT post_journal;")
    lines += [
        "INSERT INTO journal_transactions (kind, cashout_id, currency, created_at) "
        "VALUES ('payout_refund', :cashout_id, :currency, :now) RETURNING id AS journal_id",
        "\\gset",
    ]
    for leg in ("first", "second"):
        lines += [
            "INSERT INTO journal_entries (journal_id, account_id, amount, currency) "
            f"VALUES (:journal_id, :{leg}_account, :{leg}_delta, :currency);",
            "UPDATE accounts SET balance = balance + :" + leg + "_delta, updated_at = :now "
            f"WHERE id = :{leg}_account AND currency = :currency;",
        ]
    if savepoints:
        lines.append("RELEASE post_journal;")
    lines += [
        WALLET_SELECT,
        "\\gset",
        "INSERT INTO wallet_transactions (wallet_id, journal_id, type, transaction_type, amount, "
        "currency, balance_after, reference_type, reference_id, remarks, created_at) "
        "VALUES (:wallet_id, :journal_id, 'PAYOUT_REFUND', 'CREDIT', :total_amount, :currency, "
        ":available_after, 'payout', :public_id, :remarks, :now) RETURNING id;",
        "INSERT INTO payout_events (cashout_id, seq, event_type, from_status, to_status, "
        "actor_type, message, created_at) VALUES (:cashout_id, 2, 'status_change', 'created', "
        "'cancelled', 'client', :event_message, :now);",
        "SELECT id, public_id, merchant_id, url, events, secret_sealed, created_at, deleted_at "
        "FROM webhook_endpoints WHERE merchant_id = :merchant_id AND deleted_at IS NULL "
        "ORDER BY id LIMIT 16;",
        "INSERT INTO outbox (cashout_id, event_seq, channel, endpoint_id, target_url, payload, "
        "status, attempts, next_attempt_at, created_at, updated_at, event_id, give_up_at, "
        "destination) VALUES (:cashout_id, 2, 'v3', NULL, :target_url, :payload, 'pending', 0, "
        ":now, :now, :now, :event_id, 0, :destination);",
    ]
    if savepoints:
        lines.append("RELEASE op;")
    return lines


# N cancels written set-wise: each statement once for the whole batch (the batch's targets are
# rows n in ((batch - 1) * N, batch * N] of ceiling_targets), the balance updates summed per account,
# each wallet transaction's balance_after the available balance before the batch plus the running
# sum of the batch's refunds in target order. The same rows as N single cancels.
def set_wise(n):
    targets = f"SELECT * FROM ceiling_targets WHERE n > (:batch - 1) * {n} AND n <= :batch * {n}"
    legs = ("CROSS JOIN LATERAL (VALUES (t.first_account, t.first_delta), "
            "(t.second_account, t.second_delta)) x(account, delta)")
    return [
        "SELECT nextval('ceiling_batch_seq') AS batch",
        "\\gset",
        f"SELECT {PAYOUT_COLUMNS} FROM payouts WHERE cashout_id IN "
        f"(SELECT cashout_id FROM ceiling_targets WHERE n > (:batch - 1) * {n} AND n <= :batch * {n});",
        f"SELECT wallet_id, merchant_id FROM ceiling_targets WHERE n = :batch * {n}",
        "\\gset",
        WALLET_SELECT + ";",
        "UPDATE payouts SET status = 'cancelled', updated_at = :now, cancelled_at = :now, "
        "engine_next_at = NULL, engine_claimed_by = NULL, engine_lease_until = NULL, "
        "event_seq = event_seq + 1 WHERE cashout_id IN "
        f"(SELECT cashout_id FROM ceiling_targets WHERE n > (:batch - 1) * {n} AND n <= :batch * {n}) "
        "AND status = 'created' AND event_seq = 1;",
        f"WITH t AS ({targets}), "
        "j AS (INSERT INTO journal_transactions (kind, cashout_id, currency, created_at) "
        "SELECT 'payout_refund', cashout_id, currency, :now FROM t ORDER BY n RETURNING id, cashout_id), "
        "e AS (INSERT INTO journal_entries (journal_id, account_id, amount, currency) "
        f"SELECT j.id, x.account, x.delta, t.currency FROM j JOIN t USING (cashout_id) {legs} "
        "ORDER BY t.n, x.account) "
        "INSERT INTO wallet_transactions (wallet_id, journal_id, type, transaction_type, amount, "
        "currency, balance_after, reference_type, reference_id, remarks, created_at) "
        "SELECT t.wallet_id, j.id, 'PAYOUT_REFUND', 'CREDIT', t.total_amount, t.currency, "
        "a.balance + sum(t.total_amount) OVER (ORDER BY t.n), 'payout', t.public_id, t.remarks, :now "
        "FROM j JOIN t USING (cashout_id) "
        "JOIN accounts a ON a.wallet_id = t.wallet_id AND a.kind = 'available' ORDER BY t.n;",
        f"UPDATE accounts SET balance = balance + d.delta, updated_at = :now FROM "
        f"(SELECT x.account, sum(x.delta) AS delta FROM ({targets}) t {legs} GROUP BY x.account) d "
        "WHERE accounts.id = d.account;",
        "INSERT INTO payout_events (cashout_id, seq, event_type, from_status, to_status, "
        "actor_type, message, created_at) SELECT cashout_id, 2, 'status_change', 'created', "
        f"'cancelled', 'client', event_message, :now FROM ({targets}) t ORDER BY n;",
        "SELECT id, public_id, merchant_id, url, events, secret_sealed, created_at, deleted_at "
        "FROM webhook_endpoints WHERE merchant_id = :merchant_id AND deleted_at IS NULL "
        "ORDER BY id LIMIT 16;",
        "INSERT INTO outbox (cashout_id, event_seq, channel, endpoint_id, target_url, payload, "
        "status, attempts, next_attempt_at, created_at, updated_at, event_id, give_up_at, "
        "destination) SELECT cashout_id, 2, 'v3', NULL, target_url, payload, 'pending', 0, "
        f":now, :now, :now, event_id, 0, destination FROM ({targets}) t ORDER BY n;",
    ]


def main(argv):
    out, per_transaction = argv[1], int(argv[2])
    mode = argv[3] if len(argv) > 3 else "statements"
    assert per_transaction >= 1 and mode in ("statements", "set")
    lines = ["-- generated by bench/pg_cancel_script.py; :now is set with pgbench -D", "BEGIN;"]
    if mode == "set":
        lines += set_wise(per_transaction)
    else:
        for _ in range(per_transaction):
            lines += cancel(savepoints=per_transaction > 1)
    lines.append("COMMIT;")
    # pgbench takes \gset in place of the query's terminating semicolon, on the query's line.
    merged = []
    for line in lines:
        if line == "\\gset":
            merged[-1] += " \\gset"
        else:
            merged.append(line)
    with open(out, "w") as f:
        f.write("\n".join(merged) + "\n")


if __name__ == "__main__":
    main(sys.argv)
