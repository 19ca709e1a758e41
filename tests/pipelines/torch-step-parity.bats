#!/usr/bin/env bats
# End-to-end parity of gsg-step's training step with PyTorch (issue 5): one step of SimSiam and
# SimSiam+GSG, with and without predictor, resumed from a checkpoint (so the SGD momentum is not
# zero), against tests/pipelines/torch_step_parity.py (docs/algorithm.md in float64 PyTorch, with
# gsg-step's own permutation from --dump): parameters, momentum, BN statistics, loss, choices.
bats_require_minimum_version 1.5.0

setup_file() {
    D=$(mktemp -d "${BATS_RUN_TMPDIR:-/tmp}/gsg-sp.XXXXXX")
    export GSG_SP=$D
    if [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
        gsg-augment --views 4 --batch 16 --epochs 1 --limit 48 --seed 3 >"$D/v.gsgt"
    fi
}

teardown_file() {
    rm -rf "$GSG_SP"
}

setup() {
    [ -s "$GSG_SP/v.gsgt" ] || skip "dataset-fashion-mnist not installed"
    /usr/bin/python3 -c 'import torch, zstandard, numpy' 2>/dev/null \
        || skip "/usr/bin/python3 has no torch/zstandard/numpy (install python3-torch)"
    T=$BATS_TEST_TMPDIR
}

# two_steps TAG OPTIONS...: step 0 into c1, then --resume for step 1 into c2 (+ metrics, dump)
two_steps() {
    local tag=$1; shift
    local a=(--recipe fmnist --width 8 --proj-dim 32 --lr 0.05 --threads 1 -i "$GSG_SP/v.gsgt" "$@")
    gsg-step "${a[@]}" --steps 1 --ckpt "$T/$tag.c1.gsgt"
    local d=()
    [[ " $* " == *" --gsg "* ]] && d=(--dump "$T/$tag.dump")
    gsg-step "${a[@]}" --resume "$T/$tag.c1.gsgt" --steps 2 --ckpt "$T/$tag.c2.gsgt" --metrics "$T/$tag.m.jsonl" "${d[@]}"
}

check() {
    local tag=$1 dump=()
    [ -d "$T/$tag.dump" ] && dump=("$T/$tag.dump/dump.gsgt")
    run -0 /usr/bin/python3 tests/pipelines/torch_step_parity.py "$GSG_SP/v.gsgt" "$T/$tag.c1.gsgt" "$T/$tag.c2.gsgt" \
        "$T/$tag.m.jsonl" "${dump[@]}"
    [[ "$output" == "torch_step_parity: ok: "* ]]
}

@test "step parity with PyTorch: SimSiam" {
    two_steps s --pred-dim 8
    check s
    # a 1% different lr must be caught: the check is sensitive
    sed 's/"lr":0.05,/"lr":0.0505,/' "$T/s.m.jsonl" >"$T/bad.jsonl"
    run -1 /usr/bin/python3 tests/pipelines/torch_step_parity.py "$GSG_SP/v.gsgt" "$T/s.c1.gsgt" "$T/s.c2.gsgt" "$T/bad.jsonl"
    [[ "$output" == *"update differs"* ]]
}

@test "step parity with PyTorch: SimSiam without predictor" {
    two_steps n --no-predictor
    check n
}

@test "step parity with PyTorch: SimSiam+GSG (gsg-step's permutation, same choices)" {
    two_steps g --pred-dim 8 --gsg
    check g
}

@test "step parity with PyTorch: SimSiam+GSG without predictor" {
    two_steps gn --no-predictor --gsg
    check gn
}
