#!/usr/bin/env bats
# gsg-encode: pixels (exact), fresh encoders (determinism, batch independence, projections),
# checkpoints from gsg-step (online and BYOL target), errors, no half-written outputs.
bats_require_minimum_version 1.5.0

setup() {
    T=$BATS_TEST_TMPDIR
    # A tiny GSGT writer/reader in Python (numpy + zstandard), independent of the C code.
    cat >"$T/gsgt.py" <<'EOF'
from gsgt_io import record, write, read, get
EOF
    export PYTHONPATH=$T:$BATS_TEST_DIRNAME/../lib
    /usr/bin/python3 - <<'EOF'
import numpy as np, gsgt, os
T = os.environ['BATS_TEST_TMPDIR']
g = np.random.default_rng(0)
im = g.integers(0, 256, (20, 1, 8, 8)).astype('u1'); y = g.integers(0, 10, 20)
meta = 'recipe=fmnist\nmean=0.286,0.286,0.286\nstd=0.353,0.353,0.353\n'
recs = []
for s, i in enumerate(range(0, 20, 8)):
    recs += [('images', 10 + s, im[i:i + 8], meta), ('index', 10 + s, np.arange(i, min(20, i + 8))), ('label', 10 + s, y[i:i + 8])]
gsgt.write(f'{T}/img.gsgt', recs)
gsgt.write(f'{T}/img_nometa.gsgt', [('images', 0, im[:4]), ('index', 0, np.arange(4)), ('label', 0, y[:4])])
gsgt.write(f'{T}/rgb.gsgt', [('images', 0, np.zeros((2, 3, 8, 8), 'u1'), meta), ('index', 0, np.arange(2)), ('label', 0, np.zeros(2, 'i8'))])
gsgt.write(f'{T}/views.gsgt', [('views', 0, np.zeros((2, 2, 1, 8, 8), 'u1'), meta)])
# view batches for a tiny gsg-step run (2 steps of 8 images, 4 views)
vm = meta + 'seed=0\nbatches_per_epoch=2\nepoch=0\n'
v = g.integers(0, 256, (2, 8, 4, 1, 8, 8)).astype('u1')
gsgt.write(f'{T}/train_views.gsgt', [r for s in range(2) for r in
           [('views', s, v[s], vm), ('index', s, np.arange(8)), ('label', s, np.zeros(8, 'i8'))]])
EOF
}

@test "gsg-encode --help, --version" {
    run -0 --separate-stderr gsg-encode --help
    [[ "$output" == Usage:* && "$output" == *"Exit status"* && "$output" == *"--ckpt"* ]]
    [ -z "$stderr" ]
    run -0 gsg-encode --version
    [[ "$output" == "gsg-encode "* ]]
}

@test "gsg-encode usage errors exit 2" {
    run -2 --separate-stderr gsg-encode -o "$T/o.gsgt" "$T/img.gsgt"
    [[ "$stderr" == *"exactly one of"* && "$stderr" == *"Try 'gsg-encode --help'"* ]]
    [ -z "$output" ]
    run -2 gsg-encode --pixels --init fmnist -o "$T/o.gsgt" "$T/img.gsgt"
    run -2 gsg-encode --init nosuch -o "$T/o.gsgt" "$T/img.gsgt"
    run -2 gsg-encode --init fmnist --target -o "$T/o.gsgt" "$T/img.gsgt"
    run -2 gsg-encode --init fmnist --device tpu -o "$T/o.gsgt" "$T/img.gsgt"
    run -2 gsg-encode --init fmnist --bogus -o "$T/o.gsgt" "$T/img.gsgt"
    run -2 gsg-encode --init fmnist --mean 0.5 -o "$T/o.gsgt" "$T/img.gsgt"
    [ ! -e "$T/o.gsgt" ]
}

@test "gsg-encode --pixels: features are the pixels / 255, index, label and seq carried" {
    run -0 gsg-encode --pixels -o "$T/px.gsgt" "$T/img.gsgt"
    /usr/bin/python3 -c "
import gsgt, numpy as np
a = gsgt.read('$T/img.gsgt'); b = gsgt.read('$T/px.gsgt')
assert [(s, n) for s, n, _ in b] == [(s, 'features' if n == 'images' else n) for s, n, _ in a], [(s, n) for s, n, _ in b]
for (s, n, x), (_, m, y) in zip(a, b):
    if n == 'images': assert y.shape == (x.shape[0], 64) and np.array_equal(y, (x.reshape(len(x), -1) / np.float32(255)).astype('<f4'))
    else: assert np.array_equal(x, y)
"
}

