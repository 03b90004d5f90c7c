#!/usr/bin/env bash
# How long an import keeps other clients waiting: `messagedb import` of COUNT records into one
# namespace while `messagedb bench --workload read-heavy` (2 workers) runs on `default`, and the
# bench's latency figures (its max is the longest wait). In test mode the server has one async
# worker, so work that ran on it for milliseconds at a time showed here as a stall of seconds.
#
# Usage: scripts/import-stall.sh [RUNS] [COUNT]     (defaults: 3 runs, 300000)
# MODE=test (default) or MODE=durable (a fresh --data-dir). Several binaries side by side:
# BINS="before=/tmp/messagedb-before after=target/release/messagedb" (alternated run by run).
#
# Each run: a fresh server, the bench for long enough to cover the import (DUR, default 12s,
# after a 1 s warm-up), the import starting 2 s in with a token of its own namespace (test mode
# creates it; on disk `ns.create` does). Build first: cargo build --release -p messagedb. Needs
# python3. Results: one bench JSON per run in $OUT (default /tmp/messagedb-import-stall).
set -euo pipefail

RUNS=${1:-3}
COUNT=${2:-300000}
MODE=${MODE:-test}
DUR=${DUR:-12s}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BINS=${BINS:-current=${MESSAGEDB_BIN:-$ROOT/target/release/messagedb}}
OUT=${OUT:-/tmp/messagedb-import-stall}
TOKEN=ns_ZGVmYXVsdA_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
mkdir -p "$OUT"
rm -f "$OUT"/*.json
DATA=$OUT/records-$COUNT.ndjson
if [[ ! -s $DATA ]]; then
  python3 "$ROOT/scripts/gen-import.py" --count "$COUNT" > "$DATA.tmp"
  mv "$DATA.tmp" "$DATA"
fi

LOG=$OUT/server.log
# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"
trap 'bench_cleanup; rm -rf "$OUT"/data.*' EXIT

for run in $(seq 1 "$RUNS"); do
  for pair in $BINS; do
    name=${pair%%=*}
    BIN=${pair#*=}
    if [[ $MODE == test ]]; then
      start_server --test-mode
      importer=ns_aW1wb3J0_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    else
      data=$(mktemp -d "$OUT/data.XXXXXX")
      start_server --data-dir "$data"
      importer=$(curl -sf -H "Authorization: Bearer $TOKEN" -d '["ns.create","import"]' \
        "http://127.0.0.1:$PORT/rpc" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
    fi
    "$BIN" bench --url "http://127.0.0.1:$PORT" --token "$TOKEN" --workload read-heavy \
      --workers 2 --duration "$DUR" --warmup 1s --runs 1 --server-pid "$SERVER" \
      --output "$OUT/$name-$run.json" > "$OUT/$name-$run.txt" 2>&1 &
    bench=$!
    sleep 2
    started=$(date +%s%N)
    "$BIN" import --url "http://127.0.0.1:$PORT" --token "$importer" --input "$DATA" --yes \
      > /dev/null 2>&1
    took_ms=$((($(date +%s%N) - started) / 1000000))
    wait "$bench"
    stop_server
    printf '%-10s run %d: import %d ms; bench %s\n' "$name" "$run" "$took_ms" \
      "$(grep -m1 '^latency ms' "$OUT/$name-$run.txt")"
  done
done
