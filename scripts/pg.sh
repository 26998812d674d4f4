#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks: its own temporary
# folder, 127.0.0.1 on a free port, trust authentication, durability off.
# Source it, then:
#
#   pg_start   initdb + start + createdb app_test; exports PG_URL
#              (postgres://postgres@127.0.0.1:<port>/app_test) and stops the
#              cluster at exit (chained before any EXIT trap already set)
#   pg_stop    stops the cluster and removes its folder (idempotent)
#
# As root the server runs as the `postgres` user (initdb refuses root).
# Needs Debian's `postgresql` package (scripts/setup.sh --test installs it).

# From /, which the postgres user can read whatever the caller's folder is.
pg__run() {
    if [[ $EUID -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

pg__free_port() {
    python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

pg_start() {
    local bin
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
    if [[ -z "$bin" ]]; then
        echo "pg.sh: PostgreSQL is not installed (apt-get install postgresql)" >&2
        return 1
    fi
    PG_BIN="$bin"
    PG_DIR="$(mktemp -d /tmp/pgtest.XXXXXX)"
    [[ $EUID -eq 0 ]] && chown postgres:postgres "$PG_DIR"

    # Chain our stop in front of whatever EXIT trap the caller has.
    local prev
    prev="$(trap -p EXIT)"
    prev="${prev#trap -- }"
    prev="${prev% EXIT}"
    if [[ -n "$prev" ]]; then eval "pg__prev_trap=$prev"; else pg__prev_trap=""; fi
    trap 'pg_stop; eval "$pg__prev_trap"' EXIT

    pg__run "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --no-sync >/dev/null
    local attempt
    for attempt in 1 2 3; do
        PG_PORT="$(pg__free_port)"
        if pg__run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 -o \
            "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
            start >/dev/null; then
            break
        fi
        if [[ $attempt -eq 3 ]]; then
            echo "pg.sh: PostgreSQL did not start; its log:" >&2
            cat "$PG_DIR/server.log" >&2
            return 1
        fi
    done
    pg__run "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres app_test
    export PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/app_test"
    echo "pg.sh: PostgreSQL on 127.0.0.1:$PG_PORT (data in $PG_DIR)"
}

pg_stop() {
    [[ -n "${PG_DIR:-}" ]] || return 0
    if [[ -f "$PG_DIR/data/postmaster.pid" ]]; then
        pg__run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_DIR"
    PG_DIR=""
}
