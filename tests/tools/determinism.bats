#!/usr/bin/env bats
# Reproducibility (README "Reproducibility"): the same command at the same thread count gives a
# byte-identical checkpoint and the same metrics (loss, choices, monitors; timings aside; SimSiam,
# BYOL, GSG and SimCLR), for 1,
# 2 and 3 threads (3 oversubscribes a 2-core machine, which shuffles the timing), with --threads
# or OMP_NUM_THREADS, with either convolution (oneDNN, im2col + OpenBLAS). Across thread counts,
# what the README claims: gsg-encode's backbone features and gsg-eval's k-NN are identical.
bats_require_minimum_version 1.5.0

NET="--recipe fmnist --width 8 --proj-dim 32 --pred-dim 8 --lr 0.05"

setup_file() {
    D=$(mktemp -d "${BATS_RUN_TMPDIR:-/tmp}/determinism.XXXXXX")
    export GSG_DET_FIX=$D
    [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || return 0
    # 6 steps of 32 images, 4 views; plain images for encoding
    gsg-augment --limit 192 --batch 32 --views 4 --epochs 1 --seed 7 -o "$D/v.gsgt"
    gsg-augment --plain --limit 300 -o "$D/bank.gsgt"
    gsg-augment --plain --split test --limit 100 -o "$D/test.gsgt"
}

teardown_file() {
    rm -rf "$GSG_DET_FIX"
}

setup() {
    F=$GSG_DET_FIX
    T=$BATS_TEST_TMPDIR
    [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
}

# metrics without the timing columns
notime() {
    /usr/bin/python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    for k in ("img_s", "select_ms", "step_ms"): r.pop(k)
    print(json.dumps(r, sort_keys=True))' "$1"
}

# train TAG ARGS...: one run of the fixture, checkpoint $T/TAG.gsgt, metrics $T/TAG.jsonl
train() {
    local tag=$1
    shift
    run -0 gsg-step $NET -i "$F/v.gsgt" --ckpt "$T/$tag.gsgt" --metrics "$T/$tag.jsonl" --knn-every 1 \
        --knn-bank "$F/bank.gsgt" --knn-test "$F/test.gsgt" --knn-k 20 "$@"
}

# same TAG_A TAG_B: identical checkpoints and metrics (timings aside)
same() {
    cmp "$T/$1.gsgt" "$T/$2.gsgt"
    diff <(notime "$T/$1.jsonl") <(notime "$T/$2.jsonl")
    # the metrics do carry the monitors and the choices being compared
    notime "$T/$1.jsonl" | grep -q '"erank_z": [0-9]'
    notime "$T/$1.jsonl" | grep -q '"knn_top1": [0-9]'
}

@test "determinism: SimSiam+GSG twice at 2 and at 3 threads: byte-identical checkpoint and metrics" {
    for t in 2 3; do
        train a$t --gsg --threads $t
        train b$t --gsg --threads $t
        same a$t b$t
    done
}

@test "determinism: BYOL+GSG and SimSiam twice at 2 threads (OMP_NUM_THREADS), and at 1 thread" {
    OMP_NUM_THREADS=2 train a --method byol --gsg
    OMP_NUM_THREADS=2 train b --method byol --gsg
    same a b
    OMP_NUM_THREADS=2 train c
    OMP_NUM_THREADS=2 train d
    same c d
    train e --gsg --threads 1
    train f --gsg --threads 1
    same e f
}

@test "determinism: SimCLR twice at 2 and at 3 threads, and resumed at step 3: byte-identical checkpoint and metrics" {
    NET="--recipe fmnist --width 8 --proj-dim 32 --lr 0.05 --method simclr"
    for t in 2 3; do
        train a$t --threads $t
        train b$t --threads $t
        same a$t b$t
    done
    train part --threads 2 --steps 3
    train part --threads 2 --resume "$T/part.gsgt"
    same a2 part
}

@test "determinism: the im2col + OpenBLAS convolutions twice at 2 threads" {
    GSG_CONV=im2col train a --gsg --threads 2
    GSG_CONV=im2col train b --gsg --threads 2
    same a b
}

@test "determinism: interrupted at step 3 and resumed at the default thread count equals the whole run" {
    train whole --gsg
    train part --gsg --steps 3
    train part --gsg --resume "$T/part.gsgt"
    same whole part
}

@test "determinism: backbone features (oneDNN) and k-NN are identical for 1, 2 and 3 threads" {
    train c --gsg --threads 2
    GSG_CONV=onednn gsg-encode --ckpt "$T/c.gsgt" -o "$T/probe.gsgt" "$F/test.gsgt" 2>"$T/probe.err" ||
        { grep -q oneDNN "$T/probe.err" && skip "this build has no oneDNN"; false; }
    for t in 1 2 3; do
        GSG_CONV=onednn OMP_NUM_THREADS=$t gsg-encode --ckpt "$T/c.gsgt" -o "$T/fb$t.gsgt" "$F/bank.gsgt"
        GSG_CONV=onednn OMP_NUM_THREADS=$t gsg-encode --ckpt "$T/c.gsgt" -o "$T/ft$t.gsgt" "$F/test.gsgt"
        OMP_NUM_THREADS=$t gsg-eval knn -k 20 --json --train "$T/fb1.gsgt" --test "$T/ft1.gsgt" >"$T/knn$t.json"
    done
    for t in 2 3; do
        cmp "$T/fb1.gsgt" "$T/fb$t.gsgt"
        cmp "$T/ft1.gsgt" "$T/ft$t.gsgt"
        run -0 /usr/bin/python3 -c '
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
for r in (a, b):
    for k in [k for k in r if k.endswith("seconds")]: del r[k]
assert a == b and a["scored"] == 100, (a, b)' "$T/knn1.json" "$T/knn$t.json"
    done
}
