#!/usr/bin/env bats
# Pipelines fail loudly (issue 10): when a stage of `gsg-augment | gsg-step` or
# `gsg-augment --plain | gsg-encode | gsg-eval` dies mid-stream, or a stream is cut short, the
# pipeline (set -o pipefail) exits non-zero, the downstream tool names the truncation on stderr, and
# nothing reports a result from partial data (no checkpoint, no features file, no k-NN report).
bats_require_minimum_version 1.5.0

setup_file() {
    D=$(mktemp -d "${BATS_RUN_TMPDIR:-/tmp}/gsg-failloud.XXXXXX")
    export GSG_FL_FIX=$D
    mkdir -p "$D/data"
    /usr/bin/python3 - "$D/data" <<'PY'
import numpy as np, struct, sys
g = np.random.default_rng(0)
for split, n in (('train', 64), ('t10k', 32)):
    im = g.integers(0, 255, (n, 28, 28)).astype('u1')
    open(f'{sys.argv[1]}/{split}-images-idx3-ubyte', 'wb').write(struct.pack('>IIII', 0x803, n, 28, 28) + im.tobytes())
    open(f'{sys.argv[1]}/{split}-labels-idx1-ubyte', 'wb').write(struct.pack('>II', 0x801, n) + (np.arange(n) % 4).astype('u1').tobytes())
PY
    gsg-augment --data "$D/data" --views 4 --batch 8 --epochs 2 --seed 1 --threads 1 -o "$D/views.gsgt"
    gsg-augment --data "$D/data" --plain --batch 16 --threads 1 | gsg-encode --init fmnist -o "$D/train.gsgt"
    gsg-augment --data "$D/data" --plain --split test --batch 16 --threads 1 -o "$D/test-images.gsgt"
    gsg-encode --init fmnist -o "$D/test.gsgt" "$D/test-images.gsgt"
}

teardown_file() {
    rm -rf "$GSG_FL_FIX"
}

setup() {
    D=$GSG_FL_FIX
    T=$BATS_TEST_TMPDIR
}

STEP="gsg-step --recipe fmnist --gsg --width 2 --proj-dim 8 --pred-dim 4 --lr 0.05 --threads 1 --epochs 2"
# a schedule far longer than the kill comes: the run is always cut in the middle
LONG="gsg-step --recipe fmnist --gsg --width 2 --proj-dim 8 --pred-dim 4 --lr 0.05 --threads 1 --epochs 100000"

# half of a file's bytes
half() { head -c $(($(stat -c %s "$1") / 2)) "$1"; }

@test "failloud: a truncated view stream -> gsg-step exits 1 naming the truncation, no checkpoint" {
    run --separate-stderr bash -c "set -o pipefail; head -c $(($(stat -c %s "$D/views.gsgt") / 2)) '$D/views.gsgt' | $STEP --ckpt '$T/c.gsgt' --metrics '$T/m.jsonl'"
    echo "$stderr"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"truncated"* ]]
    [ ! -e "$T/c.gsgt" ]
    [ -z "$(ls "$T" | grep '\.tmp\.')" ]
}

@test "failloud: gsg-augment killed mid-stream -> the pipeline fails, gsg-step names the truncation, no checkpoint" {
    run --separate-stderr bash -c "set -o pipefail
        { gsg-augment --data '$D/data' --views 4 --batch 8 --epochs 0 --seed 1 --threads 1 & p=\$!; sleep 2; kill -9 \$p; wait \$p; } \
            | $LONG --ckpt '$T/c.gsgt'"
    echo "$stderr"
    [ "$status" -ne 0 ]
    [[ "$stderr" == *"gsg-step: "*"truncated"* ]]
    [ ! -e "$T/c.gsgt" ]
}

@test "failloud: gsg-step killed mid-stream -> gsg-augment stops with a failure, the pipeline fails" {
    run --separate-stderr bash -c "set -o pipefail
        gsg-augment --data '$D/data' --views 4 --batch 8 --epochs 0 --seed 1 --threads 1 \
            | { $LONG --ckpt '$T/c.gsgt' & p=\$!; sleep 2; kill -9 \$p; wait \$p; }"
    echo "status $status: $stderr"
    [ "$status" -ne 0 ]
    [ ! -e "$T/c.gsgt" ]
}

@test "failloud: a truncated image stream -> gsg-encode exits 1 naming it, writes no features" {
    run --separate-stderr bash -c "set -o pipefail; head -c $(($(stat -c %s "$D/test-images.gsgt") / 2)) '$D/test-images.gsgt' | gsg-encode --init fmnist -o '$T/f.gsgt'"
    echo "$stderr"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"gsg-encode: "*"truncated"* ]]
    [ ! -e "$T/f.gsgt" ]
}

@test "failloud: a truncated feature stream -> gsg-eval knn exits 1 naming it, prints no result" {
    run --separate-stderr bash -c "set -o pipefail; head -c $(($(stat -c %s "$D/test.gsgt") / 2)) '$D/test.gsgt' | gsg-eval knn --train '$D/train.gsgt' --test - -k 5"
    echo "stdout: $output stderr: $stderr"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"gsg-eval: "*"truncated"* ]]
    [ -z "$output" ]
}

@test "failloud: gsg-encode killed in gsg-augment --plain | gsg-encode | gsg-eval -> non-zero, no result" {
    run --separate-stderr bash -c "set -o pipefail
        gsg-augment --data '$D/data' --plain --split test --batch 4 --threads 1 \
            | { head -c $(($(stat -c %s "$D/test-images.gsgt") / 2)); sleep 3; } \
            | { gsg-encode --init fmnist --batch 4 & p=\$!; sleep 1; kill -9 \$p; wait \$p; } \
            | gsg-eval knn --train '$D/train.gsgt' --test - -k 5"
    echo "status $status stdout: $output stderr: $stderr"
    [ "$status" -ne 0 ]
    [ -z "$output" ]
}

@test "failloud: the whole eval pipeline succeeds on complete streams (control)" {
    run -0 --separate-stderr bash -c "set -o pipefail
        gsg-augment --data '$D/data' --plain --split test --batch 16 --threads 1 | gsg-encode --init fmnist \
            | gsg-eval knn --train '$D/train.gsgt' --test - -k 5"
    [[ "$output" == *"top-1"* ]]
}
