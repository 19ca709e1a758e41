#!/usr/bin/env bats
# gsg-augment | gsg-step on a Fashion-MNIST subset with a tiny network: the loss decreases,
# nothing is NaN, the collapse monitors stay healthy; an interrupted and resumed run equals an
# uninterrupted one bit for bit; dumps re-select to gsg-step's choices; a non-finite loss stops
# the run with one clear line and leaves the last good checkpoint.
bats_require_minimum_version 1.5.0

# the default thread count: runs are bit-reproducible at any fixed count (tests/tools/determinism.bats)
NET="--recipe fmnist --width 8 --proj-dim 64 --pred-dim 16 --lr 0.1"

setup_file() {
    [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || return 0
    D=$(mktemp -d "${BATS_RUN_TMPDIR:-/tmp}/train.XXXXXX")
    export TRAIN_FIX=$D
    # 512 images, batch 64: 8 steps per epoch, 3 epochs, GSG with dumps every 6 steps
    gsg-augment --limit 512 --batch 64 --views 4 --epochs 3 --seed 3 --threads 1 \
    | gsg-step $NET --gsg --steps-per-epoch 8 --epochs 3 --metrics "$D/m.jsonl" \
        --ckpt "$D/c.gsgt" --dump "$D/dump" --dump-every 6 2>"$D/err"
}

teardown_file() {
    [ -n "${TRAIN_FIX:-}" ] && rm -rf "$TRAIN_FIX"
    return 0
}

setup() {
    [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip "Fashion-MNIST is not installed"
    F=$TRAIN_FIX
    T=$BATS_TEST_TMPDIR
}

@test "train: a short real run lowers the loss, stays finite and keeps the monitors healthy" {
    [ -s "$F/c.gsgt" ]
    # stderr: the configuration line alone
    [ "$(wc -l <"$F/err")" -eq 1 ] && grep -q '^gsg-step: config: recipe=fmnist .*epochs=3 ' "$F/err"
    run -0 /usr/bin/python3 -c '
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 24, len(rows)
for r in rows:
    for k in ("loss", "erank_z", "erank_h", "std_z", "cos_views"):
        assert r[k] is not None and math.isfinite(r[k]), (r["step"], k, r[k])
    assert sum(r["k"]) == 64
first = sum(r["loss"] for r in rows[:8]) / 8
last = sum(r["loss"] for r in rows[-8:]) / 8
assert last < first - 0.03, ("loss did not decrease", first, last)
end = rows[-1]
assert end["erank_z"] > 10, ("projections collapsing", end["erank_z"])      # of at most 64
assert end["std_z"] * 64 ** 0.5 > 0.5, ("per-dimension std", end["std_z"])
assert end["erank_h"] > 5, ("backbone features collapsing", end["erank_h"])
assert end["cos_views"] < 0.95, ("views identical", end["cos_views"])
print("loss %.4f -> %.4f, erank_z %.1f" % (first, last, end["erank_z"]))' "$F/m.jsonl"
    echo "$output"
}

@test "train: gsg-select re-derives the dumped choices exactly" {
    run -0 --separate-stderr gsg-select --check "$F/dump/dump.gsgt"
    [[ "$stderr" == *"4 records, 256 rows: choices agree"* ]]
    run -0 gsg-select --summary "$F/dump/dump.gsgt"
    [ "${lines[0]}" = "records 4 rows 256" ]
}

@test "train: interrupted and resumed through the pipe equals the uninterrupted run, bit for bit" {
    aug="gsg-augment --limit 256 --batch 32 --views 4 --epochs 2 --seed 5 --threads 1"
    for m in "--gsg" "--method byol"; do
        rm -f "$T"/*.gsgt
        run -0 bash -c "$aug | gsg-step $NET $m --steps-per-epoch 8 --epochs 2 --ckpt '$T/full.gsgt'"
        run -0 bash -c "$aug | gsg-step $NET $m --steps-per-epoch 8 --epochs 2 --ckpt '$T/part.gsgt' --steps 6"
        run -0 bash -c "$aug | gsg-step $NET $m --steps-per-epoch 8 --epochs 2 --ckpt '$T/part.gsgt' --resume '$T/part.gsgt'"
        cmp "$T/full.gsgt" "$T/part.gsgt"
    done
}

@test "train: a non-finite loss stops with one line and leaves the last good checkpoint" {
    aug="gsg-augment --limit 256 --batch 32 --views 4 --epochs 1 --seed 5 --threads 1"
    run -0 bash -c "$aug | gsg-step $NET --gsg --steps-per-epoch 8 --epochs 1 --ckpt '$T/ref.gsgt' --steps 3"
    run -1 --separate-stderr bash -c "$aug | GSG_TEST_NAN_STEP=4 gsg-step $NET --gsg --steps-per-epoch 8 --epochs 1 --ckpt '$T/c.gsgt' --save-every 3"
    [ "${#stderr_lines[@]}" -eq 2 ]   # the run's configuration line, then the stop
    [[ "${stderr_lines[0]}" == "gsg-step: config: "* ]]
    [ "${stderr_lines[1]}" = "gsg-step: step 4 (epoch 0): loss is nan: stopped; the last good checkpoint $T/c.gsgt (step 3) is unchanged" ]
    cmp "$T/ref.gsgt" "$T/c.gsgt"
    [ -z "$(ls "$T" | grep '\.tmp\.')" ]
}

@test "train: pipelines/train.sh stopped by SIGINT mid-run (as Ctrl-C does) resumes with RESUME=1 to the uninterrupted result" {
    P=$BATS_TEST_DIRNAME/../../pipelines
    args=(--data fashion-mnist --limit 512 --batch 64 --epochs 4 --seed 2 --step-args "--width 4 --proj-dim 32 --pred-dim 8 --threads 1")
    run -0 bash "$P/train.sh" "${args[@]}" --out "$T/full"
    # the whole foreground job gets SIGINT once the first epoch's checkpoint is there
    setsid bash "$P/train.sh" "${args[@]}" --out "$T/run" 2>"$T/err" &
    pid=$!
    for _ in $(seq 300); do [ -s "$T/run/ckpt.gsgt" ] && break; sleep 0.05; done
    [ -s "$T/run/ckpt.gsgt" ]
    kill -INT -- "-$pid"
    run wait "$pid"
    [ "$status" -ne 0 ]
    at=$(. "$P/lib.sh"; gsg_ckpt_step "$T/run/ckpt.gsgt")
    echo "interrupted with the checkpoint at step $at" >&3
    [ "$at" -ge 8 ] && [ "$at" -lt 32 ] && [ $((at % 8)) -eq 0 ]     # an epoch's end (8 steps per epoch)
    grep -q 'steps 1..32 of 32' "$T/run/train.log"
    run -0 --separate-stderr env RESUME=1 bash "$P/train.sh" "${args[@]}" --out "$T/run"
    [[ "$stderr" == *"resuming $T/run from its checkpoint at step $at"* ]]
    cmp "$T/full/ckpt.gsgt" "$T/run/ckpt.gsgt"
    # every metrics line kept is the uninterrupted run's (timings aside), the resumed steps all there;
    # the lines before the checkpoint survive as far as gsg-step had them on disk (a missing one is said)
    /usr/bin/python3 - "$T/full/metrics.jsonl" "$T/run/metrics.jsonl" "$at" "$stderr" <<'PYEOF'
import json, sys
strip = lambda r: {k: v for k, v in r.items() if k not in ('img_s', 'select_ms', 'step_ms')}
full = {r['step']: strip(r) for r in map(json.loads, open(sys.argv[1]))}
run = [strip(json.loads(l)) for l in open(sys.argv[2])]
at = int(sys.argv[3])
steps = [r['step'] for r in run]
assert steps == sorted(set(steps)) and set(range(at, 32)) <= set(steps), steps
assert all(r == full[r['step']] for r in run)
assert len(run) == 32 or 'metrics.jsonl has %d of the %d steps before the checkpoint' % (len(run) - (32 - at), at) in sys.argv[4]
PYEOF
}

@test "train: --val N holds out the last N training images: trained on the rest, k-NN queries from the held-out ones" {
    P=$BATS_TEST_DIRNAME/../../pipelines
    # 300 images to train on (the first 300), the remaining 59,700 held out; k-NN on 500 of them
    run -0 bash "$P/train.sh" --data fashion-mnist --val 59700 --batch 64 --epochs 1 --seed 2 --knn-every 1 --knn-test 500 \
        --aug-args "--crop-scale 0.5:1" --step-args "--width 4 --proj-dim 32 --pred-dim 8 --threads 1" --out "$T/v"
    grep -qx 'limit=0:300' "$T/v/run.txt"
    grep -qx 'val=59700' "$T/v/run.txt"
    grep -qx 'images=300' "$T/v/run.txt"
    grep -q -- '--range 0:300 --crop-scale 0.5:1' "$T/v/run.txt"
    # the bank is the training part, the queries are training images 300..799: the test split is not read
    [ -s "$T/v/plain/train_"*"_fmnist_0-300.gsgt" ]
    [ -s "$T/v/plain/val_"*"_fmnist_300-800.gsgt" ]
    ! ls "$T/v/plain" | grep -q '^test_'
    run -0 gsg-tensor info "$T/v/plain/val_"*"_fmnist_300-800.gsgt"
    [[ "$output" == *"range=300:800"* ]]
    [ "$(wc -l <"$T/v/knn_epochs.txt")" -eq 1 ]
    # a resume must give the same split
    run -1 env RESUME=1 bash "$P/train.sh" --data fashion-mnist --val 59000 --batch 64 --epochs 1 --seed 2 --out "$T/v"
    [[ "$output" == *"was run with other settings"* ]]
    run -2 bash "$P/train.sh" --val 60000 --out "$T/w"
    [[ "$output" == *"--val 60000: the data set has 60000 training images"* ]]
    run -2 bash "$P/train.sh" --val 10 --limit 100 --out "$T/w"
    [[ "$output" == *"--val and --limit exclude each other"* ]]
}
