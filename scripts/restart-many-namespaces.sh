#!/usr/bin/env bash
# How long a server with many namespaces takes to stop (SIGTERM) and to restart until it listens
# (PROFILING.md, "Three costs found in the request log"). Creates NAMESPACES namespaces and visits
# them for 10 s (`bench --keep-namespaces`), stops the server, and restarts it on the same data
# directory under `ulimit -Sn 1024`.
# Usage: scripts/restart-many-namespaces.sh BINARY [NAMESPACES]   (default 10000)
set -euo pipefail
BIN=$1; N=${2:-10000}
token=ns_ZGVmYXVsdA_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
data=$(mktemp -d /tmp/messagedb-restart.XXXXXX); trap 'rm -rf "$data"' EXIT
serve() { bash -c "ulimit -Sn 1024; exec $BIN serve --listen 127.0.0.1 --port $port --data-dir $data --token $token" 2>>"$data.log" & }
serve; server=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
"$BIN" bench --url "http://127.0.0.1:$port" --token "$token" --workload many-namespaces \
  --namespaces "$N" --duration 10s --keep-namespaces >/dev/null 2>&1
start=$(date +%s.%N); kill "$server"; wait "$server" || true
echo "stop: $(python3 -c "print(round($(date +%s.%N) - $start, 2))") s, files left: $(ls "$data/ns" | wc -l)"
start=$(date +%s.%N); serve; server=$!
until curl -s -o /dev/null "http://127.0.0.1:$port/health"; do sleep 0.05; done
echo "restart until listening: $(python3 -c "print(round($(date +%s.%N) - $start, 2))") s"
kill "$server"; wait "$server" || true; rm -f "$data.log"
