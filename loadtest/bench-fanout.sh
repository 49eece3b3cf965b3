#!/usr/bin/env bash
# Fan-out benchmark: quantumvest's /ws pub/sub (JSON-RPC subscribe + publish) against
# uWebSockets' native pub/sub (through socketify, loadtest/peers/socketify_fanout.py), with
# the same `qv-load fanout` load for each, on this machine's loopback. Prints one Markdown
# table per case:
#   1k     1,000 subscribers on one channel
#   10k    10,000 subscribers on one channel
#   many   10,000 subscribers spread over 1,000 channels, 10 publishers
#
#   loadtest/bench-fanout.sh           build (release), run every case on every server
#   loadtest/bench-fanout.sh --help
#
# Environment (defaults in brackets):
#   CASES ["1k 10k many"]  SERVERS ["quantumvest socketify"]
#   RATE_1K [100] RATE_10K [10] RATE_MANY [10000]  publishes/s in all (paced); each case is
#                             100,000 deliveries/s by default
#   MANY_CHANNELS [1000] MANY_PUBLISHERS [10]
#   SIZE [0]                  pad each publish message to SIZE bytes (0: ~150 B, no pad)
#   DURATION [10] WARMUP [2] GRACE [3]
#   SERVER_THREADS [1] LOADER_THREADS [1]   quantumvest event loops / qv-load threads
#                             (the socketify peer is one process: uWS topics live in one loop)
#   PUBLISHER_KEY [random]    quantumvest --publisher-key, also sent by the publishers
#   CONNECT_RATE [2000]       new connections per second while setting up
#   SCRATCH [.build] SKIP_BUILD [0] OUT [] QUIET_PCT [10] QUIET_WAIT [120] OTHER_MAX [15]
#   RETRIES [2]               as in bench-echo.sh
#
# Loader and server are separate processes, each holding subscribers + publishers sockets;
# a case that would not fit the descriptor hard limit (ulimit -Hn) is skipped, not cut.
# Every wait is bounded; the script stops by itself.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"

CASES="${CASES:-1k 10k many}"
SERVERS="${SERVERS:-quantumvest socketify}"
RATE_1K="${RATE_1K:-100}"
RATE_10K="${RATE_10K:-10}"
RATE_MANY="${RATE_MANY:-10000}"
MANY_CHANNELS="${MANY_CHANNELS:-1000}"
MANY_PUBLISHERS="${MANY_PUBLISHERS:-10}"
SIZE="${SIZE:-0}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
GRACE="${GRACE:-3}"
SERVER_THREADS="${SERVER_THREADS:-1}"
LOADER_THREADS="${LOADER_THREADS:-1}"
PUBLISHER_KEY="${PUBLISHER_KEY:-bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')}"
CONNECT_RATE="${CONNECT_RATE:-2000}"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
bench_args 29 "[--help]" "${1:-}"
bench_setup qv-bench-fanout
SOCKETIFY="$HERE/peers/socketify_fanout.py"

if [ "$SKIP_BUILD" != 1 ]; then
    say "== building (release)"
    say "  qv-load"
    swiftpm_build --product qv-load || { say "qv-load did not build"; exit 1; }
    if [[ " $SERVERS " == *" quantumvest "* ]]; then
        say "  quantumvest"
        swiftpm_build --product quantumvest || { say "quantumvest did not build"; exit 1; }
    fi
    if [[ " $SERVERS " == *" socketify "* ]]; then socketify_venv; fi
fi
[ -x "$QVLOAD" ] || { say "no qv-load at $QVLOAD"; exit 1; }

# Both the loader and the servers get the hard limit as their soft limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT="$(ulimit -n)"

server_cmd() { # NAME PORT THREADS
    case "$1" in
    quantumvest) SERVER_CMD="$QUANTUMVEST serve --port $2 --publisher-key $PUBLISHER_KEY --threads $3" ;;
    socketify) SERVER_CMD="$VENV/bin/python $SOCKETIFY $2 --workers 1" ;;
    esac
}

# fanout_args SERVER SUBSCRIBERS CHANNELS PUBLISHERS RATE
fanout_args() {
    local a
    case "$1" in
    quantumvest) a="--url ws://127.0.0.1:@PORT@/ws --publisher-key $PUBLISHER_KEY" ;;
    socketify) a="--url ws://127.0.0.1:@PORT@/ --protocol raw" ;;
    esac
    a="$a --subscribers $2 --channels $3 --publishers $4 --rate $5 --duration $DURATION --warmup $WARMUP"
    a="$a --grace $GRACE --threads $LOADER_THREADS --connect-rate $CONNECT_RATE --pid @PID@"
    [ "$SIZE" -gt 0 ] && a="$a --size $SIZE"
    printf '%s' "$a"
}

