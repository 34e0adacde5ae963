#!/usr/bin/env bash
# One-run benchmark of payoutd against this machine's own ceilings (issue 7). In one run it measures
#   1. ceilings: the fdatasync rate of the data directory; nginx (one worker) serving a fixed JSON
#      body under the same wrk settings; SQLite's raw rate for the statements of one cancel,
#      unbatched (one transaction each, synchronous=FULL) and batched;
#   2. payoutd (`serve --no-engine`): GET /status, v3 create, v3 cancel, v3 status, v1 create,
#      v1 cancel, v1 list — requests/s, p50/p99/p99.9 and the ratio to nginx;
#   3. scale: v3 cancel and v3 status with ~1,000 and with SEED_PAYOUTS payouts stored;
#   4. memory: the server's peak RSS (VmHWM) in each phase;
#   5. PostgreSQL (issue 8, bench/postgres.sh): in a throwaway cluster of the same data directory
#      (fsync and synchronous_commit on), pgbench TPC-B (`-M prepared`, CONNECTIONS clients, THREADS
#      threads) next to payoutd on PostgreSQL (v3 create and v3 cancel with the same wrk settings);
#      target cancel >= 1.0 x pgbench's tps; `payoutd ledger check` on that database;
# and writes the results as a section of docs/benchmarks.md (between the bench/run.sh markers; the
# PostgreSQL part between its own bench/run.sh postgres markers inside it).
#
#   bench/run.sh [BUILD_DIR]          (default ./build; must be a Release build)
#   DURATION=2s SEED_PAYOUTS=20000 CEILING_SECONDS=1 WRITE_DOCS=0 bench/run.sh build   (smoke, ~1.5 min)
#   PG_ONLY=1 bench/run.sh build      the PostgreSQL phase alone (~1-2 min with DURATION=10s); it
#                                     replaces only the PostgreSQL part of the docs section
#   PG=0 bench/run.sh build           without the PostgreSQL phase (the docs keep the last one)
#
# Phases: ceilings; setup (a merchant with v3 credentials and BRL/USD wallets, one payout of each
# dialect created through the API as clone templates); main (BASE_PAYOUTS stored plus the prepared
# cancel targets; the seven payoutd runs, one server process); scale (a second database: v3 status
# then v3 cancel with BASE_PAYOUTS, then SEED_PAYOUTS, stored; one server process per run);
# `payoutd ledger check` on both databases (the run fails if it does not pass); then the PostgreSQL
# phase (5. above; its cluster is stopped and removed on every exit path).
#
# Environment (defaults in brackets):
#   DURATION [10s]  CONNECTIONS [64]  THREADS [2]   wrk settings, the same for nginx and payoutd
#   SEED_PAYOUTS [1000000]   payouts stored for the large scale runs
#   BASE_PAYOUTS [1000]      background payouts of the main phase and of the small scale runs
#   DATA_DIR [/var/tmp]      a fresh directory under it holds the databases (its filesystem is measured)
#   DOCS [docs/benchmarks.md]   WRITE_DOCS [1]   0 = print the section only
#   CEILING_SECONDS [3]      duration of the fdatasync and SQLite ceiling measurements
#   POOL [auto]              distinct requests prepared per create/cancel run of the main phase;
#                            auto = 1.3 x the SQLite batched cancel rate x DURATION + 2,000 (no
#                            durable write path of payoutd can beat SQLite's own batched rate)
#   SCALE_POOL [auto]        cancel targets per scale cancel run; auto = 2 x the main phase's
#                            cancel rate x DURATION + 1,000 (at most POOL)
#   SQLITE_PAYOUTS [300000]  payouts seeded for the SQLite ceiling (each mode cancels distinct ones)
#   PG [1]  0 = skip the PostgreSQL phase      PG_ONLY [0]  1 = only the PostgreSQL phase
#   PG_SCALE [CONNECTIONS, >= 10]  pgbench scale   PG_ROUNDS [5]   PG_POOL, PG_CANCEL_POOL [auto]  see bench/postgres.sh
#   PAYOUTD_PG_BINDIR        PostgreSQL server binaries (default: the newest /usr/lib/postgresql/*/bin)
#   BUILD_JOBS [nproc]       parallel jobs of the build step
# Every request is signed and distinct where it must be (creates: new external ids; cancels:
# payouts that are cancellable); any non-2xx, socket error or running out of prepared requests
# fails the run. Do not run it on a busy machine: wrk shares the cores with the server.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build_dir=$(cd "${1:-$root/build}" && pwd)
duration=${DURATION:-10s}
connections=${CONNECTIONS:-64}
threads=${THREADS:-2}
seed_payouts=${SEED_PAYOUTS:-1000000}
base_payouts=${BASE_PAYOUTS:-1000}
ceiling_seconds=${CEILING_SECONDS:-3}
docs=${DOCS:-$root/docs/benchmarks.md}
write_docs=${WRITE_DOCS:-1}
pg=${PG:-1}
pg_only=${PG_ONLY:-0}
[[ "$pg_only" != 1 ]] || pg=1
run_sqlite=1
[[ "$pg_only" != 1 ]] || run_sqlite=0
payoutd="$build_dir/payoutd"
fsync_rate="$build_dir/bench/payoutd_fsync_rate"
sqlite_rate="$build_dir/bench/payoutd_sqlite_cancel_rate"
started_at=$(date +%s)

