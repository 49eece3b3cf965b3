# A throwaway PostgreSQL server on loopback, for tests and benchmarks; sourced, not run.
#
#   . scripts/lib/postgres.sh
#   trap 'pg_stop' EXIT      # the caller owns its traps; pg_stop is safe to call at any time
#   pg_start                 # sets PG_URL, PG_BIN, PG_PORT, PG_DIR, PG_USER, PG_DB
#
# initdb into a fresh `mktemp -d` directory, a free loopback port, listen_addresses=127.0.0.1,
# the unix socket in that directory, fsync off (the data is thrown away). PostgreSQL refuses
# to run as root, so as root it runs as the `postgres` user (runuser), otherwise as the caller.
# PG_DB (default qv_test) is created; the server trusts local connections (loopback only).

PG_DIR="" PG_PORT="" PG_URL="" PG_BIN="" PG_USER="" PG_DB="${PG_DB:-qv_test}"
PG_START_TIMEOUT="${PG_START_TIMEOUT:-30}"
PG_AS=()

# The bin directory of the newest PostgreSQL installed (/usr/lib/postgresql/NN/bin).
pg_find_bin() {
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$d" ] && [ -x "$d/initdb" ] || { echo "postgres: no PostgreSQL server under /usr/lib/postgresql (scripts/setup installs it)" >&2; return 1; }
    printf '%s\n' "$d"
}

pg_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Runs a PostgreSQL program as the server's user, from the data's directory (the postgres
# user may not be allowed into the caller's working directory).
pg_run() { (cd "$PG_DIR" && "${PG_AS[@]}" "$@"); }

pg_start() {
    PG_BIN="$(pg_find_bin)" || return 1
    PG_DIR="$(mktemp -d -t qv-pg.XXXXXX)"
    if [ "$(id -u)" -eq 0 ]; then
        PG_USER=postgres
        PG_AS=(runuser -u postgres --)
        chown postgres: "$PG_DIR"
    else
        PG_USER="$(id -un)"
        PG_AS=()
    fi
    if ! pg_run "$PG_BIN/initdb" -D "$PG_DIR/data" -U "$PG_USER" -A trust -E UTF8 --no-sync >"$PG_DIR/initdb.log" 2>&1; then
        echo "postgres: initdb failed:" >&2
        tail -n 20 "$PG_DIR/initdb.log" >&2
        return 1
    fi
    # A port found free can be taken before the server binds it: try a few.
    local attempt
    for attempt in 1 2 3; do
        PG_PORT="$(pg_free_port)"
        if pg_run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t "$PG_START_TIMEOUT" \
            -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >"$PG_DIR/pg_ctl.log" 2>&1 &&
            pg_run "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t "$PG_START_TIMEOUT"; then
            break
        fi
        if [ "$attempt" = 3 ] || ! grep -q "could not bind" "$PG_DIR/server.log" 2>/dev/null; then
            echo "postgres: the server did not accept connections within ${PG_START_TIMEOUT} s; its log:" >&2
            tail -n 30 "$PG_DIR/server.log" "$PG_DIR/pg_ctl.log" >&2 2>/dev/null || true
            return 1
        fi
    done
    if ! pg_run "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" "$PG_DB" >"$PG_DIR/createdb.log" 2>&1; then
        echo "postgres: createdb $PG_DB failed:" >&2
        cat "$PG_DIR/createdb.log" >&2
        return 1
    fi
    PG_URL="postgresql://$PG_USER@127.0.0.1:$PG_PORT/$PG_DB"
}

# Stops the server (if one was started) and removes its directory; idempotent.
pg_stop() {
    [ -n "$PG_DIR" ] || return 0
    if [ -f "$PG_DIR/data/postmaster.pid" ]; then
        pg_run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
        # pg_ctl gave up (the file outlived it): the postmaster's pid is its first line.
        local pid
        pid="$(head -n 1 "$PG_DIR/data/postmaster.pid" 2>/dev/null || true)"
        if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    rm -rf "$PG_DIR"
    PG_DIR=""
}
