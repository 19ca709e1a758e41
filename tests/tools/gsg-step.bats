#!/usr/bin/env bats
# gsg-step: options, input checks, the four methods + ablation + 2-view pairing on a tiny
# network, dumps re-derived by gsg-select, exact resume (checkpoint and metrics log), the
# non-finite-loss stop, --print-config, short streams, SIGINT/SIGTERM. Default thread count.
bats_require_minimum_version 1.5.0

# tiny network: 28x28x1 ResNet-18 of base width 8, heads 32/8, at the default thread count (the
# runs are bit-reproducible at any fixed count, so resume tests need no --threads 1)
TINY="--recipe fmnist --width 8 --proj-dim 32 --pred-dim 8 --lr 0.05"
TINY_NOPRED=(--recipe fmnist --width 8 --proj-dim 32 --lr 0.05)

setup_file() {
    D=$(mktemp -d "${BATS_RUN_TMPDIR:-/tmp}/gsg-step.XXXXXX")
    export GSG_STEP_FIX=$D
    cat >"$D/views.py" <<'EOF'
# Write view batches as gsg-augment does (stream contract of the preamble), from the first
# images of Fashion-MNIST (or random pixels when it is absent), with a crude augmentation.
import gzip, struct, sys, os, numpy as np, zstandard as zstd
def record(name, seq, arr, meta=''):
    arr = np.array(arr, order='C', copy=True)
    DT = {np.dtype('<f4'): 1, np.dtype('u1'): 5, np.dtype('<i8'): 7}
    nb, mb = name.encode(), meta.encode()
    hb = (32 + 8 * arr.ndim + len(nb) + len(mb) + 63) // 64 * 64
    h = struct.pack('<4sBBBBIHHQQ', b'GSGT', 1, DT[arr.dtype], arr.ndim, 0, hb, len(nb), len(mb), seq, arr.nbytes)
    h += struct.pack(f'<{arr.ndim}Q', *arr.shape) + nb + mb
    h += b'\0' * (hb - len(h))
    return zstd.ZstdCompressor(write_checksum=True, write_content_size=True).compress(h + arr.tobytes())
def images(n):
    p = '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz'
    if os.path.exists(p):
        with gzip.open(p) as f:
            f.read(16)
            return np.frombuffer(f.read(n * 784), np.uint8).reshape(n, 28, 28)
    return np.random.RandomState(0).randint(0, 256, (n, 28, 28)).astype(np.uint8)
def main(out, n, batch, views, epochs, seed, bpe_meta=1):
    n, batch, views, epochs, seed = int(n), int(batch), int(views), int(epochs), int(seed)
    x = images(n)
    bpe = n // batch
    recs = []
    for e in range(epochs):
        rs = np.random.RandomState(seed * 1000 + e)
        order = rs.permutation(n)
        for b in range(bpe):
            idx = order[b * batch:(b + 1) * batch]
            v = np.zeros((batch, views, 1, 28, 28), np.uint8)
            for i, j in enumerate(idx):
                pad = np.pad(x[j], 4)
                for k in range(views):
                    dy, dx = rs.randint(0, 9, 2)
                    im = pad[dy:dy + 28, dx:dx + 28].astype(np.float32)
                    if rs.rand() < 0.5: im = im[:, ::-1]
                    im = im * rs.uniform(0.6, 1.4)
                    v[i, k, 0] = np.clip(im, 0, 255).astype(np.uint8)
            meta = f'epoch={e}\nseed={seed}\nrecipe=fmnist\ndataset=fmnist\nmean=0.2860\nstd=0.3530\nsize=28\n'
            if int(bpe_meta): meta += f'batches_per_epoch={bpe}\nepochs={epochs}\n'
            seq = e * bpe + b
            recs += [record('views', seq, v, meta), record('index', seq, idx.astype('<i8')),
                     record('label', seq, np.full(batch, -1, '<i8'))]
    recs.append(record('gsg.end', 0, np.array(len(recs), dtype='<i8')))
    with open(out, 'wb') as f:
        for r in recs: f.write(r)
main(*sys.argv[1:])
EOF
    /usr/bin/python3 "$D/views.py" "$D/v4.gsgt" 64 16 4 2 1      # 4 steps/epoch, 2 epochs, 4 views
    /usr/bin/python3 "$D/views.py" "$D/v2.gsgt" 64 16 2 1 1      # 2 views
    /usr/bin/python3 "$D/views.py" "$D/nobpe.gsgt" 32 16 4 1 1 0 # no batches_per_epoch meta
}