log() { echo "[bench] $*" >&2; }
die() { echo "[bench] FAILED: $*" >&2; exit 1; }

# ---- tools ----
if ! command -v wrk >/dev/null || { ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; } ||
    { [[ "$pg" == 1 ]] && ! command -v psql >/dev/null; }; then
  log "installing wrk, nginx and PostgreSQL (scripts/install-deps.sh --bench)"
  "$root/scripts/install-deps.sh" --bench >&2
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
command -v python3 >/dev/null || die "python3 is needed"
[[ "$run_sqlite" == 0 ]] || command -v sqlite3 >/dev/null || die "sqlite3 is needed"
command -v curl >/dev/null || die "curl is needed"
# shellcheck source=bench/postgres.sh
source "$here/postgres.sh"
[[ "$pg" != 1 ]] || pg_tools
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || true)
[[ "$build_type" == "Release" ]] || log "warning: $build_dir is a '$build_type' build, not Release"
log "building payoutd and the ceiling tools in $build_dir"
cmake --build "$build_dir" --parallel "${BUILD_JOBS:-$(nproc)}" --target payoutd payoutd_fsync_rate payoutd_sqlite_cancel_rate >&2
duration_s=$(python3 -c "import re,sys; m=re.fullmatch(r'(\d+)([smh]?)','$duration'); sys.exit('bad DURATION') if not m else print(int(m[1])*{'':1,'s':1,'m':60,'h':3600}[m[2]])")

