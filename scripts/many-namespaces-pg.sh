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
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
OUT=${OUT:-/tmp/messagedb-many-namespaces-pg}; mkdir -p "$OUT"
[[ -x $BIN ]] || { echo "no $BIN: cargo build --release -p messagedb" >&2; exit 1; }
[[ -x $PGBIN/initdb ]] || { echo "no PostgreSQL binaries in $PGBIN" >&2; exit 1; }
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

SERVER=""
PGDIR=$(mktemp -d /tmp/messagedb-mns-pg.XXXXXX)
cleanup() {
  [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PGDIR"
}
trap cleanup EXIT
chmod 755 "$PGDIR"
[[ $(id -u) == 0 ]] && chown postgres "$PGDIR"
PGPORT=$(free_port)
as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
  -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1" start >/dev/null
as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "CREATE DATABASE bench" >/dev/null

token=ns_ZGVmYXVsdA_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
port=$(free_port)
bash -c "ulimit -Sn 1024; exec $BIN serve --listen 127.0.0.1 --port $port --token $token \
  --db-url postgres://postgres@127.0.0.1:$PGPORT/bench" 2>"$OUT/server.log" &
SERVER=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
# The server's RSS every 10 s (whether it levels off or keeps growing).
( while kill -0 "$SERVER" 2>/dev/null; do
    awk '/^VmRSS:/ { printf "%d ", $2 / 1024 }' "/proc/$SERVER/status" 2>/dev/null; sleep 10
  done ) >"$OUT/rss.txt" &
sampler=$!
"$BIN" bench --url "http://127.0.0.1:$port" --token "$token" --workload many-namespaces \
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
