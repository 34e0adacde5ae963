#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: initdb in <dir>, a server on a free TCP port of
# 127.0.0.1 (unix socket in <dir>), trust authentication for the superuser `postgres`; commits
# acknowledged once written (synchronous_commit), not flushed to disk (fsync off: the tests kill
# payoutd servers, never PostgreSQL or the machine).
#
# Usage: scripts/pg-cluster.sh start <dir>
#          once the server accepts connections, prints its admin URL
#          postgresql://postgres@127.0.0.1:<port>/postgres (also written to <dir>/url)
#        scripts/pg-cluster.sh stop <dir>
#          stops the server (fast shutdown) and removes <dir>; idempotent
#
# <dir> should be a fresh temporary directory (mktemp -d); it is created when missing. Run as root,
# the server runs as the unprivileged `postgres` user (PostgreSQL refuses to run as root) and <dir>
# is handed to it; run as anyone else, the server runs as that user. The binaries come from
# $PAYOUTD_PG_BINDIR when set, else the newest /usr/lib/postgresql/<version>/bin (Debian), else
# the PATH. Diagnostics go to stderr; the server's log is <dir>/server.log.
set -euo pipefail

readonly kMarker=".payoutd-pg-cluster"  # marks a directory this script may remove
readonly kMaxConnections=300  # each payoutd: a writer + a read pool of ~8; several servers at once
readonly kStartAttempts=10
readonly kReadySeconds=60

die() {
  echo "pg-cluster: $*" >&2
  exit 1
}

usage() {
  echo "usage: $0 start|stop <dir>" >&2
  exit 2
}

# The directory holding initdb, pg_ctl, postgres and pg_isready.
find_bindir() {
  if [[ -n "${PAYOUTD_PG_BINDIR:-}" ]]; then
    [[ -x "$PAYOUTD_PG_BINDIR/initdb" ]] || die "no initdb in PAYOUTD_PG_BINDIR=$PAYOUTD_PG_BINDIR"
    echo "$PAYOUTD_PG_BINDIR"
    return
  fi
  local newest=""
  newest="$(for candidate in /usr/lib/postgresql/*/bin; do
              if [[ -x "$candidate/initdb" && -x "$candidate/pg_ctl" ]]; then echo "$candidate"; fi
            done | sort -V | tail -n 1)"
  if [[ -n "$newest" ]]; then
    echo "$newest"
    return
  fi
  local initdb_path
  initdb_path="$(command -v initdb 2>/dev/null)" || die "PostgreSQL server binaries not found" \
    "(install the Debian package postgresql: scripts/install-deps.sh)"
  dirname "$initdb_path"
}

# The user the server runs as: ourselves, or `postgres` (else `nobody`) when we are root.
server_user() {
  if [[ "$(id -u)" -ne 0 ]]; then
    id -un
  elif id -u postgres >/dev/null 2>&1; then
    echo postgres
  else
    echo nobody
  fi
}

# Runs "$@" as the server's user, in <dir> (a root-only working directory would make PostgreSQL's
# tools complain).
as_server_user() {
  local user="$1"
  shift
  if [[ "$(id -u)" -ne 0 ]]; then
    (cd "$dir" && "$@")
  elif command -v runuser >/dev/null 2>&1; then
    (cd "$dir" && runuser -u "$user" -- "$@")
  else
    (cd "$dir" && setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- "$@")
  fi
}

