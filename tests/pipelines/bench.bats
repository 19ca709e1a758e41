#!/usr/bin/env bats
# `make bench` (issue 18 §4) in a tiny configuration: tests/bench/bench.py runs bench_step, the
# PyTorch peer torch_step.py and bench_peak (batch 8, 1 step, no warm-up, 1 round, 1 thread: the
# figures mean nothing, the table's shape does) and must give every row of both recipes, FLOP
# counts that differ between the recipes and agree between the two sides, and bf16 rows that are
# measured or "n/a" as the CPU's flags say; the n/a and "skipped (no torch)" paths are forced once.
# The FLOP count itself is checked against a hand derivation in tests/unit/test_flops.c.
bats_require_minimum_version 1.5.0

setup() {
    R=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
    B=$R/${GSG_BUILD:-build}
    T=$BATS_TEST_TMPDIR
    [ -x "$B/bench/bench_step" ] && [ -x "$B/bench/bench_peak" ] || skip "$B/bench/bench_step or bench_peak not built (make all)"
    TINY=(--build "$B" --batch 8 --steps 1 --warmup 0 --rounds 1 --threads 1 --peak-seconds 0.05 --logs "$T/logs")
}

# cell FILE RECIPE SIDE PRECISION COLUMN: a table cell, trimmed (columns from 1: recipe side precision
# images/s range rss gflop_img gflop_s peak_pct ratio_img ratio_rss)
cell() {
    awk -F'|' -v r="$2" -v s="$3" -v p="$4" -v c="$5" '
        function t(x) { gsub(/^ +| +$/, "", x); return x }
        t($2) == r && t($3) == s && t($4) == p { print t($(c + 1)) }' "$1"
}
rows() {
    awk -F'|' -v r="$2" -v s="$3" -v p="$4" '
        function t(x) { gsub(/^ +| +$/, "", x); return x }
        t($2) == r && t($3) == s && t($4) == p { n++ } END { print n + 0 }' "$1"
}
is_number() { [[ "$1" =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
has_torch() { /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null; }
cpu_bf16() { grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo; }

@test "bench.py, tiny: every row of both recipes, FLOP counts per recipe, bf16 as the CPU flags say" {
    run -0 /usr/bin/python3 "$R/tests/bench/bench.py" "${TINY[@]}" --recipes "cifar fmnist" --out "$T/bench.md"
    M=$T/bench.md
    [ -s "$M" ]
    # stdout carries the same table
    diff <(grep '^|' "$M") <(printf '%s\n' "$output" | grep '^|')
    grep -q "^CPU: .*(family [0-9]*, model [0-9]*); avx2 \(yes\|no\), avx512f \(yes\|no\), avx512_bf16 \(yes\|no\), amx_bf16 \(yes\|no\); 1 threads$" "$M"
    peak=$(sed -n 's/^FMA peak: \([0-9.]*\) GFLOP\/s fp32.*/\1/p' "$M")
    is_number "$peak"
    for r in cifar fmnist; do
        for sp in "gsg|fp32" "PyTorch|fp32" "gsg|bf16" "PyTorch|bf16 autocast"; do
            [ "$(rows "$M" "$r" "${sp%%|*}" "${sp#*|}")" -eq 1 ] || { echo "no single row: $r ${sp}"; false; }
        done
        # gsg fp32 is always measured, with its FLOP count, GFLOP/s and share of the peak
        is_number "$(cell "$M" $r gsg fp32 4)"
        is_number "$(cell "$M" $r gsg fp32 7)"
        is_number "$(cell "$M" $r gsg fp32 8)"
        [[ "$(cell "$M" $r gsg fp32 9)" =~ ^[0-9.]+\ %$ ]]
        if has_torch; then
            is_number "$(cell "$M" $r PyTorch fp32 4)"
            # the same model on both sides: the independent counts agree
            [ "$(cell "$M" $r PyTorch fp32 7)" = "$(cell "$M" $r gsg fp32 7)" ]
            [[ "$(cell "$M" $r gsg fp32 10)" =~ ^[0-9.]+x$ ]]
        else
            [ "$(cell "$M" $r PyTorch fp32 4)" = "skipped (no torch)" ]
        fi
        if cpu_bf16; then
            # measured, or n/a for a reason of this build (DNNL=0, ONEDNN_MAX_CPU_ISA), never "no native bf16"
            g=$(cell "$M" $r gsg bf16 4)
            is_number "$g" || [[ "$g" == "n/a ("* && "$g" != *"no native bf16"* ]]
            if has_torch; then is_number "$(cell "$M" $r PyTorch "bf16 autocast" 4)"; fi
        else
            [ "$(cell "$M" $r gsg bf16 4)" = "n/a (CPU has no native bf16)" ]
            if has_torch; then [ "$(cell "$M" $r PyTorch "bf16 autocast" 4)" = "n/a (CPU has no native bf16)" ]; fi
        fi
    done
    # the recipes' FLOP counts differ: cifar (32x32x3, width 64) is far above fmnist (28x28x1, width 16)
    cf=$(cell "$M" cifar gsg fp32 7) ff=$(cell "$M" fmnist gsg fp32 7)
    awk -v c="$cf" -v f="$ff" 'BEGIN { exit !(c > 10 * f && f > 0) }'
    # 2 + 8 rows
    [ "$(grep -c '^| \(cifar\|fmnist\) |' "$M")" -eq 8 ]
    ls "$T/logs" | grep -q 'r1-fmnist-gsg-fp32.log'
}

@test "bench.py: bf16 unavailable to oneDNN reads n/a, no torch reads skipped (no torch); exit 0" {
    run -0 env ONEDNN_MAX_CPU_ISA=AVX512_CORE /usr/bin/python3 "$R/tests/bench/bench.py" "${TINY[@]}" \
        --recipes fmnist --python /bin/false --out "$T/b.md"
    is_number "$(cell "$T/b.md" fmnist gsg fp32 4)"
    [[ "$(cell "$T/b.md" fmnist gsg bf16 4)" == "n/a ("*")" ]]
    [ "$(cell "$T/b.md" fmnist PyTorch fp32 4)" = "skipped (no torch)" ]
    [ "$(cell "$T/b.md" fmnist PyTorch "bf16 autocast" 4)" = "skipped (no torch)" ]
    [ "$(rows "$T/b.md" cifar gsg fp32)" -eq 0 ]
    grep -q '^PyTorch: not available' "$T/b.md"
}

@test "bench_step, bench_peak, torch_step.py, bench.py: --help, bad options exit 2, bf16 refusal exits 3" {
    for p in bench_step bench_peak; do
        run -0 "$B/bench/$p" --help
        [[ "$output" == usage:* ]]
    done
    run -2 --separate-stderr "$B/bench/bench_step" --precision fp16
    [ "$stderr" = "bench_step: --precision: 'fp16' is not fp32 or bf16"$'\n'"Try 'bench_step --help'." ]
    run -2 --separate-stderr "$B/bench/bench_step" --recipe mnist
    [[ "$stderr" == "bench_step: unknown recipe 'mnist'"* ]]
    run -2 --separate-stderr "$B/bench/bench_peak" --chains 9
    [[ "$stderr" == "bench_peak: --chains: 9 is not 8, 10, 12 or 16"* ]]
    run -3 --separate-stderr env ONEDNN_MAX_CPU_ISA=AVX512_CORE "$B/bench/bench_step" --recipe fmnist --precision bf16
    [[ "$stderr" == "bench_step: bf16: "*"bf16"* ]]
    [ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
    run -0 env OMP_NUM_THREADS=1 "$B/bench/bench_peak" --seconds 0.02
    [[ "$output" =~ RESULT\ peak_gflops=[0-9.]+\ threads=1\ vector_bits=(128|256|512) ]]
    run -2 --separate-stderr /usr/bin/python3 "$R/tests/bench/bench.py" --build "$B" --recipes mnist
    [[ "$stderr" == *"--recipes: 'mnist'"* ]]
    run -2 --separate-stderr /usr/bin/python3 "$R/tests/bench/bench.py" --build "$B" --batch 1
    if has_torch; then
        run -0 /usr/bin/python3 "$R/tests/bench/torch_step.py" --help
        run -2 --separate-stderr /usr/bin/python3 "$R/tests/bench/torch_step.py" --recipe mnist
    fi
}
