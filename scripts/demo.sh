#!/usr/bin/env bash
# README command 1: installs what is missing, builds, and runs `payoutd demo` on the embedded
# SQLite default (./var/payoutd.db) with a demo merchant. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build -DPAYOUTD_BUILD_TESTS=OFF -DPAYOUTD_BUILD_BENCH=OFF
exec build/payoutd demo "$@"
