#!/usr/bin/env bash
# Issue 14's many-namespace benchmark on PostgreSQL (PROFILING.md, "Many namespaces on
# PostgreSQL"): a throwaway PostgreSQL 15 cluster (run as the `postgres` user when root), a
# release-build server under `ulimit -Sn 1024`, `bench --workload many-namespaces --keep-namespaces`
# (deleting 10,000 schemas takes minutes and measures nothing here; the cluster is dropped
# instead). Prints the report's figures and the private dirty memory of the PostgreSQL backends
# serving the server's pool at the end (`/proc/<pid>/smaps_rollup`, summed over the `postgres
# ... bench` processes): SPEC §16.3 asks that it stays bounded whatever the namespace count.
#
# Usage: scripts/many-namespaces-pg.sh NAMESPACES DURATION [BINARY]
#   e.g. scripts/many-namespaces-pg.sh 10000 60s
set -euo pipefail
N=$1; DUR=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${3:-$ROOT/target/release/messagedb}
OUT=${OUT:-/tmp/messagedb-many-namespaces-pg}; mkdir -p "$OUT"
# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"
[[ -x $BIN ]] || { echo "no $BIN: cargo build --release -p messagedb" >&2; exit 1; }
trap bench_cleanup EXIT
pg_start
pg_sql "CREATE DATABASE bench"

TOKEN=ns_ZGVmYXVsdA_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
LOG=$OUT/server.log
PORT=$(free_port)
bash -c "ulimit -Sn 1024; exec $BIN serve --listen 127.0.0.1 --port $PORT --token $TOKEN \
  --db-url $(pg_url bench)" 2>"$LOG" &
SERVER=$!
wait_for_server
# The server's RSS every 10 s (whether it levels off or keeps growing).
( while kill -0 "$SERVER" 2>/dev/null; do
    awk '/^VmRSS:/ { printf "%d ", $2 / 1024 }' "/proc/$SERVER/status" 2>/dev/null; sleep 10
  done ) >"$OUT/rss.txt" &
sampler=$!
"$BIN" bench --url "http://127.0.0.1:$PORT" --token "$TOKEN" --workload many-namespaces \
  --namespaces "$N" --duration "$DUR" --server-pid "$SERVER" --keep-namespaces \
  --output "$OUT/report.json" >"$OUT/report.txt" 2>&1
kill "$sampler" 2>/dev/null || true
echo "server RSS every 10 s from the start, MiB: $(cat "$OUT/rss.txt")"
grep -E '^(throughput|latency|cpu per op|namespaces|first request|server peak)' "$OUT/report.txt"
# The backends of the server's pool: their command line names the database.
total=0; count=0; largest=0
for pid in $(pgrep -f 'postgres: postgres bench' || true); do
  kib=$(awk '/^Private_Dirty:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
  total=$((total + kib)); count=$((count + 1)); ((kib > largest)) && largest=$kib
done
echo "postgres backends serving the pool: $count, private dirty $((total / 1024)) MiB in all, largest $((largest / 1024)) MiB"
