#!/usr/bin/env bash
# README command 2: installs what is missing, lints the OpenAPI documents (docs/openapi/), builds
# with -Werror, runs the OpenAPI contract test (scripts/contract-test.sh: both dialects through
# Prism's validating proxies) and every test; then builds with AddressSanitizer +
# UndefinedBehaviorSanitizer and runs the tests again under them.
# The integration tests run once per store backend: SQLite files in temp directories, and a
# throwaway PostgreSQL cluster (scripts/pg-cluster.sh) started here, shared by both runs and removed
# on every exit path.
# It ends with a table per build (scripts/test-report.py): each CTest test's wall time and
# GoogleTest counts, a check that every test ran exactly once per build and backend, and the wall
# time of each phase. A failing test run does not stop the other build's; the exit status is
# non-zero when anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# One CTest test per core. Two per core was tried (docs/benchmarks.md, "Test suite"): release
# tests 307 s -> 267 s, the sanitizer run unchanged (CPU-bound), and on a loaded machine the
# three-node PostgreSQL test then waited past its 5 s writer-lock timeout (503s).
jobs="$(nproc 2>/dev/null || echo 2)"

phases="$(mktemp "${TMPDIR:-/tmp}/payoutd-phases.XXXXXX")"
script_start=$SECONDS
phase_start=$SECONDS
# Records the wall time of the phase that just ended.
phase_done() { echo -e "$1\t$((SECONDS - phase_start))" >>"$phases"; phase_start=$SECONDS; }
pg_dir=""
finish() {
  local status=$?
  if [[ -n "$pg_dir" ]]; then scripts/pg-cluster.sh stop "$pg_dir" || true; fi
  echo -e "total\t$((SECONDS - script_start))" >>"$phases"
  local builds=()
  if [[ -f build/test-results/manifest.tsv ]]; then builds+=("release=build"); fi
  if [[ -f build-asan/test-results/manifest.tsv ]]; then builds+=("asan=build-asan"); fi
  if [[ ${#builds[@]} -gt 0 ]]; then
    if ! python3 scripts/test-report.py --phases "$phases" "${builds[@]}"; then
      if [[ $status -eq 0 ]]; then status=1; fi
    fi
  fi
  rm -f "$phases"
  exit "$status"
}
trap finish EXIT
# A signal ends the script through exit, so the EXIT trap stops the cluster.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs ctest in build dir $1 with default timeout $2; GoogleTest's JSON and ctest's JUnit file go
# to $1/test-results (stale ones removed first).
run_ctest() {
  rm -f "$1"/test-results/*.json "$1"/test-results/ctest-junit.xml
  (cd "$1" && ctest --output-on-failure -j "$jobs" --timeout "$2" \
     --output-junit "$PWD/test-results/ctest-junit.xml")
}
failed=0

echo "== OpenAPI documents (Redocly lint, seed subset) =="
# Installs the pinned Node tools from package-lock.json (npm ci) when they are missing or stale.
bash scripts/lint-openapi.sh || failed=1
phase_done "openapi lint"

echo "== release build (-Werror) =="
# Drop results of an earlier run, so that a build that fails now shows no stale table.
rm -f build/test-results/manifest.tsv build-asan/test-results/manifest.tsv
scripts/build.sh build -DPAYOUTD_WERROR=ON
phase_done "release build"
echo "== OpenAPI contract test (Prism validating proxies) =="
bash scripts/contract-test.sh build || failed=1
phase_done "contract test"
echo "== PostgreSQL test cluster =="
pg_dir="$(mktemp -d "${TMPDIR:-/tmp}/payoutd-pg.XXXXXX")"
PAYOUTD_TEST_POSTGRES_URL="$(scripts/pg-cluster.sh start "$pg_dir")"
export PAYOUTD_TEST_POSTGRES_URL
echo "PostgreSQL at $PAYOUTD_TEST_POSTGRES_URL (data in $pg_dir)"
echo "== tests (release) =="
run_ctest build 900 || failed=1
phase_done "release tests"

echo "== sanitizer build (ASan+UBSan, -Werror) =="
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DPAYOUTD_WERROR=ON -DPAYOUTD_SANITIZE=ON \
  -DPAYOUTD_BUILD_BENCH=OFF
phase_done "asan build"
echo "== tests (ASan+UBSan) =="
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# The release run above simulates the issue's 100,000 payouts per seed; under the sanitizers (an
# unoptimised build, several times slower) each seed simulates 20,000, which exercises every path
# for memory errors.
export PAYOUTD_SIM_PAYOUTS=20000
# Likewise the multi-node test (test/integration/multinode_test.cc): a fifth of its 10,000 payouts,
# on both backends.
export PAYOUTD_MULTINODE_PAYOUTS=2000
run_ctest build-asan 1800 || failed=1
phase_done "asan tests"
exit "$failed"
