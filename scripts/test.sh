#!/usr/bin/env bash
# README command 2: installs what is missing, builds with -Werror, runs every test; then builds
# with AddressSanitizer + UndefinedBehaviorSanitizer and runs the tests again under them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs="$(nproc 2>/dev/null || echo 2)"

echo "== release build (-Werror) =="
scripts/build.sh build -DPAYOUTD_WERROR=ON
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
(cd build-asan && ctest --output-on-failure -j "$jobs" --timeout 1800)
