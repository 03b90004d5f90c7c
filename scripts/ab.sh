#!/usr/bin/env bash
# Side-by-side runs of several server binaries (or one binary under several environments), each
# on a fresh server, alternated run by run so that machine noise spreads over all of them.
#
# Usage: scripts/ab.sh MODE RUNS NAME=BINARY[:VAR=VALUE,...] ...
#   MODE: test (--test-mode), durable (a fresh --data-dir) or writeonly (durable, write-only)
#   e.g. DUR=15s scripts/ab.sh test 3 before=/tmp/messagedb-before after=target/release/messagedb
#        scripts/ab.sh test 3 base=target/release/messagedb one=target/release/messagedb:TOKIO_WORKER_THREADS=1
# Each run: `reference-mix` (or `write-only --streams 100`), 10 workers, DUR (default 15s) after
# a 2 s warm-up, --server-pid. WORKLOAD replaces the workload arguments and WORKERS the worker
# count, e.g. WORKLOAD="--workload read-heavy" or WORKERS=200 WORKLOAD="--workload sse-fanout".
# Reports go to $OUT (default /tmp/messagedb-ab); the summary gives median [min–max] of ops/s,
# server CPU µs per operation and p99 per NAME.
set -euo pipefail
MODE=$1; RUNS=$2; shift 2
DUR=${DUR:-15s}
OUT=${OUT:-/tmp/messagedb-ab}; mkdir -p "$OUT"; rm -f "$OUT"/*.json "$OUT"/*.txt
TOKEN=ns_ZGVmYXVsdA_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
# shellcheck source=scripts/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"
for r in $(seq "$RUNS"); do
  for spec in "$@"; do
    name=${spec%%=*}; rest=${spec#*=}; bin=${rest%%:*}; envs=""
    [[ $rest == *:* ]] && envs=${rest#*:}
    PORT=$(free_port)
    DATA=""
    case $MODE in
      test) args=(--test-mode) ;;
      durable|writeonly) DATA=$(mktemp -d /tmp/messagedb-ab-data.XXXXXX); args=(--data-dir "$DATA") ;;
      *) echo "unknown mode $MODE" >&2; exit 2 ;;
    esac
    # shellcheck disable=SC2086
    env ${envs//,/ } "$bin" serve --listen 127.0.0.1 --port "$PORT" --token "$TOKEN" "${args[@]}" \
      2>"$OUT/server-$name.log" &
    SERVER=$!
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
    workload=(--workload reference-mix)
    [[ $MODE == writeonly ]] && workload=(--workload write-only --streams 100)
    # shellcheck disable=SC2206
    [[ -n ${WORKLOAD:-} ]] && workload=($WORKLOAD)
    "$bin" bench --url "http://127.0.0.1:$PORT" --token "$TOKEN" --workers "${WORKERS:-10}" --duration "$DUR" \
      --warmup 2s --runs 1 --server-pid "$SERVER" "${workload[@]}" \
      --output "$OUT/$name-$r.json" >"$OUT/$name-$r.txt" 2>&1
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
    [[ -n $DATA ]] && rm -rf "$DATA"
    echo "$name run $r: $(grep -E '^throughput' "$OUT/$name-$r.txt")"
  done
done
python3 - "$OUT" "$@" <<'PY'
import glob, json, statistics, sys
out = sys.argv[1]
for spec in sys.argv[2:]:
    name = spec.split("=")[0]
    runs = [json.load(open(f))["runs"][0] for f in sorted(glob.glob(f"{out}/{name}-*.json"))]
    def s(values, digits=1):
        return f"{statistics.median(values):,.{digits}f} [{min(values):,.{digits}f}–{max(values):,.{digits}f}]"
    print(f"{name:<12} ops/s {s([r['ops_per_sec'] for r in runs], 0)}  "
          f"server µs/op {s([r['cpu']['server_us_per_op'] for r in runs])}  "
          f"p99 ms {s([r['latency_ms']['p99'] for r in runs], 2)}")
PY
