# Shell helpers shared by the loadtest/bench-*.sh scripts; sourced, not run.
#
# The sourcing script sets ROOT and HERE (loadtest/) before sourcing, calls bench_setup,
# sets DURATION, WARMUP (and for run_connect IDLE_CONNECTIONS, CONNECT_RATE), and defines
#   server_cmd NAME PORT THREADS  sets SERVER_CMD (the command line) and LISTEN_LINES (how
#                                 many 'listening on' lines mean it is ready)
#   echo_args LOADER_THREADS      the qv-load echo options (run_echo only)
# A server named *-tls is reached over wss://, any other over ws://.

say() { printf '%s\n' "$*" >&2; }

# bench_args LAST_HELP_LINE USAGE ARG: no argument is a run, -h/--help prints the script's
# header comment (lines 2..LAST_HELP_LINE), anything else the usage.
bench_args() {
    case "$3" in
    "") ;;
    -h | --help)
        sed -n "2,$1p" "$HERE/$(basename "$0")" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "usage: $0 $2" >&2
        exit 2
        ;;
    esac
}

# bench_setup NAME: the settings every bench script shares (see bench-echo.sh's header),
# a log folder /tmp/NAME.XXXXXX and where the binaries are.
bench_setup() {
    SCRATCH="${SCRATCH:-.build}"
    SKIP_BUILD="${SKIP_BUILD:-0}"
    OUT="${OUT:-}"
    QUIET_PCT="${QUIET_PCT:-10}"
    QUIET_WAIT="${QUIET_WAIT:-120}"
    OTHER_MAX="${OTHER_MAX:-15}"
    RETRIES="${RETRIES:-2}"
    LOGDIR="$(mktemp -d "/tmp/$1.XXXXXX")"
    QVLOAD="$ROOT/$SCRATCH/release/qv-load"
    QUANTUMVEST="$ROOT/$SCRATCH/release/quantumvest"
    VENV="$HERE/.venv"
}