# ---- work area ----
if [[ -n "${DATA_DIR:-}" ]]; then mkdir -p "$DATA_DIR"; work=$(mktemp -d "$DATA_DIR/payoutd-bench.XXXXXX");
else work=$(mktemp -d /var/tmp/payoutd-bench.XXXXXX); fi
server_pid=""
nginx_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [[ -n "$nginx_pid" ]]; then kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; fi
  pg_stop_cluster  # the PostgreSQL phase's cluster, if it is running (bench/postgres.sh)
  rm -rf "$work"
}
trap cleanup EXIT
# A signal ends the run once the command in the foreground returns; the EXIT trap then cleans up.
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
db_file="$work/bench.db"
db="sqlite://$db_file"
key="$work/master.key"
results="$work/results.tsv"   # name <tab> stored <tab> rps <tab> p50 <tab> p99 <tab> p999 <tab> requests
: >"$results"
memory_file="$work/memory.tsv"  # phase <tab> stored <tab> VmHWM KiB (stop_server)
cli() { "$payoutd" "$@" --db "$db" --master-key-file "$key" --log-level warn; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---- machine ----
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
cores=$(nproc)
ram=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
kernel=$(uname -sr)
fs_type=$(df -T "$work" | awk 'NR == 2 {print $2}')
fs_device=$(df -T "$work" | awk 'NR == 2 {print $1}')
os_name=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}" || echo unknown)
commit=unknown
if [[ -f "$root/.git/HEAD" ]]; then  # read without running git
  head_ref=$(cat "$root/.git/HEAD")
  if [[ "$head_ref" == ref:* ]]; then
    ref=${head_ref#ref: }
    if [[ -f "$root/.git/$ref" ]]; then commit=$(cut -c1-7 "$root/.git/$ref");
    else commit=$(awk -v r="$ref" '$2 == r {print substr($1, 1, 7)}' "$root/.git/packed-refs" 2>/dev/null || echo unknown); fi
  else
    commit=${head_ref:0:7}
  fi
fi
run_date=$(date -u +%Y-%m-%dT%H:%MZ)
log "machine: $cpu_model, $cores cores, $ram, $kernel, data dir $work on $fs_type ($fs_device)"

# ---- wrk ----
# run_wrk NAME STORED URL REQUEST_FILE CYCLE [TOKEN]: runs wrk with bench/requests.lua and appends a
# results row; fails the run on any non-2xx, socket error or exhausted request file.
run_wrk() {
  local name=$1 stored=$2 url=$3 file=$4 cycle=$5 token=${6:-}
  log "wrk -t$threads -c$connections -d$duration: $name ($stored stored)"
  local out
  out=$(BENCH_REQUESTS="$file" BENCH_CYCLE="$cycle" BENCH_TOKEN="$token" BENCH_THREADS="$threads" \
    wrk -t"$threads" -c"$connections" -d"$duration" --timeout 10s -s "$here/requests.lua" "$url" 2>&1) ||
    die "wrk failed for $name: $out"
  echo "$out" | sed 's/^/    /' >&2
  local line
  line=$(grep '^BENCH rps=' <<<"$out") || die "no BENCH line from wrk for $name"
  local rps p50 p99 p999 requests non2xx exhausted errors
  rps=$(sed 's/.* rps=\([0-9.]*\).*/\1/' <<<"$line")
  p50=$(sed 's/.* p50_us=\([0-9]*\).*/\1/' <<<"$line")
  p99=$(sed 's/.* p99_us=\([0-9]*\).*/\1/' <<<"$line")
  p999=$(sed 's/.* p999_us=\([0-9]*\).*/\1/' <<<"$line")
  requests=$(sed 's/.* requests=\([0-9]*\).*/\1/' <<<"$line")
  non2xx=$(sed 's/.* non2xx=\([0-9]*\).*/\1/' <<<"$line")
  exhausted=$(sed 's/.* exhausted=\([0-9]*\).*/\1/' <<<"$line")
  errors=$(sed 's/.* errors=\([0-9]*\).*/\1/' <<<"$line")
  [[ "$exhausted" == 0 ]] || die "$name ran out of prepared distinct requests ($exhausted extra); raise POOL (PG_POOL, PG_CANCEL_POOL for the PostgreSQL runs)"
  [[ "$non2xx" == 0 ]] || die "$name: $non2xx non-2xx answers ($(grep '^BENCH first_non2xx' <<<"$out" || true))"
  [[ "$errors" == 0 ]] || die "$name: $errors socket errors"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$stored" "$rps" "$p50" "$p99" "$p999" "$requests" >>"$results"
}

# ---- payoutd server ----
server_port=""
start_server() {
  "$payoutd" serve --listen "127.0.0.1:0" --db "$db" --master-key-file "$key" --no-engine \
    --v3-rate-limit-per-second 0 --v1-access-token-ttl-seconds 86400 \
    --log-level warn --log-format json >"$work/server.out" 2>>"$work/server.err" &
  server_pid=$!
  server_port=""
  for _ in $(seq 1 300); do
    # The line may be read half-written: accept the port only once /status answers on it.
    server_port=$(sed -n 's/^payoutd listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/server.out")
    if [[ -n "$server_port" ]] && curl -sf -o /dev/null "http://127.0.0.1:$server_port/status"; then break; fi
    server_port=""
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n "$server_port" ]] || die "server did not start: $(tail -5 "$work/server.err")"
}
# stop_server PHASE STORED: records the peak RSS of the process, then stops it (SIGTERM).
stop_server() {
  local hwm
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$server_pid/status")
  printf '%s\t%s\t%s\n' "$1" "$2" "$hwm" >>"$memory_file"
  kill "$server_pid"
  wait "$server_pid" || die "server exited with $? on SIGTERM"
  server_pid=""
}
stored_count() { sqlite3 "$db_file" "PRAGMA busy_timeout=5000; SELECT count(*) FROM payouts;" | tail -1; }
json_field() { python3 -c "import json,sys; v=json.load(sys.stdin); print(eval('v' + sys.argv[1]))" "$1"; }
v3_login=bench_login
v3_pass=bench_pass
v3_secret=bench_secret_key_4f1d2a9c

