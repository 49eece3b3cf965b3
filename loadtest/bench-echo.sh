#!/usr/bin/env bash
# Echo benchmark: quantumvest against a plain SwiftNIO echo server and uWebSockets
# (through socketify), with the same qv-load runs for each, on this machine's loopback.
#
#   loadtest/bench-echo.sh              build (release), run every server, print a Markdown table
#   loadtest/bench-echo.sh --calibrate  run the peers with server 1|2 threads x loader 1|2 threads
#   loadtest/bench-echo.sh --help
#
# Environment (defaults in brackets):
#   CONNECTIONS [100] INFLIGHT [8] SIZE [64] DURATION [10] WARMUP [2] BINARY [0]
#   IDLE_CONNECTIONS [10000]  connections held open for the memory measurement (0 skips it)
#   CONNECT_RATE [2000]       new connections per second in that measurement
#   SERVER_THREADS [2] LOADER_THREADS [1]   the one configuration applied to every server
#   SERVERS ["quantumvest nio socketify"]
#   SCRATCH [.build]          SwiftPM scratch path for the main package (.build-load if .build is busy)
#   SKIP_BUILD [0]            1: use what is already built
#   OUT []                    also write the table to this file
#   QUIET_PCT [10] QUIET_WAIT [120]  before each run, wait up to QUIET_WAIT s for other
#                             work to use less than QUIET_PCT% of the CPUs
#   OTHER_MAX [15] RETRIES [2]  run an echo load again (at most RETRIES times) when other
#                             work took OTHER_MAX% or more of the CPUs during it; keep the
#                             least disturbed run (its share is the "other CPU %" column)
#
# Each server is started on a free loopback port, loaded, and stopped; for the memory
# measurement it is started again, fresh, so that the echo run's buffers do not hide
# the per-connection cost. Every wait is bounded; the script stops by itself.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"

CONNECTIONS="${CONNECTIONS:-100}"
INFLIGHT="${INFLIGHT:-8}"
SIZE="${SIZE:-64}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
BINARY="${BINARY:-0}"
IDLE_CONNECTIONS="${IDLE_CONNECTIONS:-10000}"
CONNECT_RATE="${CONNECT_RATE:-2000}"
# Chosen from `--calibrate` runs on the 2-core machine (runs other work left alone):
#   nio-echo   s1/l1 180k  s1/l2 223k  s2/l1 317k  s2/l2 264k round trips/s
#   socketify  s1/l1 104k  s1/l2  84k  s2/l1 131k  s2/l2 124k
# Two server threads and one loader thread was best for both peers: the loader needs
# well under one core at these rates (40-45%), so the server can use the rest.
SERVER_THREADS="${SERVER_THREADS:-2}"
LOADER_THREADS="${LOADER_THREADS:-1}"
THREADS_WHY="server 2 threads + loader 1 thread gave both peers their best throughput in --calibrate (nio-echo 317k vs 180k-264k, socketify 131k vs 84k-124k round trips/s); the loader needs under half a core at these rates"
SERVERS="${SERVERS:-quantumvest nio socketify}"
SCRATCH="${SCRATCH:-.build}"
SKIP_BUILD="${SKIP_BUILD:-0}"
OUT="${OUT:-}"
QUIET_PCT="${QUIET_PCT:-10}"
QUIET_WAIT="${QUIET_WAIT:-120}"
OTHER_MAX="${OTHER_MAX:-15}"
RETRIES="${RETRIES:-2}"

MODE=run
case "${1:-}" in
"") ;;
--calibrate) MODE=calibrate ;;
-h | --help)
    sed -n '2,26p' "$HERE/$(basename "$0")" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "usage: $0 [--calibrate | --help]" >&2
    exit 2
    ;;
esac

