#!/usr/bin/env bash
# Builds and runs the libFuzzer targets: WebSocketProtocol's decoder and HTTP parser, and JSON.
#
#   fuzz/run.sh [decoder|http|json|all] [SECONDS]      (defaults: all, 60 s per target)
#
# Binaries:   fuzz/.build-fuzz/fuzz-<target>          (gitignored by `.build*/`)
# Corpus:     fuzz/corpus-<target>/  new entries; seeds are read from fuzz/seeds/<target>/
# Crashes:    fuzz/corpus-crashes/<target>/          (gitignored by `/fuzz/corpus-*/`)
# Exit status: 0 when no target crashed, 1 otherwise (2 for a usage or build error).
# Extra libFuzzer flags can be passed in FUZZ_FLAGS, e.g. FUZZ_FLAGS="-jobs=4 -workers=4".
# WSP_SOURCES overrides the source folder (e.g. a copy with a planted bug, to check the oracle);
# JSON_SOURCES does the same for the json target.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
which="${1:-all}"
seconds="${2:-60}"
build="$here/.build-fuzz"

case "$which" in
    decoder) targets=(decoder) ;;
    http) targets=(http) ;;
    json) targets=(json) ;;
    all) targets=(decoder http json) ;;
    *) echo "usage: $0 [decoder|http|json|all] [SECONDS]" >&2; exit 2 ;;
esac
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "SECONDS must be a positive integer" >&2
    exit 2
fi

source_file() {
    case "$1" in
        decoder) echo "$here/DecoderFuzz.swift" ;;
        http) echo "$here/HTTPFuzz.swift" ;;
    esac
}

build_target() {
    local t="$1"
    mkdir -p "$build"
    echo "== building fuzz-$t"
    if [ "$t" = json ]; then
        build_json
        return
    fi
    # The module's sources compiled straight into the fuzzer (one module, no SwiftPM), with the
    # COpenSSL system module for SHA-1 in UpgradeHandshake.swift.
    # Build output goes to a log (ld.gold warns about every ASan symbol); shown on failure.
    if ! swiftc -sanitize=fuzzer,address -parse-as-library -O -g \
        -module-name WebSocketProtocolFuzz \
        -I "$root/Sources/COpenSSL" \
        "${WSP_SOURCES:-$root/Sources/WebSocketProtocol}"/*.swift "$here/Chunking.swift" "$(source_file "$t")" \
        -lssl -lcrypto \
        -o "$build/fuzz-$t" >"$build/build-$t.log" 2>&1; then
        grep -v "Cannot export local symbol" "$build/build-$t.log" >&2
        return 1
    fi
}

# JSON has no C dependencies: its sources and the entry point, as one module.
build_json() {
    if ! swiftc -sanitize=fuzzer,address -parse-as-library -O -g \
        -module-name JSONFuzz \
        "${JSON_SOURCES:-$root/Sources/JSON}"/*.swift "$here/JSONFuzz.swift" \
        -o "$build/fuzz-json" >"$build/build-json.log" 2>&1; then
        grep -v "Cannot export local symbol" "$build/build-json.log" >&2
        return 1
    fi
}

run_target() {
    local t="$1"
    local corpus="$here/corpus-$t" crashes="$here/corpus-crashes/$t"
    mkdir -p "$corpus" "$crashes"
    local before
    before=$(find "$crashes" -type f | wc -l)
    local dict=() seeds=()
    [ -f "$here/$t.dict" ] && dict=("-dict=$here/$t.dict")
    [ -d "$here/seeds/$t" ] && seeds=("$here/seeds/$t")
    echo "== fuzzing $t for ${seconds}s (corpus: $corpus, crashes: $crashes)"
    # Swift's own crash backtracer confuses ASan (a false stack-buffer-underflow); the fatal
    # error message is printed before it anyway.
    # shellcheck disable=SC2086
    SWIFT_BACKTRACE=enable=no "$build/fuzz-$t" "$corpus" "${seeds[@]}" "${dict[@]}" \
        -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$crashes/" -print_final_stats=1 ${FUZZ_FLAGS:-} \
        >"$build/fuzz-$t.log" 2>&1
    local status=$?
    tail -n 12 "$build/fuzz-$t.log"
    local after
    after=$(find "$crashes" -type f | wc -l)
    if [ "$status" -ne 0 ] || [ "$after" -gt "$before" ]; then
        echo "!! $t: libFuzzer exit $status; artifacts in $crashes (full log: $build/fuzz-$t.log)"
        grep -m1 -E "Fatal error|ERROR: AddressSanitizer|ERROR: libFuzzer" "$build/fuzz-$t.log" || true
        echo "   reproduce with: SWIFT_BACKTRACE=enable=no $build/fuzz-$t <artifact>"
        return 1
    fi
    echo "== $t: no crash"
    return 0
}

for t in "${targets[@]}"; do
    build_target "$t" || { echo "build of $t failed" >&2; exit 2; }
done
failed=0
for t in "${targets[@]}"; do
    run_target "$t" || failed=1
done
exit "$failed"
