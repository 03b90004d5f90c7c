#!/usr/bin/env bash
# Benchmark `messagedb import` and `messagedb export` (SPEC §9, §12) against a release-build
# server on the embedded durable backend, and report rates and peak RSS.
#
# Usage: scripts/bench-import.sh COUNT [RUNS]     (e.g. scripts/bench-import.sh 1000000 3)
#
# Each run: generate COUNT records with scripts/gen-import.py (once, cached in $WORK), start a
# fresh server on an empty data directory, `messagedb import` the file under /usr/bin/time -v,
# read the server's VmHWM (its peak RSS so far) from /proc, `messagedb export` under
# /usr/bin/time -v, read VmHWM again, check the export is byte-identical to the imported file,
# stop the server. The CLI's figures are /usr/bin/time's "Maximum resident set size".
# Build first: cargo build --release -p messagedb. Needs python3 and GNU time.
set -euo pipefail

COUNT=${1:?usage: bench-import.sh COUNT [RUNS]}
RUNS=${2:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${MESSAGEDB_BIN:-$ROOT/target/release/messagedb}
WORK=${WORK:-/tmp/messagedb-bench-import}
TOKEN=ns_ZGVmYXVsdA_0000000000000000000000000000000000000000000000000000000000000000
mkdir -p "$WORK"
DATA=$WORK/records-$COUNT.ndjson
if [[ ! -s $DATA ]]; then
  python3 "$ROOT/scripts/gen-import.py" --count "$COUNT" > "$DATA.tmp" && mv "$DATA.tmp" "$DATA"
fi
BYTES=$(stat -c %s "$DATA")

max_rss_kib() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
elapsed_s() { # "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:12.34" -> seconds
  sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1" |
    awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }'
}
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

echo "count=$COUNT bytes=$BYTES runs=$RUNS bin=$BIN"
echo "run import_s import_msg_s export_s export_msg_s server_hwm_import_MiB server_hwm_export_MiB cli_import_MiB cli_export_MiB db_MiB"
for run in $(seq 1 "$RUNS"); do
  DIR=$(mktemp -d "$WORK/data.XXXXXX")
  "$BIN" serve --listen 127.0.0.1 --port 0 --data-dir "$DIR" --token "$TOKEN" 2> "$DIR.log" &
  SERVER=$!
  PORT=""
  for _ in $(seq 1 600); do
    PORT=$(sed -n 's/.*messagedb listening.*port=\([0-9]*\).*/\1/p' "$DIR.log" | head -1)
    [[ -n $PORT ]] && break
    sleep 0.1
  done
  [[ -n $PORT ]] || { echo "server did not start:"; cat "$DIR.log"; kill "$SERVER"; exit 1; }
  URL=http://127.0.0.1:$PORT

  /usr/bin/time -v "$BIN" import --url "$URL" --token "$TOKEN" --input "$DATA" \
    2> "$DIR.import" > /dev/null
  HWM_IMPORT=$(hwm_kib "$SERVER")
  /usr/bin/time -v "$BIN" export --url "$URL" --token "$TOKEN" --output "$DIR.export" \
    2> "$DIR.export.time"
  HWM_EXPORT=$(hwm_kib "$SERVER")
  LINES=$(wc -l < "$DIR.export")
  [[ $LINES == "$COUNT" ]] || { echo "export has $LINES lines, expected $COUNT"; exit 1; }
  cmp -s "$DATA" "$DIR.export" || { echo "the export differs from the imported file"; exit 1; }
  DB=$(du -sm "$DIR" | cut -f1)
  kill -TERM "$SERVER"; wait "$SERVER" || true

  I=$(elapsed_s "$DIR.import"); E=$(elapsed_s "$DIR.export.time")
  awk -v r="$run" -v n="$COUNT" -v i="$I" -v e="$E" -v hi="$HWM_IMPORT" -v he="$HWM_EXPORT" \
    -v ci="$(max_rss_kib "$DIR.import")" -v ce="$(max_rss_kib "$DIR.export.time")" -v db="$DB" \
    'BEGIN { printf "%d %.2f %.0f %.2f %.0f %.1f %.1f %.1f %.1f %d\n", r, i, n / i, e, n / e, hi / 1024, he / 1024, ci / 1024, ce / 1024, db }'
  grep -h "^Imported: .* in " "$DIR.import" | tail -1
  rm -rf "$DIR" "$DIR.export" "$DIR.log" "$DIR.import" "$DIR.export.time"
done
