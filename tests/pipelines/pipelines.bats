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
    for s in train knn linear evaluate demo experiment protocol recipe-sweep long-runs; do
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

@test "protocol.sh: k-NN at k=200 and 20, linear probe, backbone erank; val = the last N training images, test = the test split" {
    export PATH=$GSG_BIN:$PATH
    # pixels on the validation split: the last 16 of the 48 training images against the first 32
    run -0 bash "$P/protocol.sh" --pixels --data "$T/data" --val 16 --cache "$T/c" --label px --out "$T/rows.jsonl"
    /usr/bin/python3 - "$output" "$T" <<'PYEOF'
import json, sys, subprocess
r = json.loads(sys.argv[1])
assert r['label'] == 'px' and r['split'] == 'val' and (r['bank'], r['queries']) == (32, 16), r
assert r['knn20'] == 1.0 and 0 <= r['knn200'] <= 1 and 0 <= r['linear'] <= 1 and r['erank'] > 1, r
assert json.loads(open(sys.argv[2] + '/rows.jsonl').readline()) == r
PYEOF
    ls "$T/c" | grep -q 'val_.*_fmnist_32-48.gsgt'
    ! ls "$T/c" | grep -q '^test_'
    # the same k-NN as gsg-eval on the same rows, at k = 20
    run -0 gsg-eval knn -k 20 --json --train "$T/c/"train_*_0-32.gsgt --test "$T/c/"val_*_32-48.gsgt
    [[ "$output" == *'"top1":1.000000,'* ]]
    # a random encoder on the test split: the whole training set is the bank
    run -0 bash "$P/protocol.sh" --init fmnist --seed 1 --split test --no-linear --data "$T/data" --cache "$T/c"
    [[ "$output" == *'"split":"test"'*'"linear":null'*'"bank":48,"queries":24'* ]]
    run -2 bash "$P/protocol.sh" --pixels --split train
    run -2 bash "$P/protocol.sh" --pixels --data "$T/data" --val 48 --cache "$T/c"
}

@test "recipe-sweep.sh: one short run per candidate on the validation split, a table; a second call keeps them" {
    run -0 bash "$P/recipe-sweep.sh" --data "$T/data" --val 16 --batch 16 --epochs 1 --knn-every 1 \
        --step-args "$SMALL" --out "$T/sw" x:0.05:0.2:1 y:0.1:0.5:1
    grep -q '^| x | 0.05 | 0.2:1 | 1: [0-9.]* % |' "$T/sw/table.md"
    grep -q '^| y | 0.1 | 0.5:1 | 1: [0-9.]* % |' "$T/sw/table.md"
    grep -qx 'val=16' "$T/sw/x/run.txt"
    grep -q -- '--range 0:32 --crop-scale 0.5:1' "$T/sw/y/run.txt"
    grep -q -- '--lr 0.1 --width 4' "$T/sw/y/run.txt"
    cp "$T/sw/x/ckpt.gsgt" "$T/x.gsgt"
    run -0 bash "$P/recipe-sweep.sh" --data "$T/data" --val 16 --batch 16 --epochs 1 --knn-every 1 \
        --step-args "$SMALL" --out "$T/sw" x:0.05:0.2:1 y:0.1:0.5:1
    [[ "$output" == *"nothing to train"* ]]
    cmp "$T/x.gsgt" "$T/sw/x/ckpt.gsgt"
}