teardown_file() {
    rm -rf "$GSG_STEP_FIX"
}

setup() {
    F=$GSG_STEP_FIX
    T=$BATS_TEST_TMPDIR
}

# metrics file -> "n_lines all_finite min_k_sum max_k_sum"
metrics_summary() {
    /usr/bin/python3 -c '
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
fin = all(r["loss"] is not None and math.isfinite(r["loss"]) for r in rows)
ks = [sum(r["k"]) for r in rows]
print(len(rows), int(fin), min(ks), max(ks))' "$1"
}

@test "gsg-step --help prints usage on stdout and exits 0; --version" {
    run -0 --separate-stderr gsg-step --help
    [[ "$output" == *"Usage: gsg-step"* ]]
    [[ "$output" == *"--gsg-distance"* ]]
    [[ "$output" == *"Exit status"* ]]
    [ -z "$stderr" ]
    run -0 gsg-step --version
    [[ "$output" == "gsg-step "* ]]
    run -1 --separate-stderr bash -c 'gsg-step --help > /dev/full'
    [[ "$stderr" == *"write error"* ]]
}

@test "gsg-step: bad options are usage errors (exit 2, one line + hint)" {
    run -2 --separate-stderr gsg-step --frobnicate
    [ "${#stderr_lines[@]}" -eq 2 ]
    [ "${stderr_lines[0]}" = "gsg-step: unknown option '--frobnicate'" ]
    [ "${stderr_lines[1]}" = "Try 'gsg-step --help'." ]
    run -2 --separate-stderr gsg-step --method moco -i "$F/v4.gsgt"
    [[ "${stderr_lines[0]}" == *"--method: 'moco'"* ]]
    run -2 --separate-stderr gsg-step --gsg-distance cosine -i "$F/v4.gsgt"
    [[ "${stderr_lines[0]}" == *"need --gsg"* ]]
    run -2 --separate-stderr gsg-step --dump "$T/d" -i "$F/v4.gsgt"
    [[ "${stderr_lines[0]}" == *"--dump needs --gsg"* ]]
}

@test "gsg-step --gsg refuses a 2-view stream with a clear message" {
    run -2 --separate-stderr gsg-step $TINY --gsg -i "$F/v2.gsgt" --ckpt "$T/c.gsgt"
    [[ "${stderr_lines[0]}" == "gsg-step: $F/v2.gsgt: --gsg needs 4 views per image and the stream has 2"* ]]
    [ ! -e "$T/c.gsgt" ]
}

@test "gsg-step: a stream without batches_per_epoch needs --steps-per-epoch" {
    run -2 --separate-stderr gsg-step $TINY -i "$F/nobpe.gsgt"
    [[ "${stderr_lines[0]}" == *"--steps-per-epoch"* ]]
    run -0 gsg-step $TINY -i "$F/nobpe.gsgt" --steps-per-epoch 2 --epochs 1
}

# metrics without the timing columns, one canonical JSON object per line
metrics_notime() {
    /usr/bin/python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    for k in ("img_s", "select_ms", "step_ms"): r.pop(k)
    print(json.dumps(r, sort_keys=True))' "$1"
}

