#!/usr/bin/env bash
# Issue 14's count target (SPEC §16.3): `ns.info` and `ns.categories` on a namespace holding COUNT
# messages answer from counters, in well under 1 ms of server time, on both backends.
#
# Usage: scripts/ns-info.sh [COUNT] [CALLS]     (defaults: 1000000 messages, 200 calls per method)
# SETUPS="embedded postgres" picks setups (default: both). For each: a fresh release-build server
# (a fresh data directory, or a throwaway PostgreSQL 15 cluster run as the `postgres` user when
# root), `messagedb import` of COUNT generated records (scripts/gen-import.py: 1,000 streams in 10
# categories, cached in $WORK), a check that ns.info reports COUNT messages, then CALLS calls of
# `ns.info` and CALLS of `ns.categories` one at a time. Server time is the request log's
# `duration_ms` of each call (the server's handling, without the client and the loopback), and
# the script prints its p50 / p99 / max per method. Build first: cargo build --release -p messagedb.
set -euo pipefail

COUNT=${1:-1000000}
CALLS=${2:-200}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${MESSAGEDB_BIN:-$ROOT/target/release/messagedb}
WORK=${WORK:-/tmp/messagedb-ns-info}
SETUPS=${SETUPS:-embedded postgres}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ADMIN=ns_ZGVmYXVsdA_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
[[ -x $BIN ]] || { echo "no $BIN: cargo build --release -p messagedb" >&2; exit 1; }
mkdir -p "$WORK"
DATA=$WORK/records-$COUNT.ndjson
if [[ ! -s $DATA ]]; then
  python3 "$ROOT/scripts/gen-import.py" --count "$COUNT" > "$DATA.tmp" && mv "$DATA.tmp" "$DATA"
fi

SERVER=""
PGDIR=""
cleanup() {
  [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  if [[ -n $PGDIR ]]; then
    as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PGDIR"
  fi
  rm -rf "$WORK"/data.*
}
trap cleanup EXIT
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server() {
  PORT=$(free_port)
  "$BIN" serve --listen 127.0.0.1 --port "$PORT" --token "$ADMIN" "$@" 2>"$WORK/server.log" &
  SERVER=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/" && return
    sleep 0.1
  done
  echo "the server did not start; see $WORK/server.log" >&2
  exit 1
}
stop_server() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""; }

rpc() {
  curl -s -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    -d "$1" "http://127.0.0.1:$PORT/rpc"
}

# Server time of the last N /rpc requests in the log: p50 / p99 / max in ms.
server_times() {
  sleep 1 # the request log is written by a background thread
  grep 'path=/rpc' "$WORK/server.log" | tail -n "$1" | sed 's/.*duration_ms=//' |
    python3 -c '
import sys
v = sorted(float(x) for x in sys.stdin)
print(f"p50 {v[len(v) // 2]:.3f} ms, p99 {v[min(len(v) - 1, int(len(v) * 0.99))]:.3f} ms, max {v[-1]:.3f} ms ({len(v)} calls)")'
}

measure() {
  local name=$1
  "$BIN" import --url "http://127.0.0.1:$PORT" --token "$ADMIN" --input "$DATA" >/dev/null
  local info
  info=$(rpc '["ns.info","default"]')
  [[ $info == *"\"messageCount\":$COUNT,"* ]] ||
    { echo "$name: ns.info does not report $COUNT messages: $info" >&2; exit 1; }
  for _ in $(seq "$CALLS"); do rpc '["ns.info","default"]' >/dev/null; done
  echo "$name ns.info ($COUNT messages): $(server_times "$CALLS")"
  local categories
  categories=$(rpc '["ns.categories"]')
  [[ $categories == *'"messageCount"'* ]] ||
    { echo "$name: ns.categories failed: $categories" >&2; exit 1; }
  for _ in $(seq "$CALLS"); do rpc '["ns.categories"]' >/dev/null; done
  echo "$name ns.categories: $(server_times "$CALLS")"
}

for setup in $SETUPS; do
  case $setup in
    embedded)
      start_server --data-dir "$(mktemp -d "$WORK/data.XXXXXX")"
      measure embedded
      stop_server
      ;;
    postgres)
      [[ -x $PGBIN/initdb ]] || { echo "no PostgreSQL binaries in $PGBIN" >&2; exit 1; }
      PGDIR=$(mktemp -d /tmp/messagedb-ns-info-pg.XXXXXX)
      chmod 755 "$PGDIR"
      [[ $(id -u) == 0 ]] && chown postgres "$PGDIR"
      PGPORT=$(free_port)
      as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust >/dev/null
      as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
        -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1" start >/dev/null
      as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "CREATE DATABASE bench" >/dev/null
      start_server --db-url "postgres://postgres@127.0.0.1:$PGPORT/bench"
      measure postgres
      stop_server
      as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null
      rm -rf "$PGDIR"
      PGDIR=""
      ;;
    *) echo "unknown setup $setup (embedded, postgres)" >&2; exit 1 ;;
  esac
done
