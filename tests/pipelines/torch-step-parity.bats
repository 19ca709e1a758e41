#!/usr/bin/env bats
# End-to-end parity of gsg-step's training step with PyTorch: one step of SimSiam, SimSiam+GSG,
# BYOL, BYOL+GSG and SimCLR, with and without predictor, resumed from a checkpoint (so the SGD momentum
# and, for BYOL, the target/online gap are not zero), against tests/pipelines/torch_step_parity.py
# (docs/algorithm.md in float64 PyTorch, with gsg-step's own permutation from --dump): parameters,
# momentum, BN statistics (online and target), loss, lr, lr_pred, ema, choices.
#
# The tolerance is derived (docs/parity.md): per tensor, gsg's Frobenius distance to float64 must
# be within 4x the largest distance of six float32 PyTorch runs of the same step (three row orders
# x NCHW/channels_last) from float64, plus one float32 roundoff of the tensor. float32 rounding
# alone moves this step by up to a few % of an update (batch 16, BatchNorm over 16 rows), and by
# different amounts on AVX2 and AVX-512, so a fixed relative tolerance cannot hold on both; the
# spread is measured on the machine that runs the test. Measured on this session's 2-vCPU Xeon with
# AVX-512 over 4 seeds x 2 conv paths: gsg's worst tensor was 1.17x the spread (typically 0.3-0.8x).
# The mutation cases prove the comparison still discriminates: a 1 % lr error, BYOL distances or
# targets from the online network, or the target's BN in eval mode, each fail it; for SimCLR, an
# anchor left in its own softmax denominator, or the two views in separate forwards (BN per view).
bats_require_minimum_version 1.5.0