@test "gsg-step --print-config: the resolved recipe and hyper-parameters; the first stderr line of a run says them" {
    run -0 --separate-stderr gsg-step $TINY --gsg --momentum 0.8 --threads 2 -i "$F/v4.gsgt" --steps 1 --print-config --ckpt "$T/c.gsgt" --metrics "$T/m.jsonl"
    [ -z "$stderr" ]
    for kv in recipe=fmnist method=simsiam gsg=1 lr=0.05 lr_pred=0.05 wd=0.0005 momentum=0.8 batch=16 \
              epochs=2 steps_per_epoch=4 total_steps=8 width=8 arch=resnet18 proj_dim=32 pred_hidden=8 seed=1 \
              stop_step=1 threads=2 device=cpu ema=0.99 fix_pred_lr=0; do
        printf '%s\n' "$output" | grep -qx "$kv" || { echo "missing $kv in: $output"; false; }
    done
    [ ! -e "$T/c.gsgt" ] && [ ! -e "$T/m.jsonl" ]   # nothing trained, nothing written
    cfg=$(printf '%s\n' "$output" | tr '\n' ' ')
    # the lr of the recipe's rule (0.03 * B / 256) when no --lr is given; epochs from --epochs
    run -0 gsg-step --recipe fmnist --width 8 --epochs 3 -i "$F/v4.gsgt" --print-config
    printf '%s\n' "$output" | grep -qx "lr=0.001875"
    printf '%s\n' "$output" | grep -qx "epochs=3"
    # a run's first stderr line is the same configuration
    run -0 --separate-stderr gsg-step $TINY --gsg --momentum 0.8 --threads 2 -i "$F/v4.gsgt" --steps 1
    [ "${stderr_lines[0]}" = "gsg-step: config: ${cfg% }" ] || { echo "${stderr_lines[0]}"; echo "gsg-step: config: $cfg"; false; }
}

@test "gsg-step: --epochs comes from the stream's epochs= meta; a stream shorter than the schedule is an error" {
    # v4.gsgt: epochs=2 of 4 batches -> 8 steps, exit 0
    run -0 gsg-step $TINY -i "$F/v4.gsgt" --metrics "$T/m.jsonl" --ckpt "$T/c.gsgt"
    [ "$(wc -l <"$T/m.jsonl")" -eq 8 ]
    # the schedule asks for 5 epochs: exit 1, one line naming both counts, the steps done are saved
    run -1 --separate-stderr gsg-step $TINY -i "$F/v4.gsgt" --epochs 5 --ckpt "$T/short.gsgt"
    [ "${#stderr_lines[@]}" -eq 2 ]
    [ "${stderr_lines[1]}" = "gsg-step: $F/v4.gsgt: the stream ended at step 8 (2 epochs), expected 20 steps (5 epochs of 4 batches); the checkpoint $T/short.gsgt is at step 8; give gsg-augment --epochs 5, or gsg-step --epochs/--steps" ]
    run -0 gsg-tensor info "$T/short.gsgt"
    # --steps beyond the stream, likewise
    run -1 --separate-stderr gsg-step $TINY -i "$F/v4.gsgt" --epochs 5 --steps 10
    [[ "${stderr_lines[1]}" == *"the stream ended at step 8 (2 epochs), expected 10 steps (--steps); no --ckpt was given;"* ]]
}

@test "gsg-step: corrupt or wrong input -> exit 1, one line, no checkpoint" {
    head -c 3000 "$F/v4.gsgt" >"$T/trunc.gsgt"
    run -1 --separate-stderr gsg-step $TINY -i "$T/trunc.gsgt" --ckpt "$T/c.gsgt" --metrics "$T/m.jsonl"
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == "gsg-step: $T/trunc.gsgt"* ]]
    [ ! -e "$T/c.gsgt" ]
    [ ! -e "$T/m.jsonl" ]
    [ -z "$(ls "$T" | grep '\.tmp\.')" ]
    run -1 --separate-stderr gsg-step $TINY -i "$BATS_TEST_DIRNAME/gsg-step.bats"
    [ "${#stderr_lines[@]}" -eq 1 ]
}

