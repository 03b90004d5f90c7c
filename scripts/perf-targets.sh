#!/usr/bin/env bash
# Measure issue 7's throughput targets (PROFILING.md, "Current figures") in one go, with the load
# generator on the same machine: reference-mix with 10 workers in test mode, on the embedded
# durable backend and on a local PostgreSQL 15 with default settings, and write-only over 100
# streams on the embedded backend. Every setup gets a fresh server (and a fresh data directory or
# database); every bench passes --server-pid, so the reports carry CPU time per operation. The
# PostgreSQL cluster is new too, but warmed up first (see below).
#
# Usage: scripts/perf-targets.sh [RUNS] [DURATION]     (defaults: 3 runs of 20s, as the issue asks)
# SETUPS="embedded postgres" picks setups (default: test-mode embedded write-only postgres).
# PG_OPTIONS adds PostgreSQL server options, for bound experiments only (e.g. "-c
# synchronous_commit=off": how fast without waiting for the WAL flush); the target uses defaults.
#
# Build first: cargo build --release -p messagedb. PostgreSQL: the Debian postgresql-15 binaries;
# as root the cluster runs as the `postgres` user (PostgreSQL refuses root). SKIP_POSTGRES=1 skips
# that setup. Results: one bench JSON per setup in $OUT (default /tmp/messagedb-perf-targets), and a
# summary table on stdout (median [min–max] over the runs).
set -euo pipefail

RUNS=${1:-3}
DURATION=${2:-20s}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${MESSAGEDB_BIN:-$ROOT/target/release/messagedb}
OUT=${OUT:-/tmp/messagedb-perf-targets}
TOKEN=ns_ZGVmYXVsdA_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.txt
[[ -x $BIN ]] || { echo "no $BIN: cargo build --release -p messagedb" >&2; exit 1; }

LOG=$OUT/server.log
# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"
trap 'bench_cleanup; rm -rf "$OUT"/data.*' EXIT

# bench NAME ARGS...: the measurement against the running server, into $OUT/NAME.json.
bench() {
  local name=$1
  shift
  "$BIN" bench --url "http://127.0.0.1:$PORT" --token "$TOKEN" --workers 10 \
    --duration "$DURATION" --warmup 2s --runs "$RUNS" --server-pid "$SERVER" \
    --output "$OUT/$name.json" "$@" >"$OUT/$name.txt" 2>&1
  echo "$name: $(grep -E '^throughput' "$OUT/$name.txt")"
}

SETUPS=" ${SETUPS:-test-mode embedded write-only postgres} "
[[ ${SKIP_POSTGRES:-} == 1 ]] && SETUPS=${SETUPS/ postgres / }
wanted() { [[ $SETUPS == *" $1 "* ]]; }

if wanted test-mode; then
  start_server --test-mode
  bench test-mode --workload reference-mix
  stop_server
fi

if wanted embedded; then
  start_server --data-dir "$(mktemp -d "$OUT/data.XXXXXX")"
  bench embedded --workload reference-mix
  stop_server
fi

if wanted write-only; then
  start_server --data-dir "$(mktemp -d "$OUT/data.XXXXXX")"
  bench write-only --workload write-only --streams 100
  stop_server
fi

if wanted postgres; then
  pg_start
  # A new cluster creates (zero-fills and fsyncs) a 16 MiB WAL segment every few seconds under
  # this load, where one in service recycles them, and plans its statements on empty tables
  # until autovacuum analyzes them. So the measurement follows 60 s of the same load on the
  # same database, a CHECKPOINT (which recycles the WAL segments written so far) and 20 s more
  # (right after a checkpoint every first change of a page logs the whole page).
  pg_sql "CREATE DATABASE bench"
  start_server --db-url "$(pg_url bench)"
  "$BIN" bench --url "http://127.0.0.1:$PORT" --token "$TOKEN" --workers 10 --duration 60s \
    --warmup 0s --workload reference-mix >/dev/null 2>&1
  pg_sql "CHECKPOINT"
  "$BIN" bench --url "http://127.0.0.1:$PORT" --token "$TOKEN" --workers 10 --duration 20s \
    --warmup 0s --workload reference-mix >/dev/null 2>&1
  bench postgres --workload reference-mix
  stop_server
fi

# The summary: median [min–max] over the runs of each report.
python3 - "$OUT" <<'PY'
import json, os, statistics, sys
out = sys.argv[1]
def spread(values, digits=2):
    f = lambda x: f"{x:,.{digits}f}"
    return f"{f(statistics.median(values))} [{f(min(values))}–{f(max(values))}]"
print(f"\n{'setup':<12} {'ops/s':<32} {'p99 ms':<22} server µs/op")
for name in ["test-mode", "embedded", "write-only", "postgres"]:
    path = os.path.join(out, name + ".json")
    if not os.path.exists(path):
        continue
    runs = json.load(open(path))["runs"]
    ops = spread([r["ops_per_sec"] for r in runs], 0)
    p99 = spread([r["latency_ms"]["p99"] for r in runs])
    cpu = spread([r["cpu"]["server_us_per_op"] for r in runs if r.get("cpu")], 1)
    print(f"{name:<12} {ops:<32} {p99:<22} {cpu}")
PY
