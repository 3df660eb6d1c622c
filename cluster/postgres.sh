#!/usr/bin/env bash
# A PostgreSQL server on 127.0.0.1 for a shared Optuna study, from Debian's packages: its own
# data dir in $STATE, its own port, a database `dltricks` that the user `dltricks` owns.
#
#   cluster/postgres.sh up      install what is missing, initialize, start, wait until ready
#   cluster/postgres.sh down    stop it and remove its data dir
#   cluster/postgres.sh url     the SQLAlchemy URL of its database
#
# It never touches a cluster of the system's own (pg_lsclusters): it runs its own initdb.
set -euo pipefail

STATE=${DLTRICKS_POSTGRES_STATE:-/var/lib/dltricks-postgres}
PORT=${DLTRICKS_POSTGRES_PORT:-5439}

die() { echo "postgres: $*" >&2; exit 2; }

bin() {  # the newest PostgreSQL's binaries (Debian keeps them out of PATH)
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$dir" ] || die "no PostgreSQL binaries under /usr/lib/postgresql"
    echo "$dir"
}

install_packages() {
    dpkg-query -W -f='${Status}' postgresql 2>/dev/null | grep -q "ok installed" && return
    command -v apt-get >/dev/null || die "needs Debian's postgresql, and there is no apt-get here"
    echo "postgres: installing postgresql (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    mkdir -p "$STATE"
    { apt-get update -qq && apt-get install -y -qq postgresql; } >"$STATE.apt.log" 2>&1 \
        || die "apt-get could not install postgresql: see $STATE.apt.log"
}

up() {
    [ "$(id -u)" = 0 ] || die "must run as root (it installs a Debian package)"
    install_packages
    local b
    b=$(bin)
    if [ ! -f "$STATE/data/PG_VERSION" ]; then
        mkdir -p "$STATE"
        chown postgres "$STATE"
        su postgres -c "$b/initdb -D $STATE/data -A trust -U postgres" >"$STATE/initdb.log" 2>&1 \
            || die "initdb failed: see $STATE/initdb.log"
    fi
    if ! su postgres -c "$b/pg_ctl -D $STATE/data status" >/dev/null 2>&1; then
        su postgres -c "$b/pg_ctl -D $STATE/data -l $STATE/server.log -w -t 60 \
            -o '-p $PORT -k $STATE -c listen_addresses=127.0.0.1 -c max_connections=200' start" \
            >/dev/null || die "the server did not start: see $STATE/server.log"
    fi
    psql -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname='dltricks'" \
        | grep -q 1 || psql -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE ROLE dltricks LOGIN"
    psql -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='dltricks'" \
        | grep -q 1 || psql -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE DATABASE dltricks OWNER dltricks"
    echo "postgres: up on 127.0.0.1:$PORT ($(url))"
}

down() {
    [ -f "$STATE/data/PG_VERSION" ] || return 0
    su postgres -c "$(bin)/pg_ctl -D $STATE/data -m fast -w stop" >/dev/null 2>&1 || true
    rm -rf "$STATE"
}

url() { echo "postgresql://dltricks@127.0.0.1:$PORT/dltricks"; }

case "${1:-}" in
    up) up ;;
    down) down ;;
    url) url ;;
    *) die "usage: cluster/postgres.sh up|down|url" ;;
esac