LOGDIR="$(mktemp -d /tmp/qv-bench.XXXXXX)"
QVLOAD="$ROOT/$SCRATCH/release/qv-load"
QUANTUMVEST="$ROOT/$SCRATCH/release/quantumvest"
NIO_DIR="$HERE/peers/nio-echo"
NIO_BIN="$NIO_DIR/.build/release/nio-echo"
VENV="$HERE/.venv"
SOCKETIFY="$HERE/peers/socketify_echo.py"

say() { printf '%s\n' "$*" >&2; }

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
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------- build ----------
QV_AVAILABLE=1
QV_REASON=""
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

build_all() {
    say "== building (release)"
    say "  qv-load"
    swiftpm_build --product qv-load || { say "qv-load did not build"; exit 1; }
    if [[ " $SERVERS " == *" quantumvest "* && "$MODE" = run ]]; then
        say "  quantumvest"
        if ! swiftpm_build --product quantumvest; then
            QV_AVAILABLE=0
            QV_REASON="did not build"
        fi
    fi
    if [[ " $SERVERS " == *" nio "* || "$MODE" = calibrate ]]; then
        say "  nio-echo (SwiftNIO peer)"
        (cd "$NIO_DIR" && timeout 900 swift build -c release >"$LOGDIR/nio-build.log" 2>&1) ||
            { tail -n 20 "$LOGDIR/nio-build.log" >&2; say "nio-echo did not build"; exit 1; }
    fi
    if [[ " $SERVERS " == *" socketify "* || "$MODE" = calibrate ]]; then
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
    fi
}

if [ "$SKIP_BUILD" != 1 ]; then build_all; fi
[ -x "$QVLOAD" ] || { say "no qv-load at $QVLOAD"; exit 1; }
if [ ! -x "$QUANTUMVEST" ]; then
    QV_AVAILABLE=0
    QV_REASON="${QV_REASON:-not built}"
fi

# ---------- running one server ----------
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

SERVER_PID=""
SERVER_PIDS=""   # comma-separated processes whose memory/CPU is measured
SERVER_CMD=""

