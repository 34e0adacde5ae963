#!/usr/bin/env bash
# Benchmark of the default Payouts v1 listing: GET /api/v1/payouts (page 1, 20 per page, newest
# first) under load, on a database holding 20,000 payouts of the calling merchant.
#
#   bench/v1_list.sh [BUILD_DIR]        (default: ./build; use a Release build for real numbers)
#
# Environment: PAYOUTS (20000), DURATION (20s), CONNECTIONS (64), THREADS (2), SEED_CLIENTS (16).
# Installs wrk with apt-get when it is missing. Not part of the test run. Prints the machine,
# the commit, throughput and the p50/p99 latency; docs/benchmarks.md records one run.
set -euo pipefail

build_dir=${1:-build}
payoutd="$build_dir/payoutd"
payouts=${PAYOUTS:-20000}
duration=${DURATION:-20s}
connections=${CONNECTIONS:-64}
threads=${THREADS:-2}
seed_clients=${SEED_CLIENTS:-16}
here=$(cd "$(dirname "$0")" && pwd)

[[ -x "$payoutd" ]] || { echo "no payoutd binary at $payoutd (build it first)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is needed to seed the database" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 2; }
if ! command -v wrk >/dev/null; then
  echo "wrk not found: installing it with apt-get" >&2
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

db="sqlite://$work/bench.db"
key="$work/master.key"
cli() { "$payoutd" "$@" --db "$db" --master-key-file "$key" --log-level warn; }

merchant_json=$(cli merchant create --json --name "bench merchant")
merchant_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["merchant_id"])' <<<"$merchant_json")
username=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["api"]["username"])' <<<"$merchant_json")
password=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["api"]["password"])' <<<"$merchant_json")
cli wallet fund --merchant "$merchant_id" --currency USD --amount 10000000.00 >/dev/null

"$payoutd" serve --listen 127.0.0.1:0 --db "$db" --master-key-file "$key" --no-engine \
  --log-level warn --log-format json >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/^payoutd listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/server.out")
  [[ -n "$port" ]] && break
  sleep 0.1
done
[[ -n "$port" ]] || { echo "server did not start:" >&2; cat "$work/server.err" >&2; exit 1; }
base="http://127.0.0.1:$port"

token=$(curl -sf -X POST "$base/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\":\"$username\",\"password\":\"$password\"}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
wallet_id=$(curl -sf "$base/api/v1/wallets?currency=USD" -H "Authorization: Bearer $token" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')

echo "seeding $payouts payouts through POST /api/v1/payouts ($seed_clients keep-alive clients)..." >&2
seed_start=$(date +%s.%N)
python3 - "$port" "$token" "$wallet_id" "$payouts" "$seed_clients" <<'PY'
import http.client, json, sys, threading
port, token, wallet, total, clients = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
errors = []
def run(offset):
    connection = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
    for i in range(offset, total, clients):
        cents = 1 + (i * 7919) % 99999
        body = json.dumps({"reference_id": f"BENCH-{i}", "wallet_id": wallet,
                           "amount": f"{cents // 100}.{cents % 100:02d}", "currency": "USD",
                           "beneficiary": {"email": f"user{i % 977}@example.com", "first_name": "John",
                                           "last_name": "Doe", "country": "US"},
                           "description": "Bonus Payment"})
        connection.request("POST", "/api/v1/payouts", body,
                           {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        if response.status != 201:
            errors.append(response.status)
threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
for thread in threads: thread.start()
for thread in threads: thread.join()
if errors:
    sys.exit(f"{len(errors)} creates failed, e.g. HTTP {errors[0]}")
PY
seed_end=$(date +%s.%N)
count=$(curl -sf -D - -o /dev/null "$base/api/v1/payouts?limit=1" -H "Authorization: Bearer $token" |
  tr -d '\r' | sed -n 's/^[Xx]-[Tt]otal-[Cc]ount: //p')
[[ "$count" == "$payouts" ]] || { echo "expected $payouts payouts, the API lists $count" >&2; exit 1; }
echo "seeded in $(python3 -c "print(round($seed_end - $seed_start, 1))") s" >&2

cat >"$work/list.lua" <<EOF
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer $token"
EOF

echo "== machine =="
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "commit:  $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$here/.." diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
echo "nproc:   $(nproc)"
echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "ram:     $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
echo "build:   $(grep -m1 CMAKE_BUILD_TYPE "$build_dir/CMakeCache.txt" 2>/dev/null | cut -d= -f2 || echo unknown)"
echo "payouts: $payouts of one merchant (plus nothing else)"
echo "== wrk -t$threads -c$connections -d$duration --latency GET /api/v1/payouts =="
wrk -t"$threads" -c"$connections" -d"$duration" --latency -s "$work/list.lua" \
  "$base/api/v1/payouts" | tee "$work/wrk.txt"
echo "== summary =="
awk '/Requests\/sec/ {print "throughput: " $2 " requests/s"}
     /^ +50%/ {print "p50: " $2}
     /^ +99%/ {print "p99: " $2}
     /Non-2xx/ {print "non-2xx responses: " $4}' "$work/wrk.txt"
