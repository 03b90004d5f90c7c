# Shared by the benchmark scripts (source it; it is not run on its own): free ports, the server
# under test, and a throwaway PostgreSQL 15 cluster.
#
# The caller sets BIN (the messagedb binary), TOKEN (its token) and LOG (where the server's
# stderr goes) before start_server, and calls `trap bench_cleanup EXIT` once.

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
SERVER=""
PGDIR=""

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# PostgreSQL refuses to run as root: as root, its programs run as the `postgres` user.
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# start_server ARGS...: a fresh server on a free port, stderr to $LOG; sets SERVER and PORT.
start_server() {
  PORT=$(free_port)
  "$BIN" serve --listen 127.0.0.1 --port "$PORT" --token "$TOKEN" "$@" 2>"$LOG" &
  SERVER=$!
  wait_for_server
}

# Waits until the server on $PORT answers.
wait_for_server() {
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/" && return
    sleep 0.1
  done
  echo "the server did not start; see $LOG" >&2
  exit 1
}

stop_server() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""; }

# pg_start: a new cluster in a private directory under /tmp (its socket there too), listening on
# 127.0.0.1 on a free port; sets PGDIR and PGPORT. PG_OPTIONS adds server options.
pg_start() {
  [[ -x $PGBIN/initdb ]] || { echo "no PostgreSQL binaries in $PGBIN (Debian: apt-get install postgresql-15; perf-targets.sh and deletion-bench.sh skip it with SKIP_POSTGRES=1)" >&2; exit 1; }
  PGDIR=$(mktemp -d /tmp/messagedb-bench-pg.XXXXXX)
  chmod 755 "$PGDIR"
  if [[ $(id -u) == 0 ]]; then chown postgres "$PGDIR"; fi
  PGPORT=$(free_port)
  as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust >/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
    -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 ${PG_OPTIONS:-}" start >/dev/null
}

# pg_sql SQL: runs one statement on the cluster as the superuser.
pg_sql() { as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "$1" >/dev/null; }

# pg_url DATABASE: the server's --db-url for a database of the cluster.
pg_url() { echo "postgres://postgres@127.0.0.1:$PGPORT/$1"; }

# pg_stop [LOG_COPY]: stops and removes the cluster, if one runs (copying its log first if asked).
pg_stop() {
  [[ -n $PGDIR ]] || return 0
  as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true
  if [[ -n ${1:-} ]]; then cp "$PGDIR/log" "$1" 2>/dev/null || true; fi
  rm -rf "$PGDIR"
  PGDIR=""
}

# For `trap bench_cleanup EXIT`: stops what is still running.
bench_cleanup() {
  if [[ -n $SERVER ]]; then kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true; fi
  pg_stop "$@"
}