@test "gsg-encode --init: deterministic, batch-size independent, projections" {
    run -0 gsg-encode --init fmnist --seed 3 -o "$T/a.gsgt" "$T/img.gsgt"
    run -0 gsg-encode --init fmnist --seed 3 -b 3 --projections -o "$T/b.gsgt" "$T/img.gsgt"
    run -0 gsg-encode --init fmnist --seed 4 -o "$T/c.gsgt" "$T/img.gsgt"
    run -0 bash -c "cat '$T/img.gsgt' | gsg-encode --init fmnist --seed 3 > '$T/d.gsgt'"
    cmp "$T/a.gsgt" "$T/d.gsgt"
    /usr/bin/python3 -c "
import gsgt, numpy as np
a = gsgt.get('$T/a.gsgt', 'features'); b = gsgt.get('$T/b.gsgt', 'features'); c = gsgt.get('$T/c.gsgt', 'features')
z = gsgt.get('$T/b.gsgt', 'projections')
assert a.shape == (20, 128) and z.shape == (20, 512), (a.shape, z.shape)   # fmnist: width 16 -> 8x16 = 128 features
assert np.isfinite(a).all() and np.isfinite(z).all() and (a >= 0).all()   # pooled ReLU features
assert np.allclose(a, b, rtol=1e-4, atol=1e-5), np.abs(a - b).max()       # eval-mode BN: rows are independent
assert not np.allclose(a, c)                                                  # another seed, other weights
assert np.array_equal(gsgt.get('$T/a.gsgt', 'label'), gsgt.get('$T/img.gsgt', 'label'))
"
    # the normalisation falls back to the recipe's constants when the stream has none
    run -0 gsg-encode --init fmnist -o "$T/e.gsgt" "$T/img_nometa.gsgt"
    run -0 gsg-encode --init fmnist --mean 0.5 --std 0.25 -o "$T/f.gsgt" "$T/img_nometa.gsgt"
}

@test "gsg-encode --ckpt: a gsg-step checkpoint (online and BYOL target)" {
    command -v gsg-step >/dev/null || skip "gsg-step not built"
    small=(--recipe fmnist --width 4 --proj-dim 32 --pred-dim 8 --epochs 1 --threads 2)
    run -0 gsg-step "${small[@]}" --gsg -i "$T/train_views.gsgt" --ckpt "$T/ss.gsgt"
    run -0 --separate-stderr gsg-encode --ckpt "$T/ss.gsgt" --projections -o "$T/ss_f.gsgt" "$T/img.gsgt"
    /usr/bin/python3 -c "
import gsgt, numpy as np
h = gsgt.get('$T/ss_f.gsgt', 'features'); z = gsgt.get('$T/ss_f.gsgt', 'projections')
assert h.shape == (20, 32) and z.shape == (20, 32), (h.shape, z.shape)
assert np.isfinite(h).all() and np.isfinite(z).all()
"
    run -2 gsg-encode --ckpt "$T/ss.gsgt" --target --init fmnist "$T/img.gsgt"
    run -1 --separate-stderr gsg-encode --ckpt "$T/ss.gsgt" --target -o "$T/t.gsgt" "$T/img.gsgt"
    [ ! -e "$T/t.gsgt" ]
    [[ "$stderr" == "gsg-encode: "* ]]
    run -0 gsg-step "${small[@]}" --method byol -i "$T/train_views.gsgt" --ckpt "$T/byol.gsgt"
    run -0 gsg-encode --ckpt "$T/byol.gsgt" -o "$T/on.gsgt" "$T/img.gsgt"
    run -0 gsg-encode --ckpt "$T/byol.gsgt" --target -o "$T/tg.gsgt" "$T/img.gsgt"
    /usr/bin/python3 -c "
import gsgt, numpy as np
a = gsgt.get('$T/on.gsgt', 'features'); b = gsgt.get('$T/tg.gsgt', 'features')
assert a.shape == b.shape == (20, 32) and not np.array_equal(a, b)   # the EMA target lags the online network
"
}