# ---------- servers we started, stopped on any exit ----------
STARTED_PIDS=()
cleanup() {
    local p
    for p in "${STARTED_PIDS[@]:-}"; do
        [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
    done
    sleep 0.2
    for p in "${STARTED_PIDS[@]:-}"; do
        [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
    done
    if [ -n "${CLEANUP_DIRS:-}" ]; then rm -rf $CLEANUP_DIRS; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------- build ----------
swiftpm_build() { # swift build args..., falling back to .build-load if the scratch dir is locked
    local log="$LOGDIR/build-$RANDOM.log"
    if timeout 900 swift build -c release --scratch-path "$SCRATCH" "$@" >"$log" 2>&1; then return 0; fi
    if grep -qiE "lock|another instance" "$log" && [ "$SCRATCH" = ".build" ]; then
        say "  $SCRATCH is busy; building in .build-load instead"
        SCRATCH=.build-load
        QVLOAD="$ROOT/$SCRATCH/release/qv-load"
        QUANTUMVEST="$ROOT/$SCRATCH/release/quantumvest"
        timeout 900 swift build -c release --scratch-path "$SCRATCH" "$@" >"$log" 2>&1 && return 0
    fi
    tail -n 20 "$log" >&2
    return 1
}

# The Python venv with socketify (and libuv1, which its wheel needs), made when missing.
socketify_venv() {
    say "  socketify venv"
    if ! ldconfig -p | grep -q 'libuv\.so\.1'; then
        if [ "$(id -u)" = 0 ]; then
            (apt-get install -y libuv1 || { apt-get update && apt-get install -y libuv1; }) >"$LOGDIR/apt.log" 2>&1 ||
                { say "could not install libuv1"; exit 1; }
        else
            say "socketify needs libuv1 (apt-get install -y libuv1)"
            exit 1
        fi
    fi
    if ! "$VENV/bin/python" -c 'import socketify' 2>/dev/null; then
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet socketify >"$LOGDIR/pip.log" 2>&1 ||
            { tail -n 20 "$LOGDIR/pip.log" >&2; say "pip install socketify failed"; exit 1; }
    fi
}

# ---------- running one server ----------
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

scheme_of() { # server name -> ws or wss
    case "$1" in *-tls) printf wss ;; *) printf ws ;; esac
}

SERVER_PID=""
SERVER_PIDS=""   # comma-separated processes whose memory/CPU is measured
SERVER_CMD=""
LISTEN_LINES=1

# start_server NAME PORT THREADS: starts it and waits (at most 30 s) for its "listening on"
# line(s). A server that prints `pids P1,P2,...` (socketify's workers) is measured as those.
start_server() {
    local name="$1" port="$2" threads="$3" log="$LOGDIR/$1-$2.log"
    LISTEN_LINES=1
    server_cmd "$name" "$port" "$threads"
    # shellcheck disable=SC2086
    $SERVER_CMD >"$log" 2>&1 &
    SERVER_PID=$!
    STARTED_PIDS+=("$SERVER_PID")
    local i
    for i in $(seq 1 300); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            say "  $name exited before listening:"
            tail -n 10 "$log" >&2
            return 1
        fi
        if [ "$(grep -c 'listening on' "$log" || true)" -ge "$LISTEN_LINES" ]; then
            SERVER_PIDS="$(sed -n 's/^pids //p' "$log" | head -n 1)"
            if [ -n "$SERVER_PIDS" ]; then
                local p
                for p in ${SERVER_PIDS//,/ }; do STARTED_PIDS+=("$p"); done
            else
                SERVER_PIDS="$SERVER_PID"
            fi
            return 0
        fi
        sleep 0.1
    done
    say "  $name did not print 'listening on' within 30 s"
    return 1
}

stop_server() {
    local p i
    for p in ${SERVER_PIDS//,/ } $SERVER_PID; do kill -TERM "$p" 2>/dev/null || true; done
    for i in $(seq 1 50); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    for p in ${SERVER_PIDS//,/ } $SERVER_PID; do kill -KILL "$p" 2>/dev/null || true; done
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    SERVER_PIDS=""
}

# ---------- a quiet machine ----------
# Share of all cores busy over one second (other processes: nothing of ours runs then).
background_cpu() {
    local a b
    a=($(head -n 1 /proc/stat))
    sleep 1
    b=($(head -n 1 /proc/stat))
    python3 - "${a[*]}" "${b[*]}" <<'PY'
import sys
a = [int(x) for x in sys.argv[1].split()[1:]]
b = [int(x) for x in sys.argv[2].split()[1:]]
d = [y - x for x, y in zip(a, b)]
total = sum(d[:8]) or 1
idle = d[3] + d[4]
print(round(100.0 * (total - idle) / total))
PY
}
BUSY_NOTES=()
# Waits (at most QUIET_WAIT seconds) for a second in which other work used less than
# QUIET_PCT% of the machine, so that a concurrent build does not skew a run.
note_background() { # label
    local busy waited=0
    busy="$(background_cpu)"
    while [ "$busy" -ge "$QUIET_PCT" ] && [ "$waited" -lt "$QUIET_WAIT" ]; do
        [ "$waited" = 0 ] && say "  machine ${busy}% busy with other work; waiting up to ${QUIET_WAIT} s for it to calm down"
        sleep 2
        waited=$((waited + 3))
        busy="$(background_cpu)"
    done
    BUSY_NOTES+=("$1 ${busy}%")
    if [ "$busy" -ge "$QUIET_PCT" ]; then
        say "  warning: the machine was ${busy}% busy just before the $1 run; its numbers are suspect"
    fi
}

json_field() { # json key
    python3 -c 'import json, sys; v = json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"
}

# run_measured NAME LABEL ARGS...: one qv-load run (ARGS after the binary, with @PORT@ and
# @PID@ in them replaced) against a fresh server NAME on a free port, again (at most RETRIES
# times) when other work took OTHER_MAX% or more of the CPUs; keeps the least disturbed
# run's JSON line in RUN_JSON. SERVER_THREADS is the server's thread count.
run_measured() {
    local name="$1" label="$2" port attempt json other best_other="" out a
    shift 2
    RUN_JSON=""
    for attempt in $(seq 1 $((RETRIES + 1))); do
        note_background "$label"
        port="$(free_port)"
        start_server "$name" "$port" "$SERVER_THREADS" || return 1
        say "  $name: $SERVER_CMD (attempt $attempt)"
        out="$LOGDIR/$label-$attempt.txt"
        local args=()
        for a in "$@"; do
            a="${a//@PORT@/$port}"
            args+=("${a//@PID@/$SERVER_PIDS}")
        done
        timeout $((${DURATION%.*} + ${WARMUP%.*} + 180)) "$QVLOAD" "${args[@]}" >"$out" 2>&1 || true
        grep -v '^{' "$out" | sed -n '1,8p' | sed 's/^/    /' >&2
        json="$(grep '^{' "$out" | tail -n 1 || true)"
        stop_server
        [ -n "$json" ] || continue
        other="$(json_field "$json" other_cpu_pct)"
        other="${other%.*}"
        # Keep the run that other work disturbed least; stop once one was left alone.
        if [ -z "$best_other" ] || [ "$other" -lt "$best_other" ]; then
            best_other="$other"
            RUN_JSON="$json"
        fi
        [ "$other" -lt "$OTHER_MAX" ] && break
        say "  other work used ${other}% of the CPUs during that run; running it again"
    done
    [ -n "$RUN_JSON" ]
}

# run_echo NAME SERVER_THREADS LOADER_THREADS -> sets ECHO_JSON
run_echo() {
    local name="$1" st="$2" lt="$3" SERVER_THREADS="$2"
    ECHO_JSON=""
    # shellcheck disable=SC2046
    run_measured "$name" "$name(s$st,l$lt)" echo --url "$(scheme_of "$name")://127.0.0.1:@PORT@/echo" \
        $(echo_args "$lt") --pid @PID@ || return 1
    ECHO_JSON="$RUN_JSON"
}

# run_connect NAME SERVER_THREADS [PATH [qv-load connect options...]] -> sets CONNECT_JSON
run_connect() {
    local name="$1" st="$2" path="${3:-/echo}" port
    shift 2
    [ $# -gt 0 ] && shift
    CONNECT_JSON=""
    port="$(free_port)"
    start_server "$name" "$port" "$st" || return 1
    sleep 0.5 # let the fresh server finish starting up before the baseline is read
    local out="$LOGDIR/$name-connect.txt"
    timeout 300 "$QVLOAD" connect --url "$(scheme_of "$name")://127.0.0.1:$port$path" --connections "$IDLE_CONNECTIONS" \
        --rate "$CONNECT_RATE" --pid "$SERVER_PIDS" "$@" >"$out" 2>&1 || true
    grep -v '^{' "$out" | sed 's/^/    /' >&2
    CONNECT_JSON="$(grep '^{' "$out" | tail -n 1 || true)"
    stop_server
    [ -n "$CONNECT_JSON" ]
}

CPU_MODEL="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
MACHINE="nproc $(nproc), ${CPU_MODEL:-unknown CPU}, $(uname -sr)"

# ---------- the gateway's own benches (bench-auth.sh, bench-portfolio.sh) ----------
# bench_gateway_setup NAME: builds qv-load and quantumvest (release) unless SKIP_BUILD=1, and
# makes the store STORE names (sqlite: a temporary --data-dir; postgres: a throwaway server,
# scripts/lib/postgres.sh, which the caller sources) as STORE_ARGS.
bench_gateway_setup() {
    if [ "$SKIP_BUILD" != 1 ]; then
        say "== building (release)"
        swiftpm_build --product qv-load || { say "qv-load did not build"; exit 1; }
        swiftpm_build --product quantumvest || { say "quantumvest did not build"; exit 1; }
    fi
    [ -x "$QVLOAD" ] && [ -x "$QUANTUMVEST" ] || { say "no qv-load or quantumvest under $SCRATCH/release"; exit 1; }
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    DATADIR="$(mktemp -d "/tmp/$1-data.XXXXXX")"
    CLEANUP_DIRS="$DATADIR"
    case "$STORE" in
    sqlite) STORE_ARGS="--data-dir $DATADIR" ;;
    postgres) pg_start; STORE_ARGS="--postgres $PG_URL" ;;
    *) say "STORE must be sqlite or postgres"; exit 2 ;;
    esac
}

rpc_msg() { # ID METHOD [PARAMS]
    printf '{"jsonrpc":"2.0","id":%s,"method":"%s","params":%s}' "$1" "$2" "${3:-{\}}"
}

# qv_rpc LABEL ARGS...: one qv-load rpc run against the server on PORT; its JSON line in
# RPC_JSON. The loader's arguments may hold a password: they are never echoed.
qv_rpc() {
    local label="$1" out="$LOGDIR/$1.txt"
    shift
    timeout $((${DURATION%.*} + ${WARMUP%.*} + 180)) "$QVLOAD" rpc --url "ws://127.0.0.1:$PORT/ws" \
        --threads "$LOADER_THREADS" --pid "$SERVER_PIDS" "$@" >"$out" 2>&1 || true
    grep -v '^{' "$out" | sed -n '1,6p' | sed 's/^/    /' >&2
    RPC_JSON="$(grep '^{' "$out" | tail -n 1 || true)"
}

median() { python3 -c 'import statistics, sys; v = [float(x) for x in sys.argv[1:] if x != ""]; print(f"{statistics.median(v):.1f}" if v else "n/a")' "$@"; }
