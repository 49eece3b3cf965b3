#!/usr/bin/env bash
# Accounts benchmark (contract 2a) against a release quantumvest on this machine's loopback:
#   (a) logins/s: LOGIN_CONNECTIONS connections each doing auth.login in a closed loop (one in
#       flight), the default hash parameters; busy (-32013) and other errors counted apart
#   (b) auth.me round trips/s on ME_CONNECTIONS logged-in connections (setup = auth.login),
#       each paced at ME_CONN_RATE requests/s (under the 100/s per-connection limit)
#   (c) price-delivery p99 to FAN_SUBSCRIBERS subscribers at FAN_RATE publishes/s (qv-load
#       fanout) idle, then again while FLOOD_CONNECTIONS connections log in continuously
#       (qv-load rpc, started just before); both p99s and their ratio
# Each is run REPEATS times, (c) idle and flooded interleaved; the medians are printed as a
# Markdown table. One account (BENCH_EMAIL) is registered first; its password is random and
# never printed.
#
#   loadtest/bench-auth.sh           build (release), run everything
#   loadtest/bench-auth.sh --help
#
# Environment (defaults in brackets):
#   STORE [sqlite]            sqlite: a temporary --data-dir; postgres: a throwaway server
#                             (scripts/lib/postgres.sh) given as --postgres URL
#   PARTS ["logins me fanout"]  which of (a) (b) (c) to run
#   REPEATS [3] DURATION [10] WARMUP [2] GRACE [3] SERVER_THREADS [2] LOADER_THREADS [1]
#   LOGIN_CONNECTIONS [50] ME_CONNECTIONS [200] ME_CONN_RATE [90]
#   FAN_SUBSCRIBERS [1000] FAN_RATE [100] FLOOD_CONNECTIONS [200]
#   SERVER_ARGS []            more `quantumvest serve` flags (e.g. --hash-queue 128)
#   SCRATCH [.build] SKIP_BUILD [0] OUT []   as in bench-echo.sh
#
# Every wait is bounded; the servers (and PostgreSQL) are stopped on any exit.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"

STORE="${STORE:-sqlite}"
PARTS="${PARTS:-logins me fanout}"
REPEATS="${REPEATS:-3}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
GRACE="${GRACE:-3}"
SERVER_THREADS="${SERVER_THREADS:-2}"
LOADER_THREADS="${LOADER_THREADS:-1}"
LOGIN_CONNECTIONS="${LOGIN_CONNECTIONS:-50}"
ME_CONNECTIONS="${ME_CONNECTIONS:-200}"
ME_CONN_RATE="${ME_CONN_RATE:-90}"
FAN_SUBSCRIBERS="${FAN_SUBSCRIBERS:-1000}"
FAN_RATE="${FAN_RATE:-100}"
FLOOD_CONNECTIONS="${FLOOD_CONNECTIONS:-200}"
SERVER_ARGS="${SERVER_ARGS:-}"
BENCH_EMAIL="${BENCH_EMAIL:-bench@example.com}"
PUBLISHER_KEY="bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
PASSWORD="pw-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
JWT_SECRET="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=../scripts/lib/postgres.sh
. "$ROOT/scripts/lib/postgres.sh"
trap 'cleanup; pg_stop' EXIT
bench_args 27 "[--help]" "${1:-}"
bench_setup qv-bench-auth

bench_gateway_setup qv-bench-auth

server_cmd() { # NAME PORT THREADS
    SERVER_CMD="$QUANTUMVEST serve --port $2 --threads $3 --publisher-key $PUBLISHER_KEY --jwt-secret $JWT_SECRET $STORE_ARGS $SERVER_ARGS"
}

CREDS="{\"email\":\"$BENCH_EMAIL\",\"password\":\"$PASSWORD\"}"
LOGIN="$(rpc_msg 1 auth.login "$CREDS")"


