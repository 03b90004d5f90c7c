#!/usr/bin/env bash
# The cost of a deletion (SPEC §18, issue 16): delete a 100,000-message stream from a namespace
# of 1,000,000 messages while `reference-mix` writers run, on the embedded backend and on
# PostgreSQL 15, and report the call's time and the latency of the writes that overlapped it.
#
# Usage: scripts/deletion-bench.sh [RUNS] [COUNT] [BIG]     (defaults: 3 runs, 1000000, 100000)
# SETUPS="embedded postgres" picks the setups (default: both); SKIP_POSTGRES=1 skips PostgreSQL.
#
# Each run: a fresh server (a new data directory, or a new database on one throwaway PostgreSQL
# cluster), `messagedb import` of COUNT records of which BIG are in stream `purge-1`, spread
# evenly among the others (scripts/gen-import.py --big-stream), then 30 s of `reference-mix`
# (10 workers, --server-pid) with `--delete-stream purge-1 --delete-after 5s`. The report's
# `deletion` line has the messages removed, the call's wall time, and p50/p99/max of the writes
# whose span overlapped the call (target: a deletion stalls other streams' writers ≤ 100 ms).
#
# Build first: cargo build --release -p messagedb. Needs python3; PostgreSQL from the Debian
# postgresql-15 binaries (as root the cluster runs as the `postgres` user). Results: one bench JSON
# per run in $OUT (default /tmp/messagedb-deletion-bench) and a summary table on stdout.
set -euo pipefail

RUNS=${1:-3}
COUNT=${2:-1000000}
BIG=${3:-100000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${MESSAGEDB_BIN:-$ROOT/target/release/messagedb}
OUT=${OUT:-/tmp/messagedb-deletion-bench}
TOKEN=ns_ZGVmYXVsdA_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.txt
[[ -x $BIN ]] || { echo "no $BIN: cargo build --release -p messagedb" >&2; exit 1; }
DATA=$OUT/records-$COUNT-$BIG.ndjson
if [[ ! -s $DATA ]]; then
  python3 "$ROOT/scripts/gen-import.py" --count "$COUNT" --big-stream "purge-1:$BIG" > "$DATA.tmp"
  mv "$DATA.tmp" "$DATA"
fi

LOG=$OUT/server.log
# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"
trap 'bench_cleanup "$OUT/postgres.log"; rm -rf "$OUT"/data.*' EXIT

# measure NAME: import, then the load with the deletion in it, into $OUT/NAME.json.
measure() {
  local name=$1 url=http://127.0.0.1:$PORT
  "$BIN" import --url "$url" --token "$TOKEN" --input "$DATA" >/dev/null 2>"$OUT/$name.import"
  "$BIN" bench --url "$url" --token "$TOKEN" --workload reference-mix --workers 10 \
    --duration 30s --warmup 2s --delete-stream purge-1 --delete-after 5s \
    --server-pid "$SERVER" --output "$OUT/$name.json" >"$OUT/$name.txt" 2>&1
  echo "$name: $(grep -E '^deletion' "$OUT/$name.txt")"
}

SETUPS=" ${SETUPS:-embedded postgres} "
[[ ${SKIP_POSTGRES:-} == 1 ]] && SETUPS=${SETUPS/ postgres / }
wanted() { [[ $SETUPS == *" $1 "* ]]; }

if wanted embedded; then
  for run in $(seq "$RUNS"); do
    start_server --data-dir "$(mktemp -d "$OUT/data.XXXXXX")"
    measure "embedded-$run"
    stop_server
    rm -rf "$OUT"/data.*
  done
fi

if wanted postgres; then
  pg_start
  for run in $(seq "$RUNS"); do
    pg_sql "CREATE DATABASE bench$run"
    start_server --db-url "$(pg_url "bench$run")"
    measure "postgres-$run"
    stop_server
    pg_sql "DROP DATABASE bench$run"
  done
fi

# The summary: median [min–max] over the runs of each setup.
python3 - "$OUT" <<'PY'
import glob, json, os, statistics, sys
out = sys.argv[1]
def spread(values, digits=2):
    f = lambda x: f"{x:,.{digits}f}"
    return f"{f(statistics.median(values))} [{f(min(values))}–{f(max(values))}]"
print(f"\n{'setup':<10} {'deleted':<9} {'call s':<22} {'writes during: p99 ms':<26} {'max ms':<26} {'run p99 ms':<22} ops/s")
for setup in ["embedded", "postgres"]:
    runs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, setup + "-*.json")))]
    if not runs:
        continue
    d = [r["deletion"] for r in runs]
    print(
        f"{setup:<10} {d[0]['deleted']:<9} {spread([x['seconds'] for x in d], 3):<22} "
        f"{spread([x['write_latency_during_ms']['p99'] for x in d]):<26} "
        f"{spread([x['write_latency_during_ms']['max'] for x in d]):<26} "
        f"{spread([r['latency_ms']['p99'] for r in runs]):<22} "
        f"{spread([r['ops_per_sec'] for r in runs], 0)}"
    )
PY
