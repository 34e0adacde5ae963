# shellcheck shell=bash disable=SC2154,SC2034  # sourced by bench/run.sh, which sets these variables
# The PostgreSQL phase of bench/run.sh (issue 8). Sourced by run.sh, not run on its own: it uses
# run.sh's helpers (log, die, cli, run_wrk, start_server, stop_server) and variables (work, here,
# root, payoutd, connections, threads, duration, duration_s, base_payouts, the v3 credentials).
#
# pg_phase:
#   1. a throwaway cluster in $work/pg (scripts/pg-cluster.sh: fsync=on, synchronous_commit=on,
#      full_page_writes=on — the durability of SQLite's synchronous=FULL; checked, not assumed);
#   2. pgbench TPC-B on database `pgbench`: `pgbench -i -s PG_SCALE`, CHECKPOINT, then
#      `pgbench -M prepared -c CONNECTIONS -j THREADS -T DURATION -n`;
#   3. payoutd (`serve --no-engine`) on a fresh database `payoutd` of the same cluster: the merchant
#      and wallets of the SQLite phase, one v3 payout created through the API as the clone
#      template, BASE_PAYOUTS background payouts cloned by SQL (bench/clone_payouts_pg.py); v3
#      create with wrk (distinct external ids); then the cancel targets cloned and PG_ROUNDS rounds,
#      each a pgbench TPC-B run (round 1's is step 2's) and a v3 cancel run with wrk on targets of
#      its own (each target once); the medians of both are compared (pgbench alone moves by up to
#      ±20 % between runs here). v3 status on the cancelled targets. VACUUM ANALYZE and
#      CHECKPOINT before each measured run (pgbench -i vacuums its tables too);
#   4. `payoutd ledger check` on the PostgreSQL database (the run fails if it does not pass);
#      the cluster is stopped and removed (also by run.sh's exit trap on any failure).
# Per measured run it also records, from pg_stat_wal, the WAL fsyncs and bytes (the cluster runs
# one load at a time, so the deltas are that load's), and from payoutd's /metrics the commits and
# ops per commit of its writer. Results: pg_* variables and rows "pg v3 create"/"pg v3 cancel" in
# $results; pg_section prints the docs sub-section.
#
# Environment: PG_SCALE [CONNECTIONS, at least 10] pgbench scale (pgbench's docs: scale below the
#   client count measures contention on the branches rows); PG_POOL [auto] v3 creates prepared,
#   auto = max(4 x pgbench tps, 5,000) x DURATION + 2,000; PG_ROUNDS [5] pgbench/cancel rounds;
#   PG_CANCEL_POOL [auto] cancel targets per round, auto = 2 x max(create rate, pgbench tps) x
#   DURATION + 2,000.
#   PG_STATEMENTS [0] 1 = diagnostic run: the cluster is restarted with pg_stat_statements loaded
#   and, after each payoutd run, the statements it ran are logged (calls per request, mean and
#   total time) — where a request's round trips and database time go. The extension costs some
#   throughput; the docs section says so when it was on.

pg_dir=""        # set once the cluster is started: run.sh's cleanup stops it
pg_admin=""