# start_server NAME PORT THREADS: starts it and waits (at most 30 s) for its "listening on" line.
start_server() {
    local name="$1" port="$2" threads="$3" log="$LOGDIR/$1-$2.log"
    case "$name" in
    quantumvest) SERVER_CMD="$QUANTUMVEST serve --port $port --echo --threads $threads" ;;
    nio) SERVER_CMD="$NIO_BIN --port $port --threads $threads" ;;
    socketify) SERVER_CMD="$VENV/bin/python $SOCKETIFY $port --workers $threads" ;;
    esac
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
        # socketify prints one line per worker
        if [ "$(grep -c 'listening on' "$log" || true)" -ge "$([ "$name" = socketify ] && echo "$threads" || echo 1)" ]; then
            SERVER_PIDS="$SERVER_PID"
            if [ "$name" = socketify ]; then
                SERVER_PIDS="$(sed -n 's/^pids //p' "$log" | head -n 1)"
                local p
                for p in ${SERVER_PIDS//,/ }; do STARTED_PIDS+=("$p"); done
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

echo_args() { # loader threads
    local a="--connections $CONNECTIONS --inflight $INFLIGHT --size $SIZE --duration $DURATION --warmup $WARMUP --threads $1"
    [ "$BINARY" = 1 ] && a="$a --binary"
    printf '%s' "$a"
}

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

# run_echo NAME SERVER_THREADS LOADER_THREADS -> sets ECHO_JSON
run_echo() {
    local name="$1" st="$2" lt="$3" port attempt json other best_other=""
    ECHO_JSON=""
    for attempt in $(seq 1 $((RETRIES + 1))); do
        note_background "$name(s$st,l$lt)"
        port="$(free_port)"
        start_server "$name" "$port" "$st" || return 1
        say "  $name: $SERVER_CMD (attempt $attempt)"
        local out="$LOGDIR/$name-echo-$st-$lt-$attempt.txt"
        # shellcheck disable=SC2046
        timeout $((${DURATION%.*} + ${WARMUP%.*} + 120)) "$QVLOAD" echo --url "ws://127.0.0.1:$port/echo" \
            $(echo_args "$lt") --pid "$SERVER_PIDS" >"$out" 2>&1 || true
        sed -n '1,5p' "$out" | sed 's/^/    /' >&2
        json="$(grep '^{' "$out" | tail -n 1 || true)"
        stop_server
        [ -n "$json" ] || continue
        other="$(json_field "$json" other_cpu_pct)"
        other="${other%.*}"
        # Keep the run that other work disturbed least; stop once one was left alone.
        if [ -z "$best_other" ] || [ "$other" -lt "$best_other" ]; then
            best_other="$other"
            ECHO_JSON="$json"
        fi
        [ "$other" -lt "$OTHER_MAX" ] && break
        say "  other work used ${other}% of the CPUs during that run; running it again"
    done
    [ -n "$ECHO_JSON" ]
}

# run_connect NAME SERVER_THREADS -> sets CONNECT_JSON
run_connect() {
    local name="$1" st="$2" port
    CONNECT_JSON=""
    port="$(free_port)"
    start_server "$name" "$port" "$st" || return 1
    sleep 0.5 # let the fresh server finish starting up before the baseline is read
    local out="$LOGDIR/$name-connect.txt"
    timeout 300 "$QVLOAD" connect --url "ws://127.0.0.1:$port/echo" --connections "$IDLE_CONNECTIONS" \
        --rate "$CONNECT_RATE" --pid "$SERVER_PIDS" >"$out" 2>&1 || true
    grep -v '^{' "$out" | sed 's/^/    /' >&2
    CONNECT_JSON="$(grep '^{' "$out" | tail -n 1 || true)"
    stop_server
    [ -n "$CONNECT_JSON" ]
}

CPU_MODEL="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
MACHINE="nproc $(nproc), ${CPU_MODEL:-unknown CPU}, $(uname -sr)"
LOAD_DESC="$CONNECTIONS connections x $INFLIGHT in flight x $SIZE B $([ "$BINARY" = 1 ] && echo binary || echo text), $DURATION s after $WARMUP s warm-up"

# ---------- calibration: server 1|2 threads x loader 1|2 threads, peers only ----------
if [ "$MODE" = calibrate ]; then
    say "== calibration on $MACHINE"
    say "   load: $LOAD_DESC"
    rows=()
    for name in nio socketify; do
        for st in 1 2; do
            for lt in 1 2; do
                say "-- $name, server threads $st, loader threads $lt"
                if run_echo "$name" "$st" "$lt"; then
                    rows+=("| $name | $st | $lt | $(json_field "$ECHO_JSON" rtps) | $(json_field "$ECHO_JSON" p50_us) | $(json_field "$ECHO_JSON" p99_us) | $(json_field "$ECHO_JSON" p999_us) | $(json_field "$ECHO_JSON" server_cpu_pct) | $(json_field "$ECHO_JSON" loader_cpu_pct) | $(json_field "$ECHO_JSON" other_cpu_pct) |")
                else
                    rows+=("| $name | $st | $lt | failed | | | | | | |")
                fi
            done
        done
    done
    {
        echo
        echo "### Thread calibration ($(date -u +%Y-%m-%dT%H:%MZ))"
        echo
        echo "Machine: $MACHINE. Load: $LOAD_DESC."
        echo "socketify's 'server threads' are worker processes sharing the port (SO_REUSEPORT)."
        echo "CPU busy with other work before each run: ${BUSY_NOTES[*]:-n/a}"
        echo
        echo "| server | server threads | loader threads | round trips/s | p50 µs | p99 µs | p99.9 µs | server CPU % | loader CPU % | other CPU % |"
        echo "|---|---|---|---|---|---|---|---|---|---|"
        printf '%s\n' "${rows[@]}"
    } | tee ${OUT:+"$OUT"}
    exit 0
fi

# ---------- the benchmark ----------
say "== echo benchmark on $MACHINE"
say "   load: $LOAD_DESC; server threads $SERVER_THREADS, loader threads $LOADER_THREADS"
rows=()
for name in $SERVERS; do
    label="$name"
    case "$name" in
    quantumvest) label="quantumvest" ;;
    nio) label="SwiftNIO (nio-echo)" ;;
    socketify) label="uWebSockets (socketify)" ;;
    *) say "unknown server '$name'"; continue ;;
    esac
    say "-- $label"
    if [ "$name" = quantumvest ] && [ "$QV_AVAILABLE" != 1 ]; then
        say "  skipped: quantumvest $QV_REASON"
        rows+=("| $label | skipped ($QV_REASON) | | | | | | | | | |")
        continue
    fi
    rtps="failed" p50="" p99="" p999="" mx="" errs="" scpu="" lcpu="" ocpu="" kib=""
    if run_echo "$name" "$SERVER_THREADS" "$LOADER_THREADS"; then
        rtps="$(json_field "$ECHO_JSON" rtps)"
        p50="$(json_field "$ECHO_JSON" p50_us)"
        p99="$(json_field "$ECHO_JSON" p99_us)"
        p999="$(json_field "$ECHO_JSON" p999_us)"
        mx="$(json_field "$ECHO_JSON" max_us)"
        errs="$(json_field "$ECHO_JSON" errors)"
        scpu="$(json_field "$ECHO_JSON" server_cpu_pct)"
        lcpu="$(json_field "$ECHO_JSON" loader_cpu_pct)"
        ocpu="$(json_field "$ECHO_JSON" other_cpu_pct)"
    fi
    if [ "$IDLE_CONNECTIONS" -gt 0 ]; then
        if run_connect "$name" "$SERVER_THREADS"; then
            open="$(json_field "$CONNECT_JSON" open)"
            kib="$(json_field "$CONNECT_JSON" kib_per_conn)"
            [ "$open" = "$IDLE_CONNECTIONS" ] || kib="$kib ($open open)"
        else
            kib="failed"
        fi
    else
        kib="not run"
    fi
    rows+=("| $label | $rtps | $p50 | $p99 | $p999 | $mx | $errs | $scpu | $lcpu | $ocpu | $kib |")
