#!/usr/bin/env bash
# Installs the system packages `make test` needs when they are missing (Debian): `chromium` for the
# web console's browser test, and `postgresql-15` for the PostgreSQL tests' throwaway clusters.
# When both are present it does nothing (no apt-get, no network); otherwise it runs `apt-get
# update` once and installs only what is missing, which needs root.
#
# PostgreSQL is looked for where the tests' harness looks (crates/messagedb-testpg/src/binaries.rs):
# `initdb` and `pg_ctl` in `pg_config --bindir` or in /usr/lib/postgresql/15/bin (where Debian's
# package puts them; `dpkg -L postgresql-15` finds the same directory). The tests start their own
# clusters, so the package must not leave one running: before installing, `create_main_cluster =
# false` goes into /etc/postgresql-common/createcluster.conf (so no `main` cluster is created), and
# a temporary /usr/sbin/policy-rc.d refuses every service start during the install.
#
# DRY_RUN=1 prints what it would run instead of running it. PG_BINDIR (default
# /usr/lib/postgresql/15/bin) is the Debian directory looked at, so the detection can be tried
# against a directory without the programs.
set -euo pipefail

PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}

has_pg_programs() {
    [ -x "$1/initdb" ] && [ -x "$1/pg_ctl" ]
}

postgres_present() {
    local bindir
    if bindir=$(pg_config --bindir 2>/dev/null) && has_pg_programs "$bindir"; then
        return 0
    fi
    has_pg_programs "$PG_BINDIR"
}

missing=()
command -v chromium >/dev/null || missing+=(chromium)
postgres_present || missing+=(postgresql-15)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

run() {
    if [ "${DRY_RUN:-}" = 1 ]; then
        echo "would run: $*"
    else
        "$@"
    fi
}

echo "test-deps: installing ${missing[*]}"
if [[ " ${missing[*]} " == *" postgresql-15 "* ]]; then
    conf=/etc/postgresql-common/createcluster.conf
    if ! grep -qs '^[[:space:]]*create_main_cluster[[:space:]]*=[[:space:]]*false' "$conf"; then
        run mkdir -p "$(dirname "$conf")"
        run sh -c "echo 'create_main_cluster = false' >> $conf"
    fi
    # Only when there is no policy of our own to keep; removed however the install ends.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        run sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
        if [ "${DRY_RUN:-}" != 1 ]; then
            trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        fi
    fi
fi
run apt-get update
# --force-confold keeps the createcluster.conf written above when postgresql-common installs its own.
run env DEBIAN_FRONTEND=noninteractive apt-get install -y \
    -o Dpkg::Options::=--force-confold "${missing[@]}"
