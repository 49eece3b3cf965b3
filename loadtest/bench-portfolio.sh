#!/usr/bin/env bash
# Portfolio benchmark (contracts 2b, 2c) against a release quantumvest on this machine's loopback:
#   (a) portfolio.addTransaction/s: TX_CONNECTIONS logged-in connections, each with a portfolio of
#       its own (made in setup), buying in a closed loop (one in flight, at most TX_CONN_RATE/s
#       each: the per-connection limit is 100/s); every answer is a committed transaction with
#       its outbox row, published by the relay
#   (b) risk.metrics latency: RISK_CONNECTIONS connections asking for the metrics of one
#       20-holding portfolio over 252 days (lookback 252), the bars imported first with
#       `quantumvest import-bars` (RISK_DAYS days of generated daily bars for 21 symbols)
# Each REPEATS times; medians printed as a Markdown table. STORE=sqlite|postgres.
#
#   loadtest/bench-portfolio.sh            build (release), run everything
#   loadtest/bench-portfolio.sh --help
#
# Environment (defaults in brackets):
#   STORE [sqlite]  PARTS ["tx risk"]  REPEATS [3] DURATION [10] WARMUP [2] SERVER_THREADS [2]
#   LOADER_THREADS [1] TX_CONNECTIONS [64] TX_CONN_RATE [90] RISK_CONNECTIONS [4] RISK_DAYS [400]
#   SERVER_ARGS []  SCRATCH [.build] SKIP_BUILD [0] OUT []   as in bench-echo.sh
#
# Every wait is bounded; the servers (and PostgreSQL) are stopped on any exit.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"

STORE="${STORE:-sqlite}"
PARTS="${PARTS:-tx risk}"
REPEATS="${REPEATS:-3}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
SERVER_THREADS="${SERVER_THREADS:-2}"
LOADER_THREADS="${LOADER_THREADS:-1}"
TX_CONNECTIONS="${TX_CONNECTIONS:-64}"
TX_CONN_RATE="${TX_CONN_RATE:-90}"
RISK_CONNECTIONS="${RISK_CONNECTIONS:-4}"
RISK_DAYS="${RISK_DAYS:-400}"
SERVER_ARGS="${SERVER_ARGS:-}"
PASSWORD="pw-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
JWT_SECRET="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=../scripts/lib/postgres.sh
. "$ROOT/scripts/lib/postgres.sh"
trap 'cleanup; pg_stop' EXIT
bench_args 20 "[--help]" "${1:-}"
bench_setup qv-bench-portfolio

bench_gateway_setup qv-bench-portfolio

server_cmd() { # NAME PORT THREADS
    SERVER_CMD="$QUANTUMVEST serve --port $2 --threads $3 --jwt-secret $JWT_SECRET $STORE_ARGS $SERVER_ARGS"
}
creds() { printf '{"email":"%s","password":"%s"}' "$1" "$PASSWORD"; }


start() {
    PORT="$(free_port)"
    start_server quantumvest "$PORT" "$SERVER_THREADS" || exit 1
}

# register EMAIL: once per store (email_taken later is fine).
register() {
    "$QVLOAD" rpc --url "ws://127.0.0.1:$PORT/ws" --connections 1 --duration 0.1 --warmup 0 \
        --setup "$(rpc_msg 1 auth.register "$(creds "$1")")" --message "$(rpc_msg 2 auth.me)" >"$LOGDIR/register.txt" 2>&1 || true
}

# The bars for (b): 21 symbols (S00..S19 held, SPY the benchmark), RISK_DAYS weekdays before today.
BARS="$LOGDIR/bars.csv"
python3 - "$BARS" "$RISK_DAYS" <<'PY'
import datetime, random, sys
path, days = sys.argv[1], int(sys.argv[2])
random.seed(7)
today = datetime.datetime.now(datetime.timezone.utc).date()
dates = []
d = today - datetime.timedelta(days=1)
while len(dates) < days:
    if d.weekday() < 5:
        dates.append(d)
    d -= datetime.timedelta(days=1)
dates.reverse()
with open(path, "w") as f:
    f.write("symbol,date,open,high,low,close,volume\n")
    for s in [f"S{i:02d}" for i in range(20)] + ["SPY"]:
        p = random.uniform(20, 400)
        for day in dates:
            p *= 1 + random.gauss(0.0003, 0.015)
            c = round(p, 2)
            f.write(f"{s},{day.isoformat()},{c:.2f},{c * 1.01:.2f},{c * 0.99:.2f},{c:.2f},{random.randint(1000, 90000)}\n")
PY