@test "gsg-step: SimSiam, SimSiam+GSG, BYOL, BYOL+GSG, no-predictor and 2-view pairing all train" {
    for m in "--method simsiam" "--method simsiam --gsg" "--method byol" "--method byol --gsg" \
             "--method simsiam --gsg --no-predictor" "--method simsiam --no-predictor" \
             "--method simsiam --gsg --gsg-pairing 2view" "--method byol --gsg --gsg-pairing 2view --gsg-distance cosine"; do
        rm -f "$T/m.jsonl" "$T/c.gsgt"
        a=("${TINY_NOPRED[@]}")
        [[ "$m" == *--no-predictor* ]] || a+=(--pred-dim 8)
        run -0 --separate-stderr gsg-step "${a[@]}" $m --steps 3 -i "$F/v4.gsgt" --metrics "$T/m.jsonl" --ckpt "$T/c.gsgt"
        [ -s "$T/c.gsgt" ]
        run -0 metrics_summary "$T/m.jsonl"
        if [[ "$m" == *--gsg* ]]; then
            [ "$output" = "3 1 16 16" ] || { echo "$m: $output"; false; }
        else
            [ "$output" = "3 1 0 0" ] || { echo "$m: $output"; false; }
        fi
    done
    # the metrics carry every monitor
    run -0 /usr/bin/python3 -c '
import json, sys
r = json.loads(open(sys.argv[1]).readline())
need = ["step", "epoch", "loss", "lr", "k", "erank_z", "erank_h", "std_z", "cos_views", "img_s"]
missing = [k for k in need if k not in r]
assert not missing, missing
assert r["erank_z"] > 1 and r["img_s"] > 0 and r["ema"] == 0.99
print("ok")' "$T/m.jsonl"
}

@test "gsg-step --method simclr: trains on 2 views, no predictor, temperature in gsg.config; resumes bit for bit" {
    SC=(--recipe fmnist --width 8 --proj-dim 32 --lr 0.05 --method simclr)
    run -0 --separate-stderr gsg-step "${SC[@]}" --steps 3 -i "$F/v2.gsgt" --metrics "$T/m.jsonl" --ckpt "$T/c.gsgt"
    run -0 metrics_summary "$T/m.jsonl"
    [ "$output" = "3 1 0 0" ]
    # 16 images: 31 candidates per view at the start, so the loss is near log(31) = 3.43
    run -0 /usr/bin/python3 -c '
import json, sys
r = json.loads(open(sys.argv[1]).readline())
assert 2.5 < r["loss"] < 4.5 and r["erank_z"] > 1 and r["cos_views"] is not None, r
print("ok")' "$T/m.jsonl"
    run -0 gsg-tensor info "$T/c.gsgt"
    [[ "$output" != *"predictor."* ]]
    [[ "$output" == *"projector.4.running_var"* ]]
    run -0 gsg-step "${SC[@]}" -i "$F/v2.gsgt" --print-config
    for kv in method=simclr gsg=0 temperature=0.5 pred_hidden=0 proj_layers=2 proj_hidden=32 proj_dim=32 fix_pred_lr=0; do
        printf '%s\n' "$output" | grep -qx "$kv" || { echo "missing $kv in: $output"; false; }
    done
    run -0 gsg-step "${SC[@]}" --temperature 0.2 -i "$F/v2.gsgt" --print-config
    printf '%s\n' "$output" | grep -qx temperature=0.2
    # the imagenet recipe's default is SimCLR's ImageNet setting; --no-predictor is simply what simclr is
    run -0 gsg-step --method simclr --recipe imagenet --no-predictor -i "$F/v2.gsgt" --print-config
    printf '%s\n' "$output" | grep -qx temperature=0.1
    printf '%s\n' "$output" | grep -qx fix_pred_lr=0
    printf '%s\n' "$output" | grep -qx pred_hidden=0
    # SimSiam's configuration has no temperature key (its checkpoints read as before)
    run -0 gsg-step $TINY -i "$F/v2.gsgt" --print-config
    [[ "$output" != *temperature* ]]
    # interrupted + resumed = uninterrupted, bit for bit (4-view stream: simclr takes views 0 and 1)
    run -0 gsg-step "${SC[@]}" -i "$F/v4.gsgt" --ckpt "$T/full.gsgt" --metrics "$T/full.jsonl"
    run -0 gsg-step "${SC[@]}" -i "$F/v4.gsgt" --ckpt "$T/part.gsgt" --steps 3 --metrics "$T/part.jsonl"
    run -0 gsg-step "${SC[@]}" -i "$F/v4.gsgt" --ckpt "$T/part.gsgt" --resume "$T/part.gsgt" --metrics "$T/part.jsonl"
    cmp "$T/full.gsgt" "$T/part.gsgt"
    diff <(metrics_notime "$T/full.jsonl") <(metrics_notime "$T/part.jsonl")
    # a resume must keep the temperature and the method
    run -2 --separate-stderr gsg-step "${SC[@]}" --temperature 0.2 -i "$F/v4.gsgt" --resume "$T/part.gsgt"
    [[ "${stderr_lines[0]}" == *"the checkpoint was trained with temperature=0.5, this command gives temperature=0.2"* ]]
    run -2 --separate-stderr gsg-step "${TINY_NOPRED[@]}" -i "$F/v4.gsgt" --resume "$T/part.gsgt"
    [[ "${stderr_lines[0]}" == *"the checkpoint was trained with method=simclr, this command gives method=simsiam"* ]]
}

