#!/usr/bin/env bash
# Configures and builds one build tree.
# Usage: scripts/build.sh <build-dir> [extra cmake args...]
# ccache (when installed) is configured by CMakeLists.txt's compiler launcher (base_dir = this
# tree, so clones at other paths share the cache); CCACHE_DISABLE=1 turns it off.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-build}"
shift || true
jobs="$(nproc 2>/dev/null || echo 2)"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$build_dir" -j "$jobs"