pg_tools() {
  command -v psql >/dev/null || die "psql is needed (scripts/install-deps.sh)"
  pgbench_bin=""
  local candidate
  if [[ -n "${PAYOUTD_PG_BINDIR:-}" && -x "$PAYOUTD_PG_BINDIR/pgbench" ]]; then
    pgbench_bin="$PAYOUTD_PG_BINDIR/pgbench"
  else
    candidate=$(for d in /usr/lib/postgresql/*/bin; do [[ -x "$d/pgbench" ]] && echo "$d"; done | sort -V | tail -n 1)
    if [[ -n "$candidate" ]]; then pgbench_bin="$candidate/pgbench"; else pgbench_bin=$(command -v pgbench || true); fi
  fi
  [[ -n "$pgbench_bin" ]] || die "pgbench is needed (scripts/install-deps.sh installs postgresql)"
}

pg_stop_cluster() {
  if [[ -n "$pg_dir" ]]; then
    "$root/scripts/pg-cluster.sh" stop "$pg_dir" >&2 || true
    pg_dir=""
  fi
}

pg_sql() {  # pg_sql DB SQL: runs SQL on database DB of the cluster, prints unaligned tuples
  psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$pg_base/$1" -c "$2"
}

# pg_wal: "wal_records wal_fpi wal_bytes wal_sync" of the whole cluster (pg_stat_wal, PG 14+).
pg_wal() { pg_sql postgres "SELECT wal_records || ' ' || wal_fpi || ' ' || wal_bytes || ' ' || wal_sync FROM pg_stat_wal"; }
# pg_wal_delta BEFORE AFTER OPS: "fsyncs records_per_op fpi_per_op bytes_per_op"
pg_wal_delta() {
  python3 -c "
import sys
b = [int(x) for x in sys.argv[1].split()]; a = [int(x) for x in sys.argv[2].split()]; ops = max(1, int(float(sys.argv[3])))
d = [y - x for x, y in zip(b, a)]
print(d[3], f'{d[0] / ops:.1f}', f'{d[1] / ops:.2f}', f'{d[2] / ops:.0f}')" "$1" "$2" "$3"
}

pg_settle() {  # pg_settle DB: statistics and visibility map fresh, dirty pages written out
  pg_sql "$1" "VACUUM (ANALYZE)" >/dev/null
  pg_sql postgres "CHECKPOINT" >/dev/null
}

# pg_statements_enable: pg_stat_statements preloaded (a restart of the cluster, same port).
pg_statements_enable() {
  local user pg_ctl_bin
  pg_ctl_bin="$(dirname "$pgbench_bin")/pg_ctl"
  [[ -x "$pg_ctl_bin" ]] || die "PG_STATEMENTS=1: no pg_ctl beside $pgbench_bin"
  pg_sql postgres "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
  user=$(stat -c %U "$pg_dir/data")
  if [[ "$(id -u)" -eq 0 && "$user" != root ]]; then
    (cd "$pg_dir" && runuser -u "$user" -- "$pg_ctl_bin" -D "$pg_dir/data" -l "$pg_dir/server.log" -w restart >/dev/null)
  else
    (cd "$pg_dir" && "$pg_ctl_bin" -D "$pg_dir/data" -l "$pg_dir/server.log" -w restart >/dev/null)
  fi || die "restarting the cluster with pg_stat_statements failed"
  pg_sql payoutd "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
}
# pg_statements_report NAME REQUESTS: the statements since the last reset, per request.
pg_statements_report() {
  log "  pg_stat_statements for $1 ($2 requests; calls per request, mean ms, total s, rows per call):"
  pg_sql payoutd "SELECT to_char(calls::numeric / $2, 'FM9990.00') || E'\t' || to_char(mean_exec_time, 'FM990.000')
      || E'\t' || to_char(total_exec_time / 1000, 'FM9990.00') || E'\t' || to_char(rows::numeric / greatest(calls, 1), 'FM9990.0')
      || E'\t' || regexp_replace(left(query, 110), '\s+', ' ', 'g')
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'payoutd'
    ORDER BY calls DESC, total_exec_time DESC LIMIT 30" | sed 's/^/    /' >&2
  pg_sql payoutd "SELECT '    all statements: ' || to_char(sum(calls)::numeric / $2, 'FM9990.0') || ' calls per request, '
      || to_char(sum(total_exec_time) / $2 * 1000, 'FM99990') || ' µs of execution per request'
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'payoutd'" >&2
}

pg_stored_count() { pg_sql payoutd "SELECT count(*) FROM payouts"; }

# Writer statistics from /metrics: "batches ops" and the batch-size histogram (cumulative).
pg_metrics() {
  curl -sf "http://127.0.0.1:$server_port/metrics" >"$1" || die "GET /metrics failed"
}
pg_metrics_delta() {  # pg_metrics_delta BEFORE AFTER: "commits ops_per_commit histogram write_groups fallen_back"
  python3 - "$1" "$2" <<'PY'
import re, sys
def read(path):
    values, buckets = {}, {}
    for line in open(path):
        m = re.match(r'^(payoutd_commit_\w+)(\{le="([^"]+)"\})? (\d+)', line)
        if not m: continue
        if m[3] is not None: buckets[m[3]] = int(m[4])
        else: values[m[1]] = int(m[4])
    return values, buckets
(bv, bb), (av, ab) = read(sys.argv[1]), read(sys.argv[2])
commits = av.get("payoutd_commit_batches_total", 0) - bv.get("payoutd_commit_batches_total", 0)
ops = av.get("payoutd_commit_ops_total", 0) - bv.get("payoutd_commit_ops_total", 0)
hist, previous = [], 0
for le in ab:
    cumulative = ab[le] - bb.get(le, 0)
    if cumulative > previous: hist.append(f"le{le}:{cumulative - previous}")
    previous = cumulative
groups = av.get("payoutd_commit_write_groups_total", 0) - bv.get("payoutd_commit_write_groups_total", 0)
fallen = (av.get("payoutd_commit_write_groups_fallen_back_total", 0)
          - bv.get("payoutd_commit_write_groups_fallen_back_total", 0))
print(commits, f"{ops / max(1, commits):.1f}", ",".join(hist) or "-", groups, fallen)
PY
}

# pg_measured_run NAME REQUESTS: one server process, one wrk run, with the WAL and writer deltas.
pg_measured_run() {
  local name=$1 file=$2 stored wal_before wal_after
  stored=$(pg_stored_count)
  start_server
  pg_metrics "$work/metrics.before"
  [[ "$pg_statements" != 1 ]] || pg_sql payoutd "SELECT pg_stat_statements_reset()" >/dev/null
  wal_before=$(pg_wal)
  run_wrk "$name" "$stored" "http://127.0.0.1:$server_port" "$file" 0
  wal_after=$(pg_wal)
  pg_metrics "$work/metrics.after"
  local requests writer
  requests=$(awk -F'\t' -v n="$name" '$1 == n {print $7}' "$results")
  writer=$(pg_metrics_delta "$work/metrics.before" "$work/metrics.after")
  printf '%s\t%s\t%s\n' "$name" "$(pg_wal_delta "$wal_before" "$wal_after" "$requests")" "$writer" >>"$work/pg_detail.tsv"
  [[ "$pg_statements" != 1 ]] || pg_statements_report "$name" "$requests"
  log "  writer: commits ops/commit batch-sizes write-groups fallen-back = $writer; WAL fsyncs rec/op fpi/op bytes/op = $(pg_wal_delta "$wal_before" "$wal_after" "$requests")"
  stop_server "$name" "$(pg_stored_count)"
}

# pg_tpcb_run ROUND: pgbench TPC-B on database pgbench (`-M prepared`, CONNECTIONS clients), a row
# "round tps latency_ms transactions wal_delta" appended to $work/pg_tpcb.tsv.
pg_tpcb_run() {
  local out wal_before wal_after tps latency txns failed
  log "pgbench -M prepared -c $connections -j $threads -T $duration_s -n (TPC-B, round $1)"
  wal_before=$(pg_wal)
  out=$("$pgbench_bin" -M prepared -c "$connections" -j "$threads" -T "$duration_s" -n "$pg_base/pgbench" 2>&1) ||
    die "pgbench failed: $out"
  wal_after=$(pg_wal)
  echo "$out" | sed 's/^/    /' >&2
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out")
  latency=$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' <<<"$out")
  txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out")
  [[ -n "$tps" && -n "$latency" && -n "$txns" ]] || die "could not read tps and latency from pgbench"
  [[ "${failed:-0}" == 0 ]] || die "pgbench: $failed failed transactions"
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$tps" "$latency" "$txns" "$(pg_wal_delta "$wal_before" "$wal_after" "$txns")" >>"$work/pg_tpcb.tsv"
  log "  pgbench: $tps tps, latency average $latency ms; WAL fsyncs rec/op fpi/op bytes/op = $(tail -1 "$work/pg_tpcb.tsv" | cut -f5)"
}

pg_phase() {
  local phase_start
  phase_start=$(date +%s)
  pg_tools
  pg_dir="$work/pg"
  memory_file="$work/pg_memory.tsv"
  # Run as root, pg-cluster.sh runs the server as `postgres`, which must reach $work/pg.
  chmod 711 "$work"
  log "postgresql: throwaway cluster in $pg_dir (scripts/pg-cluster.sh)"
  pg_admin=$("$root/scripts/pg-cluster.sh" start "$pg_dir") || die "scripts/pg-cluster.sh start failed"
  pg_base=${pg_admin%/*}
  pg_version=$(pg_sql postgres "SHOW server_version" | awk '{print $1}')
  local setting
  for setting in fsync synchronous_commit full_page_writes; do
    [[ "$(pg_sql postgres "SHOW $setting")" == on ]] || die "the cluster runs with $setting off: not the durability of synchronous=FULL"
  done
  pg_settings="fsync=on, synchronous_commit=on, full_page_writes=on, wal_sync_method=$(pg_sql postgres "SHOW wal_sync_method"), shared_buffers=$(pg_sql postgres "SHOW shared_buffers"), max_wal_size=$(pg_sql postgres "SHOW max_wal_size")"
  log "  PostgreSQL $pg_version: $pg_settings"
  pg_sql postgres "CREATE DATABASE pgbench" >/dev/null
  pg_sql postgres "CREATE DATABASE payoutd" >/dev/null
  pg_statements=${PG_STATEMENTS:-0}
  [[ "$pg_statements" != 1 ]] || pg_statements_enable

  # ---- pgbench TPC-B ----
  pg_scale=${PG_SCALE:-$(( connections > 10 ? connections : 10 ))}
  log "pgbench -i -s $pg_scale"
  "$pgbench_bin" -i -q -s "$pg_scale" "$pg_base/pgbench" >"$work/pgbench-init.log" 2>&1 ||
    die "pgbench -i failed: $(tail -5 "$work/pgbench-init.log")"
  pg_settle pgbench
  : >"$work/pg_tpcb.tsv"
  pg_tpcb_run 1
  pgbench_tps=$(cut -f2 "$work/pg_tpcb.tsv")

  # ---- payoutd: the merchant, wallets and clone template of the SQLite phase ----
  db="$pg_base/payoutd"
  cli migrate >/dev/null
  local merchant_json merchant_id
  merchant_json=$(cli merchant create --json --name "bench merchant" \
    --v3-login "$v3_login" --v3-pass "$v3_pass" --v3-secret-key "$v3_secret")
  merchant_id=$(json_field '["merchant_id"]' <<<"$merchant_json")
  cli wallet fund --merchant "$merchant_id" --currency BRL --amount 1000000000.00 >/dev/null
  cli wallet fund --merchant "$merchant_id" --currency USD --amount 1000000000.00 >/dev/null
  start_server
  python3 "$here/make_requests.py" v3-create "$work/pg_t3.req" 1 template-v3- "$v3_login" "$v3_pass" "$v3_secret"
  local t3_sig t3_body pg_template
  IFS=$'\t' read -r _ _ t3_sig t3_body <"$work/pg_t3.req"
  pg_template=$(curl -sf -X POST "http://127.0.0.1:$server_port/v3/cashout" -H 'Content-Type: application/json' \
    -H "Payload-Signature: $t3_sig" --data-binary "$t3_body" | json_field '["cashout_id"]')
  stop_server "pg setup" 1
  log "postgresql: template v3 cashout $pg_template; seeding $((base_payouts - 1)) background payouts"
  python3 "$here/clone_payouts_pg.py" "$db" "$pg_template" "$((base_payouts - 1))" b 0 "$work/pg_ids_b"

  # ---- v3 create ----
  local pgbench_int
  pgbench_int=$(printf '%.0f' "$pgbench_tps")
  pg_pool=${PG_POOL:-$(( (pgbench_int * 4 > 5000 ? pgbench_int * 4 : 5000) * duration_s + 2000 ))}
  log "postgresql: $pg_pool v3 creates prepared"
  python3 "$here/make_requests.py" v3-create "$work/pg_create.req" "$pg_pool" pg-new-v3- "$v3_login" "$v3_pass" "$v3_secret"
  pg_settle payoutd
  pg_measured_run "pg v3 create" "$work/pg_create.req"

  # ---- v3 cancel, in PG_ROUNDS rounds alternating with pgbench ----
  # pgbench's tps moves by up to ±20 % from one run to the next on this kind of machine, so one
  # pair of runs decides little: each round is a pgbench run (round 1's is the one above) and a
  # cancel run right after it on targets of its own; the comparison is median to median, and
  # every round's pair is recorded.
  local create_int fastest per_round round
  create_int=$(awk -F'\t' '$1 == "pg v3 create" {printf "%d", $3}' "$results")
  fastest=$(( create_int > pgbench_int ? create_int : pgbench_int ))
  pg_rounds=${PG_ROUNDS:-5}
  (( pg_rounds >= 1 )) || die "PG_ROUNDS must be at least 1"
  # Per round 2 x the faster of create and pgbench x DURATION (a cancel run that outruns that
  # fails as exhausted: raise PG_CANCEL_POOL); then up to 5,000/s for each of the two ceiling runs
  # after the rounds (bench/pg_cancel_script.py takes the targets the rounds left).
  per_round=${PG_CANCEL_POOL:-$(( fastest * 2 * duration_s + 2000 ))}
  pg_cancel_pool=$(( per_round * pg_rounds + 10000 * duration_s + 2000 ))
  log "postgresql: seeding $pg_cancel_pool cancel targets ($per_round per round, $pg_rounds rounds)"
  python3 "$here/clone_payouts_pg.py" "$db" "$pg_template" "$pg_cancel_pool" c 0 "$work/pg_ids_c"
  cut -d'|' -f1,2 "$work/pg_ids_c" >"$work/pg_ids_c.v3"
  for round in $(seq 1 "$pg_rounds"); do
    sed -n "$(( (round - 1) * per_round + 1 )),$(( round * per_round ))p" "$work/pg_ids_c.v3" >"$work/pg_ids_c$round.v3"
    python3 "$here/make_requests.py" v3-cancel "$work/pg_cancel$round.req" "$work/pg_ids_c$round.v3" "$v3_login" "$v3_pass" "$v3_secret"
  done
  for round in $(seq 1 "$pg_rounds"); do
    if (( round > 1 )); then
      pg_settle pgbench
      pg_tpcb_run "$round"
    fi
    pg_settle payoutd
    pg_measured_run "pg v3 cancel #$round" "$work/pg_cancel$round.req"
  done
  pg_pick_medians

  # ---- v3 status: the read side of a cancel alone (authentication, the payout read) ----
  python3 "$here/make_requests.py" v3-status "$work/pg_status.req" "$work/pg_ids_c.v3" "$v3_login" "$v3_pass" "$v3_secret"
  pg_measured_run "pg v3 status" "$work/pg_status.req"

  pg_ceiling_runs

  log "ledger check on the PostgreSQL database"
  cli ledger check >"$work/pg_ledger.txt" 2>&1 || die "ledger check failed on PostgreSQL: $(head -20 "$work/pg_ledger.txt")"
  pg_final_stored=$(pg_stored_count)
  pg_stop_cluster
  pg_elapsed=$(( $(date +%s) - phase_start ))
  log "postgresql phase done in $pg_elapsed s"
}

# pg_pick_medians: the round with the median pgbench tps gives pgbench_* (tps, latency, WAL), the
# round with the median cancel rate gives the rows "pg v3 cancel" of $results and pg_detail.tsv
# (its latencies and WAL are that run's); with an even number of rounds the lower median.
pg_pick_medians() {
  local tpcb cancel
  tpcb=$(sort -t$'\t' -k2,2g "$work/pg_tpcb.tsv" | sed -n "$(( (pg_rounds + 1) / 2 ))p")
  IFS=$'\t' read -r _ pgbench_tps pgbench_latency pgbench_txns pgbench_wal <<<"$tpcb"
  cancel=$(grep -P '^pg v3 cancel #\d+\t' "$results" | sort -t$'\t' -k3,3g | sed -n "$(( (pg_rounds + 1) / 2 ))p" | cut -f1)
  [[ -n "$cancel" && -n "$pgbench_tps" ]] || die "no median round"
  awk -F'\t' -v OFS='\t' -v n="$cancel" '$1 == n {$1 = "pg v3 cancel"; print}' "$results" >>"$results"
  awk -F'\t' -v OFS='\t' -v n="$cancel" '$1 == n {$1 = "pg v3 cancel"; print}' "$work/pg_detail.tsv" >>"$work/pg_detail.tsv"
  awk -F'\t' -v OFS='\t' -v n="$cancel" '$1 == n {$1 = "pg v3 cancel"; print}' "$memory_file" >>"$memory_file"
  log "  medians of $pg_rounds rounds: pgbench $pgbench_tps tps, v3 cancel $(awk -F'\t' '$1 == "pg v3 cancel" {print $3}' "$results") requests/s ($cancel)"
}

# pg_pgbench_run NAME CANCELS_PER_TRANSACTION pgbench-args...: one pgbench run on database payoutd
# (or pgbench for TPC-B), its tps x CANCELS_PER_TRANSACTION as ops/s and the WAL deltas, appended
# to $work/pg_ceiling.tsv as "name ops_per_s latency_ms wal_delta".
pg_pgbench_run() {
  local name=$1 per=$2 out wal_before wal_after tps latency txns failed
  shift 2
  wal_before=$(pg_wal)
  out=$("$pgbench_bin" "$@" 2>&1) || die "pgbench ($name) failed: $(tail -5 <<<"$out")"
  wal_after=$(pg_wal)
  echo "$out" | grep -E '^(tps|latency|number of)' | sed 's/^/    /' >&2
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out")
  latency=$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' <<<"$out")
  txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out")
  [[ -n "$tps" && -n "$latency" && -n "$txns" ]] || die "pgbench ($name): could not read tps and latency"
  [[ "${failed:-0}" == 0 ]] || die "pgbench ($name): $failed failed transactions"
  printf '%s\t%s\t%s\t%s\n' "$name" "$(awk -v t="$tps" -v p="$per" 'BEGIN { printf "%.1f", t * p }')" "$latency" \
    "$(pg_wal_delta "$wal_before" "$wal_after" "$((txns * per))")" >>"$work/pg_ceiling.tsv"
  log "  $name: $(tail -1 "$work/pg_ceiling.tsv" | cut -f2) ops/s"
}

# pg_ceiling_runs: what PostgreSQL itself does on this machine, with no payoutd in the way, in the
# same run as pgbench and payoutd:
#   - TPC-B again with synchronous_commit=off for the session: how much of pgbench's cost is waiting
#     for commits (the part group commit can save);
#   - the statements of one v3 cancel (bench/pg_cancel_script.py), one cancel per transaction, by
#     CONNECTIONS clients: the ceiling of any design that runs a cancel's statements one by one;
#   - the same statements 32 cancels per transaction with the writer's savepoints, one client: the
#     ceiling of payoutd's single group-commit writer connection;
#   - the same rows, 32 cancels per transaction written set-wise (each statement once per batch),
#     one client: what a writer that executed a batch's cancels together could reach.
pg_ceiling_runs() {
  : >"$work/pg_ceiling.tsv"
  log "postgresql ceilings: TPC-B with synchronous_commit=off"
  pg_settle pgbench
  PGOPTIONS="-c synchronous_commit=off" pg_pgbench_run "tpcb async" 1 \
    -M prepared -c "$connections" -j "$threads" -T "$duration_s" -n "$pg_base/pgbench"

  # The targets payoutd left, in id order, with what the script's statements need; the v3 outbox
  # row and the event message are copied from a cancel payoutd wrote in the run above.
  pg_sql payoutd "CREATE SEQUENCE ceiling_seq;
    CREATE TABLE ceiling_targets AS
    SELECT row_number() OVER (ORDER BY p.cashout_id) AS n, p.cashout_id, p.merchant_id, p.wallet_id,
           p.total_amount, p.currency, p.public_id,
           least(a.id, h.id) AS first_account,
           CASE WHEN a.id < h.id THEN p.total_amount ELSE -p.total_amount END AS first_delta,
           greatest(a.id, h.id) AS second_account,
           CASE WHEN a.id < h.id THEN -p.total_amount ELSE p.total_amount END AS second_delta,
           'evt_' || substr(p.public_id, 5) || '_2' AS event_id,
           'Refund of payout ' || p.public_id AS remarks,
           o.payload, o.target_url, o.destination, e.message AS event_message
    FROM payouts p
    JOIN accounts a ON a.wallet_id = p.wallet_id AND a.kind = 'available'
    JOIN accounts h ON h.wallet_id = p.wallet_id AND h.kind = 'held'
    CROSS JOIN (SELECT payload, target_url, destination FROM outbox WHERE channel = 'v3'
                ORDER BY id DESC LIMIT 1) o
    CROSS JOIN (SELECT message FROM payout_events WHERE to_status = 'cancelled'
                ORDER BY cashout_id DESC LIMIT 1) e
    WHERE p.status = 'created' AND p.public_id LIKE 'pyt_c%' AND p.event_seq = 1;
    CREATE UNIQUE INDEX ON ceiling_targets (n)" >/dev/null
  log "  $(pg_sql payoutd "SELECT count(*) FROM ceiling_targets") cancel targets left for the ceilings"
  python3 "$here/pg_cancel_script.py" "$work/pg_cancel_1.sql" 1
  python3 "$here/pg_cancel_script.py" "$work/pg_cancel_32.sql" 32
  local now_us
  now_us=$(date +%s%6N)

  log "postgresql ceilings: a cancel's statements, one cancel per transaction, $connections clients"
  pg_settle payoutd
  pg_pgbench_run "cancel statements" 1 -M prepared -c "$connections" -j "$threads" -T "$duration_s" -n \
    -D "now=$now_us" -f "$work/pg_cancel_1.sql" "$pg_base/payoutd"
  log "postgresql ceilings: a cancel's statements, 32 per transaction with savepoints, one client"
  pg_settle payoutd
  pg_pgbench_run "cancel statements, one writer" 32 -M prepared -c 1 -j 1 -T "$duration_s" -n \
    -D "now=$now_us" -f "$work/pg_cancel_32.sql" "$pg_base/payoutd"
  # The set-wise batches take the targets after those the two runs above used.
  pg_sql payoutd "CREATE SEQUENCE ceiling_batch_seq START $(( $(pg_sql payoutd "SELECT last_value FROM ceiling_seq") / 32 + 2 ))" >/dev/null
  python3 "$here/pg_cancel_script.py" "$work/pg_cancel_set_32.sql" 32 set
  log "postgresql ceilings: a cancel's rows, 32 cancels per transaction written set-wise, one client"
  pg_settle payoutd
  pg_pgbench_run "cancel rows set-wise, one writer" 32 -M prepared -c 1 -j 1 -T "$duration_s" -n \
    -D "now=$now_us" -f "$work/pg_cancel_set_32.sql" "$pg_base/payoutd"
  pg_sql payoutd "DROP TABLE ceiling_targets; DROP SEQUENCE ceiling_seq; DROP SEQUENCE ceiling_batch_seq" >/dev/null
}

# The docs sub-section (between the bench/run.sh postgres markers).
pg_section() {
  python3 - "$results" "$work/pg_detail.tsv" "$work/pg_memory.tsv" "$work/pg_ceiling.tsv" "$work/pg_tpcb.tsv" <<PY
import sys
rows = {l.split("\t")[0]: l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()}
detail = {l.split("\t")[0]: l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if l.strip()}
mem = {l.split("\t")[0]: l.rstrip("\n").split("\t") for l in open(sys.argv[3]) if l.strip()}
def ms(us): return f"{int(us) / 1000:.2f} ms"
def num(x): return f"{float(x):,.0f}"
tps = float("$pgbench_tps")
duration = int("$duration_s")
smoke = duration < 10
out = ["### PostgreSQL backend next to pgbench (issue 8)", ""]
if "$pg_statements" == "1":
    out += ["**Diagnostic run (PG_STATEMENTS=1: pg_stat_statements loaded, which costs throughput): "
            "not a measurement.**", ""]
if smoke:
    out += ["**Smoke run (short duration): the figures show the benchmark works, they are not a "
            "measurement.**", ""]
out.append("Written by the PostgreSQL phase of \`bench/run.sh\` (\`PG_ONLY=1 bench/run.sh\` reruns only "
           f"this part). Date $run_date, commit $commit, DURATION=$duration CONNECTIONS=$connections "
           f"THREADS=$threads, phase {$pg_elapsed // 60} min {$pg_elapsed % 60} s.")
out.append("")
out.append("- PostgreSQL $pg_version, a throwaway cluster (\`scripts/pg-cluster.sh\`) in the data "
           "directory above; $pg_settings. Durability equal to SQLite's synchronous=FULL: a "
           "transaction is on disk before its commit returns.")
out.append("- pgbench: \`pgbench -i -s $pg_scale\` (database \`pgbench\`), then "
           "\`pgbench -M prepared -c $connections -j $threads -T $duration_s -n\` — TPC-B: per "
           "transaction three UPDATEs, a SELECT and an INSERT, one commit; pgbench's latency is the average.")
out.append("- payoutd: \`serve --no-engine --db postgresql://…/payoutd\` on a fresh database of the same "
           "cluster (one writer connection doing group commit, each op in its own savepoint and consecutive "
           "cancels written together as one write group; a pool of 8 read connections); the "
           "merchant and wallets of the SQLite phase; $base_payouts payouts stored before the create "
           "run (cloned by SQL from a payout payoutd created: \`bench/clone_payouts_pg.py\`), the cancel "
           "run's targets cloned the same way. wrk and \`bench/requests.lua\` as above: every request "
           "distinct and signed, no non-2xx, no socket error. VACUUM ANALYZE and CHECKPOINT before each "
           "measured run, for pgbench too.")
out.append(f"- Rounds: pgbench's tps moves by up to ±20 % between runs on this machine, so the comparison "
           f"is made {$pg_rounds} times (\`PG_ROUNDS\`): each round a pgbench run, then a v3 cancel run on "
           f"targets of its own; the tables show the median pgbench run and the median cancel run (each a "
           f"real run: its latencies and WAL are that run's), and the rounds table every pair.")
out.append("")
out.append("| load | payouts stored | tps / requests/s | p50 | p99 | p99.9 | × pgbench |")
out.append("|---|---|---|---|---|---|---|")
out.append(f"| pgbench TPC-B (\`-M prepared\`, {$connections} clients; median round) | – | {num(tps)} | "
           f"{float('$pgbench_latency'):.2f} ms (average) | – | – | 1.000 |")
for name in ["pg v3 create", "pg v3 cancel", "pg v3 status"]:
    x = rows[name]
    label = name[3:] + (" (median round)" if name == "pg v3 cancel" else "")
    out.append(f"| payoutd {label} | {int(x[1]):,} | {num(x[2])} | {ms(x[3])} | {ms(x[4])} | "
               f"{ms(x[5])} | {float(x[2]) / tps:.3f} |")
out.append("")
out.append("Where the commits go (pg_stat_wal deltas over each run — the cluster runs one load at a "
           "time; payoutd's writer from its /metrics):")
out.append("")
out.append("| load | WAL fsyncs/s | WAL records / op | full-page images / op | WAL bytes / op | commits/s (ops per commit) | peak RSS |")
out.append("|---|---|---|---|---|---|---|")
pw = "$pgbench_wal".split()
out.append(f"| pgbench TPC-B | {int(pw[0]) / duration:,.0f} | {pw[1]} | {pw[2]} | {int(pw[3]):,} | – | – |")
for name in ["pg v3 create", "pg v3 cancel"]:
    d = detail[name]
    wal = d[1].split(); writer = d[2].split()
    rss = f"{int(mem[name][2]) / 1024:.1f} MiB" if name in mem else "–"
    out.append(f"| payoutd {name[3:]} | {int(wal[0]) / duration:,.0f} | {wal[1]} | {wal[2]} | "
               f"{int(wal[3]):,} | {int(writer[0]) / duration:,.0f} ({writer[1]}) | {rss} |")
out.append("")
ceiling = {l.split("\t")[0]: l.rstrip("\n").split("\t") for l in open(sys.argv[4]) if l.strip()}
out.append("What PostgreSQL itself does on this machine, no payoutd in the way (same cluster, same run, "
           "after the payoutd runs): TPC-B again with \`synchronous_commit=off\` for its sessions; then "
           "\`bench/pg_cancel_script.py\`'s pgbench scripts (\`-M prepared\`), which run the statements "
           "payoutd's writer executes for one v3 cancel of a created payout — the reads that decide it, "
           "the conditional payout UPDATE, the refund journal (transaction — the refund movement — two "
           "entries, two balance UPDATEs), the wallet transaction, the event, the endpoint lookup and the "
           "v3 outbox row — on the cancel targets payoutd left; and the same rows written set-wise. "
           "\`payoutd ledger check\` runs after these too.")
out.append("")
out.append("| load | cancels/s (tps) | latency (average, per transaction) | WAL fsyncs/s | WAL records / op | WAL bytes / op | × pgbench |")
out.append("|---|---|---|---|---|---|---|")
labels = {
    "tpcb async": f"pgbench TPC-B, \`synchronous_commit=off\` ({$connections} clients)",
    "cancel statements": f"a cancel's statements, one cancel per transaction ({$connections} clients)",
    "cancel statements, one writer": "a cancel's statements, 32 per transaction, each in a savepoint (1 client: payoutd's writer shape)",
    "cancel rows set-wise, one writer": "a cancel's rows, 32 per transaction, each statement once for the 32 (1 client)",
}
for name, label in labels.items():
    if name not in ceiling: continue
    x = ceiling[name]; wal = x[3].split()
    out.append(f"| {label} | {num(x[1])} | {float(x[2]):.2f} ms | {int(wal[0]) / duration:,.0f} | {wal[1]} | "
               f"{int(wal[3]):,} | {float(x[1]) / tps:.3f} |")
out.append("")
tpcb = [l.rstrip("\n").split("\t") for l in open(sys.argv[5]) if l.strip()]
out.append(f"Every round ({len(tpcb)}), in the order run:")
out.append("")
out.append("| round | pgbench TPC-B tps | v3 cancel requests/s (p99) | × that round's pgbench |")
out.append("|---|---|---|---|")
for t in tpcb:
    r = rows[f"pg v3 cancel #{t[0]}"]
    out.append(f"| {t[0]} | {num(t[1])} | {num(r[2])} ({ms(r[4])}) | {float(r[2]) / float(t[1]):.3f} |")
out.append("")
c = rows["pg v3 cancel"]
ratio = float(c[2]) / tps
ok = lambda b: "yes" if b else "**no**"
out.append("| target | measured | met |")
out.append("|---|---|---|")
out.append(f"| v3 cancel on PostgreSQL ≥ 1.0 × pgbench TPC-B tps (same client count, same machine, same run; "
           f"medians of {len(tpcb)} rounds) | {num(c[2])} vs {num(tps)} tps: {ratio:.3f} × | {ok(ratio >= 1.0)} |")
out.append(f"| \`payoutd ledger check\` on the PostgreSQL database ({int('$pg_final_stored'):,} payouts) | exit 0 | yes |")
print("\n".join(out))
PY
}