sqlite_section=""
if [[ "$run_sqlite" == 1 ]]; then
# ---- the SQLite phases 1-4 (not indented: unchanged by the PostgreSQL phase) ----

# ---- 1. ceilings ----
log "ceiling: fdatasync rate of $work (${ceiling_seconds}s)"
fsync_line=$("$fsync_rate" "$work" "$ceiling_seconds")
log "  $fsync_line"
sqlite_payouts=${SQLITE_PAYOUTS:-300000}
log "ceiling: SQLite cancel statements (${ceiling_seconds}s unbatched, ${ceiling_seconds}s batched 64)"
sqlite_line=$("$sqlite_rate" "$work" "$ceiling_seconds" 64 "$sqlite_payouts")
log "  $sqlite_line"
sqlite_batched=$(sed 's/.*batched_per_s=\([0-9]*\).*/\1/' <<<"$sqlite_line")
pool=${POOL:-$(( sqlite_batched * 13 / 10 * duration_s + 2000 ))}
log "prepared requests per create/cancel run: $pool"

# ---- setup: merchant, wallets, one payout of each dialect to clone ----
merchant_json=$(cli merchant create --json --name "bench merchant" \
  --v3-login "$v3_login" --v3-pass "$v3_pass" --v3-secret-key "$v3_secret")
merchant_id=$(json_field '["merchant_id"]' <<<"$merchant_json")
api_user=$(json_field '["api"]["username"]' <<<"$merchant_json")
api_pass=$(json_field '["api"]["password"]' <<<"$merchant_json")
cli wallet fund --merchant "$merchant_id" --currency BRL --amount 1000000000.00 >/dev/null
cli wallet fund --merchant "$merchant_id" --currency USD --amount 1000000000.00 >/dev/null

start_server
base="http://127.0.0.1:$server_port"
login() {
  curl -sf -X POST "$base/auth/login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$api_user\",\"password\":\"$api_pass\"}" | json_field '["access_token"]'
}
token=$(login)
usd_wallet=$(curl -sf "$base/api/v1/wallets?currency=USD" -H "Authorization: Bearer $token" | json_field '[0]["id"]')
python3 "$here/make_requests.py" v3-create "$work/t3.req" 1 template-v3- "$v3_login" "$v3_pass" "$v3_secret"
IFS=$'\t' read -r _ _ t3_sig t3_body <"$work/t3.req"
template_v3=$(curl -sf -X POST "$base/v3/cashout" -H 'Content-Type: application/json' \
  -H "Payload-Signature: $t3_sig" --data-binary "$t3_body" | json_field '["cashout_id"]')
