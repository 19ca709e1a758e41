#!/usr/bin/env bats
# gsg-step: options, input checks, the four methods + ablation + 2-view pairing on a tiny
# network, dumps re-derived by gsg-select, exact resume, the non-finite-loss stop.
bats_require_minimum_version 1.5.0

# tiny network: 28x28x1 ResNet-18 of base width 8, heads 32/8, one thread (fast on a loaded machine)
TINY="--recipe fmnist --width 8 --proj-dim 32 --pred-dim 8 --lr 0.05 --threads 1"
TINY_NOPRED=(--recipe fmnist --width 8 --proj-dim 32 --lr 0.05 --threads 1)

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
            if int(bpe_meta): meta += f'batches_per_epoch={bpe}\n'
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

@test "gsg-step --resume: interrupted + resumed equals uninterrupted, bit for bit" {
    for m in "--method simsiam --gsg" "--method byol --gsg"; do
        rm -f "$T"/*.gsgt
        run -0 gsg-step $TINY $m -i "$F/v4.gsgt" --ckpt "$T/full.gsgt"
        run -0 gsg-step $TINY $m -i "$F/v4.gsgt" --ckpt "$T/part.gsgt" --steps 3
        run -0 gsg-step $TINY $m -i "$F/v4.gsgt" --ckpt "$T/part.gsgt" --resume "$T/part.gsgt"
        cmp "$T/full.gsgt" "$T/part.gsgt"
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
    [ "${#stderr_lines[@]}" -eq 1 ]
    [ "$stderr" = "gsg-step: step 5 (epoch 1): loss is nan: stopped; the last good checkpoint $T/c.gsgt (step 4) is unchanged" ]
    cmp "$T/c.gsgt" "$T/expect.gsgt"
    run -0 metrics_summary "$T/m.jsonl"
    [ "$output" = "5 1 16 16" ]
    [ -z "$(ls "$T" | grep '\.tmp\.')" ]
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
