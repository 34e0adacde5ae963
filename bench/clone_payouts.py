#!/usr/bin/env python3
"""Seeds payouts fast by cloning one payout that payoutd itself created, with every ledger
invariant kept (`payoutd ledger check` passes afterwards). Run it while no server is running.

  clone_payouts.py DB TEMPLATE_CASHOUT_ID COUNT KIND START IDS_OUT

Each clone i (START <= i < START + COUNT) copies the template's payouts row (new cashout_id,
public_id 'pyt_<KIND><15-digit i>', external_id/reference '<KIND>-<i>'), its hold journal (the
payout's hold movement: kind 'payout_hold' with the clone's cashout_id) and entries, its PAYOUT
wallet transaction and its creation event; the wallet's available and held accounts move by
COUNT x total_amount. The template must be in status 'created' with exactly one journal of two
entries. KIND is one lower-case letter. IDS_OUT receives "cashout_id|external_id|public_id" per
clone.
"""
import sqlite3
import sys

CHUNK = 100_000


def main(argv):
    db_path, template, count, kind, start, ids_out = (argv[1], int(argv[2]), int(argv[3]), argv[4],
                                                     int(argv[5]), argv[6])
    assert len(kind) == 1 and kind.islower()
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")
    columns = [row[1] for row in db.execute("PRAGMA table_info(payouts)")]
    status, total, wallet_id = db.execute(
        "SELECT status, total_amount, wallet_id FROM payouts WHERE cashout_id = ?", (template,)).fetchone()
    assert status == "created", status
    (journal,) = db.execute("SELECT id FROM journal_transactions WHERE cashout_id = ?", (template,)).fetchone()
    entries = db.execute("SELECT count(*) FROM journal_entries WHERE journal_id = ?", (journal,)).fetchone()[0]
    assert entries == 2, entries
    (available_account,) = db.execute(
        "SELECT id FROM accounts WHERE wallet_id = ? AND kind = 'available'", (wallet_id,)).fetchone()
    (held_account,) = db.execute(
        "SELECT id FROM accounts WHERE wallet_id = ? AND kind = 'held'", (wallet_id,)).fetchone()
    (available,) = db.execute("SELECT balance FROM accounts WHERE id = ?", (available_account,)).fetchone()
    if available < count * total:
        sys.exit(f"clone_payouts: wallet {wallet_id} has {available} available, "
                 f"{count} clones need {count * total}")

    copied = [c for c in columns if c not in ("cashout_id", "public_id", "external_id")]
    with open(ids_out, "w", encoding="utf-8") as ids:
        done = 0
        while done < count:
            n = min(CHUNK, count - done)
            first = start + done
            db.execute("BEGIN IMMEDIATE")
            base_c = db.execute("SELECT coalesce(max(cashout_id), 0) FROM payouts").fetchone()[0]
            seq = db.execute("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'payouts'").fetchone()[0]
            base_c = max(base_c, seq)
            base_j = db.execute("SELECT coalesce(max(id), 0) FROM journal_transactions").fetchone()[0]
            base_e = db.execute("SELECT coalesce(max(id), 0) FROM journal_entries").fetchone()[0]
            base_w = db.execute("SELECT coalesce(max(id), 0) FROM wallet_transactions").fetchone()[0]
            db.execute("DROP TABLE IF EXISTS temp.n")
            db.execute("CREATE TEMP TABLE n (k INTEGER PRIMARY KEY, i INTEGER NOT NULL)")
            db.execute(f"WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < {n}) "
                       f"INSERT INTO temp.n SELECT k, {first} + k - 1 FROM s")
            pid = f"'pyt_{kind}' || printf('%015d', n.i)"
            ext = f"'{kind}-' || n.i"
            db.execute(
                f"INSERT INTO payouts (cashout_id, public_id, external_id, {', '.join(copied)}) "
                f"SELECT {base_c} + n.k, {pid}, {ext}, {', '.join('p.' + c for c in copied)} "
                f"FROM temp.n n, payouts p WHERE p.cashout_id = {template} ORDER BY n.k")
            db.execute(
                "INSERT INTO journal_transactions (id, kind, cashout_id, currency, created_at) "
                f"SELECT {base_j} + n.k, j.kind, {base_c} + n.k, j.currency, j.created_at "
                f"FROM temp.n n, journal_transactions j WHERE j.id = {journal} ORDER BY n.k")
            db.execute(
                "INSERT INTO journal_entries (id, journal_id, account_id, amount, currency) "
                f"SELECT {base_e} + 2 * n.k - 1 + (e.amount > 0), {base_j} + n.k, e.account_id, e.amount, "
                f"e.currency FROM temp.n n, journal_entries e WHERE e.journal_id = {journal} "
                "ORDER BY n.k, e.amount > 0")
            db.execute(
                "INSERT INTO wallet_transactions (id, wallet_id, journal_id, type, transaction_type, amount, "
                "currency, balance_after, reference_type, reference_id, remarks, created_at) "
                f"SELECT {base_w} + n.k, w.wallet_id, {base_j} + n.k, w.type, w.transaction_type, w.amount, "
                f"w.currency, {available} - n.k * w.amount, w.reference_type, {pid}, 'Payout ' || {pid}, "
                f"w.created_at FROM temp.n n, wallet_transactions w WHERE w.journal_id = {journal} ORDER BY n.k")
            db.execute(
                "INSERT INTO payout_events (cashout_id, seq, event_type, from_status, to_status, actor_type, "
                f"message, created_at) SELECT {base_c} + n.k, e.seq, e.event_type, e.from_status, e.to_status, "
                f"e.actor_type, e.message, e.created_at FROM temp.n n, payout_events e "
                f"WHERE e.cashout_id = {template} ORDER BY n.k, e.seq")
            moved = n * total
            db.execute("UPDATE accounts SET balance = balance - ? WHERE id = ?", (moved, available_account))
            db.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", (moved, held_account))
            db.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'payouts'", (base_c + n,))
            available -= moved
            for k, i in enumerate(range(first, first + n), start=1):
                ids.write(f"{base_c + k}|{kind}-{i}|pyt_{kind}{i:015d}\n")
            db.execute("COMMIT")
            done += n
    db.close()


if __name__ == "__main__":
    main(sys.argv)