python3 "$here/make_requests.py" v1-create "$work/t1.req" 1 template-v1- "$usd_wallet"
IFS=$'\t' read -r _ _ _ t1_body <"$work/t1.req"
template_v1=$(curl -sf -X POST "$base/api/v1/payouts" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $token" --data-binary "$t1_body" | json_field '["cashout_id"]')
stop_server setup 2
cp "$db_file" "$work/setup.db"  # the server closed it (WAL checkpointed): a consistent copy
[[ ! -s "$db_file-wal" ]] || cp "$db_file-wal" "$work/setup.db-wal"
log "templates: v3 cashout $template_v3, v1 cashout $template_v1"

clone() {  # clone TEMPLATE COUNT KIND START IDS_OUT
  python3 "$here/clone_payouts.py" "$db_file" "$@"
}

# ---- 2. main phase: ~BASE_PAYOUTS stored ----
log "seeding: $((base_payouts - 2)) background payouts, $pool v3 and $pool v1 cancel targets"
clone "$template_v3" "$((base_payouts - 2))" b 0 "$work/ids_b"
clone "$template_v3" "$pool" c 0 "$work/ids_c"
clone "$template_v1" "$pool" v 0 "$work/ids_v"
python3 "$here/make_requests.py" get "$work/status.req" /status
python3 "$here/make_requests.py" get "$work/list.req" /api/v1/payouts
python3 "$here/make_requests.py" v3-create "$work/v3create.req" "$pool" new-v3- "$v3_login" "$v3_pass" "$v3_secret"
python3 "$here/make_requests.py" v1-create "$work/v1create.req" "$pool" new-v1- "$usd_wallet"
cut -d'|' -f1,2 "$work/ids_c" >"$work/ids_c.v3"
python3 "$here/make_requests.py" v3-cancel "$work/v3cancel.req" "$work/ids_c.v3" "$v3_login" "$v3_pass" "$v3_secret"
cut -d'|' -f1,2 "$work/ids_b" >"$work/ids_b.v3"
python3 "$here/make_requests.py" v3-status "$work/v3status.req" "$work/ids_b.v3" "$v3_login" "$v3_pass" "$v3_secret"
cut -d'|' -f3 "$work/ids_v" >"$work/ids_v.v1"
python3 "$here/make_requests.py" v1-cancel "$work/v1cancel.req" "$work/ids_v.v1"

# nginx: one worker, the same fixed JSON body payoutd answers GET /status with.
start_server
status_body=$(curl -sf "http://127.0.0.1:$server_port/status")
stored_main=$(stored_count)
mkdir -p "$work/nginx"
nginx_port=$(free_port)
body_escaped=${status_body//\'/\\\'}
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { default_type application/json; return 200 '$body_escaped'; }
  }
}
EOF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" -g 'daemon off;' &
nginx_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$nginx_port/status" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$nginx_port/status" >/dev/null || die "nginx did not start: $(cat "$work/nginx/error.log")"
run_wrk "nginx" - "http://127.0.0.1:$nginx_port/status" "$work/status.req" 1
kill "$nginx_pid"; wait "$nginx_pid" 2>/dev/null || true; nginx_pid=""

base="http://127.0.0.1:$server_port"
token=$(login)
run_wrk "GET /status" "$stored_main" "$base" "$work/status.req" 1
run_wrk "v3 create" "$(stored_count)" "$base" "$work/v3create.req" 0
run_wrk "v3 cancel" "$(stored_count)" "$base" "$work/v3cancel.req" 0
run_wrk "v3 status" "$(stored_count)" "$base" "$work/v3status.req" 1
run_wrk "v1 create" "$(stored_count)" "$base" "$work/v1create.req" 0 "$token"
run_wrk "v1 cancel" "$(stored_count)" "$base" "$work/v1cancel.req" 0 "$token"
run_wrk "v1 list" "$(stored_count)" "$base" "$work/list.req" 1 "$token"
stop_server "main" "$(stored_count)"

log "ledger check on the main phase's database"
cli ledger check >"$work/ledger.txt" 2>&1 || die "ledger check failed after the main phase: $(head -20 "$work/ledger.txt")"

