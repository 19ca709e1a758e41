#!/usr/bin/env bats
# --precision bf16 on the CPU (README, docs/parity.md "bf16 on the CPU"): oneDNN bf16 convolutions with
# f32 master weights. The determinism guarantee holds in bf16 (same command, same threads, same
# bytes); checkpoints stay f32 and move between precisions; a CPU or build without native bf16
# refuses in one line naming what is missing (exit 2). The numerics are tests/unit/test_bf16.c's.
bats_require_minimum_version 1.5.0

NET="--recipe fmnist --width 8 --proj-dim 32 --pred-dim 8 --lr 0.05"

setup_file() {
    D=$(mktemp -d "${BATS_RUN_TMPDIR:-/tmp}/bf16.XXXXXX")
    export GSG_BF16_FIX=$D
    [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || return 0
    gsg-augment --limit 128 --batch 32 --views 4 --epochs 1 --seed 7 -o "$D/v.gsgt"
    gsg-augment --plain --limit 40 -o "$D/p.gsgt"
}

teardown_file() {
    rm -rf "$GSG_BF16_FIX"
}

# does this CPU and build run bf16? (make print-config's CPU_BF16 says the same)
has_bf16() {
    grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo && gsg-step --help >/dev/null 2>&1 &&
        ! gsg-step --precision bf16 -i /dev/null 2>&1 | grep -q 'bf16:'
}

setup() {
    F=$GSG_BF16_FIX
    T=$BATS_TEST_TMPDIR
    [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
}

@test "bf16: a CPU or build without native bf16 refuses in one line naming what is missing (exit 2)" {
    if has_bf16; then
        # this CPU has it: take it away from oneDNN
        run -2 --separate-stderr env ONEDNN_MAX_CPU_ISA=AVX512_CORE gsg-step $NET -i "$F/v.gsgt" --precision bf16
        [[ "$stderr" == *"--precision bf16: this CPU has bf16 but oneDNN may use only avx512_core here, without AVX512_BF16"* ]]
        run -2 --separate-stderr env ONEDNN_MAX_CPU_ISA=AVX512_CORE GSG_PRECISION=bf16 gsg-encode --init fmnist "$F/p.gsgt"
        [[ "$stderr" == *"GSG_PRECISION=bf16: this CPU has bf16 but oneDNN"* ]]
    else
        run -2 --separate-stderr gsg-step $NET -i "$F/v.gsgt" --precision bf16
        [[ "$stderr" == *"--precision bf16: "*"bf16"* ]]
    fi
    [ "$(printf '%s\n' "$stderr" | grep -c 'bf16')" -eq 1 ]
    # fp32 is never refused, and --precision overrides GSG_PRECISION
    run -0 --separate-stderr env ONEDNN_MAX_CPU_ISA=AVX512_CORE GSG_PRECISION=bf16 gsg-step $NET -i "$F/v.gsgt" --precision fp32 --print-config
    printf '%s\n' "$output" | grep -qx precision=fp32
}

@test "bf16: same command, same threads, byte-identical checkpoint and metrics; the config line says bf16" {
    has_bf16 || skip "this CPU or build has no native bf16 (make print-config: CPU_BF16=no)"
    for t in 1 2; do
        for tag in a b; do
            run -0 --separate-stderr gsg-step $NET --gsg -i "$F/v.gsgt" --threads $t --precision bf16 \
                --ckpt "$T/$tag$t.gsgt" --metrics "$T/$tag$t.jsonl"
            [[ "$stderr" == *"precision=bf16 bf16_ops=conv:onednn"* ]]
        done
        cmp "$T/a$t.gsgt" "$T/b$t.gsgt"
        diff <(sed 's/"img_s":[^,}]*//; s/"step_ms":[^,}]*//; s/"select_ms":[^,}]*//' "$T/a$t.jsonl") \
             <(sed 's/"img_s":[^,}]*//; s/"step_ms":[^,}]*//; s/"select_ms":[^,}]*//' "$T/b$t.jsonl")
    done
    # bf16 really ran: the f32 run of the same command differs
    run -0 gsg-step $NET --gsg -i "$F/v.gsgt" --threads 2 --ckpt "$T/f.gsgt"
    ! cmp -s "$T/a2.gsgt" "$T/f.gsgt"
}

@test "bf16: checkpoints stay f32 and move between precisions (resume either way), gsg-encode in bf16" {
    has_bf16 || skip "this CPU or build has no native bf16 (make print-config: CPU_BF16=no)"
    run -0 gsg-step $NET -i "$F/v.gsgt" --threads 2 --steps 2 --ckpt "$T/f32.gsgt"
    run -0 gsg-step $NET -i "$F/v.gsgt" --threads 2 --steps 2 --ckpt "$T/b16.gsgt" --precision bf16
    run -0 gsg-tensor info "$T/b16.gsgt"
    ! printf '%s\n' "$output" | grep -qiE ' (bf16|f16) '   # every tensor f32, as an f32 run's
    [ "$(gsg-tensor info "$T/b16.gsgt" | awk '{print $4, $5}')" = "$(gsg-tensor info "$T/f32.gsgt" | awk '{print $4, $5}')" ]
    # resume an f32 checkpoint in bf16 and a bf16 one in f32; twice each, same bytes
    for p in fp32 bf16; do
        for tag in a b; do
            run -0 gsg-step $NET -i "$F/v.gsgt" --threads 2 --resume "$T/$([ $p = bf16 ] && echo f32 || echo b16).gsgt" \
                --ckpt "$T/r$p$tag.gsgt" --precision $p
        done
        cmp "$T/r${p}a.gsgt" "$T/r${p}b.gsgt"
    done
    # gsg-encode: bf16 features close to f32's, not equal, and the run says so
    run -0 --separate-stderr gsg-encode --ckpt "$T/f32.gsgt" --precision bf16 "$F/p.gsgt" -o "$T/e16.gsgt"
    [[ "$stderr" == *"precision=bf16"* ]]
    run -0 --separate-stderr gsg-encode --ckpt "$T/f32.gsgt" "$F/p.gsgt" -o "$T/e32.gsgt"
    [ -z "$stderr" ]
    ! cmp -s "$T/e16.gsgt" "$T/e32.gsgt"
}
