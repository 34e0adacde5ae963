#!/usr/bin/env bash
# The OpenAPI contract test (issue 18): payoutd's answers, seen through Stoplight Prism validating
# proxies (`prism proxy --errors`) of docs/openapi/*.yaml, must match the documents.
#
# Usage: scripts/contract-test.sh <build-dir>      (uses <build-dir>/payoutd, already built)
#
# Hermetic: a temporary directory holds the SQLite database, the master key, the config and the
# logs; payoutd listens on a free port (--listen 127.0.0.1:0), the proxies on free ports; every
# child process is killed on every exit path. The driver is test/contract/driver.mjs (see
# "Contract test" in docs/openapi/README.md). Exit 0 when everything holds.
#
# Environment: PAYOUTD_SHARED_DIR — the shared/ directory holding seeds/ (default: ../shared next
# to the repository root). CONTRACT_BREAK_MISMATCH_CHECK=1 disables the deliberate mismatch (to
# see the self-check fail). CONTRACT_KEEP_TMP=1 keeps the temporary directory.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 <build-dir>" >&2
  exit 2
fi
build_dir="$(cd "$1" && pwd)"
bin="$build_dir/payoutd"
cd "$(dirname "$0")/.."
repo="$(pwd)"
if [[ ! -x "$bin" ]]; then
  echo "contract-test: $bin is not an executable (build it first)" >&2
  exit 2
fi
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "contract-test: $tool is not installed (Debian: apt-get install nodejs npm)" >&2
    exit 2
  fi
done

# The pinned tools, installed the way scripts/lint-openapi.sh does it (same stamp).
stamp=node_modules/.payoutd-install.sha256
wanted="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [[ ! -x node_modules/.bin/prism || ! -f node_modules/js-yaml/package.json ||
      ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
  echo "contract-test: installing the pinned tools (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$wanted" >"$stamp"
fi

# Runs "$@" until it succeeds or $1 seconds passed (then fails): the script's one poll loop; it
# waits for a condition with a deadline, never for time to pass.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}
gone() { ! kill -0 "$1" 2>/dev/null; }

started=$SECONDS
tmp="$(mktemp -d "${TMPDIR:-/tmp}/payoutd-contract.XXXXXX")"
pids=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM HUP
  # Prism proxies started by the driver (it kills them itself; this covers a driver killed hard).
  if [[ -f "$tmp/pids" ]]; then
    while read -r pid; do
      [[ -n "$pid" ]] && kill -KILL -- "-$pid" 2>/dev/null || true
    done <"$tmp/pids"
  fi
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  # Bounded wait for a clean stop, then force.
  for pid in "${pids[@]}"; do
    wait_until 5 gone "$pid" || true
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ "${CONTRACT_KEEP_TMP:-0}" == 1 || $status -ne 0 ]]; then
    echo "contract-test: logs kept in $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

db="sqlite:///$tmp/p.db"
mk="$tmp/mk.key"
callback_secret="contract-test-callback-secret"
printf 'sandbox_callback_secret = "%s"\n' "$callback_secret" >"$tmp/payoutd.toml"
common=(--db "$db" --master-key-file "$mk")

# Merchants: 1 takes the traffic (both dialects), 2 is disabled later (403s).
m1="$("$bin" merchant create "${common[@]}" --json --name "Contract One" \
  --notification-url https://example.com/v3-notify \
  --v3-login ct_login --v3-pass ct_pass --v3-secret-key ct_secret_key)"
m2="$("$bin" merchant create "${common[@]}" --json --name "Contract Two")"
json_get() { node -e 'const o=JSON.parse(process.argv[1]);console.log(process.argv[2].split(".").reduce((a,k)=>a[k],o))' "$1" "$2"; }
"$bin" wallet fund "${common[@]}" --merchant 1 --currency BRL --amount 100000.00 >/dev/null
"$bin" wallet fund "${common[@]}" --merchant 1 --currency USD --amount 5000.00 >/dev/null
"$bin" wallet fund "${common[@]}" --merchant 2 --currency BRL --amount 100.00 >/dev/null