@test "gsg-step --method simclr: --gsg, --pred-dim, --fix-pred-lr refused, --temperature needs simclr (one line each)" {
    run -2 --separate-stderr gsg-step --method simclr --gsg -i "$F/v4.gsgt"
    [ "${#stderr_lines[@]}" -eq 2 ]
    [ "${stderr_lines[0]}" = "gsg-step: --gsg: Guided Stop-Gradient does not apply to --method simclr (it chooses stop-gradient targets; SimCLR has none)" ]
    [ "${stderr_lines[1]}" = "Try 'gsg-step --help'." ]
    run -2 --separate-stderr gsg-step --gsg --method simclr -i "$F/v4.gsgt"   # in either order
    [[ "${stderr_lines[0]}" == *"does not apply to --method simclr"* ]]
    run -2 --separate-stderr gsg-step --method simclr --pred-dim 8 -i "$F/v4.gsgt"
    [ "${stderr_lines[0]}" = "gsg-step: --pred-dim: --method simclr has no predictor" ]
    run -2 --separate-stderr gsg-step --method simclr --fix-pred-lr -i "$F/v4.gsgt"
    [ "${stderr_lines[0]}" = "gsg-step: --fix-pred-lr: --method simclr has no predictor" ]
    run -2 --separate-stderr gsg-step --temperature 0.2 -i "$F/v4.gsgt"
    [ "${stderr_lines[0]}" = "gsg-step: --temperature needs --method simclr" ]
    run -2 --separate-stderr gsg-step --method simclr --temperature 0 -i "$F/v4.gsgt"
    [[ "${stderr_lines[0]}" == "gsg-step: --temperature"* ]]
    run -2 --separate-stderr gsg-step --method simclr --dump "$T/d" -i "$F/v4.gsgt"
    [[ "${stderr_lines[0]}" == *"--dump needs --gsg"* ]]
}

@test "gsg-step --method simclr: a non-finite gradient stops the run before the update" {
    SC=(--recipe fmnist --width 8 --proj-dim 32 --lr 0.05 --method simclr)
    run -0 gsg-step "${SC[@]}" -i "$F/v2.gsgt" --ckpt "$T/ref.gsgt" --steps 2
    GSG_TEST_NAN_STEP=3 GSG_TEST_NAN_GRAD=0 run -1 --separate-stderr gsg-step "${SC[@]}" -i "$F/v2.gsgt" --ckpt "$T/c.gsgt" \
        --save-every 2
    [[ "${stderr_lines[1]}" == "gsg-step: step 3 (epoch 0): loss "*", but the gradient of the projections is not finite: stopped; the last good checkpoint $T/c.gsgt (step 2) is unchanged" ]]
    cmp "$T/c.gsgt" "$T/ref.gsgt"
}

