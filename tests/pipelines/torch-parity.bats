#!/usr/bin/env bats
# PyTorch parity of lib/nn (issue 4): our initial ResNet-18 (CIFAR stem) + SimSiam heads,
# exported by name, load into torchvision.models.resnet18 with strict=True; eval-mode
# outputs, one training step's gradients and the BN running statistics agree.
bats_require_minimum_version 1.5.0

setup() {
    BUILD=${GSG_BUILD:-${BUILD:-build}}
    TEST_NN="$BUILD/tests/test_nn"
    [ -x "$TEST_NN" ] || skip "$TEST_NN not built (make units)"
    /usr/bin/python3 -c 'import torch, torchvision, zstandard, numpy' 2>/dev/null \
        || skip "/usr/bin/python3 has no torch/torchvision/zstandard/numpy (install python3-torch python3-torchvision)"
}

@test "torch parity: strict load, eval forward, train-step gradients and BN buffers" {
    run -0 "$TEST_NN" --parity-dump "$BATS_TEST_TMPDIR/parity.gsgt"
    run -0 --separate-stderr /usr/bin/python3 tests/pipelines/torch_parity.py "$BATS_TEST_TMPDIR/parity.gsgt"
    [[ "$output" == "torch_parity: ok: "* ]]
}

@test "torch parity: a wrong weight is caught" {
    run -0 "$TEST_NN" --parity-dump-width 32 "$BATS_TEST_TMPDIR/narrow.gsgt"
    # a width-32 network does not load into torchvision's resnet18: the script must fail
    run ! --separate-stderr /usr/bin/python3 tests/pipelines/torch_parity.py "$BATS_TEST_TMPDIR/narrow.gsgt"
}

@test "torch parity: a checkpoint's backbone exported as safetensors loads into torchvision (strict)" {
    TEST_CKPT="$BUILD/tests/test_ckpt"
    [ -x "$TEST_CKPT" ] || skip "$TEST_CKPT not built"
    command -v gsg-tensor >/dev/null || [ -x "$BUILD/bin/gsg-tensor" ] || skip "gsg-tensor not built"
    GT=$(command -v gsg-tensor || echo "$BUILD/bin/gsg-tensor")
    run -0 "$TEST_CKPT" --write-cifar "$BATS_TEST_TMPDIR/ckpt.gsgt"
    run -0 "$GT" export --format safetensors --backbone -o "$BATS_TEST_TMPDIR/backbone.safetensors" "$BATS_TEST_TMPDIR/ckpt.gsgt"
    run -0 --separate-stderr /usr/bin/python3 tests/pipelines/torch_parity.py --safetensors \
        "$BATS_TEST_TMPDIR/backbone.safetensors" "$BATS_TEST_TMPDIR/ckpt.gsgt"
    [[ "$output" == "torch_parity: ok: "* ]]
}