@test "long-runs.sh: runs trained and scored on the test split, mean ± std over seeds, baselines, curves; resumed, kept" {
    run -2 --separate-stderr bash "$P/long-runs.sh" --out "$T/lr" simsiam-x
    [[ "$stderr" == *"'simsiam-x' is not a run"* ]]
    run -2 bash "$P/long-runs.sh" --precision fp16
    NOPRED="--width 4 --proj-dim 16 --threads 1 --lr 0.1"   # --no-predictor excludes --pred-dim
    run -0 bash "$P/long-runs.sh" --data "$T/data" --batch 16 --epochs 2 --nopred-epochs 1 --knn-every 1 --no-linear \
        --step-args "$NOPRED" --out "$T/lr" simsiam-s0 simsiam-s1 simsiam+gsg-nopred-s0
    # the baselines come first: a session cut short mid-list still has them in its table
    [[ "$output" == *"the baselines on the test split"*"simsiam-s0: simsiam gsg=off"* ]]
    for r in simsiam-s0 simsiam-s1 simsiam+gsg-nopred-s0; do
        grep -q '"split":"test"' "$T/lr/runs/$r/protocol.json"
        grep -q '"bank":48,"queries":24' "$T/lr/runs/$r/protocol.json"
        grep -q 'precision=fp32 wall_s=[0-9.]* steps_done=' "$T/lr/runs/$r/machine.txt"
        grep -q -- '--lr 0.1 --precision fp32' "$T/lr/runs/$r/run.txt"
    done
    grep -q -- '--no-predictor' "$T/lr/runs/simsiam+gsg-nopred-s0/run.txt"
    grep -qx 'epochs=2' "$T/lr/runs/simsiam-s0/run.txt"
    grep -qx 'epochs=1' "$T/lr/runs/simsiam+gsg-nopred-s0/run.txt"
    # two seeds: mean ± std; one seed: the value
    grep -Eq '^\| simsiam \| 0 1 \| 2 \| [0-9.]+ ± [0-9.]+ \| [0-9.]+ ± [0-9.]+ \| - \| [0-9.]+ \| [0-9]+ \| [0-9]+ \| fp32 \|$' "$T/lr/table.md"
    # the cost of a run: the sum of its steps' step_ms (mean over seeds), robust to resumes
    t=$(cat "$T/lr/runs/simsiam-s0/metrics.jsonl" "$T/lr/runs/simsiam-s1/metrics.jsonl" |
        /usr/bin/python3 -c 'import sys, json; print(sum(json.loads(l)["step_ms"] for l in sys.stdin) / 2000)')
    c=$(awk -F' [|] ' '$1 == "| simsiam" { print $8 }' "$T/lr/table.md")
    awk -v t="$t" -v c="$c" 'BEGIN { exit !(c != "" && t > 0 && c - t < 1 && t - c < 1) }'
    grep -Eq '^\| simsiam\+gsg-nopred \| 0 \| 1 \| [0-9.]+ \| [0-9.]+ \|' "$T/lr/table.md"
    grep -Eq '^\| raw pixels \| - \| - \| [0-9.]+ \|' "$T/lr/table.md"
    grep -Eq '^\| random init \(seed 1\) \| - \| - \| [0-9.]+ \|' "$T/lr/table.md"
    # the curve: k-NN monitor points at epochs 1 and 2, images seen = epoch x 48
    # views encoded (the compute axis): 2 per image for SimSiam, 4 for a GSG step
    grep -q '^| simsiam-s0 | 2 | 96 | 192 | [0-9.]* % |' "$T/lr/curves.md"
    grep -q '^| simsiam+gsg-nopred-s0 | 1 | 48 | 192 | [0-9.]* % |' "$T/lr/curves.md"
    # the rank curves: per epoch, the means of erank_z and erank_h over the run's steps
    [ "$(wc -l <"$T/lr/runs/simsiam-s0/rank_curve.dat")" -eq 2 ]
    /usr/bin/python3 - "$T/lr/runs/simsiam-s0" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
got = [list(map(float, l.split())) for l in open(sys.argv[1] + "/rank_curve.dat")]
for e, z, h in got:
    sel = [r for r in rows if r["epoch"] + 1 == e]
    assert sel and abs(z - sum(r["erank_z"] for r in sel) / len(sel)) < 1e-3, (e, z)
    assert abs(h - sum(r["erank_h"] for r in sel) / len(sel)) < 1e-3, (e, h)
PY
    # the monitor's own baselines, on its bank and queries, once
    for m in pixels random0 random1; do grep -q '"train_rows":48,"test_rows":24' "$T/lr/monitor/$m/knn.json"; done
    grep -Eq '^\| random init \(seed 1\) \| [0-9.]+ % \|$' "$T/lr/curves.md"
    [ ! -e "$T/lr/monitor/plain" ]
    if command -v gnuplot >/dev/null; then
        for f in knn_epochs knn_images loss ranks; do [ "$(head -c 4 "$T/lr/$f.png" | od -An -c | tr -d ' ')" = '211PNG' ]; done
    fi
    [ "$(wc -l <"$T/lr/runs/simsiam-s0/knn_curve.dat")" -eq 2 ]
    # the k-NN mean over the two seeds is the mean of their protocol.json
    a=$(sed -n 's/.*"knn200":\([0-9.]*\).*/\1/p' "$T/lr/runs/simsiam-s0/protocol.json")
    b=$(sed -n 's/.*"knn200":\([0-9.]*\).*/\1/p' "$T/lr/runs/simsiam-s1/protocol.json")
    m=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", 50 * (a + b) }')
    grep -q "^| simsiam | 0 1 | 2 | $m ± " "$T/lr/table.md"
    cp "$T/lr/runs/simsiam-s0/ckpt.gsgt" "$T/s0.gsgt"
    run -0 bash "$P/long-runs.sh" --data "$T/data" --batch 16 --epochs 2 --knn-every 1 --no-linear \
        --step-args "$NOPRED" --out "$T/lr" simsiam-s0
    [[ "$output" == *"simsiam-s0: finished already, kept"* ]]
    cmp "$T/s0.gsgt" "$T/lr/runs/simsiam-s0/ckpt.gsgt"
    # an interrupted run (no protocol.json yet) is resumed, not restarted
    rm "$T/lr/runs/simsiam-s1/protocol.json"
    run -0 bash "$P/long-runs.sh" --data "$T/data" --batch 16 --epochs 2 --knn-every 1 --no-linear \
        --step-args "$NOPRED" --out "$T/lr" simsiam-s1
    [[ "$output" == *"nothing to train"* ]]
    [ -s "$T/lr/runs/simsiam-s1/protocol.json" ]
    rm "$T/lr/table.md"
    # a run without machine.txt (started by an older long-runs.sh) takes its precision from run.txt
    rm "$T/lr/runs/simsiam-s1/machine.txt"
    run -0 bash "$P/long-runs.sh" --table --out "$T/lr"
    grep -Eq '^\| simsiam \| 0 1 \| .* \| fp32 \|$' "$T/lr/table.md"
    # make report rebuilds it too
    rm "$T/lr/table.md"
    run -0 make -C "$BATS_TEST_DIRNAME/../.." --no-print-directory report EXP_OUT="$T/none" LONG_OUT="$T/lr" BUILD="${GSG_BUILD:-build}"
    [[ "$output" == *"== report: $T/lr"* ]]
    grep -q '^| simsiam | 0 1 |' "$T/lr/table.md"
}