@test "gsg-step --dump: gsg-select re-derives exactly gsg-step's choices" {
    run -0 gsg-step $TINY --gsg --steps 4 -i "$F/v4.gsgt" --dump "$T/dump" --dump-every 1
    [ -s "$T/dump/dump.gsgt" ]
    run -0 --separate-stderr gsg-select --check "$T/dump/dump.gsgt"
    [[ "$stderr" == *"4 records, 64 rows: choices agree"* ]]
    # and an independent numpy argmin over the dumped projections agrees too
    run -0 /usr/bin/python3 -c '
import sys, numpy as np, zstandard as zstd, struct
def read(path):
    with open(path, "rb") as f:
        r = zstd.ZstdDecompressor().stream_reader(f, read_across_frames=True)
        while (h := r.read(32)):
            mg, ver, dt, nd, fl, hb, nl, ml, seq, nb = struct.unpack("<4sBBBBIHHQQ", h)
            rest = r.read(hb - 32); dims = struct.unpack(f"<{nd}Q", rest[:8 * nd])
            yield seq, rest[8 * nd:8 * nd + nl].decode(), np.frombuffer(r.read(nb), {1: "<f4", 7: "<i8"}[dt]).reshape(dims)
recs = {}
for seq, name, a in read(sys.argv[1]): recs[(seq, name)] = a
steps = sorted({s for s, n in recs if n == "gsg.z"})
assert steps == [0, 1, 2, 3], steps
for s in steps:
    z = recs[(s, "gsg.z")].astype(np.float64)
    d = np.stack([np.linalg.norm(z[a] - z[b], axis=1) for a, b in ((0, 2), (0, 3), (1, 2), (1, 3))], 1)
    k = d.argmin(1)
    assert (k == recs[(s, "gsg.choice")]).all(), (s, k, recs[(s, "gsg.choice")])
    assert sorted(recs[(s, "gsg.perm")].tolist()) == list(range(16))
    assert np.isfinite(recs[(s, "gsg.loss")]).all()
print("ok")' "$T/dump/dump.gsgt"
    [ "$output" = ok ]
}