# ---- 3. scale: the same v3 status and cancel with BASE_PAYOUTS, then SEED_PAYOUTS, stored ----
# A fresh copy of the setup database. Status runs first (read-only, stored = exactly the seed);
# cancels need cancellable targets, so each cancel run adds a pool sized from the main phase's
# cancel rate (2 x rate x DURATION + 1,000) and the table reports the exact stored count.
db_file="$work/scale.db"
db="sqlite://$db_file"
cp "$work/setup.db" "$db_file"
main_cancel_rps=$(awk -F'\t' '$1 == "v3 cancel" {printf "%d", $3}' "$results")
# twice the main phase's rate (runs vary), never more than the SQLite-bounded pool
scale_pool=${SCALE_POOL:-$(( main_cancel_rps * 2 * duration_s + 1000 ))}
(( scale_pool <= pool )) || scale_pool=$pool
status_sample() {  # status_sample IDS OUT: up to 200,000 ids in random order (spread over the range)
  python3 -c "import random,sys; l=open(sys.argv[1]).read().split(); random.seed(7); random.shuffle(l); print('\n'.join(x.rsplit('|',1)[0] for x in l[:200000]))" "$1" >"$2.ids"
  python3 "$here/make_requests.py" v3-status "$2" "$2.ids" "$v3_login" "$v3_pass" "$v3_secret"
}
cancel_pool() {  # cancel_pool KIND OUT: scale_pool cancellable clones and their signed cancels
  clone "$template_v3" "$scale_pool" "$1" 0 "$work/ids_$1"
  cut -d'|' -f1,2 "$work/ids_$1" >"$work/ids_$1.v3"
  python3 "$here/make_requests.py" v3-cancel "$2" "$work/ids_$1.v3" "$v3_login" "$v3_pass" "$v3_secret"
}
scale_run() {  # scale_run NAME REQUESTS CYCLE PHASE
  local stored
  stored=$(stored_count)
  start_server
  run_wrk "$1" "$stored" "http://127.0.0.1:$server_port" "$2" "$3"
  stop_server "$4" "$(stored_count)"
}
log "scale: ${base_payouts} stored"
clone "$template_v3" "$((base_payouts - 2))" s 0 "$work/ids_s"
status_sample "$work/ids_s" "$work/status_small.req"
scale_run "v3 status (small)" "$work/status_small.req" 1 "small: v3 status"
cancel_pool x "$work/cancel_small.req"
scale_run "v3 cancel (small)" "$work/cancel_small.req" 0 "small: v3 cancel"
more=$(( seed_payouts - $(stored_count) ))
seed_seconds=0
if (( more > 0 )); then
  log "seeding: $more more payouts (to $seed_payouts stored)"
  seed_start=$(date +%s)
  clone "$template_v3" "$more" s "$(wc -l <"$work/ids_s")" "$work/ids_s2"
  cat "$work/ids_s2" >>"$work/ids_s"
  seed_seconds=$(( $(date +%s) - seed_start ))
  log "  seeded in $seed_seconds s"
fi
status_sample "$work/ids_s" "$work/status_large.req"
scale_run "v3 status (large)" "$work/status_large.req" 1 "large: v3 status"
cancel_pool y "$work/cancel_large.req"
scale_run "v3 cancel (large)" "$work/cancel_large.req" 0 "large: v3 cancel"

log "ledger check on the large database"
ledger_start=$(date +%s)
final_stored=$(stored_count)
cli ledger check >"$work/ledger.txt" 2>&1 || die "ledger check failed after the run: $(head -20 "$work/ledger.txt")"
ledger_seconds=$(( $(date +%s) - ledger_start ))
log "  ledger check passed in $ledger_seconds s"
elapsed=$(( $(date +%s) - started_at ))

