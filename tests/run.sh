#!/usr/bin/env bash
# tests/run.sh: run every C unit test and every bats file, then print one line
# "N passed, N failed, N skipped". Exit status is non-zero when anything failed.
#   --unit-only   C unit tests only
#   --gpu         the CPU-vs-CUDA parity tests (tests/gpu) only; under GSG_REQUIRE_GPU=1 (gpu-check) a
#                 skip is a failure and so is a run that finds no test binary or passes nothing
#   --bats FILE.. these bats files only (.ci/run: the reference tests after `make test`)
# GSG_TEST_SAN=1 also builds the unit tests and tools under ASan+UBSan (build/san) and runs the units
# (fuzz corpora included) and the bats of GSG_TEST_SAN_BATS (folders or files; default below) against
# them, in the same summary with a "san:" prefix.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export GSG_BUILD=$BUILD
export PATH="$PWD/$BUILD/bin:$PATH"
mode=${1:-all}
pass=0 fail=0 skip=0
failed_names=()
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

run_unit() {   # $1 = binary, $2 = label prefix
    local b=$1 pre=$2 out rc name p f s
    out="$log/$(basename "$b").$pre.out"
    "$b" >"$out" 2>&1; rc=$?
    p=$(grep -c '^PASS ' "$out"); f=$(grep -c '^FAIL ' "$out"); s=$(grep -c '^SKIP ' "$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL $pre$(basename "$b"): exited $rc" >>"$out"; fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    printf '%-40s %3d passed %3d failed %3d skipped\n' "$pre$(basename "$b")" "$p" "$f" "$s"
    if [ "$f" -gt 0 ]; then
        failed_names+=("$pre$(basename "$b")")
        sed 's/^/    /' "$out" | grep -v '^    PASS ' | head -60
    fi
}

# SAN bats: every tool bats file and the reliability pipelines; the training-heavy pipeline files
# (train, pipelines, torch parity) run only in the normal pass (too slow under ASan on 2 cores).
SAN_BATS_DEFAULT="tests/tools tests/pipelines/failloud.bats tests/pipelines/crash.bats"
san_ok=0

run_bats() {   # $1 = label prefix, then bats files
    local pre=$1 bf out p s f planned
    shift
    for bf in "$@"; do
        out="$log/$(basename "$bf").$pre.tap"
        bats --tap "$bf" >"$out" 2>&1
        p=$(grep -E '^ok ' "$out" | grep -vc '# skip')
        s=$(grep -E '^ok .*# skip' -c "$out")
        f=$(grep -c '^not ok ' "$out")
        planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$out" | head -1)
        if [ -n "$planned" ] && [ $((p + s + f)) -lt "$planned" ]; then f=$((f + planned - p - s - f)); fi
        if [ -z "$planned" ]; then f=$((f + 1)); fi
        pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
        printf '%-40s %3d passed %3d failed %3d skipped\n' "$pre$bf" "$p" "$f" "$s"
        if [ "$f" -gt 0 ]; then failed_names+=("$pre$bf"); grep -A25 '^not ok ' "$out" | head -80 | sed 's/^/    /'; [ -z "$planned" ] && head -20 "$out"; fi
    done
}

if [ "$mode" = "--gpu" ]; then
    ngpu=0
    for b in "$BUILD"/tests/gpu_test_*; do [ -x "$b" ] && { run_unit "$b" ""; ngpu=$((ngpu + 1)); }; done
    if [ "${GSG_REQUIRE_GPU:-0}" = 1 ]; then
        # the binaries already fail their skips (check.h); this also catches a SKIP printed any other way
        if [ "$skip" -gt 0 ]; then echo "FAIL GSG_REQUIRE_GPU=1: $skip skipped case(s) count as failures"; fail=$((fail + skip)); failed_names+=("skips"); fi
        if [ "$ngpu" -eq 0 ]; then echo "FAIL GSG_REQUIRE_GPU=1: no $BUILD/tests/gpu_test_* binary"; fail=$((fail + 1)); failed_names+=("no-gpu-tests"); fi
        if [ "$pass" -eq 0 ]; then echo "FAIL GSG_REQUIRE_GPU=1: nothing passed"; fail=$((fail + 1)); failed_names+=("nothing-passed"); fi
    fi
elif [ "$mode" = "--bats" ]; then
    shift
    run_bats "" "$@"
else
    for b in "$BUILD"/tests/test_*; do [ -x "$b" ] && run_unit "$b" ""; done
    if [ "${GSG_TEST_SAN:-0}" = 1 ]; then
        san_ok=0
        if make --no-print-directory units tools build/san/tests/fixture-img SAN=1 BUILD=build/san >"$log/san-build.log" 2>&1; then
            san_ok=1
            for b in build/san/tests/test_*; do [ -x "$b" ] && ASAN_OPTIONS=detect_leaks=1 run_unit "$b" "san:"; done
        else
            echo "FAIL san build"; tail -20 "$log/san-build.log"; fail=$((fail + 1)); failed_names+=("san-build")
        fi
    fi
    if [ "$mode" != "--unit-only" ]; then
        mapfile -t batsfiles < <(find tests/tools tests/pipelines -name '*.bats' 2>/dev/null | sort)
        [ "${#batsfiles[@]}" -gt 0 ] && run_bats "" "${batsfiles[@]}"
        # the bats again against the ASan+UBSan tools (build/san/bin), after the normal run
        if [ "${GSG_TEST_SAN:-0}" = 1 ] && [ "$san_ok" = 1 ]; then
            mapfile -t sanbats < <(for d in ${GSG_TEST_SAN_BATS:-$SAN_BATS_DEFAULT}; do
                [ -d "$d" ] && find "$d" -name '*.bats' || { [ -f "$d" ] && echo "$d"; }; done | sort)
            [ "${#sanbats[@]}" -gt 0 ] && GSG_BUILD=build/san PATH="$PWD/build/san/bin:$PATH" \
                ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
                run_bats "san:" "${sanbats[@]}"
        fi
    fi
fi
if [ "${#failed_names[@]}" -gt 0 ]; then echo "failed: ${failed_names[*]}"; fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && { [ "$mode" = "--gpu" ] || [ "$mode" = "--bats" ] || [ $((pass + fail)) -gt 0 ]; }
