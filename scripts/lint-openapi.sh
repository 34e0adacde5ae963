#!/usr/bin/env bash
# Lints payoutd's OpenAPI documents (docs/openapi/*.yaml) with Redocly CLI's recommended rules
# (redocly.yaml at the repository root), then checks that the seeds' cancel operations
# (shared/seeds/000_* and 001_*) are contained in docs/openapi/cashouts-v3.yaml
# (docs/openapi/check-seed-subset.mjs). Exits non-zero when either finds an error; warnings do not
# fail.
#
# The Node tools are pinned in package.json / package-lock.json and installed with `npm ci` when
# node_modules is absent or was installed from another lock file. Needs node (>= 20.19 on 20.x,
# or >= 22.12) and npm on PATH.
#
# Environment: PAYOUTD_SHARED_DIR — the shared/ directory holding seeds/ (default: ../shared next
# to the repository root).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "lint-openapi: $tool is not installed (Debian: apt-get install nodejs npm)" >&2
    exit 2
  fi
done
if ! node -e '
  const [major, minor] = process.versions.node.split(".").map(Number);
  process.exit((major === 20 && minor >= 19) || (major === 22 && minor >= 12) || major > 22 ? 0 : 1);
'; then
  echo "lint-openapi: node $(node --version) is too old for @redocly/cli (needs >= 20.19 on 20.x, or >= 22.12)" >&2
  exit 2
fi

# Install when node_modules is missing or stale: the stamp records the hash of the package files
# it was installed from.
stamp=node_modules/.payoutd-install.sha256
wanted="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [[ ! -x node_modules/.bin/redocly || ! -f node_modules/js-yaml/package.json ||
      ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
  echo "lint-openapi: installing the pinned tools (npm ci)"
  if ! npm ci --no-audit --no-fund --loglevel=error; then
    echo "lint-openapi: npm ci failed" >&2
    exit 2
  fi
  echo "$wanted" >"$stamp"
fi

export REDOCLY_TELEMETRY=off
export REDOCLY_SUPPRESS_UPDATE_NOTICE=true

status=0
documents=(docs/openapi/cashouts-v3.yaml docs/openapi/payouts-v1.yaml docs/openapi/operations.yaml)
echo "lint-openapi: redocly lint ${documents[*]}"
if ! node_modules/.bin/redocly lint --config redocly.yaml --format=stylish "${documents[@]}"; then
  echo "lint-openapi: redocly lint found errors" >&2
  status=1
fi

echo "lint-openapi: seed subset check"
if ! node docs/openapi/check-seed-subset.mjs; then
  echo "lint-openapi: the seeds' cancel operations are not contained in docs/openapi/cashouts-v3.yaml" >&2
  status=1
fi

if [[ $status -eq 0 ]]; then
  echo "lint-openapi: ok"
fi
exit "$status"