start() {
    PORT="$(free_port)"
    start_server quantumvest "$PORT" "$SERVER_THREADS" || exit 1
}

# The account: registered once per store (email_taken on a later start is fine).
register() {
    "$QVLOAD" rpc --url "ws://127.0.0.1:$PORT/ws" --connections 1 --duration 0.1 --warmup 0 \
        --setup "$(rpc_msg 1 auth.register "$CREDS")" --message "$(rpc_msg 2 auth.me)" >"$LOGDIR/register.txt" 2>&1 || true
    if grep -q '"ready":1' "$LOGDIR/register.txt"; then say "  registered $BENCH_EMAIL"; return 0; fi
    if grep -q 'email_taken' "$LOGDIR/register.txt"; then return 0; fi
    # Not fatal: the runs then show what the gateway answers (their error answers say why).
    say "  warning: auth.register failed:"
    grep 'first error' "$LOGDIR/register.txt" | sed 's/^/  /' >&2 || true
}


say "== accounts benchmark on $MACHINE (store: $STORE, server threads $SERVER_THREADS)"
LOGIN_RT=() LOGIN_ERR=() LOGIN_P99=() ME_RT=() ME_ERR=() ME_P99=() IDLE_P99=() FLOOD_P99=() RATIO=() FLOOD_RT=()
for rep in $(seq 1 "$REPEATS"); do
    say "-- round $rep of $REPEATS"
    if [[ " $PARTS " == *" logins "* ]]; then
        start
        register
        say "  (a) logins: $LOGIN_CONNECTIONS connections, auth.login in a closed loop"
        qv_rpc "logins-$rep" --connections "$LOGIN_CONNECTIONS" --inflight 1 --duration "$DURATION" --warmup "$WARMUP" --message "$LOGIN"
        LOGIN_RT+=("$(json_field "$RPC_JSON" rtps)") LOGIN_ERR+=("$(json_field "$RPC_JSON" error_answers_per_s)") LOGIN_P99+=("$(json_field "$RPC_JSON" p99_us)")
        stop_server
    fi
    if [[ " $PARTS " == *" me "* ]]; then
        start
        register
        say "  (b) auth.me: $ME_CONNECTIONS logged-in connections, at most $ME_CONN_RATE/s each"
        qv_rpc "me-$rep" --connections "$ME_CONNECTIONS" --inflight 1 --conn-rate "$ME_CONN_RATE" --duration "$DURATION" \
            --warmup "$WARMUP" --setup "$LOGIN" --message "$(rpc_msg 2 auth.me)"
        ME_RT+=("$(json_field "$RPC_JSON" rtps)") ME_ERR+=("$(json_field "$RPC_JSON" error_answers_per_s)") ME_P99+=("$(json_field "$RPC_JSON" p99_us)")
        stop_server
    fi
    if [[ " $PARTS " == *" fanout "* ]]; then
        for flood in 0 1; do
            start
            register
            fan_args=(fanout --url "ws://127.0.0.1:$PORT/ws" --publisher-key "$PUBLISHER_KEY" --subscribers "$FAN_SUBSCRIBERS"
                --channels 1 --publishers 1 --rate "$FAN_RATE" --duration "$DURATION" --warmup "$WARMUP" --grace "$GRACE"
                --threads "$LOADER_THREADS" --pid "$SERVER_PIDS")
            flood_pid=""
            if [ "$flood" = 1 ]; then
                # The flood (3 s ahead) outlasts the fan-out's setup, warm-up, window and grace.
                say "  (c) fan-out while $FLOOD_CONNECTIONS connections log in continuously"
                timeout $((${DURATION%.*} + ${WARMUP%.*} + ${GRACE%.*} + 120)) "$QVLOAD" rpc --url "ws://127.0.0.1:$PORT/ws" \
                    --connections "$FLOOD_CONNECTIONS" --inflight 1 --warmup 3 \
                    --duration $((${DURATION%.*} + ${WARMUP%.*} + ${GRACE%.*} + 5)) --message "$LOGIN" \
                    >"$LOGDIR/flood-$rep.txt" 2>&1 &
                flood_pid=$!
                STARTED_PIDS+=("$flood_pid")
                sleep 3
            else
                say "  (c) fan-out, idle"
            fi
            out="$LOGDIR/fanout-$flood-$rep.txt"
            timeout $((${DURATION%.*} + ${WARMUP%.*} + 180)) "$QVLOAD" "${fan_args[@]}" >"$out" 2>&1 || true
            grep -v '^{' "$out" | sed -n '1,8p' | sed 's/^/    /' >&2
            p99="$(json_field "$(grep '^{' "$out" | tail -n 1 || echo '{}')" p99_us)"
            if [ -n "$flood_pid" ]; then
                wait "$flood_pid" 2>/dev/null || true # it ends by itself soon after the fan-out
                sed -n '2,3p' "$LOGDIR/flood-$rep.txt" | sed 's/^/    flood: /' >&2
                FLOOD_RT+=("$(json_field "$(grep '^{' "$LOGDIR/flood-$rep.txt" | tail -n 1 || echo '{}')" rtps)")
                FLOOD_P99+=("$p99")
                idle="${IDLE_P99[$((${#IDLE_P99[@]} - 1))]:-}"
                if [ -n "$idle" ] && [ -n "$p99" ]; then RATIO+=("$(python3 -c "print(f'{$p99 / max($idle, 0.1):.2f}')")"); fi
            else
                IDLE_P99+=("$p99")
            fi
            stop_server
        done
    fi
