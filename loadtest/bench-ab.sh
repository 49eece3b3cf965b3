#!/usr/bin/env bash
# Before/after: the same qv-load runs against two quantumvest binaries, interleaved
# (A B A B …), so whatever else the machine does hits both alike. For a refactoring that must
# stay "within noise": build the old commit in a worktree, then
#   loadtest/bench-ab.sh OLD/.build/release/quantumvest .build/release/quantumvest
# Prints one line per run (mode, binary, the qv-load figures) and the median per mode and binary.
#
# Environment (defaults in brackets):
#   REPS [3]  MODES ["echo fanout-1k fanout-10k fanout-many"]  DURATION [10] WARMUP [2]
#   QVLOAD [.build/release/qv-load]  SERVER_THREADS [1]  LOADER_THREADS [1]
# Loads (the same as bench-echo.sh's and bench-fanout.sh's defaults):
#   echo          100 connections x 8 in flight x 64 B text on /echo
#   fanout-1k     1,000 subscribers, one channel, 1,000 publishes/s (1M deliveries/s)
#   fanout-10k    10,000 subscribers, one channel, 10 publishes/s (100k deliveries/s)
#   fanout-many   10,000 subscribers over 1,000 channels, 10 publishers, 8,000 publishes/s
# Every wait is bounded; the script stops by itself.
set -euo pipefail
[ $# -eq 2 ] || { sed -n '2,16p' "$0" >&2; exit 2; }
A="$1" B="$2"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QVLOAD="${QVLOAD:-$ROOT/.build/release/qv-load}"
REPS="${REPS:-3}"
MODES="${MODES:-echo fanout-1k fanout-10k fanout-many}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
SERVER_THREADS="${SERVER_THREADS:-1}"
LOADER_THREADS="${LOADER_THREADS:-1}"
KEY="ab-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
for f in "$A" "$B" "$QVLOAD"; do [ -x "$f" ] || { echo "not executable: $f" >&2; exit 2; }; done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
LOG="$(mktemp -d -t qv-ab.XXXXXX)"
SERVER=""
trap '[ -n "$SERVER" ] && kill -KILL "$SERVER" 2>/dev/null; true' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # BINARY PORT
    "$1" serve --port "$2" --threads "$SERVER_THREADS" --echo --publisher-key "$KEY" >"$LOG/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 1 300); do
        grep -q 'listening on' "$LOG/server.log" && return 0
        kill -0 "$SERVER" 2>/dev/null || { tail -5 "$LOG/server.log" >&2; return 1; }
        sleep 0.1
    done
    return 1
}

stop() {
    kill -TERM "$SERVER" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
}

load_args() { # MODE PORT PID
    local common="--duration $DURATION --warmup $WARMUP --threads $LOADER_THREADS --pid $3"
    case "$1" in
    echo) echo "echo --url ws://127.0.0.1:$2/echo --connections 100 --inflight 8 --size 64 $common" ;;
    fanout-1k) echo "fanout --url ws://127.0.0.1:$2/ws --publisher-key $KEY --subscribers 1000 --channels 1 --publishers 1 --rate 1000 --grace 3 $common" ;;
    fanout-10k) echo "fanout --url ws://127.0.0.1:$2/ws --publisher-key $KEY --subscribers 10000 --channels 1 --publishers 1 --rate 10 --grace 3 $common" ;;
    fanout-many) echo "fanout --url ws://127.0.0.1:$2/ws --publisher-key $KEY --subscribers 10000 --channels 1000 --publishers 10 --rate 8000 --grace 3 $common" ;;
    *) echo "unknown mode $1" >&2; return 1 ;;
    esac
}

: >"$LOG/results.jsonl"
for rep in $(seq 1 "$REPS"); do
    for mode in $MODES; do
        for side in A B; do
            bin="$A"; [ "$side" = B ] && bin="$B"
            port="$(free_port)"
            start "$bin" "$port" || { echo "$side did not start" >&2; exit 1; }
            # shellcheck disable=SC2046
            out="$(timeout $((DURATION + WARMUP + 180)) "$QVLOAD" $(load_args "$mode" "$port" "$SERVER") 2>/dev/null | grep '^{' | tail -1 || true)"
            stop
            [ -n "$out" ] || { echo "$mode $side rep $rep: no result" >&2; continue; }
            python3 - "$mode" "$side" "$rep" "$out" >>"$LOG/results.jsonl" <<'EOF'
import json, sys
mode, side, rep, line = sys.argv[1:]
r = json.loads(line)
r.update(mode=mode, side=side, rep=int(rep))
print(json.dumps(r))
EOF
            tail -1 "$LOG/results.jsonl" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
keys = [k for k in ("rtps", "deliveries_per_s", "lost", "p50_us", "p99_us", "p999_us", "server_cpu_pct", "other_cpu_pct") if k in r]
print(r["mode"], r["side"], "rep", r["rep"], " ".join(f"{k}={r[k]}" for k in keys))'
        done
    done
done
python3 - "$LOG/results.jsonl" "$A" "$B" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"\nmedians (A = {sys.argv[2]}, B = {sys.argv[3]})")
for mode in dict.fromkeys(r["mode"] for r in rows):
    for side in "AB":
        rs = [r for r in rows if r["mode"] == mode and r["side"] == side]
        if not rs: continue
        keys = [k for k in ("rtps", "deliveries_per_s", "lost", "p50_us", "p99_us", "p999_us", "server_cpu_pct", "other_cpu_pct") if k in rs[0]]
        med = {k: statistics.median(r[k] for r in rs if k in r) for k in keys}
        print(mode, side, f"({len(rs)} runs)", " ".join(f"{k}={med[k]:g}" for k in keys))
EOF
echo "raw results: $LOG/results.jsonl"