@test "gsg-encode --init with model options, --like CKPT: the random encoder has the run's architecture" {
    command -v gsg-step >/dev/null || skip "gsg-step not built"
    small=(--recipe fmnist --width 4 --proj-dim 32 --pred-dim 8 --epochs 1 --threads 2)
    run -0 gsg-step "${small[@]}" --gsg -i "$T/train_views.gsgt" --ckpt "$T/run.gsgt"
    run -0 gsg-encode --like "$T/run.gsgt" --seed 5 --projections -o "$T/like.gsgt" "$T/img.gsgt"
    run -0 gsg-encode --init fmnist --width 4 --proj-dim 32 --pred-dim 8 --seed 5 --projections -o "$T/init.gsgt" "$T/img.gsgt"
    run -0 gsg-encode --init fmnist --width 4 --proj-dim 32 --no-predictor --seed 5 --projections -o "$T/nop.gsgt" "$T/img.gsgt"
    run -0 gsg-encode --init fmnist --width 4 --arch resnet34 --seed 5 -o "$T/r34.gsgt" "$T/img.gsgt"
    run -0 gsg-encode --like "$T/run.gsgt" --seed 6 -o "$T/like6.gsgt" "$T/img.gsgt"
    run -0 gsg-encode --ckpt "$T/run.gsgt" -o "$T/trained.gsgt" "$T/img.gsgt"
    /usr/bin/python3 -c "
import gsgt, numpy as np
l, i, n = (gsgt.get('$T/%s.gsgt' % f, 'features') for f in ('like', 'init', 'nop'))
zl, zi = gsgt.get('$T/like.gsgt', 'projections'), gsgt.get('$T/init.gsgt', 'projections')
assert l.shape == (20, 32) and zl.shape == (20, 32), (l.shape, zl.shape)     # width 4: 8x4 features, as the run
assert np.array_equal(l, i) and np.array_equal(zl, zi)     # --like = --init with the run's model options
assert np.array_equal(l, n)                                 # the predictor does not touch the encoder
assert gsgt.get('$T/r34.gsgt', 'features').shape == (20, 32) and not np.allclose(gsgt.get('$T/r34.gsgt', 'features'), l)
assert not np.allclose(l, gsgt.get('$T/like6.gsgt', 'features'))      # --seed picks the weights
assert not np.allclose(l, gsgt.get('$T/trained.gsgt', 'features'))    # fresh weights, not the checkpoint's
"
    run -0 gsg-tensor info "$T/like.gsgt"
    [[ "$output" == *"encoder=init:fmnist:like=$T/run.gsgt:resnet18:width=4:seed=5"* ]]
    # model options belong to --init; --like takes the whole model from its checkpoint
    run -2 --separate-stderr gsg-encode --like "$T/run.gsgt" --width 8 -o "$T/x.gsgt" "$T/img.gsgt"
    [[ "${stderr_lines[0]}" == "gsg-encode: --width needs --init (--like takes the whole model from its checkpoint)" ]]
    run -2 gsg-encode --ckpt "$T/run.gsgt" --width 8 -o "$T/x.gsgt" "$T/img.gsgt"
    run -2 gsg-encode --ckpt "$T/run.gsgt" --like "$T/run.gsgt" -o "$T/x.gsgt" "$T/img.gsgt"
    run -2 gsg-encode --init fmnist --arch vgg -o "$T/x.gsgt" "$T/img.gsgt"
    run -2 gsg-encode --init fmnist --no-predictor --pred-dim 4 -o "$T/x.gsgt" "$T/img.gsgt"
    run -1 --separate-stderr gsg-encode --like "$T/missing.gsgt" -o "$T/x.gsgt" "$T/img.gsgt"
    [[ "$stderr" == "gsg-encode: $T/missing.gsgt"* ]]
    [ ! -e "$T/x.gsgt" ]
}

@test "gsg-encode: bad inputs exit 1, one line, no output file left" {
    run -1 --separate-stderr gsg-encode --init fmnist -o "$T/o.gsgt" "$T/views.gsgt"
    [[ "$stderr" == *"views.gsgt: record 0 'views'"*"gsg-augment --plain"* ]]
    [ ! -e "$T/o.gsgt" ]
    run -1 --separate-stderr gsg-encode --init fmnist -o "$T/o.gsgt" "$T/rgb.gsgt"
    [[ "$stderr" == *"1 channels"*"3"* ]]
    [ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
    head -c 700 "$T/img.gsgt" >"$T/trunc.gsgt"
    run -1 --separate-stderr gsg-encode --pixels -o "$T/o.gsgt" "$T/trunc.gsgt"
    [[ "$stderr" == "gsg-encode: "*"trunc.gsgt"* ]]
    [ ! -e "$T/o.gsgt" ]
    [ -z "$(ls "$T" | grep '\.tmp\.')" ]
    run -1 --separate-stderr gsg-encode --ckpt "$T/missing.gsgt" -o "$T/o.gsgt" "$T/img.gsgt"
    [[ "$stderr" == *"missing.gsgt"* ]]
    run -1 gsg-encode --ckpt "$T/img.gsgt" -o "$T/o.gsgt" "$T/img.gsgt"
    [ ! -e "$T/o.gsgt" ]
}

@test "gsg-encode --device cuda: works, or fails with one line when there is no CUDA device" {
    run --separate-stderr gsg-encode --init fmnist --device cuda -o "$T/cu.gsgt" "$T/img.gsgt"
    if [ "$status" -eq 0 ]; then
        run -0 gsg-encode --init fmnist -o "$T/cpu.gsgt" "$T/img.gsgt"
        /usr/bin/python3 -c "
import gsgt, numpy as np
a = gsgt.get('$T/cpu.gsgt', 'features'); b = gsgt.get('$T/cu.gsgt', 'features')
assert np.allclose(a, b, rtol=1e-3, atol=1e-4), np.abs(a - b).max()"
    else
        [ "$status" -eq 1 ]
        [ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
        [ ! -e "$T/cu.gsgt" ]
    fi
}

@test "gsg-encode: a full stdout is a write error (exit 1)" {
    run -1 --separate-stderr bash -c "gsg-encode --pixels '$T/img.gsgt' > /dev/full"
    [[ "$stderr" == *"rror"* ]]
}

@test "gsg-encode --precision: bf16 on the CPU needs native bf16 (tests/tools/bf16.bats), unknown names are refused" {
    run -2 env ONEDNN_MAX_CPU_ISA=AVX512_CORE gsg-encode --init cifar --precision bf16 /dev/null
    [[ "$output" == *"--precision bf16: "* ]]
    run -2 gsg-encode --init cifar --device cuda --precision tf32 /dev/null
    [[ "$output" == *"--precision: 'tf32' is not fp32 or bf16"* ]]
}