done

{
    echo
    echo "### Accounts benchmark ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "- Machine: $MACHINE; loopback; store $STORE; quantumvest $SERVER_THREADS event loop(s), loader $LOADER_THREADS thread(s) per qv-load"
    echo "- Medians of $REPEATS rounds, $DURATION s measured after $WARMUP s warm-up; every figure per round is in $LOGDIR"
    echo
    echo "| measure | median | per round |"
    echo "|---|---|---|"
    if [[ " $PARTS " == *" logins "* ]]; then
        echo "| (a) logins/s, $LOGIN_CONNECTIONS connections | $(median "${LOGIN_RT[@]}") | ${LOGIN_RT[*]} |"
        echo "| (a) login error answers/s (busy and others) | $(median "${LOGIN_ERR[@]}") | ${LOGIN_ERR[*]} |"
        echo "| (a) login p99 µs | $(median "${LOGIN_P99[@]}") | ${LOGIN_P99[*]} |"
    fi
    if [[ " $PARTS " == *" me "* ]]; then
        echo "| (b) auth.me round trips/s, $ME_CONNECTIONS connections at ≤ $ME_CONN_RATE/s | $(median "${ME_RT[@]}") | ${ME_RT[*]} |"
        echo "| (b) auth.me error answers/s | $(median "${ME_ERR[@]}") | ${ME_ERR[*]} |"
        echo "| (b) auth.me p99 µs | $(median "${ME_P99[@]}") | ${ME_P99[*]} |"
    fi
    if [[ " $PARTS " == *" fanout "* ]]; then
        echo "| (c) delivery p99 µs, $FAN_SUBSCRIBERS subscribers at $FAN_RATE publishes/s, idle | $(median "${IDLE_P99[@]}") | ${IDLE_P99[*]} |"
        echo "| (c) the same during a login flood ($FLOOD_CONNECTIONS connections) | $(median "${FLOOD_P99[@]}") | ${FLOOD_P99[*]} |"
        echo "| (c) flooded / idle p99 | $(median "${RATIO[@]}") | ${RATIO[*]} |"
        echo "| (c) logins/s of the flood | $(median "${FLOOD_RT[@]}") | ${FLOOD_RT[*]} |"
    fi
} | tee ${OUT:+"$OUT"}
