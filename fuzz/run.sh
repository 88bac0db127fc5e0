#!/usr/bin/env bash
# fuzz/run.sh [seconds-per-target] [targets...]
#
# Builds the fuzz targets if needed (build-fuzz/, clang), then runs each target for the given
# time (default 600 s) on a fresh copy of its committed seed corpus, fuzz/corpus/<target>/,
# which is never written to. Prints each target's executions and whether it found anything;
# exits 1 if any target found something (a crash, a sanitizer report, a timeout over 10 s, memory
# over 2 GB, a leak), 2 on usage or build errors.
#
#   targets:    npy safetensors model_json png onnx (default: all; "fuzz_npy" works too)
#   build-fuzz/corpus/<target>/     the working corpus (the seeds plus what this run found)
#   build-fuzz/artifacts/<target>/  crashing inputs (crash-*, leak-*, timeout-*, oom-*)
#   build-fuzz/logs/<target>.log    libFuzzer's output
#
# Environment: FUZZ_JOBS (targets run at once; default: the number of CPUs), FUZZ_BUILD_DIR
# (default: build-fuzz at the repository root), CXX (default: clang++).
# To reproduce a finding: build-fuzz/fuzz_<target> build-fuzz/artifacts/<target>/crash-...
# then keep the input as a regression test in tests/data/fuzz_regressions/<target>/.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$repo/build-fuzz}
seconds=${1:-600}
[[ $# -gt 0 ]] && shift
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds < 1)); then
    echo "usage: $0 [seconds-per-target] [npy|safetensors|model_json|png|onnx ...]" >&2
    exit 2
fi

all_targets=(npy safetensors model_json png onnx)
targets=()
(($# == 0)) && set -- "${all_targets[@]}"
for t in "$@"; do
    t=${t#fuzz_}
    case " ${all_targets[*]} " in
        *" $t "*) targets+=("$t") ;;
        *) echo "$0: unknown target '$t' (known: ${all_targets[*]})" >&2; exit 2 ;;
    esac
done

# Longest input libFuzzer may generate, per format: room for headers plus a few small arrays,
# a model description several times the size of the real ones, a PNG of a few chunks, an ONNX
# graph of a few small layers with their weights.
max_len() {
    case $1 in
        npy) echo 4096 ;;
        safetensors) echo 8192 ;;
        model_json) echo 8192 ;;
        png) echo 16384 ;;
        onnx) echo 16384 ;;
    esac
}

# ---- build ------------------------------------------------------------------------------------
if [[ ! -f $build/CMakeCache.txt ]]; then
    cmake -S "$repo/fuzz" -B "$build" -DCMAKE_CXX_COMPILER="${CXX:-clang++}" || exit 2
fi
build_targets=()
for t in "${targets[@]}"; do build_targets+=(--target "fuzz_$t"); done
cmake --build "$build" -j"$(nproc)" "${build_targets[@]}" || exit 2

# ---- run --------------------------------------------------------------------------------------
jobs=${FUZZ_JOBS:-$(nproc)}
mkdir -p "$build/logs"

run_one() {
    local t=$1 corpus=$build/corpus/$1 artifacts=$build/artifacts/$1 log=$build/logs/$1.log
    rm -rf "$corpus"
    mkdir -p "$corpus" "$artifacts"
    cp "$repo/fuzz/corpus/$t/"* "$corpus/"
    # The model target's Context must not turn the validation layer on (slow and off-topic).
    env -u VKCONV_VALIDATION \
        ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}abort_on_error=1" \
        UBSAN_OPTIONS="${UBSAN_OPTIONS:-}${UBSAN_OPTIONS:+:}print_stacktrace=1:halt_on_error=1" \
        "$build/fuzz_$t" "$corpus" \
        -max_total_time="$seconds" -max_len="$(max_len "$t")" \
        -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 \
        >"$log" 2>&1
    echo $? >"$log.rc"
}

start=$(date +%s)
echo "fuzzing ${targets[*]} for ${seconds} s each, $jobs at a time (logs: $build/logs/)"
for t in "${targets[@]}"; do
    # Artifacts of earlier runs are kept but set aside, so only this run's count as findings.
    mkdir -p "$build/artifacts/$t"
    touch "$build/artifacts/$t/.run-started"
done
running=0
for t in "${targets[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if ((running >= jobs)); then
        wait -n
        running=$((running - 1))
    fi
done
wait

# ---- report -----------------------------------------------------------------------------------
status=0
printf '\n%-12s %14s %10s  %s\n' target executions corpus result
for t in "${targets[@]}"; do
    log=$build/logs/$t.log
    rc=$(cat "$log.rc" 2>/dev/null || echo "?")
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    [[ -z $execs ]] && execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    corpus_size=$(find "$build/corpus/$t" -type f | wc -l)
    mapfile -t found < <(find "$build/artifacts/$t" -type f \
        \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) \
        -newer "$build/artifacts/$t/.run-started")
    if [[ $rc == 0 && ${#found[@]} -eq 0 ]]; then
        result="nothing found"
    else
        status=1
        kind=$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [a-z-]+|runtime error: .*|fuzz_[a-z_]+: .*' "$log" | head -1)
        result="FOUND (exit $rc${kind:+: $kind}) ${found[*]:-see $log}"
    fi
    printf '%-12s %14s %10s  %s\n' "$t" "${execs:-?}" "$corpus_size" "$result"
done
echo "total wall time: $(($(date +%s) - start)) s"
exit $status