say "== fan-out benchmark on $MACHINE"
say "   server threads $SERVER_THREADS (socketify: 1 process), loader threads $LOADER_THREADS, descriptors $FD_LIMIT"
TABLES=()
for case_name in $CASES; do
    case "$case_name" in
    1k) subs=1000 channels=1 pubs=1 rate="$RATE_1K" title="1,000 subscribers, one channel" ;;
    10k) subs=10000 channels=1 pubs=1 rate="$RATE_10K" title="10,000 subscribers, one channel" ;;
    many) subs=10000 channels="$MANY_CHANNELS" pubs="$MANY_PUBLISHERS" rate="$RATE_MANY"
        title="10,000 subscribers over $MANY_CHANNELS channels" ;;
    *) say "unknown case '$case_name'"; continue ;;
    esac
    deliveries=$(python3 -c "print(f'{round($rate * $subs / $channels):,}')")
    desc="$title: $pubs publisher(s), $rate publishes/s in all ($deliveries deliveries/s expected), $([ "$SIZE" -gt 0 ] && echo "$SIZE B messages" || echo "unpadded messages"), $DURATION s after $WARMUP s warm-up"
    say "-- $desc"
    rows=()
    if [ $((subs + pubs + 64)) -gt "$FD_LIMIT" ]; then
        say "  skipped: $((subs + pubs)) sockets do not fit the descriptor limit $FD_LIMIT"
        TABLES+=("$(printf '\n#### %s\n\nskipped: %s sockets per process exceed the descriptor limit %s\n' "$title" "$((subs + pubs))" "$FD_LIMIT")")
        continue
    fi
    for name in $SERVERS; do
        label="$name"
        case "$name" in
        quantumvest) label="quantumvest (/ws JSON-RPC)" ;;
        socketify) label="uWebSockets pub/sub (socketify)" ;;
        *) say "unknown server '$name'"; continue ;;
        esac
        say "-- $label"
        # shellcheck disable=SC2046
        if run_measured "$name" "$name-$case_name" fanout $(fanout_args "$name" "$subs" "$channels" "$pubs" "$rate"); then
            jf() { json_field "$RUN_JSON" "$1"; }
            rows+=("| $label | $(jf subscribed) | $(jf publishes_per_s) | $(jf deliveries_per_s) | $(jf expected) | $(jf received) | $(jf lost) | $(jf p50_us) | $(jf p99_us) | $(jf p999_us) | $(jf max_us) | $(jf errors) | $(jf server_cpu_pct) | $(jf loader_cpu_pct) | $(jf other_cpu_pct) |")
        else
            rows+=("| $label | failed | | | | | | | | | | | | | |")
        fi
    done
    TABLES+=("$(
        echo
        echo "#### $title"
        echo
        echo "$desc."
        echo "Command: \`qv-load fanout $(fanout_args quantumvest "$subs" "$channels" "$pubs" "$rate" | sed 's/@PORT@/PORT/; s/@PID@/SERVER_PID/; s/--publisher-key [^ ]*/--publisher-key KEY/')\` (socketify: \`--url ws://127.0.0.1:PORT/ --protocol raw\`)"
        echo
        echo "| server | subscribed | publishes/s | deliveries/s | expected | received | lost | p50 µs | p99 µs | p99.9 µs | max µs | errors | server CPU % | loader CPU % | other CPU % |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        printf '%s\n' "${rows[@]}"
    )")
done

{
    echo
    echo "### WebSocket fan-out benchmark ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "- Machine: $MACHINE; loopback"
    echo "- Threads: quantumvest $SERVER_THREADS event loop(s), socketify 1 process, loader $LOADER_THREADS; all share the $(nproc) cores"
    echo "- Latency: publisher's send time (CLOCK_MONOTONIC, carried as \"sent\" in the data) to the subscriber's read; lost = expected - received after a grace of up to $GRACE s"
    echo "- CPU busy with other work in the second before each run: ${BUSY_NOTES[*]:-n/a}"
    echo "- Servers: \`quantumvest serve --port PORT --publisher-key KEY --threads $SERVER_THREADS\`, \`socketify_fanout.py PORT\`"
    printf '%s\n' "${TABLES[@]}"
} | tee ${OUT:+"$OUT"}
