#!/usr/bin/env python3
"""PostgreSQL twin of clone_payouts.py (the PostgreSQL phase of bench/run.sh, issue 8): seeds
payouts fast by cloning one payout that payoutd itself created, with every ledger invariant kept
(`payoutd ledger check` passes afterwards). Talks to the database through psql (no driver
needed). Run it while no payoutd server writes to the database.

  clone_payouts_pg.py URL TEMPLATE_CASHOUT_ID COUNT KIND START IDS_OUT

URL is a libpq connection URL (postgresql://user@host:port/db). Each clone i (START <= i <
START + COUNT) copies the template's payouts row (new cashout_id, public_id 'pyt_<KIND><15-digit
i>', external_id '<KIND>-<i>'), its hold journal (the payout's hold movement: kind 'payout_hold'
with the clone's cashout_id) and both entries, its PAYOUT wallet transaction (balance_after
continuing from the wallet's available balance) and its creation event; the wallet's available
and held accounts move by COUNT x total_amount, and the identity sequences of payouts,
journal_transactions, journal_entries and wallet_transactions are advanced past the new rows
(payoutd's next own insert continues after them). Chunks of 100,000 clones, one transaction each
(generate_series, INSERT ... SELECT). The template must be in status 'created' with exactly one
journal of two entries. KIND is one lower-case letter. IDS_OUT receives
"cashout_id|external_id|public_id" per clone.
"""
import subprocess
import sys

CHUNK = 100_000


def psql(url, sql, single_transaction=False):
    args = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url]
    if single_transaction:
        args.append("-1")
    done = subprocess.run(args + ["-f", "-"], input=sql, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"clone_payouts_pg: psql failed: {done.stderr.strip()}")
    return [line.split("|") for line in done.stdout.splitlines() if line.strip()]


def one(url, sql):
    rows = psql(url, sql)
    assert len(rows) == 1, (sql, rows)
    return rows[0]


def main(argv):
    url, template, count, kind, start, ids_out = (argv[1], int(argv[2]), int(argv[3]), argv[4],
                                                 int(argv[5]), argv[6])
    assert len(kind) == 1 and kind.islower()
    columns = [row[0] for row in psql(
        url, "SELECT column_name FROM information_schema.columns WHERE table_schema = "
             "current_schema() AND table_name = 'payouts' ORDER BY ordinal_position")]
    status, total, wallet_id = one(
        url, f"SELECT status, total_amount, wallet_id FROM payouts WHERE cashout_id = {template}")
    total, wallet_id = int(total), int(wallet_id)
    assert status == "created", status
    (journal,) = one(url, f"SELECT id FROM journal_transactions WHERE cashout_id = {template}")
    journal = int(journal)
    (entries,) = one(url, f"SELECT count(*) FROM journal_entries WHERE journal_id = {journal}")
    assert int(entries) == 2, entries
    available_account, held_account, available = one(
        url, "SELECT a.id, h.id, a.balance FROM accounts a JOIN accounts h ON h.wallet_id = a.wallet_id "
             f"AND h.kind = 'held' WHERE a.wallet_id = {wallet_id} AND a.kind = 'available'")
    available = int(available)
    if available < count * total:
        sys.exit(f"clone_payouts_pg: wallet {wallet_id} has {available} available, "
                 f"{count} clones need {count * total}")

    # max(id) and the identity sequence's position: the larger is the last id that may be taken.
    def base_sql(table, column):
        return (f"SELECT greatest(coalesce((SELECT max({column}) FROM {table}), 0), "
                f"(SELECT last_value FROM {sequence_of(table, column)}))")

    def sequence_of(table, column):
        (name,) = one(url, f"SELECT pg_get_serial_sequence('{table}', '{column}')")
        return name

    copied = [c for c in columns if c not in ("cashout_id", "public_id", "external_id")]
    with open(ids_out, "w", encoding="utf-8") as ids:
        done = 0
        while done < count:
            n = min(CHUNK, count - done)
            first = start + done
            base_c = int(one(url, base_sql("payouts", "cashout_id"))[0])
            base_j = int(one(url, base_sql("journal_transactions", "id"))[0])
            base_e = int(one(url, base_sql("journal_entries", "id"))[0])
            base_w = int(one(url, base_sql("wallet_transactions", "id"))[0])
            i = f"({first} + k - 1)"
            pid = f"('pyt_{kind}' || lpad({i}::text, 15, '0'))"
            ext = f"('{kind}-' || {i})"
            series = f"generate_series(1, {n}) AS k"
            moved = n * total
            sql = f"""
INSERT INTO payouts (cashout_id, public_id, external_id, {', '.join(copied)})
  SELECT {base_c} + k, {pid}, {ext}, {', '.join('p.' + c for c in copied)}
  FROM {series}, payouts p WHERE p.cashout_id = {template} ORDER BY k;
INSERT INTO journal_transactions (id, kind, cashout_id, currency, created_at)
  SELECT {base_j} + k, j.kind, {base_c} + k, j.currency, j.created_at
  FROM {series}, journal_transactions j WHERE j.id = {journal} ORDER BY k;
INSERT INTO journal_entries (id, journal_id, account_id, amount, currency)
  SELECT {base_e} + 2 * k - 1 + (e.amount > 0)::int, {base_j} + k, e.account_id, e.amount, e.currency
  FROM {series}, journal_entries e WHERE e.journal_id = {journal} ORDER BY k, e.amount > 0;
INSERT INTO wallet_transactions (id, wallet_id, journal_id, type, transaction_type, amount, currency,
                                 balance_after, reference_type, reference_id, remarks, created_at)
  SELECT {base_w} + k, w.wallet_id, {base_j} + k, w.type, w.transaction_type, w.amount, w.currency,
         {available} - k * w.amount, w.reference_type, {pid}, 'Payout ' || {pid}, w.created_at
  FROM {series}, wallet_transactions w WHERE w.journal_id = {journal} ORDER BY k;
INSERT INTO payout_events (cashout_id, seq, event_type, from_status, to_status, actor_type, message,
                           created_at)
  SELECT {base_c} + k, e.seq, e.event_type, e.from_status, e.to_status, e.actor_type, e.message,
         e.created_at
  FROM {series}, payout_events e WHERE e.cashout_id = {template} ORDER BY k, e.seq;
UPDATE accounts SET balance = balance - {moved} WHERE id = {available_account};
UPDATE accounts SET balance = balance + {moved} WHERE id = {held_account};
SELECT setval('{sequence_of("payouts", "cashout_id")}', {base_c + n});
SELECT setval('{sequence_of("journal_transactions", "id")}', {base_j + n});
SELECT setval('{sequence_of("journal_entries", "id")}', {base_e + 2 * n});
SELECT setval('{sequence_of("wallet_transactions", "id")}', {base_w + n});
"""
            psql(url, sql, single_transaction=True)
            available -= moved
            for k, i in enumerate(range(first, first + n), start=1):
                ids.write(f"{base_c + k}|{kind}-{i}|pyt_{kind}{i:015d}\n")
            done += n


if __name__ == "__main__":
    main(sys.argv)
