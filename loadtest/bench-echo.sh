#!/usr/bin/env bash
# Echo benchmark: quantumvest against a plain SwiftNIO echo server and uWebSockets
# (through socketify), with the same qv-load runs for each, on this machine's loopback.
#
#   loadtest/bench-echo.sh              build (release), run every server, print a Markdown table
#   TLS=1 loadtest/bench-echo.sh        quantumvest over ws:// against quantumvest over wss://
#   loadtest/bench-echo.sh --calibrate  run the peers with server 1|2 threads x loader 1|2 threads
#   loadtest/bench-echo.sh --help
#
# Environment (defaults in brackets):
#   CONNECTIONS [100] INFLIGHT [8] SIZE [64] DURATION [10] WARMUP [2] BINARY [0]
#   IDLE_CONNECTIONS [10000]  connections held open for the memory measurement (0 skips it)
#   CONNECT_RATE [2000]       new connections per second in that measurement
#   SERVER_THREADS [2] LOADER_THREADS [1]   the one configuration applied to every server
#   SERVERS ["quantumvest nio socketify"]; quantumvest-tls is quantumvest with a throwaway
#                             self-signed P-256 certificate, loaded over wss:// (the loader
#                             speaks TLS too: OpenSSL, no verification)
#   TLS [0]                   1: SERVERS defaults to "quantumvest quantumvest-tls"
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
TLS="${TLS:-0}"
if [ "$TLS" = 1 ]; then SERVERS="${SERVERS:-quantumvest quantumvest-tls}"; else SERVERS="${SERVERS:-quantumvest nio socketify}"; fi
# shellcheck source=lib.sh
. "$HERE/lib.sh"

MODE=run
case "${1:-}" in
--calibrate) MODE=calibrate ;;
*) bench_args 30 "[--calibrate | --help]" "${1:-}" ;;
esac

bench_setup qv-bench
NIO_DIR="$HERE/peers/nio-echo"
NIO_BIN="$NIO_DIR/.build/release/nio-echo"
SOCKETIFY="$HERE/peers/socketify_echo.py"

# ---------- build ----------
QV_AVAILABLE=1
QV_REASON=""
build_all() {
    say "== building (release)"
    say "  qv-load"
    swiftpm_build --product qv-load || { say "qv-load did not build"; exit 1; }
    if [[ " $SERVERS " == *" quantumvest"[\ -]* && "$MODE" = run ]]; then
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
        socketify_venv
    fi
}

if [ "$SKIP_BUILD" != 1 ]; then build_all; fi
[ -x "$QVLOAD" ] || { say "no qv-load at $QVLOAD"; exit 1; }
if [ ! -x "$QUANTUMVEST" ]; then
    QV_AVAILABLE=0
    QV_REASON="${QV_REASON:-not built}"
fi

# ---------- running one server (start_server, stop_server: lib.sh) ----------
server_cmd() { # NAME PORT THREADS
    case "$1" in
    quantumvest) SERVER_CMD="$QUANTUMVEST serve --port $2 --echo --threads $3" ;;
    quantumvest-tls)
        SERVER_CMD="$QUANTUMVEST serve --port $2 --echo --threads $3 --tls-cert $CERTDIR/cert.pem --tls-key $CERTDIR/key.pem"
        ;;
    nio) SERVER_CMD="$NIO_BIN --port $2 --threads $3" ;;
    socketify)
        SERVER_CMD="$VENV/bin/python $SOCKETIFY $2 --workers $3"
        LISTEN_LINES="$3" # socketify prints one line per worker
        ;;
    esac
}

# A throwaway certificate for quantumvest-tls, removed on exit.
if [[ " $SERVERS " == *" quantumvest-tls "* ]]; then
    CERTDIR="$(mktemp -d /tmp/qv-bench-cert.XXXXXX)"
    CLEANUP_DIRS="$CERTDIR"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
        -keyout "$CERTDIR/key.pem" -out "$CERTDIR/cert.pem" >"$LOGDIR/openssl.log" 2>&1 ||
        { cat "$LOGDIR/openssl.log" >&2; say "openssl req failed"; exit 1; }
fi

echo_args() { # loader threads
    local a="--connections $CONNECTIONS --inflight $INFLIGHT --size $SIZE --duration $DURATION --warmup $WARMUP --threads $1"
    [ "$BINARY" = 1 ] && a="$a --binary"
    printf '%s' "$a"
}

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
declare -A RTPS
for name in $SERVERS; do
    label="$name"
    case "$name" in
    quantumvest) label="quantumvest" ;;
    quantumvest-tls) label="quantumvest over TLS (wss://)" ;;
    nio) label="SwiftNIO (nio-echo)" ;;
    socketify) label="uWebSockets (socketify)" ;;
    *) say "unknown server '$name'"; continue ;;
    esac
    say "-- $label"
    if [[ "$name" = quantumvest* ]] && [ "$QV_AVAILABLE" != 1 ]; then
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
        RTPS[$name]="$rtps"
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

TLS_RATIO=""
if [ -n "${RTPS[quantumvest]:-}" ] && [ -n "${RTPS[quantumvest-tls]:-}" ]; then
    TLS_RATIO="$(python3 -c 'import sys; print("%.2f" % (float(sys.argv[2]) / float(sys.argv[1])))' "${RTPS[quantumvest]}" "${RTPS[quantumvest-tls]}")"
fi
ECHO_CMD="qv-load echo --url ws://127.0.0.1:PORT/echo $(echo_args "$LOADER_THREADS") --pid SERVER_PID"
CONNECT_CMD="qv-load connect --url ws://127.0.0.1:PORT/echo --connections $IDLE_CONNECTIONS --rate $CONNECT_RATE --pid SERVER_PID"
{
    echo
    echo "### WebSocket echo benchmark$([ "$TLS" = 1 ] && echo ", TLS") ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "- Machine: $MACHINE"
    echo "- Load: $LOAD_DESC; loopback"
    echo "- Threads: every server runs $SERVER_THREADS thread(s) (socketify: worker processes), the loader $LOADER_THREADS; both share the $(nproc) cores"
    if [ "$SERVER_THREADS/$LOADER_THREADS" = 2/1 ]; then echo "  (why: $THREADS_WHY)"; fi
    echo "- CPU busy with other work in the second before each echo run: ${BUSY_NOTES[*]:-n/a}"
    echo "- Echo command: \`$ECHO_CMD\`"
    echo "- Memory command (fresh server): \`$CONNECT_CMD\`"
    if [ "$TLS" = 1 ]; then
        echo "- Server: \`quantumvest serve --port PORT --echo --threads $SERVER_THREADS\`"
    else
        echo "- Servers: \`quantumvest serve --port PORT --echo --threads $SERVER_THREADS\`, \`nio-echo --port PORT --threads $SERVER_THREADS\`, \`socketify_echo.py PORT --workers $SERVER_THREADS\`"
    fi
    if [[ " $SERVERS " == *" quantumvest-tls "* ]]; then
        echo "- TLS: the same quantumvest with \`--tls-cert cert.pem --tls-key key.pem\` (self-signed, EC P-256), loaded over \`wss://\` (same commands); the loader's TLS work is in its CPU column"
        [ -n "$TLS_RATIO" ] && echo "- Over TLS quantumvest keeps ${TLS_RATIO}x of its plain round trips/s"
    fi
    echo
    echo "| server | round trips/s | p50 µs | p99 µs | p99.9 µs | max µs | errors | server CPU % | loader CPU % | other CPU % | KiB per idle conn ($IDLE_CONNECTIONS) |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
} | tee ${OUT:+"$OUT"}