@test "demo.sh: trained vs random vs pixels on the same images, the k-NN after each epoch, the crossing as measured, the long-runs table from the results page" {
    printf '# r\n\n<!-- long-runs-table -->\n| run | k |\n|---|---|\n| simsiam | 88.1 |\n<!-- /long-runs-table -->\n' >"$T/results.md"
    run -0 --separate-stderr env DEMO_RESULTS="$T/results.md" bash "$P/demo.sh" --data "$T/data" --epochs 2 --batch 16 \
        --bank 48 --test 24 --minutes 0 --out "$T/demo"
    t="$T/demo/table.md"
    grep -q '^| SimSiam, 6 steps = 2 epochs on 48 images' "$t"
    grep -q '^| random init, the same model' "$t"
    grep -q '^| raw pixels' "$t"
    [ "$(grep -c '^  epoch [12]: [0-9.]* %$' "$t")" -eq 2 ]
    grep -q -- '--lr 0.1' "$T/demo/run/run.txt"
    # the crossing line agrees with the numbers: the first epoch whose monitor point is above the random encoder
    r=$(sed -n 's/.*"top1":\([0-9.]*\).*/\1/p' "$T/demo/random/knn.json")
    c=$(awk -v r="$r" '$2 > r { print $1; exit }' "$T/demo/run/knn_epochs.txt")
    if [ -n "$c" ]; then grep -q "passed the random encoder .* after epoch $c\.$" "$t"; else grep -q 'did not pass the random encoder' "$t"; fi
    grep -q '^| simsiam | 88.1 |$' "$t"
    grep -q 'make long-runs' "$t"
    # no table between the markers yet: said so
    printf '<!-- long-runs-table -->\n<!-- /long-runs-table -->\n' >"$T/results.md"
    run -0 --separate-stderr env DEMO_RESULTS="$T/results.md" bash "$P/demo.sh" --data "$T/data" --epochs 1 --batch 16 \
        --bank 48 --test 24 --minutes 0 --out "$T/demo2"
    grep -q 'no finished table yet' "$T/demo2/table.md"
    # no results page at all (a GPU bundle carries no docs/): said so, not a failure
    run -0 --separate-stderr env DEMO_RESULTS="$T/nowhere.md" bash "$P/demo.sh" --data "$T/data" --epochs 1 --batch 16 \
        --bank 48 --test 24 --minutes 0 --out "$T/demo3"
    grep -q 'no finished table yet' "$T/demo3/table.md"
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

@test "train.sh --method simclr: trains with GSG off by default; --gsg on (or GSG=on) is refused in one line" {
    run -0 --separate-stderr bash "$P/train.sh" --data "$T/data" --method simclr --epochs 1 --batch 16 \
        --step-args "--width 4 --proj-dim 16 --threads 1 --temperature 0.2" --out "$T/sc"
    [[ "$stderr" == *"train.sh: simclr gsg=off steps 1..3 of 3"* ]]
    grep -qx 'method=simclr' "$T/sc/run.txt"
    grep -qx 'gsg=off' "$T/sc/run.txt"
    grep -q -- '--views 2 ' "$T/sc/run.txt"                      # SimCLR takes two views per image
    ! grep -q -- '--gsg' "$T/sc/run.txt"
    [ "$(wc -l <"$T/sc/metrics.jsonl")" -eq 3 ]
    run -0 gsg-tensor info "$T/sc/ckpt.gsgt"
    [[ "$output" != *"predictor."* ]]
    run -2 --separate-stderr bash "$P/train.sh" --data "$T/data" --method simclr --gsg on --out "$T/no"
    [ "${#stderr_lines[@]}" -eq 2 ]
    [ "${stderr_lines[0]}" = "train.sh: --gsg on: Guided Stop-Gradient does not apply to --method simclr (leave --gsg out, or give --gsg off)" ]
    run -2 --separate-stderr env GSG=on bash "$P/train.sh" --data "$T/data" --method simclr --out "$T/no"
    [[ "${stderr_lines[0]}" == *"does not apply to --method simclr"* ]]
    [ ! -e "$T/no" ]
    # make train passes --gsg only when GSG is given, so METHOD=simclr takes train.sh's default
    cd "$BATS_TEST_DIRNAME/../.."
    run -0 make -n train METHOD=simclr
    [[ "$output" == *"train.sh"*"--method simclr --epochs"* ]]
    [[ "$output" != *"--gsg"* ]]
}

@test "train.sh: progress on stderr and in train.log, a checkpoint every epoch, RESUME=1 continues, an earlier run is kept" {
    run -0 --separate-stderr bash "$P/train.sh" --data "$T/data" --epochs 2 --batch 16 --step-args "$SMALL" --out "$T/full"
    # the terminal (stderr) and train.log both get gsg-step's progress line and the script's lines
    [[ "$stderr" == *"train.sh: simsiam gsg=on steps 1..6 of 6"*"gsg-step: step 6/6 100%"*"train.sh: done in"* ]]
    tr '\r' '\n' <"$T/full/train.log" | grep -q '^gsg-step: step 6/6 100%'
    grep -q 'train.sh: done in' "$T/full/train.log"
    # a failure in epoch 2 (step 5 of 6): the checkpoint of epoch 1 (step 3) is there
    run -1 --separate-stderr env GSG_TEST_NAN_STEP=5 bash "$P/train.sh" --data "$T/data" --epochs 2 --batch 16 --step-args "$SMALL" --out "$T/run"
    [[ "$stderr" == *"gsg-step: step 5 (epoch 1): loss is nan"* ]]
    [[ "$stderr" == *"the checkpoint is at step 3: RESUME=1 (--resume) continues from there"* ]]
    [ "$(. "$P/lib.sh"; gsg_ckpt_step "$T/run/ckpt.gsgt")" = 3 ]
    # the log holds what the terminal showed: gsg-step's progress lines and the script's own
    grep -q 'train.sh: simsiam gsg=on steps 1..6 of 6' "$T/run/train.log"
    grep -q 'gsg-step: step 5 (epoch 1): loss is nan' "$T/run/train.log"
    # without RESUME=1 or FORCE=1 the run is refused and left as it was
    cp "$T/run/ckpt.gsgt" "$T/c3.gsgt"
    run -1 --separate-stderr bash "$P/train.sh" --data "$T/data" --epochs 2 --batch 16 --step-args "$SMALL" --out "$T/run"
    [ "$stderr" = "train.sh: $T/run holds an earlier run (ckpt.gsgt, metrics.jsonl, run.txt): --resume (RESUME=1) continues it, --force (FORCE=1) replaces it, or give another --out" ]
    cmp "$T/c3.gsgt" "$T/run/ckpt.gsgt"
    # other settings are refused too
    run -1 --separate-stderr env RESUME=1 bash "$P/train.sh" --data "$T/data" --epochs 3 --batch 16 --step-args "$SMALL" --out "$T/run"
    [[ "$stderr" == "train.sh: --resume: $T/run was run with other settings (epochs=2 ): "* ]]
    cmp "$T/c3.gsgt" "$T/run/ckpt.gsgt"
    # RESUME=1 continues at step 3: the same checkpoint and metrics as the run that was not interrupted
    run -0 --separate-stderr env RESUME=1 bash "$P/train.sh" --data "$T/data" --epochs 2 --batch 16 --step-args "$SMALL" --out "$T/run"
    [[ "$stderr" == *"train.sh: resuming $T/run from its checkpoint at step 3"*"steps 4..6 of 6"* ]]
    cmp "$T/full/ckpt.gsgt" "$T/run/ckpt.gsgt"
    diff <(sed 's/,"img_s.*//' "$T/full/metrics.jsonl") <(sed 's/,"img_s.*//' "$T/run/metrics.jsonl")
    cmp "$T/full/epoch_loss.txt" "$T/run/epoch_loss.txt"
    grep -q 'resuming' "$T/run/train.log" && grep -q 'loss is nan' "$T/run/train.log"   # appended, not replaced
    # FORCE=1 replaces it
    run -0 env FORCE=1 bash "$P/train.sh" --data "$T/data" --epochs 1 --batch 16 --step-args "$SMALL" --out "$T/run"
    ! grep -q 'loss is nan' "$T/run/train.log"
    [ "$(wc -l <"$T/run/metrics.jsonl")" -eq 3 ]
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
    grep -q '^| simsiam-nopred | resnet18 w4 | 16 | [0-9.]* ± [0-9.]* |' "$R/table.md"
    grep -q '^| simsiam+gsg-nopred | resnet18 w4 | 16 |' "$R/table.md"
    grep -q '^| raw pixels |' "$R/table.md"
    grep -q '^| random init' "$R/table.md"
    [ "$(wc -l <"$R/simsiam-nopred.loss.dat")" -eq 2 ]
    [ "$(wc -l <"$R/simsiam+gsg-nopred.knn.dat")" -eq 2 ]
    if command -v gnuplot >/dev/null; then
        [ "$(head -c 4 "$R/loss.png" | od -An -c | tr -d ' ')" = '211PNG' ]
        [ -s "$R/knn.png" ]
    fi
}

@test "experiment.sh batch-size: SimCLR, SimSiam+GSG, BYOL+GSG per batch, lr scaled linearly, the protocol per run, k-NN against the batch size" {
    run -0 --separate-stderr bash "$P/experiment.sh" --name batch-size --quick --data "$T/data" --epochs 1 --seeds 0 \
        --batches "8 16" --curve-bank 48 --curve-test 24 --bank 48 --test 24 --step-args "--width 4 --proj-dim 16 --threads 1" --out "$T/res"
    R=$T/res/batch-size
    for m in simclr simsiam+gsg byol+gsg; do
        grep -q -- '--lr 0.003125 --width 4' "$R/runs/$m-b8/seed0/run.txt"     # 0.1 x 8 / 256
        grep -q -- '--lr 0.00625 --width 4' "$R/runs/$m-b16/seed0/run.txt"
        grep -q '"split":"test"' "$R/runs/$m-b16/seed0/final/protocol.json"
        grep -Eq "^\| $(printf '%s' "$m" | sed 's/+/\\+/') \| 8 \| 0.003125 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|$" "$R/batch.md"
        [ "$(wc -l <"$R/$m.batch.dat")" -eq 2 ]
    done
    grep -qx 'method=simclr' "$R/runs/simclr-b8/seed0/run.txt" && grep -qx 'gsg=off' "$R/runs/simclr-b8/seed0/run.txt"
    grep -q '^## batch size' "$R/table.md"
    if command -v gnuplot >/dev/null; then [ -s "$R/knn_batch.png" ]; fi
    run -2 bash "$P/experiment.sh" --name batch-size --batches "8 x"
    run -2 bash "$P/experiment.sh" --name batch-size --base-lr fast
}

@test "experiment.sh: the random encoder has the runs' width; a second run is refused; --resume keeps; make report rebuilds" {
    args=(--name no-predictor --quick --data "$T/data" --epochs 1 --batch 16 --seeds 0 --curve-bank 48 --curve-test 24
          --bank 48 --test 24 --step-args "--width 4 --proj-dim 16 --threads 1" --out "$T/res")
    run -0 --separate-stderr bash "$P/experiment.sh" "${args[@]}"
    R=$T/res/no-predictor
    # every row, the random encoder's included, is the runs' model (width 4, not the recipe's 16)
    grep -q '^| simsiam-nopred | resnet18 w4 | 16 |' "$R/table.md"
    grep -q '^| simsiam+gsg-nopred | resnet18 w4 | 16 |' "$R/table.md"
    grep -q '^| random init (seed 0) | resnet18 w4 | - |' "$R/table.md"
    grep -q '^| raw pixels | - | - |' "$R/table.md"
    cp "$R/table.md" "$T/table0.md"
    cp "$R/runs/simsiam-nopred/seed0/ckpt.gsgt" "$T/c0.gsgt"
    run -1 --separate-stderr bash "$P/experiment.sh" "${args[@]}"
    [[ "$stderr" == "experiment.sh: $R holds an earlier experiment: --resume (RESUME=1)"* ]]
    cmp "$T/table0.md" "$R/table.md"
    run -0 --separate-stderr env RESUME=1 bash "$P/experiment.sh" "${args[@]}"
    [[ "$stderr" == *"simsiam-nopred seed 0: finished already, kept"*"simsiam+gsg-nopred seed 0: finished already, kept"* ]]
    cmp "$T/c0.gsgt" "$R/runs/simsiam-nopred/seed0/ckpt.gsgt"
    # make report: the table and plots again from the runs, nothing trained
    rm "$R/table.md" "$R"/*.dat "$R"/*.png 2>/dev/null || rm "$R/table.md" "$R"/*.dat
    touch -d '1 hour ago' "$R"/runs/*/seed0/ckpt.gsgt
    cd "$BATS_TEST_DIRNAME/../.."
    run -0 make --no-print-directory report EXP_OUT="$T/res" BUILD="${GSG_BUILD:-build}"
    [[ "$output" == *"== report: $R"* ]]
    diff "$T/table0.md" "$R/table.md"
    [ "$(wc -l <"$R/simsiam-nopred.loss.dat")" -eq 1 ]
    [ -z "$(find "$R/runs" -newer "$R/settings.env" -name ckpt.gsgt)" ]
    # an unfinished run is named, not reported
    rm "$R/runs/simsiam+gsg-nopred/seed0/final/knn.json"
    run -1 --separate-stderr bash "$P/experiment.sh" --report --name no-predictor --out "$T/res"
    [[ "$stderr" == *"simsiam+gsg-nopred/seed0/final/knn.json: missing (an unfinished run: RESUME=1 make experiment-no-predictor continues it)" ]]
    run ! --separate-stderr make --no-print-directory report EXP_OUT="$T/nothing" LONG_OUT="$T/nothing" BUILD="${GSG_BUILD:-build}"
    [[ "$stderr" == *"report: no experiment in $T/nothing/ and no long runs in $T/nothing/"* ]]
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
    run -0 make -n train RESUME=1
    [[ "$output" == *"RESUME=1 FORCE=0 bash pipelines/train.sh"* ]]
    run -0 make -n linear CKPT=/tmp/x/ckpt.gsgt EVAL_ARGS="--solver ridge"
    [[ "$output" == *"linear.sh --ckpt /tmp/x/ckpt.gsgt"*"--eval-args \"--solver ridge\""* ]]
}

@test "make help lists the targets and variables; its TRAIN_ARGS and EVAL_ARGS examples run" {
    cd "$BATS_TEST_DIRNAME/../.."
    run -0 --separate-stderr make --no-print-directory help
    for w in all test test-unit test-gpu deps deps-ref demo train knn linear experiment-gsg experiment-no-predictor \
             experiment-batch-size long-runs LONG_ARGS LONG_OUT report bench TRAIN_ARGS EVAL_ARGS EXP_ARGS RESUME=1 FORCE=1 OUT= CKPT= EPOCHS= SEEDS= QUICK=1; do
        [[ "$output" == *"$w"* ]] || { echo "make help does not mention $w"; return 1; }
    done
    # the examples as printed, on the tiny data (the data set and budget swapped in)
    B=${GSG_BUILD:-build}
    run -0 make --no-print-directory train BUILD="$B" DATA="$T/data" EPOCHS=1 BATCH=16 OUT="$T/a" \
        TRAIN_ARGS="--limit 32 --knn-every 1 --knn-bank 48 --knn-test 24 --step-args \"--lr 0.1 --fix-pred-lr $SMALL\""
    [ -s "$T/a/ckpt.gsgt" ] && [ "$(wc -l <"$T/a/knn_epochs.txt")" -eq 1 ]
    grep -q -- '--lr 0.1 --fix-pred-lr' "$T/a/run.txt"
    run -0 make --no-print-directory knn BUILD="$B" DATA="$T/data" CKPT="$T/a/ckpt.gsgt" EVAL_ARGS="-k 20 -t 0.07"
    grep -q '"k":20' "$T/a/knn/knn.json"
    run -0 make --no-print-directory linear BUILD="$B" DATA="$T/data" CKPT="$T/a/ckpt.gsgt" EVAL_ARGS="--solver ridge"
    grep -q 'ridge' "$T/a/linear/linear.json"
    # an evaluation already there is replaced only when told
    cp "$T/a/knn/knn.json" "$T/knn0.json"
    run ! --separate-stderr make --no-print-directory knn BUILD="$B" DATA="$T/data" CKPT="$T/a/ckpt.gsgt"
    [[ "$stderr" == *"make: $T/a/knn/knn.json exists: FORCE=1 evaluates again and replaces it"* ]]
    cmp "$T/knn0.json" "$T/a/knn/knn.json"
    run -0 make --no-print-directory knn BUILD="$B" DATA="$T/data" CKPT="$T/a/ckpt.gsgt" FORCE=1
    ! cmp -s "$T/knn0.json" "$T/a/knn/knn.json"     # k = 200 now
}