# ---- 4. the docs section (SQLite part) ----
sqlite_section=$(python3 - "$results" "$memory_file" <<PY
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
mem = [l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if l.strip()]
r = {row[0]: row for row in rows}
def ms(us): return f"{int(us) / 1000:.2f} ms"
def num(x): return f"{float(x):,.0f}"
nginx = float(r["nginx"][2])
fsync = dict(kv.split("=") for kv in "$fsync_line".split())
sq = dict(kv.split("=") for kv in "$sqlite_line".split())
smoke = int("$duration_s") < 10 or int("$seed_payouts") < 1000000
out = []
out.append("## One-run benchmark against this machine's ceilings (issue 7)")
out.append("")
if smoke:
    out.append("**Smoke run (short duration or small seed): the figures show the benchmark works, "
               "they are not a measurement.**")
    out.append("")
out.append("Written by \`bench/run.sh\` — rerun it to replace this section. "
           f"Date $run_date, commit $commit, DURATION=$duration CONNECTIONS=$connections "
           f"THREADS=$threads SEED_PAYOUTS=$seed_payouts, SQLite phases {$elapsed // 60} min {$elapsed % 60} s.")
out.append("")
out.append("- Machine: $cpu_model, $cores cores, $ram RAM, $kernel, $os_name; data directory on "
           "$fs_type ($fs_device).")
out.append("- Load: \`wrk -t$threads -c$connections -d$duration\` with \`bench/requests.lua\` on the same "
           "machine (wrk shares the cores with the server). Every request distinct where it must be "
           "and correctly signed (bodies and Payload-Signature prepared ahead); no non-2xx answer, no "
           "socket error. payoutd: $build_type build, \`serve --no-engine --v3-rate-limit-per-second 0\`.")
out.append("- Latency is wrk's (request sent to response read, keep-alive).")
out.append("")
out.append("### Ceilings")
out.append("")
out.append("| ceiling | value |")
out.append("|---|---|")
out.append(f"| fdatasync of the data directory (4 KiB pwrite + fdatasync, one thread) | "
           f"{num(fsync['fdatasync_per_s'])}/s (p50 {int(fsync['p50_us'])} µs, p99 {int(fsync['p99_us'])} µs) |")
out.append(f"| SQLite, the statements of one cancel, one transaction each (WAL, synchronous=FULL) | "
           f"{num(sq['unbatched_per_s'])} cancels/s |")
out.append(f"| SQLite, the same, {sq['batch']} cancels per transaction | {num(sq['batched_per_s'])} cancels/s |")
n = r["nginx"]
out.append(f"| nginx, 1 worker, fixed JSON body (GET) | {num(n[2])} requests/s "
           f"(p50 {ms(n[3])}, p99 {ms(n[4])}, p99.9 {ms(n[5])}) |")
out.append("")
out.append("### payoutd")
out.append("")
out.append("| request | payouts stored | requests/s | p50 | p99 | p99.9 | × nginx |")
out.append("|---|---|---|---|---|---|---|")
for name in ["GET /status", "v3 create", "v3 cancel", "v3 status", "v1 create", "v1 cancel", "v1 list"]:
    x = r[name]
    out.append(f"| {name} | {int(x[1]):,} | {num(x[2])} | {ms(x[3])} | {ms(x[4])} | {ms(x[5])} | "
               f"{float(x[2]) / nginx:.3f} |")
out.append("")
out.append("Payouts stored = rows in \`payouts\` when that run started (background payouts, the "
           "prepared cancel targets, and what earlier runs created).")
out.append("")
out.append("### Scale")
out.append("")
out.append("A second database, seeded by cloning a payout payoutd created (\`bench/clone_payouts.py\`: "
           "every row a create writes, ledger invariants kept). v3 status cycles over up to 200,000 "
           "stored cashouts in random order, run on exactly the seeded count; each cancel run first "
           "adds its own cancellable targets (2 × the main phase's cancel rate × DURATION + 1,000), so its "
           "stored count is the seed plus those. Seeding to $seed_payouts took $seed_seconds s; "
           "\`payoutd ledger check\` on the final $final_stored payouts passed in $ledger_seconds s.")
out.append("")
out.append("| request | stored (small) | rps | p50 | p99 | stored (large) | rps | p50 | p99 | p50 / p99 large ÷ small |")
out.append("|---|---|---|---|---|---|---|---|---|---|")
ratios = {}
for small, large in [("v3 cancel (small)", "v3 cancel (large)"), ("v3 status (small)", "v3 status (large)")]:
    s, l = r[small], r[large]
    p50r = int(l[3]) / max(1, int(s[3])); p99r = int(l[4]) / max(1, int(s[4]))
    ratios[small] = (p50r, p99r)
    out.append(f"| {small[:9]} | {int(s[1]):,} | {num(s[2])} | {ms(s[3])} | {ms(s[4])} | {int(l[1]):,} | "
               f"{num(l[2])} | {ms(l[3])} | {ms(l[4])} | {p50r:.2f} / {p99r:.2f} |")
out.append("")
out.append("### Memory (server peak RSS, VmHWM)")
out.append("")
out.append("| server process | payouts stored at the end | peak RSS |")
out.append("|---|---|---|")
labels = {"setup": "setup (templates)", "main": "main phase (the seven runs above)"}
for phase, stored, kib in mem:
    out.append(f"| {labels.get(phase, phase)} | {int(stored):,} | {int(kib) / 1024:.1f} MiB |")
large_rss = max(int(m[2]) for m in mem if m[0].startswith("large")) / 1024
out.append("")
out.append("### Targets (recorded, not asserted)")
out.append("")
out.append("| target | measured | met |")
out.append("|---|---|---|")
c = r["v3 cancel"]; cr = r["v3 create"]
ok = lambda b: "yes" if b else "**no**"
out.append(f"| v3 cancel ≥ 0.25 × nginx, p99 ≤ 10 ms at {$connections} connections | "
           f"{float(c[2]) / nginx:.3f} × nginx, p99 {ms(c[4])} | "
           f"{ok(float(c[2]) / nginx >= 0.25 and int(c[4]) <= 10000)} |")
out.append(f"| v3 create ≥ 0.20 × nginx | {float(cr[2]) / nginx:.3f} × nginx | {ok(float(cr[2]) / nginx >= 0.20)} |")
worst = max(max(v) for v in ratios.values())
out.append(f"| v3 cancel and status latency (p50, p99) at {int(r['v3 status (large)'][1]):,} stored within "
           f"1.5 × of at {int(r['v3 status (small)'][1]):,} | worst ratio {worst:.2f} | {ok(worst <= 1.5)} |")
out.append(f"| peak RSS ≤ 200 MiB with {int(r['v3 status (large)'][1]):,} stored | {large_rss:.1f} MiB | {ok(large_rss <= 200)} |")
out.append(f"| \`payoutd ledger check\` after the run | exit 0 | yes |")
print("\n".join(out))
PY
)
fi  # run_sqlite