say "== portfolio benchmark on $MACHINE (store: $STORE, server threads $SERVER_THREADS)"
TX_RT=() TX_ERR=() TX_P99=() RISK_RT=() RISK_P50=() RISK_P99=() RISK_ERR=()
if [[ " $PARTS " == *" risk "* ]]; then
    say "  importing $RISK_DAYS days of bars for 21 symbols"
    # shellcheck disable=SC2086
    "$QUANTUMVEST" import-bars "$BARS" $STORE_ARGS >"$LOGDIR/import.txt" 2>&1 || { say "import-bars failed:"; tail -n 5 "$LOGDIR/import.txt" >&2; exit 1; }
fi
for rep in $(seq 1 "$REPEATS"); do
    say "-- round $rep of $REPEATS"
    if [[ " $PARTS " == *" tx "* ]]; then
        start
        register "tx$rep@example.com"
        note_background "tx-$rep"
        say "  (a) addTransaction: $TX_CONNECTIONS connections, each its own portfolio, at most $TX_CONN_RATE/s each"
        qv_rpc "tx-$rep" --connections "$TX_CONNECTIONS" --inflight 1 --conn-rate "$TX_CONN_RATE" --duration "$DURATION" \
            --warmup "$WARMUP" --setup "$(rpc_msg 1 auth.login "$(creds "tx$rep@example.com")")" \
            --setup "$(rpc_msg 2 portfolio.create '{"name":"bench"}')" --capture portfolioId \
            --message "$(rpc_msg 3 portfolio.addTransaction '{"portfolioId":"$portfolioId","symbol":"AAPL","side":"buy","quantity":"1.5","price":"187.25","fee":"0.35"}')"
        TX_RT+=("$(json_field "$RPC_JSON" rtps)") TX_ERR+=("$(json_field "$RPC_JSON" error_answers_per_s)") TX_P99+=("$(json_field "$RPC_JSON" p99_us)")
        stop_server
    fi
    if [[ " $PARTS " == *" risk "* ]]; then
        start
        register "risk$rep@example.com"
        setup=(--setup "$(rpc_msg 1 auth.login "$(creds "risk$rep@example.com")")" --setup "$(rpc_msg 2 portfolio.create '{"name":"risk"}')")
        for i in $(seq 0 19); do
            s="$(printf 'S%02d' "$i")"
            setup+=(--setup "$(rpc_msg $((i + 3)) portfolio.addTransaction "{\"portfolioId\":\"\$portfolioId\",\"symbol\":\"$s\",\"side\":\"buy\",\"quantity\":\"$((i + 3))\",\"price\":\"10\"}")")
        done
        note_background "risk-$rep"
        say "  (b) risk.metrics: $RISK_CONNECTIONS connections, 20 holdings, lookback 252"
        qv_rpc "risk-$rep" --connections "$RISK_CONNECTIONS" --inflight 1 --duration "$DURATION" --warmup "$WARMUP" \
            "${setup[@]}" --capture portfolioId --message "$(rpc_msg 30 risk.metrics '{"portfolioId":"$portfolioId","lookback":252}')"
        RISK_RT+=("$(json_field "$RPC_JSON" rtps)") RISK_P50+=("$(json_field "$RPC_JSON" p50_us)") RISK_P99+=("$(json_field "$RPC_JSON" p99_us)")
        RISK_ERR+=("$(json_field "$RPC_JSON" error_answers_per_s)")
        stop_server
    fi
done

{
    echo
    echo "### Portfolio benchmark ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "- Machine: $MACHINE; loopback; store $STORE; quantumvest $SERVER_THREADS event loop(s)"
    echo "- Medians of $REPEATS rounds, $DURATION s measured after $WARMUP s warm-up; other load before each run: ${BUSY_NOTES[*]:-n/a}"
    echo
    echo "| measure | median | per round |"
    echo "|---|---|---|"
    if [ "${#TX_RT[@]}" -gt 0 ]; then
        echo "| (a) addTransaction/s, $TX_CONNECTIONS connections (own portfolios, ≤ $TX_CONN_RATE/s each) | $(median "${TX_RT[@]}") | ${TX_RT[*]} |"
        echo "| (a) error answers/s | $(median "${TX_ERR[@]}") | ${TX_ERR[*]} |"
        echo "| (a) p99 µs | $(median "${TX_P99[@]}") | ${TX_P99[*]} |"
    fi
    if [ "${#RISK_RT[@]}" -gt 0 ]; then
        echo "| (b) risk.metrics/s, $RISK_CONNECTIONS connections, 20 holdings × 252 days | $(median "${RISK_RT[@]}") | ${RISK_RT[*]} |"
        echo "| (b) risk.metrics p50 µs | $(median "${RISK_P50[@]}") | ${RISK_P50[*]} |"
        echo "| (b) risk.metrics p99 µs | $(median "${RISK_P99[@]}") | ${RISK_P99[*]} |"
        echo "| (b) error answers/s | $(median "${RISK_ERR[@]}") | ${RISK_ERR[*]} |"
    fi
} | tee -a "${OUT:-/dev/null}"