# payoutd, three times on the same database: the main server, one with a 1-token v3 bucket for
# the 429s, one with a short handler timeout. --no-engine: payouts stay where the API and the operator commands put them.
start_payoutd() { # name, extra args...
  local name=$1
  shift
  "$bin" serve "${common[@]}" --config "$tmp/payoutd.toml" --listen 127.0.0.1:0 --no-engine \
    --log-format json --log-level warn "$@" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
}
port_in_log() { # name -> the port payoutd reported, or "" (then fails)
  local port
  port="$(sed -n 's/^payoutd listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$tmp/$1.log" | head -n1)"
  [[ -n "$port" ]] && echo "$port"
}
wait_listening() { # name -> prints the port
  local name=$1
  if wait_until 20 port_in_log "$name" >/dev/null; then port_in_log "$name"; return 0; fi
  echo "contract-test: payoutd ($name) did not report its port within 20 s:" >&2
  cat "$tmp/$name.log" >&2
  return 1
}
start_payoutd payoutd
start_payoutd payoutd-rl --v3-rate-limit-per-second 1 --v3-rate-limit-burst 1
# And a fourth with a 1 s handler timeout, shorter than the 5 s busy timeout: under the locked
# database its writes answer the handler timeout's 503 before the storage failure.
start_payoutd payoutd-slow --handler-timeout-ms 1000

# A third payoutd with the engine and the sandbox rail, on a database of its own (its engine
# would otherwise move the payouts the traffic above puts in place): the answers only a running
# engine gives (v1 cancel of a processing payout: 202; the rail's callback: 204).
edb="sqlite:///$tmp/e.db"
ecommon=(--db "$edb" --master-key-file "$mk")
printf 'sandbox_callback_secret = "%s"\nengine_poll_interval_ms = 20\n' "$callback_secret" \
  >"$tmp/engine.toml"
me="$("$bin" merchant create "${ecommon[@]}" --json --name "Contract Engine")"
"$bin" wallet fund "${ecommon[@]}" --merchant 1 --currency USD --amount 1000.00 >/dev/null
# At debug level it logs its route table, which the driver checks against the documents.
"$bin" serve "${ecommon[@]}" --config "$tmp/engine.toml" --listen 127.0.0.1:0 \
  --log-format json --log-level debug >"$tmp/payoutd-engine.log" 2>&1 &
pids+=($!)

port="$(wait_listening payoutd)"
port_rl="$(wait_listening payoutd-rl)"
port_slow="$(wait_listening payoutd-slow)"
port_engine="$(wait_listening payoutd-engine)"
echo "contract-test: payoutd on 127.0.0.1:$port (and 127.0.0.1:$port_rl with a v3 limit of 1/s;" \
  "127.0.0.1:$port_engine with the engine)"

export PAYOUTD_BIN="$bin" PAYOUTD_DB="$db" PAYOUTD_MASTER_KEY_FILE="$mk"
export PAYOUTD_URL="http://127.0.0.1:$port" PAYOUTD_RL_URL="http://127.0.0.1:$port_rl"
export PAYOUTD_SLOW_URL="http://127.0.0.1:$port_slow"
export PAYOUTD_ENGINE_URL="http://127.0.0.1:$port_engine"
V1_ENGINE_USERNAME="$(json_get "$me" api.username)"
V1_ENGINE_PASSWORD="$(json_get "$me" api.password)"
export V1_ENGINE_USERNAME V1_ENGINE_PASSWORD
export PAYOUTD_SHARED_DIR="${PAYOUTD_SHARED_DIR:-$(cd "$repo/.." && pwd)/shared}"
export CONTRACT_TMP="$tmp" CONTRACT_PID_FILE="$tmp/pids"
export V3_LOGIN=ct_login V3_PASS=ct_pass V3_SECRET=ct_secret_key
V1_USERNAME="$(json_get "$m1" api.username)"
V1_PASSWORD="$(json_get "$m1" api.password)"
V1_DISABLED_USERNAME="$(json_get "$m2" api.username)"
V1_DISABLED_PASSWORD="$(json_get "$m2" api.password)"
export V1_USERNAME V1_PASSWORD V1_DISABLED_USERNAME V1_DISABLED_PASSWORD
export SANDBOX_CALLBACK_SECRET="$callback_secret"

# In the background and waited for, so that a signal to this script runs the trap at once.
node test/contract/driver.mjs &
pids+=($!)
wait "$!"
echo "contract-test: passed in $((SECONDS - started)) s"