# A TCP port of 127.0.0.1 that nothing listens on right now (below Linux's ephemeral range, so
# outgoing connections do not take it meanwhile). The server's own bind decides; start retries.
pick_port() {
  local port
  for _ in $(seq 1 50); do
    port=$(( 20000 + RANDOM % 12000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  die "no free TCP port found on 127.0.0.1"
}

start() {
  if [[ -e "$dir/data/PG_VERSION" ]]; then die "$dir already holds a cluster (stop it first)"; fi
  mkdir -p "$dir"
  if [[ -n "$(ls -A "$dir")" && ! -e "$dir/$kMarker" ]]; then
    die "$dir is not empty; give a fresh directory (mktemp -d)"
  fi
  touch "$dir/$kMarker"
  local bindir user
  bindir="$(find_bindir)"
  user="$(server_user)"
  if [[ "$(id -u)" -eq 0 ]]; then
    chown -R "$user": "$dir"
    chmod 0700 "$dir"
    if ! as_server_user "$user" test -w "$dir"; then
      die "$user cannot reach $dir (a parent directory is closed to it); use a directory under /tmp"
    fi
  fi

  # Trust authentication: the server listens on 127.0.0.1 only and its socket is in <dir>.
  # Locale C: text sorts by bytes, as in SQLite (the tests compare ordered output).
  if ! as_server_user "$user" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust \
      --encoding=UTF8 --locale=C --no-instructions >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    die "initdb failed"
  fi
  # The tests connect over TCP; the socket is for a developer's psql. A socket path must stay
  # below 108 bytes: none when <dir> is too long for one.
  local socket_dir="$dir"
  if (( ${#dir} > 90 )); then socket_dir=""; fi
  cat >>"$dir/data/postgresql.conf" <<EOF

# ---- scripts/pg-cluster.sh: a throwaway test cluster ----
listen_addresses = '127.0.0.1'
unix_socket_directories = '$socket_dir'
max_connections = $kMaxConnections
shared_buffers = 64MB
# The tests kill -9 payoutd servers, never this PostgreSQL server nor the machine: a commit is
# durable against what they do once PostgreSQL has it, so the cluster does not pay for the disk
# flushes that only a crash of PostgreSQL or of the operating system would need (docs/benchmarks.md,
# "Test suite"). synchronous_commit stays on: a commit is acknowledged once its WAL is written.
fsync = off
synchronous_commit = on
full_page_writes = off
log_min_messages = warning
log_line_prefix = '%m [%p] %d '
EOF

  local port attempt
  for attempt in $(seq 1 "$kStartAttempts"); do
    port="$(pick_port)"
    : >"$dir/server.log"
    if [[ "$(id -u)" -eq 0 ]]; then chown "$user": "$dir/server.log"; fi
    if as_server_user "$user" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
        -o "-p $port" -w -t "$kReadySeconds" start >"$dir/pg_ctl.log" 2>&1; then
      break
    fi
    # Taken meanwhile by someone else: another port. Anything else is a real failure.
    if grep -q -i "could not bind\|address already in use\|could not create any TCP/IP sockets" \
        "$dir/server.log" && (( attempt < kStartAttempts )); then
      as_server_user "$user" "$bindir/pg_ctl" -D "$dir/data" stop -m immediate >/dev/null 2>&1 ||
        true
      continue
    fi
    cat "$dir/pg_ctl.log" "$dir/server.log" >&2
    die "the server did not start (port $port)"
  done

  # pg_ctl -w waited for the postmaster; the port must also answer (bounded).
  local deadline=$(( SECONDS + kReadySeconds ))
  until "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -t 5; do
    if (( SECONDS >= deadline )); then
      cat "$dir/server.log" >&2
      as_server_user "$user" "$bindir/pg_ctl" -D "$dir/data" stop -m immediate >/dev/null 2>&1 ||
        true
      die "the server on port $port does not accept connections"
    fi
    sleep 0.2
  done
  local url="postgresql://postgres@127.0.0.1:$port/postgres"
  echo "$url" >"$dir/url"
  echo "$url"
}

stop() {
  [[ -d "$dir" ]] || return 0
  if [[ -n "$(ls -A "$dir")" && ! -e "$dir/$kMarker" ]]; then
    die "$dir was not made by this script; not removing it"
  fi
  if [[ -e "$dir/data/postmaster.pid" ]]; then
    local bindir user
    bindir="$(find_bindir)"
    user="$(stat -c %U "$dir/data")"
    if as_server_user "$user" "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 &&
        ! as_server_user "$user" "$bindir/pg_ctl" -D "$dir/data" stop -m fast -w -t 60 \
        >/dev/null 2>&1; then
      as_server_user "$user" "$bindir/pg_ctl" -D "$dir/data" stop -m immediate -w -t 30 \
        >/dev/null 2>&1 || echo "pg-cluster: the server in $dir did not stop" >&2
    fi
  fi
  rm -rf -- "$dir"
}

[[ $# -eq 2 ]] || usage
[[ -n "$2" && "$2" != "/" ]] || usage
dir="$(realpath -m -- "$2")"
case "$1" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