@test "gsg-step --resume: interrupted + resumed equals uninterrupted, bit for bit (checkpoint and metrics log)" {
    for m in "--method simsiam --gsg" "--method byol --gsg"; do
        rm -f "$T"/*.gsgt "$T"/*.jsonl
        run -0 gsg-step $TINY $m -i "$F/v4.gsgt" --ckpt "$T/full.gsgt" --metrics "$T/full.jsonl"
        run -0 gsg-step $TINY $m -i "$F/v4.gsgt" --ckpt "$T/part.gsgt" --steps 3
        # the log holds steps 0..5 of a run that went further than the checkpoint (step 3)
        run -0 gsg-step $TINY $m -i "$F/v4.gsgt" --steps 6 --metrics "$T/part.jsonl"
        [ "$(wc -l <"$T/part.jsonl")" -eq 6 ]
        run -0 gsg-step $TINY $m -i "$F/v4.gsgt" --ckpt "$T/part.gsgt" --resume "$T/part.gsgt" --metrics "$T/part.jsonl"
        cmp "$T/full.gsgt" "$T/part.gsgt"
        # steps 3..5 were dropped and trained again: the log is the uninterrupted one, timings aside
        diff <(metrics_notime "$T/full.jsonl") <(metrics_notime "$T/part.jsonl")
    done
    # a different configuration is refused
    run -2 --separate-stderr gsg-step $TINY --method simsiam -i "$F/v4.gsgt" --resume "$T/part.gsgt"
    [[ "${stderr_lines[0]}" == *"the checkpoint was trained with method=byol, this command gives method=simsiam"* ]]
}

@test "gsg-step --knn-every: k-NN at each epoch end in the metrics, equal to gsg-encode | gsg-eval of the checkpoint" {
    [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
    gsg-augment --plain --limit 300 >"$T/bank.gsgt"
    gsg-augment --plain --split test --limit 100 >"$T/test.gsgt"
    run -2 --separate-stderr gsg-step -i "$F/v4.gsgt" $TINY --knn-every 1
    [[ "$stderr" == *"--knn-every needs --knn-bank FILE and --knn-test FILE"* ]]
    run -2 --separate-stderr gsg-step -i "$F/v4.gsgt" $TINY --knn-bank "$T/bank.gsgt"
    [[ "$stderr" == *"need --knn-every"* ]]
    run -1 --separate-stderr gsg-step -i "$F/v4.gsgt" $TINY --knn-every 1 --knn-bank "$F/v2.gsgt" --knn-test "$T/test.gsgt"
    [[ "$stderr" == *"v2.gsgt: record 0 'views'"*"gsg-augment --plain"* ]]
    # 2 epochs of 4 steps: k-NN after steps 4 and 8 (metrics rows 3 and 7), nowhere else
    gsg-step -i "$F/v4.gsgt" $TINY --gsg --epochs 2 --knn-every 1 --knn-bank "$T/bank.gsgt" \
        --knn-test "$T/test.gsgt" --knn-k 20 --metrics "$T/m.jsonl" --ckpt "$T/c.gsgt"
    run -0 /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(" ".join("%d:%.4f:%d" % (i, r["knn_top1"], r["knn_k"]) for i, r in enumerate(rows) if "knn_top1" in r))' "$T/m.jsonl"
    read -r a b extra <<<"$output"
    [ -z "$extra" ]
    [[ "$a" == 3:*:20 ]] && [[ "$b" == 7:*:20 ]]
    gsg-encode --ckpt "$T/c.gsgt" "$T/bank.gsgt" >"$T/fb.gsgt"
    gsg-encode --ckpt "$T/c.gsgt" "$T/test.gsgt" >"$T/ft.gsgt"
    run -0 gsg-eval knn --train "$T/fb.gsgt" --test "$T/ft.gsgt" -k 20 --json
    top1=$(/usr/bin/python3 -c 'import json, sys; print("%.4f" % json.loads(sys.argv[1])["top1"])' "$output")
    [ "$b" = "7:$top1:20" ]
    # the monitor only reads the network: the run trains exactly as one without it
    gsg-step -i "$F/v4.gsgt" $TINY --gsg --epochs 2 --ckpt "$T/c0.gsgt"
    cmp "$T/c.gsgt" "$T/c0.gsgt"
}

@test "gsg-step: a non-finite loss stops the run and leaves the last good checkpoint" {
    run -0 gsg-step $TINY --gsg -i "$F/v4.gsgt" --ckpt "$T/ref.gsgt" --steps 4
    cp "$T/ref.gsgt" "$T/expect.gsgt"
    GSG_TEST_NAN_STEP=5 run -1 --separate-stderr gsg-step $TINY --gsg -i "$F/v4.gsgt" --ckpt "$T/c.gsgt" --save-every 2 --metrics "$T/m.jsonl"
    [ "${#stderr_lines[@]}" -eq 2 ]
    [[ "${stderr_lines[0]}" == "gsg-step: config: "* ]]
    [ "${stderr_lines[1]}" = "gsg-step: step 5 (epoch 1): loss is nan: stopped; the last good checkpoint $T/c.gsgt (step 4) is unchanged" ]
    cmp "$T/c.gsgt" "$T/expect.gsgt"
    run -0 metrics_summary "$T/m.jsonl"
    [ "$output" = "5 1 16 16" ]
    [ -z "$(ls "$T" | grep '\.tmp\.')" ]
}

# Start an endless gsg-augment | gsg-step in the background (its log under $T/$1.*) and wait until
# the metrics log, followed under its own name while the run goes, has $2 lines. Sets PID.
start_endless() {
    local tag=$1 lines=$2
    gsg-augment --limit 64 --batch 16 --views 4 --epochs 0 --seed 3 2>"$T/$tag.aug.err" |
        gsg-step $TINY --epochs 1000 --save-every 3 --ckpt "$T/$tag.gsgt" --metrics "$T/$tag.jsonl" \
            >/dev/null 2>"$T/$tag.err" 3>&- &
    PID=$!
    echo "$PID" >>"$T/pids"
    for _ in $(seq 600); do
        [ -f "$T/$tag.jsonl" ] && [ "$(wc -l <"$T/$tag.jsonl")" -ge "$lines" ] && break
        sleep 0.05
    done
    [ -z "$(ls "$T" | grep '\.tmp\.' | grep jsonl)" ]   # the log is no temporary file
}

teardown() {
    # a failed signal test must not leave its endless run behind
    if [ -f "$T/pids" ]; then while read -r p; do kill "$p" 2>/dev/null || true; done <"$T/pids"; fi
}

@test "gsg-step: SIGINT/SIGTERM say where the run stopped, keep the metrics log and the last checkpoint" {
    [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
    for sig in INT TERM; do
        start_endless "$sig" 4
        kill -"$sig" "$PID"
        rc=0; wait "$PID" || rc=$?
        if [ "$sig" = INT ]; then [ "$rc" -eq 130 ]; else [ "$rc" -eq 143 ]; fi
        n=$(wc -l <"$T/$sig.jsonl")
        [ "$n" -ge 4 ]
        # one line after the config line: the step reached and the last checkpoint (every 3 steps)
        [ "$(wc -l <"$T/$sig.err")" -eq 2 ]
        last=$(tail -n 1 "$T/$sig.err")
        [[ "$last" =~ ^gsg-step:\ interrupted\ at\ step\ ([0-9]+),\ last\ checkpoint\ at\ step\ ([0-9]+)$ ]] || { echo "$last"; false; }
        N=${BASH_REMATCH[1]} M=${BASH_REMATCH[2]}
        [ "$N" -eq "$n" ] && [ $((M % 3)) -eq 0 ] && [ "$M" -le "$N" ] && [ "$M" -ge 3 ]
        [ -z "$(ls "$T" | grep '\.tmp\.')" ]
        # the checkpoint is whole and says step M; resuming with the same log continues it at step M
        run -0 --separate-stderr gsg-step $TINY --epochs 1000 --resume "$T/$sig.gsgt" --metrics "$T/$sig.jsonl" --steps $((M + 2)) \
            -i <(gsg-augment --limit 64 --batch 16 --views 4 --epochs 0 --seed 3)
        run -0 /usr/bin/python3 -c '
import json, sys
print(" ".join(str(json.loads(l)["step"]) for l in open(sys.argv[1])))' "$T/$sig.jsonl"
        [ "$output" = "$(seq -s ' ' 0 $((M + 1)))" ]
    done
}

@test "gsg-step: a run that never reached a checkpoint says so on SIGINT" {
    [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
    gsg-augment --limit 64 --batch 16 --views 4 --epochs 0 --seed 3 2>/dev/null |
        gsg-step $TINY --epochs 1000 --metrics "$T/m.jsonl" >/dev/null 2>"$T/err" 3>&- &
    pid=$!
    echo "$pid" >>"$T/pids"
    for _ in $(seq 600); do [ -s "$T/m.jsonl" ] && break; sleep 0.05; done
    kill -INT "$pid"
    rc=0; wait "$pid" || rc=$?
    [ "$rc" -eq 130 ]
    [[ "$(tail -n 1 "$T/err")" =~ ^gsg-step:\ interrupted\ at\ step\ [0-9]+,\ no\ checkpoint\ written$ ]]
}

@test "gsg-step --device cuda: trains, or fails with one line and no checkpoint where there is no CUDA device" {
    run --separate-stderr gsg-step $TINY --gsg --device cuda --epochs 1 --ckpt "$T/cu.gsgt" -i "$F/v4.gsgt"
    if [ "$status" -ne 0 ]; then
        [ "$status" -eq 1 ]
        [ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
        [[ "$stderr" == "gsg-step: "* ]]
        [[ "$stderr" == *"CUDA"* || "$stderr" == *"cuda"* ]]
        [ ! -e "$T/cu.gsgt" ]
    else
        [ -s "$T/cu.gsgt" ]
    fi
}

@test "gsg-step --precision: bf16 on the CPU needs native bf16; the config line names the precision" {
    # (bf16 on a CPU that has it: tests/tools/bf16.bats)
    run -2 env ONEDNN_MAX_CPU_ISA=AVX512_CORE gsg-step $TINY --precision bf16 -i "$F/v4.gsgt"
    [[ "$output" == *"--precision bf16: "* ]]
    run -2 gsg-step $TINY --precision fp16 -i "$F/v4.gsgt"
    [[ "$output" == *"--precision: 'fp16' is not fp32 or bf16"* ]]
    run -0 gsg-step $TINY --precision fp32 --print-config -i "$F/v4.gsgt"
    printf '%s\n' "$output" | grep -qx precision=fp32
    run -0 gsg-step $TINY --device cuda --precision bf16 --print-config -i "$F/v4.gsgt"
    [[ "$output" == *"precision=bf16"* ]]
    GSG_PRECISION=bf16 run -0 gsg-step $TINY --device cuda --precision fp32 --print-config -i "$F/v4.gsgt"
    [[ "$output" == *"precision=fp32"* ]]   # the option wins over the environment
}