setup_file() {
    D=$(mktemp -d "${BATS_RUN_TMPDIR:-/tmp}/gsg-sp.XXXXXX")
    export GSG_SP=$D
    if [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
        # 2 epochs of 3 batches: steps 3+ are in epoch 1
        gsg-augment --views 4 --batch 16 --epochs 2 --limit 48 --seed 3 >"$D/v.gsgt"
    fi
}

teardown_file() {
    rm -rf "$GSG_SP"
}

setup() {
    [ -s "$GSG_SP/v.gsgt" ] || skip "dataset-fashion-mnist not installed"
    /usr/bin/python3 -c 'import torch, zstandard, numpy' 2>/dev/null \
        || skip "/usr/bin/python3 has no torch/zstandard/numpy (make deps-ref installs them)"
    T=$BATS_TEST_TMPDIR
}

# chain TAG S OPTIONS...: train to step S (one run, into c1), then one resumed step into c2
# (+ metrics, and the dump for GSG). The checked step is S.
chain() {
    local tag=$1 s=$2; shift 2
    local a=(--recipe fmnist --width 8 --proj-dim 32 --lr 0.05 --epochs 4 --threads 1 -i "$GSG_SP/v.gsgt" "$@")
    gsg-step "${a[@]}" --steps "$s" --ckpt "$T/$tag.c1.gsgt"
    local d=()
    [[ " $* " == *" --gsg "* ]] && d=(--dump "$T/$tag.dump")
    gsg-step "${a[@]}" --resume "$T/$tag.c1.gsgt" --steps $((s + 1)) --ckpt "$T/$tag.c2.gsgt" --metrics "$T/$tag.m.jsonl" "${d[@]}"
}

# parity TAG [--mutate M]: run the reference on TAG's step
parity() {
    local tag=$1; shift
    local dump=()
    [ -d "$T/$tag.dump" ] && dump=("$T/$tag.dump/dump.gsgt")
    /usr/bin/python3 tests/pipelines/torch_step_parity.py "$@" "$GSG_SP/v.gsgt" "$T/$tag.c1.gsgt" "$T/$tag.c2.gsgt" \
        "$T/$tag.m.jsonl" "${dump[@]}"
}

check() {
    run -0 parity "$@"
    echo "$output"
    [[ "$output" == "torch_step_parity: ok: "* ]]
}

@test "step parity with PyTorch: SimSiam (and a 1% lr error is caught)" {
    chain s 1 --pred-dim 8
    check s
    [[ "$output" == *"SimSiam, step 1,"* ]]
    # the derived tolerance still sees a 1 % lr error in the update
    run -1 parity s --mutate lr1pct
    echo "$output"
    [[ "$output" == *"update differs"* ]]
    # and the lr in the metrics is checked against the schedule, not taken from it
    sed 's/"lr":0.05,/"lr":0.0505,/' "$T/s.m.jsonl" >"$T/bad.jsonl"
    mv "$T/bad.jsonl" "$T/s.m.jsonl"
    run -1 parity s
    echo "$output"
    [[ "$output" == *"lr: schedule 0.05, gsg-step 0.0505"* ]]
}

@test "step parity with PyTorch: SimSiam without predictor" {
    chain n 1 --no-predictor
    check n
}

@test "step parity with PyTorch: SimSiam+GSG (gsg-step's permutation, same choices)" {
    chain g 1 --pred-dim 8 --gsg
    check g
}

@test "step parity with PyTorch: SimSiam+GSG without predictor" {
    chain gn 1 --no-predictor --gsg
    check gn
}

@test "step parity with PyTorch: epoch 1, predictor lr follows the schedule (lr_pred = lr < base)" {
    chain e 3 --pred-dim 8 --gsg
    check e
    [[ "$output" == *"step 3,"*"lr 0.042678 lr_pred 0.042678;"* ]]
}

@test "step parity with PyTorch: epoch 1 with --fix-pred-lr (lr_pred = base != lr)" {
    chain f 3 --pred-dim 8 --gsg --fix-pred-lr
    check f
    [[ "$output" == *"step 3,"*"lr 0.042678 lr_pred 0.05;"* ]]
    # a reference whose predictor took lr would disagree with gsg-step's update and metrics
    run -1 parity f --mutate pred-lr
    echo "$output"
    [[ "$output" == *"predictor."*"update differs"* ]]
    [[ "$output" != *"layer1"* ]]
    sed 's/"lr_pred":0.05,/"lr_pred":0.0426776695,/' "$T/f.m.jsonl" >"$T/bad.jsonl"
    mv "$T/bad.jsonl" "$T/f.m.jsonl"
    run -1 parity f
    echo "$output"
    [[ "$output" == *"lr_pred: schedule 0.05, gsg-step"* ]]
}

@test "step parity with PyTorch: BYOL at step 2 (target EMA, target BN, targets from the target)" {
    chain b 2 --method byol --pred-dim 8
    check b
    [[ "$output" == *"BYOL, step 2,"* ]]
    run -1 parity b --mutate online-targets
    echo "$output"
    [[ "$output" == *"differs"* ]]
    run -1 parity b --mutate target-eval-bn
    echo "$output"
    [[ "$output" == *"target."*"running"*"differs"* ]]
}

@test "step parity with PyTorch: BYOL+GSG at step 2; distances from the online network would fail" {
    chain bg 2 --method byol --pred-dim 8 --gsg
    check bg
    [[ "$output" == *"BYOL+GSG, step 2,"* ]]
    run -1 parity bg --mutate online-distances
    echo "$output"
    [[ "$output" == *"choices k differ"* ]]
    run -1 parity bg --mutate online-targets
    echo "$output"
    [[ "$output" == *"differs"* ]]
}

@test "step parity with PyTorch: SimCLR (NT-Xent, both views in one forward); an anchor in its own denominator fails" {
    chain c 1 --method simclr
    check c
    [[ "$output" == *"SimCLR (temperature 0.5), step 1,"* ]]
    # each view's similarity with itself left in the softmax: the mutation of issue 20
    run -1 parity c --mutate self-in-denominator
    echo "$output"
    [[ "$output" == *"differs"* ]]
    [[ "$output" == *"failed: worst"* ]]
    # BatchNorm over both views together is part of the method: per-view statistics are another one
    run -1 parity c --mutate split-views
    echo "$output"
    [[ "$output" == *"running_"*"differs"* ]]
}

@test "step parity with PyTorch: SimCLR at epoch 1 with --temperature 0.2" {
    chain ct 3 --method simclr --temperature 0.2
    check ct
    [[ "$output" == *"SimCLR (temperature 0.2), step 3,"*"lr 0.042678"* ]]
    run -1 parity ct --mutate self-in-denominator
    echo "$output"
    [[ "$output" == *"differs"* ]]
}
