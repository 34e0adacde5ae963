#!/usr/bin/env bash
# Installs every Debian package payoutd needs to build, test and benchmark. Idempotent: packages
# already installed are skipped, and apt-get runs only when something is missing.
# Usage: scripts/install-deps.sh [--bench]   (--bench adds the load-test tools)
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config ccache
  libboost1.81-dev libssl-dev libsqlite3-dev sqlite3 libsimdjson-dev
  libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev libcurl4-openssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  curl openssl python3 nodejs
  # The build compiles docs/openapi/*.yaml into the binary (scripts/openapi-embed.py: PyYAML).
  python3-yaml
  # The PostgreSQL backend: libpq to build against; a server for the tests' throwaway clusters
  # (scripts/pg-cluster.sh) and for pgbench (on Debian 12 pgbench ships in postgresql-15, which
  # `postgresql` pulls in; /usr/bin/pgbench is postgresql-client-common's wrapper); psql.
  postgresql postgresql-client libpq-dev
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(wrk nginx)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
# Removes the package $1 from `missing` (whole names only).
drop_missing() {
  local kept=() package
  for package in "${missing[@]}"; do [[ "$package" == "$1" ]] || kept+=("$package"); done
  missing=("${kept[@]}")
}
# node, python3 and psql may come from outside Debian's packages on some machines (the tests need
# only a working command); a working command is enough.
for pair in nodejs:node python3:python3 postgresql-client:psql; do
  package=${pair%%:*}
  command_name=${pair##*:}
  if [[ " ${missing[*]} " == *" $package "* ]] && command -v "$command_name" >/dev/null 2>&1; then
    drop_missing "$package"
  fi
done
# The same for the server: any installed version's initdb, pg_ctl and pgbench are enough (the
# `postgresql` package is only Debian's pointer to its supported version).
if [[ " ${missing[*]} " == *" postgresql "* ]]; then
  for bindir in /usr/lib/postgresql/*/bin; do
    if [[ -x "$bindir/initdb" && -x "$bindir/pg_ctl" && -x "$bindir/pgbench" ]]; then
      drop_missing postgresql
      break
    fi
  done
fi
trimmed=()
for package in "${missing[@]}"; do [[ -n "$package" ]] && trimmed+=("$package"); done

if [[ ${#trimmed[@]} -eq 0 ]]; then
  echo "install-deps: all packages present"
  exit 0
fi

sudo_cmd=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else
    echo "install-deps: need root (or sudo) to install: ${trimmed[*]}" >&2
    exit 1
  fi
fi
echo "install-deps: installing ${trimmed[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${trimmed[@]}"