# ---- 5. PostgreSQL (bench/postgres.sh) ----
postgres_section=""
if [[ "$pg" == 1 ]]; then
  pg_phase
  postgres_section=$(pg_section)
fi
elapsed=$(( $(date +%s) - started_at ))

# ---- the docs section ----
# The whole section between the bench/run.sh markers; the PostgreSQL part between its own markers
# inside it. A run without one of the parts (PG=0, PG_ONLY=1) keeps that part from the file.
section=$(SQLITE_SECTION="$sqlite_section" POSTGRES_SECTION="$postgres_section" python3 - "$docs" <<'PY'
import os, sys
begin, end = "<!-- bench/run.sh: begin -->", "<!-- bench/run.sh: end -->"
pg_begin, pg_end = "<!-- bench/run.sh postgres: begin -->", "<!-- bench/run.sh postgres: end -->"
try:
    text = open(sys.argv[1], encoding="utf-8").read()
except FileNotFoundError:
    text = ""
old = text[text.index(begin) + len(begin):text.index(end)] if begin in text and end in text else ""
old_pg = old[old.index(pg_begin) + len(pg_begin):old.index(pg_end)] if pg_begin in old and pg_end in old else ""
old_sqlite = old[:old.index(pg_begin)] + old[old.index(pg_end) + len(pg_end):] if old_pg else old
sqlite = os.environ["SQLITE_SECTION"].strip("\n") or old_sqlite.strip("\n")
pg = os.environ["POSTGRES_SECTION"].strip("\n") or old_pg.strip("\n")
parts = [p for p in [sqlite, pg_begin + "\n" + pg + "\n" + pg_end if pg else ""] if p]
print("\n\n".join(parts))
PY
)
echo "$section"
if [[ "$write_docs" == 1 ]]; then
  SECTION="$section" python3 - "$docs" <<'PY'
import os, sys
path = sys.argv[1]
begin, end = "<!-- bench/run.sh: begin -->", "<!-- bench/run.sh: end -->"
text = open(path, encoding="utf-8").read()
section = begin + "\n" + os.environ["SECTION"] + "\n" + end
if begin in text and end in text:
    text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w", encoding="utf-8").write(text)
PY
  log "wrote the results section to $docs"
fi
log "done in $elapsed s"
