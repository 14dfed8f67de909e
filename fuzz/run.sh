#!/usr/bin/env bash
# Builds and runs the pods fuzz targets (cargo-fuzz / libFuzzer) on stable Rust.
#
#   fuzz/run.sh --smoke              every target a few seconds (+ replay fuzz/regressions/), for CI
#   fuzz/run.sh --minutes N [T...]   each target (or only T...) N minutes, one after another,
#                                    then a table of executions, corpus size and coverage
#   fuzz/run.sh --list               the targets
#
# Works from any directory. Everything runs under `nice -n 19`, one fuzzer at a time.
# Environment: PODS_FUZZ_SANITIZER (default none: stable Rust has no -Zsanitizer; use
# "address" on nightly), PODS_FUZZ_SMOKE_SECONDS (default 5).
set -euo pipefail

FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SANITIZER="${PODS_FUZZ_SANITIZER:-none}"
SMOKE_SECONDS="${PODS_FUZZ_SMOKE_SECONDS:-5}"
NICE=(nice -n 19)

usage() {
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit "${1:-2}"
}

mode=""
minutes=""
selected=()
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) mode=smoke ;;
        --minutes)
            mode=minutes
            minutes="${2:-}"
            shift
            [[ "$minutes" =~ ^[0-9]+$ ]] && [ "$minutes" -gt 0 ] || { echo "--minutes needs a positive whole number" >&2; exit 2; }
            ;;
        --list) mode=list ;;
        -h|--help) usage 0 ;;
        -*) echo "unknown option $1" >&2; usage ;;
        *) selected+=("$1") ;;
    esac
    shift
done
[ -n "$mode" ] || usage

command -v cargo-fuzz >/dev/null 2>&1 || {
    echo "cargo-fuzz is not installed: nice -n 19 cargo install cargo-fuzz --locked" >&2
    exit 1
}

cd "$FUZZ_DIR"
mapfile -t all_targets < <(cargo fuzz list)
if [ "$mode" = list ]; then
    printf '%s\n' "${all_targets[@]}"
    exit 0
fi
if [ ${#selected[@]} -eq 0 ]; then
    targets=("${all_targets[@]}")
else
    for t in "${selected[@]}"; do
        printf '%s\n' "${all_targets[@]}" | grep -qx -- "$t" || { echo "no fuzz target named $t" >&2; exit 2; }
    done
    targets=("${selected[@]}")
fi

echo "== building ${#targets[@]} fuzz targets (sanitizer: $SANITIZER)"
"${NICE[@]}" cargo fuzz build --sanitizer "$SANITIZER"
triple="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="$FUZZ_DIR/target/$triple/release"

# Runs one fuzzer: binary, log file, then libFuzzer arguments. Returns its exit code.
fuzz() {
    local target="$1" log="$2"
    shift 2
    # A target whose seeds are not committed yet (git keeps no empty folder) starts empty.
    mkdir -p "$FUZZ_DIR/artifacts/$target" "$FUZZ_DIR/corpus/$target"
    "${NICE[@]}" "$bin_dir/$target" \
        -artifact_prefix="$FUZZ_DIR/artifacts/$target/" \
        -timeout=10 -print_final_stats=1 "$@" >"$log" 2>&1
}

# Prints "execs cov ft corpus" from a libFuzzer log (the last status line and final stats).
stats() {
    local log="$1" line execs cov ft corp
    line="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$line")"
    ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$line")"
    corp="$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$line")"
    echo "${execs:-?} ${cov:-?} ${ft:-?} ${corp:-?}"
}

# Shows why a run failed: the panic or sanitizer report and where the input went.
explain() {
    local target="$1" log="$2"
    echo "!! $target FAILED (log: $log)"
    # `|| true`: a log without a panic (the fuzzer did not start) must not end the script.
    grep -E "panicked at|^==[0-9]+==ERROR|ERROR: libFuzzer|SUMMARY|Test unit written to|^Running: " "$log" | head -n 20 | sed 's/^/   /' || true
    grep -A3 "panicked at" "$log" | head -n 8 | sed 's/^/   /' || true
    tail -n 3 "$log" | sed 's/^/   /'
}

logs="$FUZZ_DIR/logs"
mkdir -p "$logs"
failed=()

if [ "$mode" = smoke ]; then
    for t in "${targets[@]}"; do
        # 1. Replay committed crash reproducers: each must now pass.
        shopt -s nullglob
        regressions=("$FUZZ_DIR/regressions/$t"/*)
        shopt -u nullglob
        if [ ${#regressions[@]} -gt 0 ]; then
            if fuzz "$t" "$logs/$t.regressions.log" "${regressions[@]}"; then
                echo "   $t: ${#regressions[@]} regression input(s) pass"
            else
                explain "$t" "$logs/$t.regressions.log"
                failed+=("$t")
                continue
            fi
        fi
        # 2. Fuzz a few seconds from the seeds; new inputs go to a throw-away directory.
        scratch="$(mktemp -d)"
        if fuzz "$t" "$logs/$t.smoke.log" -max_total_time="$SMOKE_SECONDS" "$scratch" "$FUZZ_DIR/corpus/$t"; then
            read -r execs cov ft corp <<<"$(stats "$logs/$t.smoke.log")"
            printf '   %-18s ok  execs %-9s cov %-5s ft %-6s corpus %s\n' "$t" "$execs" "$cov" "$ft" "$corp"
        else
            explain "$t" "$logs/$t.smoke.log"
            failed+=("$t")
        fi
        rm -rf "$scratch"
    done
else
    seconds=$((minutes * 60))
    table=()
    for t in "${targets[@]}"; do
        # The working corpus (fuzz/work/<target>, not committed) keeps growing across runs;
        # the committed seeds in fuzz/corpus/<target> are only read.
        work="$FUZZ_DIR/work/$t"
        mkdir -p "$work"
        log="$logs/$t.log"
        echo "== $t: $minutes min (log: $log)"
        status=ok
        if ! fuzz "$t" "$log" -max_total_time="$seconds" "$work" "$FUZZ_DIR/corpus/$t"; then
            status=CRASH
            explain "$t" "$log"
            failed+=("$t")
        fi
        read -r execs cov ft corp <<<"$(stats "$log")"
        eps="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
        table+=("$(printf '%-18s %-6s %12s %9s %7s %7s %s' "$t" "$status" "$execs" "${eps:-?}" "$cov" "$ft" "$corp")")
    done
    echo
    printf '%-18s %-6s %12s %9s %7s %7s %s\n' target status execs exec/s cov ft corpus
    printf '%s\n' "${table[@]}"
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]} (crash inputs under $FUZZ_DIR/artifacts/<target>/)" >&2
    exit 1
fi
echo "all ${#targets[@]} targets passed"