done

ECHO_CMD="qv-load echo --url ws://127.0.0.1:PORT/echo $(echo_args "$LOADER_THREADS") --pid SERVER_PID"
CONNECT_CMD="qv-load connect --url ws://127.0.0.1:PORT/echo --connections $IDLE_CONNECTIONS --rate $CONNECT_RATE --pid SERVER_PID"
{
    echo
    echo "### WebSocket echo benchmark ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "- Machine: $MACHINE"
    echo "- Load: $LOAD_DESC; loopback"
    echo "- Threads: every server runs $SERVER_THREADS thread(s) (socketify: worker processes), the loader $LOADER_THREADS; both share the $(nproc) cores"
    if [ "$SERVER_THREADS/$LOADER_THREADS" = 2/1 ]; then echo "  (why: $THREADS_WHY)"; fi
    echo "- CPU busy with other work in the second before each echo run: ${BUSY_NOTES[*]:-n/a}"
    echo "- Echo command: \`$ECHO_CMD\`"
    echo "- Memory command (fresh server): \`$CONNECT_CMD\`"
    echo "- Servers: \`quantumvest serve --port PORT --echo --threads $SERVER_THREADS\`, \`nio-echo --port PORT --threads $SERVER_THREADS\`, \`socketify_echo.py PORT --workers $SERVER_THREADS\`"
    echo
    echo "| server | round trips/s | p50 µs | p99 µs | p99.9 µs | max µs | errors | server CPU % | loader CPU % | other CPU % | KiB per idle conn ($IDLE_CONNECTIONS) |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
} | tee ${OUT:+"$OUT"}
