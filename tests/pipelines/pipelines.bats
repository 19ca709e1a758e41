#!/usr/bin/env bats
# pipelines/*.sh and the make targets end to end, on a tiny generated IDX data set
# (48 training and 24 test images of 28x28, 4 classes) and tiny networks.
bats_require_minimum_version 1.5.0

setup() {
    T=$BATS_TEST_TMPDIR
    P=$BATS_TEST_DIRNAME/../../pipelines
    export GSG_BIN=${GSG_BIN:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/${GSG_BUILD:-build}/bin}
    mkdir -p "$T/data"
    /usr/bin/python3 - <<'EOF'
import numpy as np, os, struct, gzip
T = os.environ['BATS_TEST_TMPDIR']
g = np.random.default_rng(0)
def split(name, n):
    y = np.arange(n) % 4
    im = g.integers(0, 60, (n, 28, 28)).astype('u1')
    for i, c in enumerate(y):   # class c: a bright square in quadrant c
        r, q = (c // 2) * 14, (c % 2) * 14
        im[i, r + 3:r + 11, q + 3:q + 11] += 180
    with gzip.open(f'{T}/data/{name}-images-idx3-ubyte.gz', 'wb') as f:
        f.write(struct.pack('>IIII', 0x803, n, 28, 28) + im.tobytes())
    with open(f'{T}/data/{name}-labels-idx1-ubyte', 'wb') as f:
        f.write(struct.pack('>II', 0x801, n) + y.astype('u1').tobytes())
split('train', 48)
split('t10k', 24)
EOF
    SMALL="--width 4 --proj-dim 16 --pred-dim 8 --threads 1"
}

@test "every pipeline script has --help and rejects unknown options with exit 2" {
    for s in train knn linear evaluate demo experiment; do
        run -0 bash "$P/$s.sh" --help
        [[ "$output" == Usage:* ]]
        run -2 --separate-stderr bash "$P/$s.sh" --frobnicate
        [[ "$stderr" == *"unknown option '--frobnicate'"* ]]
    done
    run -2 bash "$P/train.sh" --gsg maybe
    run -2 bash "$P/train.sh" --epochs x
    run -2 bash "$P/knn.sh" --data "$T/data"
    run -2 bash "$P/experiment.sh" --name nonsense
    run -2 bash "$P/experiment.sh"
}

@test "knn.sh --pixels and linear.sh --pixels on the tiny data" {
    run -0 --separate-stderr bash "$P/knn.sh" --pixels --data "$T/data" --out "$T/px" --eval-args "-k 5"
    [[ "$output" == *"knn"*"top1 100.00 %"*"bank 48"*"test 24"* ]]
    [ -s "$T/px/knn.json" ]
    run -0 bash "$P/linear.sh" --pixels --data "$T/data" --out "$T/px" --eval-args "--solver ridge"
    [[ "$output" == *"linear"*"top1"* ]]
    [ -s "$T/px/linear.json" ]
}

@test "train.sh -> knn.sh / linear.sh with a checkpoint; k-NN curve every epoch" {
    run -0 --separate-stderr bash "$P/train.sh" --data "$T/data" --epochs 2 --batch 16 --step-args "$SMALL" \
        --knn-every 1 --knn-bank 48 --knn-test 24 --out "$T/run"
    [ -s "$T/run/ckpt.gsgt" ]
    [ "$(wc -l <"$T/run/metrics.jsonl")" -eq 6 ]          # 48 / 16 = 3 steps per epoch, 2 epochs
    [ "$(wc -l <"$T/run/epoch_loss.txt")" -eq 2 ]
    [ "$(wc -l <"$T/run/knn_epochs.txt")" -eq 2 ]
    [ "$(grep -c knn_top1 "$T/run/metrics.jsonl")" -eq 2 ]   # gsg-step's own monitor
    grep -q '^steps_done=6$' "$T/run/run.txt"
    run -0 bash "$P/knn.sh" --ckpt "$T/run/ckpt.gsgt" --data "$T/data" --out "$T/run/knn" --eval-args "-k 5"
    [[ "$output" == *"top1"* ]]
    run -0 bash "$P/linear.sh" --ckpt "$T/run/ckpt.gsgt" --data "$T/data" --out "$T/run/lin" --eval-args "--epochs 5"
    [ -s "$T/run/lin/linear.json" ]
    # --steps stops early (gsg-augment's SIGPIPE is not a failure)
    run -0 bash "$P/train.sh" --data "$T/data" --method byol --gsg off --epochs 3 --batch 16 --steps 2 --step-args "$SMALL" --out "$T/byol"
    grep -q '^steps_done=2$' "$T/byol/run.txt"
}

@test "train.sh fails with exit 1 when a tool fails" {
    run -1 --separate-stderr bash "$P/train.sh" --data "$T/nowhere" --epochs 1 --batch 16 --step-args "$SMALL" --out "$T/bad"
    [ -n "$stderr" ]
    [ ! -e "$T/bad/ckpt.gsgt" ]
}

@test "experiment.sh writes the table, curves and plots (smoke budget, 2 seeds)" {
    run -0 --separate-stderr bash "$P/experiment.sh" --name no-predictor --quick --data "$T/data" --epochs 2 --batch 16 \
        --seeds "0 1" --curve-bank 48 --curve-test 24 --bank 48 --test 24 --step-args "--width 4 --proj-dim 16 --threads 1" --out "$T/res"
    R=$T/res/no-predictor
    [ -s "$R/table.md" ]
    grep -q '^| simsiam-nopred | 16 | [0-9.]* ± [0-9.]* |' "$R/table.md"
    grep -q '^| simsiam+gsg-nopred | 16 |' "$R/table.md"
    grep -q '^| raw pixels |' "$R/table.md"
    grep -q '^| random init' "$R/table.md"
    [ "$(wc -l <"$R/simsiam-nopred.loss.dat")" -eq 2 ]
    [ "$(wc -l <"$R/simsiam+gsg-nopred.knn.dat")" -eq 2 ]
    if command -v gnuplot >/dev/null; then
        [ "$(head -c 4 "$R/loss.png" | od -An -c | tr -d ' ')" = '211PNG' ]
        [ -s "$R/knn.png" ]
    fi
}

@test "make targets wrap the scripts with the documented variables" {
    cd "$BATS_TEST_DIRNAME/../.."
    run -0 make -n demo
    [[ "$output" == *"make --no-print-directory deps"*"pipelines/demo.sh"* ]]
    run -0 make -n train METHOD=byol GSG=off EPOCHS=3 BATCH=64 SEED=7 OUT=/tmp/x
    [[ "$output" == *"train.sh"*"--method byol --gsg off --epochs 3 --batch 64 --seed 7"*"--out /tmp/x"* ]]
    run -0 make -n knn CKPT=/tmp/x/ckpt.gsgt
    [[ "$output" == *"knn.sh --ckpt /tmp/x/ckpt.gsgt"* ]]
    run -0 make -n linear CKPT=/tmp/x/ckpt.gsgt
    [[ "$output" == *"linear.sh --ckpt /tmp/x/ckpt.gsgt"* ]]
    for e in gsg no-predictor batch-size; do
        run -0 make -n experiment-$e QUICK=1 SEEDS="1 2"
        [[ "$output" == *"experiment.sh --name $e --seeds \"1 2\""*"--quick"* ]]
    done
}
