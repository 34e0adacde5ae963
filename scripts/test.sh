#!/usr/bin/env bash
# README command 2: installs what is missing, builds with -Werror, runs every test; then builds
# with AddressSanitizer + UndefinedBehaviorSanitizer and runs the tests again under them.
# The integration tests run once per store backend: SQLite files in temp directories, and a
# throwaway PostgreSQL cluster (scripts/pg-cluster.sh) started here, shared by both runs and removed
# on every exit path.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs="$(nproc 2>/dev/null || echo 2)"

echo "== release build (-Werror) =="
scripts/build.sh build -DPAYOUTD_WERROR=ON
echo "== PostgreSQL test cluster =="
pg_dir="$(mktemp -d "${TMPDIR:-/tmp}/payoutd-pg.XXXXXX")"
stop_cluster() { scripts/pg-cluster.sh stop "$pg_dir" || true; }
trap stop_cluster EXIT
# A signal ends the script through exit, so the EXIT trap stops the cluster.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
PAYOUTD_TEST_POSTGRES_URL="$(scripts/pg-cluster.sh start "$pg_dir")"
export PAYOUTD_TEST_POSTGRES_URL
echo "PostgreSQL at $PAYOUTD_TEST_POSTGRES_URL (data in $pg_dir)"
echo "== tests (release) =="
(cd build && ctest --output-on-failure -j "$jobs" --timeout 900)

echo "== sanitizer build (ASan+UBSan, -Werror) =="
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DPAYOUTD_WERROR=ON -DPAYOUTD_SANITIZE=ON \
  -DPAYOUTD_BUILD_BENCH=OFF
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
(cd build-asan && ctest --output-on-failure -j "$jobs" --timeout 1800)
