#!/usr/bin/env bash
# Issue 14's benchmark (PROFILING.md, "Many namespaces"), alternated between binaries: each run
# starts a fresh server on a fresh data directory under `ulimit -Sn 1024` (so 100 slots and 8
# writer threads), runs `bench --workload many-namespaces`, and stops it.
#
# Usage: scripts/many-namespaces.sh RUNS NAMESPACES DURATION NAME=BINARY ...
#   e.g. scripts/many-namespaces.sh 3 10000 60s before=/tmp/messagedb-before after=target/release/messagedb
# Reports and server logs go to $OUT (default /tmp/messagedb-many-namespaces). Per run it prints
# the throughput, the first request's p50/p99/max and the server's CPU per operation; with
# TIMELINE=1 also the server's requests per second and their p99 (from its request log), which
# shows phases that a run's overall figures hide (a slow first pass, periodic dips).
set -euo pipefail
RUNS=$1; N=$2; DUR=$3; shift 3
OUT=${OUT:-/tmp/messagedb-many-namespaces}; mkdir -p "$OUT"
# shellcheck source=scripts/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"
timeline() {
  python3 - "$1" <<'PY'
import collections, re, sys
per = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m = re.search(r'T(\d\d):(\d\d):(\d\d)\.\d+Z.*path=/rpc .*duration_ms=([\d.e-]+)', line)
    if m:
        per[(int(m[1]), int(m[2]), int(m[3]))].append(float(m[4]))
cells = []
for second in sorted(per):
    v = sorted(per[second])
    if len(v) >= 500:  # the measured window, not the creations and deletions around it
        cells.append(f"{len(v)}:{v[int(len(v) * 0.99)]:.1f}")
print("  per second, requests:p99 ms:", " ".join(cells))
PY
}
for r in $(seq "$RUNS"); do
  for spec in "$@"; do
    name=${spec%%=*}; bin=${spec#*=}
    token=ns_ZGVmYXVsdA_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    port=$(free_port); data=$(mktemp -d /tmp/messagedb-mns-data.XXXXXX)
    bash -c "ulimit -Sn 1024; exec $bin serve --listen 127.0.0.1 --port $port --data-dir $data --token $token" \
      2>"$OUT/$name-$r.server.log" &
    server=$!
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
    "$bin" bench --url "http://127.0.0.1:$port" --token "$token" --workload many-namespaces \
      --namespaces "$N" --duration "$DUR" --server-pid "$server" --output "$OUT/$name-$r.json" \
      >"$OUT/$name-$r.txt" 2>&1 || true
    kill "$server"; wait "$server" 2>/dev/null || true
    rm -rf "$data"
    echo "$name run $r: $(grep -E '^throughput' "$OUT/$name-$r.txt" | cut -d' ' -f2-3)," \
      "$(grep -E '^first request' "$OUT/$name-$r.txt" | sed 's/.*ms: //'), server" \
      "$(grep -E '^cpu per op' "$OUT/$name-$r.txt" | sed 's/cpu per op: server //; s/ (.*//')/op"
    if [[ ${TIMELINE:-0} == 1 ]]; then timeline "$OUT/$name-$r.server.log"; fi
  done
done
