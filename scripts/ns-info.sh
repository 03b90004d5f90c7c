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
TOKEN=ns_ZGVmYXVsdA_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
LOG=$WORK/server.log
# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"
[[ -x $BIN ]] || { echo "no $BIN: cargo build --release -p messagedb" >&2; exit 1; }
mkdir -p "$WORK"
DATA=$WORK/records-$COUNT.ndjson
if [[ ! -s $DATA ]]; then
  python3 "$ROOT/scripts/gen-import.py" --count "$COUNT" > "$DATA.tmp" && mv "$DATA.tmp" "$DATA"
fi
trap 'bench_cleanup; rm -rf "$WORK"/data.*' EXIT

rpc() {
  curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "$1" "http://127.0.0.1:$PORT/rpc"
}

# time_calls NAME BODY EXPECTED: checks that one call's answer contains EXPECTED, then makes
# CALLS calls one at a time and prints their server time (the request log's `duration_ms`):
# p50 / p99 / max in ms.
time_calls() {
  local answer
  answer=$(rpc "$2")
  [[ $answer == *"$3"* ]] || { echo "$1: expected $3 in the answer: $answer" >&2; exit 1; }
  for _ in $(seq "$CALLS"); do rpc "$2" >/dev/null; done
  sleep 1 # the request log is written by a background thread
  echo "$1: $(grep 'path=/rpc' "$LOG" | tail -n "$CALLS" | sed 's/.*duration_ms=//' |
    python3 -c '
import sys
v = sorted(float(x) for x in sys.stdin)
print(f"p50 {v[len(v) // 2]:.3f} ms, p99 {v[min(len(v) - 1, int(len(v) * 0.99))]:.3f} ms, max {v[-1]:.3f} ms ({len(v)} calls)")')"
}

measure() {
  "$BIN" import --url "http://127.0.0.1:$PORT" --token "$TOKEN" --input "$DATA" >/dev/null
  time_calls "$1 ns.info ($COUNT messages)" '["ns.info","default"]' "\"messageCount\":$COUNT,"
  time_calls "$1 ns.categories" '["ns.categories"]' '"messageCount"'
}

for setup in $SETUPS; do
  case $setup in
    embedded)
      start_server --data-dir "$(mktemp -d "$WORK/data.XXXXXX")"
      measure embedded
      stop_server
      ;;
    postgres)
      pg_start
      pg_sql "CREATE DATABASE bench"
      start_server --db-url "$(pg_url bench)"
      measure postgres
      stop_server
      pg_stop
      ;;
    *) echo "unknown setup $setup (embedded, postgres)" >&2; exit 1 ;;
  esac
done
