#!/usr/bin/env bash
# Runs Autobahn|Testsuite's fuzzingclient (sections 1-13 by default; there is no 8 or 11) against
# `quantumvest serve --echo` and compares every case's result with expected.json beside this
# script (as Tungstenite does): any difference, better or worse, fails, so a change in
# behaviour is always noticed and the expectations are updated on purpose.
#   check.sh PATH/TO/quantumvest [--update]      (CASES='["1.*"]' narrows the run; TLS=1 runs over wss://)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:?usage: check.sh PATH/TO/quantumvest [--update]}"
mode="${2:-}"
cases="${CASES:-[\"1.*\",\"2.*\",\"3.*\",\"4.*\",\"5.*\",\"6.*\",\"7.*\",\"9.*\",\"10.*\",\"12.*\",\"13.*\"]}"
# The workplace's copy sits beside the project (../shared); a clone elsewhere finds it through
# AUTOBAHN_SH or at /work/shared.
autobahn="${AUTOBAHN_SH:-}"
for candidate in "$here/../../../shared/tools/autobahn.sh" /work/shared/tools/autobahn.sh; do
  [ -n "$autobahn" ] && break
  [ -x "$candidate" ] && autobahn="$candidate"
done
[ -n "$autobahn" ] || { echo "autobahn: cannot find shared/tools/autobahn.sh (set AUTOBAHN_SH)"; exit 1; }

work="$(mktemp -d -t qv-autobahn.XXXXXX)"
out="$work/server.out"
# TLS=1: the same run over wss:// with a throwaway self-signed certificate.
tls_args=()
scheme=ws
if [ "${TLS:-0}" = "1" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=127.0.0.1 \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
  tls_args=(--tls-cert "$work/cert.pem" --tls-key "$work/key.pem")
  scheme=wss
fi
# 16 MiB: section 9 sends messages that large.
"$bin" serve --port 0 --echo --max-message 16777216 --threads "${THREADS:-2}" --log-level warning "${tls_args[@]}" >"$out" 2>"$work/server.err" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q "listening on" "$out" 2>/dev/null && break; sleep 0.1; done
port="$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out")"
[ -n "$port" ] || { echo "autobahn: server did not start"; cat "$work/server.err"; exit 1; }

# The suite's own Python is the bottleneck (the server idles at ~20 % CPU), and sections 12-13
# are most of the time: the full run is split in two halves run side by side, one wstest per
# core. Only once the wstest environment exists: two first-time installs would collide.
venv="${AB_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/autobahn-py27}"
if [ -z "${CASES:-}" ] && [ ! -x "$venv/bin/wstest" ]; then
  # A new machine: install wstest once with a one-case run, so the full run can still split
  # (one wstest for everything took 963-1156 s against its 1500 s bound).
  AB_WORKDIR="$work/install" "$autobahn" "$scheme://127.0.0.1:$port/echo" '["1.1.1"]' >"$work/install.out" 2>&1 || true
fi
if [ -z "${CASES:-}" ] && [ -x "$venv/bin/wstest" ]; then
  groups=('["1.*","2.*","3.*","4.*","5.*","6.*","7.*","9.*","10.*","12.*"]' '["13.*"]')
else
  groups=("$cases")
fi
pids=()
for i in "${!groups[@]}"; do
  AB_WORKDIR="$work/ab$i" AB_TIMEOUT="${AB_TIMEOUT:-1500}" "$autobahn" "$scheme://127.0.0.1:$port/echo" "${groups[$i]}" \
    >"$work/autobahn$i.out" 2>&1 &
  pids+=($!)
done
indexes=()
for i in "${!groups[@]}"; do
  rc=0
  wait "${pids[$i]}" || rc=$?
  tail -4 "$work/autobahn$i.out"
  index="$work/ab$i/reports/servers/index.json"
  [ -s "$index" ] || { echo "autobahn: no report for ${groups[$i]} (rc=$rc)"; cat "$work/autobahn$i.out"; exit 1; }
  indexes+=("$index")
done

kill -TERM $pid
wait $pid || { echo "autobahn: server did not exit 0 after SIGTERM"; exit 1; }
trap - EXIT

python3 - "$here/expected.json" "$mode" "${indexes[@]}" <<'PY'
import json, sys
expected_path, mode, indexes = sys.argv[1], sys.argv[2], sys.argv[3:]
actual = {}
for index in indexes:
    with open(index) as f:
        data = json.load(f)
    for agent, cases in data.items():
        for cid, r in cases.items():
            actual[cid] = [r["behavior"], r["behaviorClose"]]
key = lambda c: [int(p) for p in c.split(".")]
if mode == "--update":
    with open(expected_path, "w") as f:
        lines = [f'  {json.dumps(c)}: {json.dumps(actual[c])}' for c in sorted(actual, key=key)]
        f.write("{\n" + ",\n".join(lines) + "\n}\n")
    print(f"autobahn: wrote {len(actual)} expectations to {expected_path}")
    sys.exit(0)
with open(expected_path) as f:
    expected = json.load(f)
diffs = []
for c in sorted(set(actual) | set(expected), key=key):
    a, e = actual.get(c), expected.get(c)
    if a != e and (c in actual):
        diffs.append(f"  {c}: expected {e}, got {a}")
    elif a is None and c in expected:
        # narrowed runs (CASES=...) only check what ran
        pass
failed = [c for c, (b, bc) in actual.items() if b == "FAILED" or bc == "FAILED"]
print(f"autobahn: {len(actual)} cases run, {len(failed)} FAILED, {len(diffs)} differ from expected.json")
for d in diffs:
    print(d)
sys.exit(1 if diffs or failed else 0)
PY
