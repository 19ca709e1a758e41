#!/usr/bin/env bats
# gsg-augment: all four readers on data made here, the stream contract, reproducibility
# across thread counts and batch layouts, --plain, --shard, and bad input.
bats_require_minimum_version 1.5.0

setup() {
    T=$BATS_TEST_TMPDIR
    cat >"$T/gsgt.py" <<'PYEOF'
from gsgt_io import record, write, read_meta as read
PYEOF
    export PYTHONPATH=$T:$BATS_TEST_DIRNAME/../lib
}

# CIFAR-10 batch file: n records of label + 3072 bytes (image i: plane c filled with 10 c + i, label i % 10)
make_cifar() {
    /usr/bin/python3 - "$1" "$2" <<'PYEOF'
import sys, numpy as np
path, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(1)
recs = []
for i in range(n):
    img = rng.integers(0, 256, size=(3, 32, 32), dtype=np.uint8)
    recs.append(np.concatenate([[i % 10], img.ravel()]).astype(np.uint8))
np.concatenate(recs).tofile(path)
PYEOF
}

# Image files through libgsg's own writers (TurboJPEG, libpng): no Python imaging library.
FIXTURE_IMG=$(b=${GSG_BUILD:-build}; [[ $b == /* ]] || b=$BATS_TEST_DIRNAME/../../$b; echo "$b/tests/fixture-img")

# JPEG folder from Fashion-MNIST test images, 3 classes of 4 (image i of class k: test image
# 4k+i as RGB, resized by nearest neighbour to (56+8i) x (40+4k)), quality 95
make_jpegs() {
    [ -x "$FIXTURE_IMG" ] || { echo "$FIXTURE_IMG not built (run 'make')" >&2; return 1; }
    /usr/bin/python3 - "$1" <<'PYEOF'
import sys, os, gzip, numpy as np
root = sys.argv[1]
with gzip.open('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz') as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
for k, cls in enumerate(['bag', 'coat', 'shoe']):
    os.makedirs(f'{root}/{cls}', exist_ok=True)
    for i in range(4):
        w, h = 56 + 8 * i, 40 + 4 * k
        img = x[4 * k + i][np.arange(h) * 28 // h][:, np.arange(w) * 28 // w]
        np.save(f'{root}/{cls}/{i}.npy', np.ascontiguousarray(np.stack([img] * 3, -1)))
PYEOF
    local n
    for n in "$1"/*/*.npy; do "$FIXTURE_IMG" "${n%.npy}.jpg" "$n" 95 && rm "$n" || return 1; done
}

@test "gsg-augment --help prints usage on stdout and exits 0; --version" {
    run -0 --separate-stderr gsg-augment --help
    [[ "$output" == *"Usage: gsg-augment"* ]]
    [[ "$output" == *"Exit status"* ]]
    [[ "$output" == *"--shard I/N"* ]]
    [ -z "$stderr" ]
    run -0 gsg-augment --version
    [[ "$output" == "gsg-augment "* ]]
}

@test "gsg-augment: unknown option, unknown recipe, bad values are usage errors (exit 2)" {
    run -2 --separate-stderr gsg-augment --frobnicate
    [ -z "$output" ]
    [ "${#stderr_lines[@]}" -eq 2 ]
    [[ "${stderr_lines[0]}" == "gsg-augment: unknown option '--frobnicate'" ]]
    [[ "${stderr_lines[1]}" == "Try 'gsg-augment --help'." ]]
    run -2 --separate-stderr gsg-augment --recipe mnist
    [[ "${stderr_lines[0]}" == "gsg-augment: --recipe: unknown recipe 'mnist' (expected cifar|fmnist|imagenet)" ]]
    run -2 --separate-stderr gsg-augment --shard 2/2
    [[ "${stderr_lines[0]}" == *"--shard: '2/2'"* ]]
    run -2 --separate-stderr gsg-augment --views 0
    run -2 --separate-stderr gsg-augment --format png
    run -2 --separate-stderr gsg-augment --plain --views 2
}

@test "gsg-augment: Fashion-MNIST views follow the stream contract" {
    [ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
    run -0 gsg-augment --data fashion-mnist --limit 64 --batch 16 --views 4 --seed 3 -o "$T/v.gsgt"
    /usr/bin/python3 - <<'PYEOF'
import gsgt, os, gzip, numpy as np
recs = gsgt.read(os.environ['BATS_TEST_TMPDIR'] + '/v.gsgt')
assert [(s, n) for s, n, _, _ in recs] == [(s, n) for s in range(4) for n in ('views', 'index', 'label')], recs
with gzip.open('/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz') as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8)
seen = []
for seq, name, a, meta in recs:
    if name == 'views':
        assert a.shape == (16, 4, 1, 28, 28), a.shape
        kv = dict(l.split('=', 1) for l in meta.strip().split('\n'))
        assert kv['epoch'] == '0' and kv['seed'] == '3' and kv['recipe'] == 'fmnist' and kv['size'] == '28', kv
        assert kv['mean'].split(',')[0] == '0.286' and kv['std'].split(',')[0] == '0.353', kv
        assert kv['dataset'].endswith('train-images-idx3-ubyte.gz'), kv
        assert kv['batches_per_epoch'] == '4', kv
        assert a.std() > 10
    if name == 'index': idx = a; seen += list(a)
    if name == 'label': assert (a == labels[idx]).all()
assert sorted(seen) == list(range(64)), 'one epoch = a permutation of the 64 images'
PYEOF
}

@test "gsg-augment: byte-identical for any --threads; views of an image do not depend on the batch" {
    make_cifar "$T/data_batch_1.bin" 48
    run -0 gsg-augment --data "$T/data_batch_1.bin" --batch 16 --views 2 --epochs 2 --threads 1 -o "$T/t1.gsgt"
    run -0 gsg-augment --data "$T/data_batch_1.bin" --batch 16 --views 2 --epochs 2 --threads 2 -o "$T/t2.gsgt"
    cmp "$T/t1.gsgt" "$T/t2.gsgt"
    run -0 gsg-augment --data "$T/data_batch_1.bin" --batch 8 --views 2 --epochs 2 --threads 2 -o "$T/b8.gsgt"
    /usr/bin/python3 - <<'PYEOF'
import gsgt, os, numpy as np
T = os.environ['BATS_TEST_TMPDIR']
def views(path):
    d, idx, ep = {}, None, {}
    for seq, name, a, meta in gsgt.read(path):
        if name == 'views': v = a; e = int(dict(l.split('=', 1) for l in meta.strip().split('\n'))['epoch'])
        if name == 'index':
            for k, i in enumerate(a): d[(e, int(i))] = v[k]
    return d
a, b = views(f'{T}/t1.gsgt'), views(f'{T}/b8.gsgt')
assert len(a) == 96 and a.keys() == b.keys()
for k in a: assert (a[k] == b[k]).all(), k
assert not (a[(0, 5)] == a[(1, 5)]).all(), 'epochs differ'
assert a[(0, 5)].shape == (2, 3, 32, 32)
PYEOF
}

@test "gsg-augment: CIFAR-10 batches: labels by index, 3-channel 32x32 views, last partial batch dropped" {
    make_cifar "$T/data_batch_1.bin" 40
    run -0 gsg-augment --data "$T/data_batch_1.bin" --batch 16 --views 2 -o "$T/c.gsgt"   # a folder needs all five batches
    /usr/bin/python3 - <<'PYEOF'
import gsgt, os, numpy as np
T = os.environ['BATS_TEST_TMPDIR']
recs = gsgt.read(f'{T}/c.gsgt')
assert [n for _, n, _, _ in recs] == ['views', 'index', 'label'] * 2, 'two full batches of 16 from 40 images'
for s, n, a, m in recs:
    if n == 'views': assert a.shape == (16, 2, 3, 32, 32) and 'recipe=cifar' in m and 'format=cifar10' in m
    if n == 'index': idx = a
    if n == 'label': assert (a == idx % 10).all()
PYEOF
}

@test "gsg-augment --plain: eval images in data set order, last partial batch kept, equal to the source" {
    make_cifar "$T/data_batch_1.bin" 20
    run -0 gsg-augment --data "$T/data_batch_1.bin" --plain --batch 8 -o "$T/p.gsgt"
    /usr/bin/python3 - <<'PYEOF'
import gsgt, os, numpy as np
T = os.environ['BATS_TEST_TMPDIR']
raw = np.fromfile(f'{T}/data_batch_1.bin', np.uint8).reshape(20, 3073)
recs = gsgt.read(f'{T}/p.gsgt')
imgs = [a for _, n, a, _ in recs if n == 'images']
assert [x.shape[0] for x in imgs] == [8, 8, 4]
allimg = np.concatenate(imgs)
assert (allimg.reshape(20, -1) == raw[:, 1:]).all(), 'cifar recipe at 32x32: the images unchanged'
idx = np.concatenate([a for _, n, a, _ in recs if n == 'index'])
assert (idx == np.arange(20)).all()
assert all('epoch=' not in m for _, n, _, m in recs if n == 'images')
PYEOF
}

@test "gsg-augment: JPEG folder (ImageFolder): class labels, imagenet recipe, DCT-scaled plain images" {
    [ -r /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
    make_jpegs "$T/jpg"
    run -0 gsg-augment --data "$T/jpg" --size 24 --batch 4 --views 2 --seed 1 -o "$T/j.gsgt"
    run -0 gsg-augment --data "$T/jpg" --size 24 --plain --batch 5 -o "$T/jp.gsgt"
    run -0 --separate-stderr bash -c "gsg-augment --data '$T/jpg' --views 2 --batch 4 --limit 8 --size 32 | gsg-tensor grid -o '$T/grid.png'"
    [ -s "$T/grid.png" ]
    /usr/bin/python3 - <<'PYEOF'
import gsgt, os, numpy as np
T = os.environ['BATS_TEST_TMPDIR']
recs = gsgt.read(f'{T}/j.gsgt')
assert [n for _, n, _, _ in recs] == ['views', 'index', 'label'] * 3
for s, n, a, m in recs:
    if n == 'views': assert a.shape == (4, 2, 3, 24, 24) and 'recipe=imagenet' in m and 'format=jpeg' in m, (a.shape, m)
    if n == 'index': idx = a
    if n == 'label': assert (a == idx // 4).all(), (a, idx)
p = gsgt.read(f'{T}/jp.gsgt')
imgs = np.concatenate([a for _, n, a, _ in p if n == 'images'])
assert imgs.shape == (12, 3, 24, 24)
assert (np.concatenate([a for _, n, a, _ in p if n == 'label']) == np.repeat([0, 1, 2], 4)).all()
# grey source: the three channels agree (up to JPEG chroma noise)
assert np.abs(imgs[:, 0].astype(int) - imgs[:, 1]).max() <= 6
PYEOF
}

@test "gsg-augment: u8 image stream input (e.g. from gsg-tensor from-npy)" {
    /usr/bin/python3 - <<'PYEOF'
import gsgt, os, numpy as np
T = os.environ['BATS_TEST_TMPDIR']
x = np.random.default_rng(0).integers(0, 256, size=(10, 1, 28, 28), dtype=np.uint8)
np.save(f'{T}/x.npy', x)
gsgt.write(f'{T}/s.gsgt', [('images', 0, x), ('label', 0, np.arange(10, dtype='<i8'))])
PYEOF
    run -0 gsg-augment --data "$T/s.gsgt" --plain --batch 4 -o "$T/sp.gsgt"
    run -0 gsg-tensor from-npy "imgs=$T/x.npy" -o "$T/n.gsgt"
    run -0 gsg-augment --data - --plain --batch 10 -o "$T/np.gsgt" < "$T/n.gsgt"
    run -0 gsg-augment --data "$T/s.gsgt" --batch 5 --views 2 -o "$T/sv.gsgt"
    /usr/bin/python3 - <<'PYEOF'
import gsgt, os, numpy as np
T = os.environ['BATS_TEST_TMPDIR']
x = np.load(f'{T}/x.npy')
a = np.concatenate([a for _, n, a, _ in gsgt.read(f'{T}/sp.gsgt') if n == 'images'])
assert (a == x).all()
lab = np.concatenate([a for _, n, a, _ in gsgt.read(f'{T}/sp.gsgt') if n == 'label'])
assert (lab == np.arange(10)).all()
b = [a for _, n, a, _ in gsgt.read(f'{T}/np.gsgt')]
assert (b[0] == x).all() and (b[2] == -1).all(), 'no labels -> -1'
v = [(a, m) for _, n, a, m in gsgt.read(f'{T}/sv.gsgt') if n == 'views']
assert v[0][0].shape == (5, 2, 1, 28, 28) and 'recipe=fmnist' in v[0][1]
PYEOF
}

@test "gsg-augment --range A:B: the images A..B-1 of the data set (a validation split), index counted from the start" {
    make_cifar "$T/data_batch_1.bin" 20
    run -0 gsg-augment --data "$T/data_batch_1.bin" --plain --batch 8 -o "$T/all.gsgt"
    run -0 gsg-augment --data "$T/data_batch_1.bin" --plain --batch 8 --range 13:20 -o "$T/r.gsgt"
    run -0 gsg-augment --data "$T/data_batch_1.bin" --batch 4 --views 2 --range 0:12 -o "$T/v.gsgt"
    run -0 gsg-augment --data "$T/data_batch_1.bin" --batch 4 --views 2 --limit 12 -o "$T/l.gsgt"
    /usr/bin/python3 - <<'PYEOF'
import gsgt, os, numpy as np
T = os.environ['BATS_TEST_TMPDIR']
def cat(path, name): return np.concatenate([a for _, n, a, _ in gsgt.read(path) if n == name])
assert (cat(f'{T}/r.gsgt', 'images') == cat(f'{T}/all.gsgt', 'images')[13:]).all()
assert (cat(f'{T}/r.gsgt', 'label') == cat(f'{T}/all.gsgt', 'label')[13:]).all()
assert (cat(f'{T}/r.gsgt', 'index') == np.arange(13, 20)).all()
assert all('range=13:20' in m for _, n, _, m in gsgt.read(f'{T}/r.gsgt') if n == 'images')
# a range that starts at 0 is --limit: the same views and indices
assert (cat(f'{T}/v.gsgt', 'views') == cat(f'{T}/l.gsgt', 'views')).all()
assert (cat(f'{T}/v.gsgt', 'index') == cat(f'{T}/l.gsgt', 'index')).all()
PYEOF
    run -2 gsg-augment --data "$T/data_batch_1.bin" --plain --range 5:5
    [[ "$output" == *"--range: '5:5' is not A:B with 0 <= A < B"* ]]
    run -2 gsg-augment --data "$T/data_batch_1.bin" --plain --range 0:4 --limit 3
    [[ "$output" == *"--range and --limit exclude each other"* ]]
    run -2 gsg-augment --data "$T/data_batch_1.bin" --plain --range 10:21 -o "$T/x.gsgt"
    [[ "$output" == *"--range 10:21: $T/data_batch_1.bin has 20 images"* ]]
    [ ! -e "$T/x.gsgt" ]
    run -2 gsg-augment --data "$T/data_batch_1.bin" --plain --range 20:30 -o "$T/x.gsgt"
    [[ "$output" == *"the range starts at image 20, past its 20 images"* ]]
    [ ! -e "$T/x.gsgt" ]
}

@test "gsg-augment --crop-scale L:H: the crop's area range, in the meta" {
    make_cifar "$T/data_batch_1.bin" 8
    run -0 gsg-augment --data "$T/data_batch_1.bin" --batch 8 --views 2 --crop-scale 0.5:0.9 -o "$T/c.gsgt"
    run -0 gsg-tensor info "$T/c.gsgt"
    [[ "$output" == *"crop_scale=0.5:0.9"* ]]
    run -0 gsg-augment --data "$T/data_batch_1.bin" --batch 8 --views 2 -o "$T/d.gsgt"
    run -0 gsg-tensor info "$T/d.gsgt"
    [[ "$output" == *"crop_scale=0.2:1"* ]]
    ! cmp -s "$T/c.gsgt" "$T/d.gsgt"
    for bad in 0:1 0.5:1.5 0.8:0.5 x; do
        run -2 gsg-augment --data "$T/data_batch_1.bin" --crop-scale "$bad"
        [[ "$output" == *"--crop-scale: '$bad' is not L:H with 0 < L <= H <= 1"* ]]
    done
    run -2 gsg-augment --data "$T/data_batch_1.bin" --plain --crop-scale 0.5:1
    [[ "$output" == *"--crop-scale makes no sense with --plain"* ]]
}

@test "gsg-augment --shard I/N: the shards of a global batch are the unsharded batch" {
    make_cifar "$T/data_batch_1.bin" 64
    run -0 gsg-augment --data "$T/data_batch_1.bin" --batch 16 --views 2 -o "$T/all.gsgt"
    run -0 gsg-augment --data "$T/data_batch_1.bin" --batch 8 --views 2 --shard 0/2 -o "$T/s0.gsgt"
    run -0 gsg-augment --data "$T/data_batch_1.bin" --batch 8 --views 2 --shard 1/2 -o "$T/s1.gsgt"
    /usr/bin/python3 - <<'PYEOF'
import gsgt, os, numpy as np
T = os.environ['BATS_TEST_TMPDIR']
def by(path, name): return {s: a for s, n, a, _ in gsgt.read(path) if n == name}
A, S0, S1 = (by(f'{T}/{f}.gsgt', 'index') for f in ('all', 's0', 's1'))
VA, V0, V1 = (by(f'{T}/{f}.gsgt', 'views') for f in ('all', 's0', 's1'))
assert sorted(A) == sorted(S0) == sorted(S1) == [0, 1, 2, 3]
for s in A:
    assert (np.concatenate([S0[s], S1[s]]) == A[s]).all()
    assert (np.concatenate([V0[s], V1[s]]) == VA[s]).all()
PYEOF
}

@test "gsg-augment: truncated or bad inputs fail with one line naming the file, exit 1, no output" {
    make_cifar "$T/trunc.bin" 3
    truncate -s 9000 "$T/trunc.bin"
    run -1 --separate-stderr gsg-augment --data "$T/trunc.bin" --format cifar10 --batch 1
    [ -z "$output" ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == "gsg-augment: $T/trunc.bin: size 9000 is not a whole number of CIFAR-10 records"* ]]
    # IDX whose header promises more images than the file holds
    /usr/bin/python3 -c "
import struct, gzip, sys
open(sys.argv[1], 'wb').write(struct.pack('>IIII', 0x803, 5, 28, 28) + bytes(3 * 784))" "$T/short-images-idx3-ubyte"
    run -1 --separate-stderr gsg-augment --data "$T/short-images-idx3-ubyte" -o "$T/out.gsgt"
    [[ "$stderr" == *"short-images-idx3-ubyte: IDX header says 5x28x28 = 3920 bytes of data, file has 2352 (truncated)" ]]
    [ ! -e "$T/out.gsgt" ]
    run bash -c "ls '$T' | grep -c '\.tmp\.'"
    [ "$output" = 0 ]
    # empty folder; unknown format
    mkdir "$T/empty"
    run -1 --separate-stderr gsg-augment --data "$T/empty"
    [[ "$stderr" == *"no image files"* ]]
    echo "hello" > "$T/what.dat"
    run -1 --separate-stderr gsg-augment --data "$T/what.dat"
    [[ "$stderr" == *"cannot tell the format"* ]]
    run -1 --separate-stderr gsg-augment --data "$T/does-not-exist"
    [[ "$stderr" == "gsg-augment: $T/does-not-exist: No such file or directory" ]]
}

@test "gsg-augment: a corrupt JPEG fails naming it; --skip-bad skips and reports it" {
    [ -r /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
    make_jpegs "$T/jpg"
    echo "not a jpeg" > "$T/jpg/coat/9.jpg"
    run -1 --separate-stderr gsg-augment --data "$T/jpg" --size 16 --batch 2 -o "$T/o.gsgt"
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == *"$T/jpg/coat/9.jpg"*"--skip-bad"* ]]
    [ ! -e "$T/o.gsgt" ]
    run -0 --separate-stderr gsg-augment --data "$T/jpg" --size 16 --batch 2 --skip-bad -o "$T/o.gsgt"
    [[ "${stderr_lines[0]}" == "gsg-augment: skipped: $T/jpg/coat/9.jpg: "* ]]   # --skip-bad names each file
    [[ "${stderr_lines[1]}" == "gsg-augment: skipped 1 unreadable file at open" ]]
    [ -s "$T/o.gsgt" ]
    # a JPEG whose header reads but whose data is cut short fails when it is decoded
    rm "$T/jpg/coat/9.jpg" "$T/o.gsgt"
    head -c $(( $(stat -c %s "$T/jpg/bag/0.jpg") - 100 )) "$T/jpg/bag/0.jpg" > "$T/jpg/coat/8.jpg"
    run -1 --separate-stderr gsg-augment --data "$T/jpg" --size 16 --batch 13 --plain -o "$T/o.gsgt"
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == *"$T/jpg/coat/8.jpg: corrupt JPEG"* ]]
    [ ! -e "$T/o.gsgt" ]
    run -0 --separate-stderr gsg-augment --data "$T/jpg" --size 16 --batch 13 --plain --skip-bad -o "$T/o.gsgt"
    [[ "${stderr_lines[0]}" == "gsg-augment: skipped: $T/jpg/coat/8.jpg: corrupt JPEG"* ]]   # named as it is skipped
    [[ "${stderr_lines[1]}" == "gsg-augment: 1 view batch entry zeroed for images that failed to decode (first: $T/jpg/coat/8.jpg: corrupt JPEG"* ]]
    /usr/bin/python3 -c "
import gsgt, sys, numpy as np
r = gsgt.read(sys.argv[1]); img = r[0][2]; lab = r[2][2]
assert img.shape == (13, 3, 16, 16) and (img[8] == 0).all() and lab[8] == -1 and lab[7] == 1, lab" "$T/o.gsgt"
}

@test "gsg-augment: a full disk is a write error (exit 1)" {
    make_cifar "$T/data_batch_1.bin" 16
    run -1 --separate-stderr bash -c "gsg-augment --data '$T/data_batch_1.bin' --batch 8 > /dev/full"
    [[ "$stderr" == "gsg-augment: "* ]]
}

@test "gsg-augment --plain (imagenet recipe) agrees with torchvision Resize + CenterCrop on the same JPEGs" {
    /usr/bin/python3 -c 'import torchvision' 2>/dev/null || skip "torchvision not installed"
    /usr/bin/python3 - <<'PYEOF'
import os, numpy as np
from PIL import Image
T = os.environ['BATS_TEST_TMPDIR']
os.makedirs(f'{T}/tv/a', exist_ok=True)
y, x = np.mgrid[0:90, 0:120]
for i in range(3):
    img = np.stack([128 + 100 * np.sin(x / (9.0 + i)), 128 + 100 * np.cos(y / 7.0), (x + 2 * y + 40 * i) % 256], -1)
    Image.fromarray(img.astype(np.uint8)).save(f'{T}/tv/a/{i}.jpg', quality=100)
PYEOF
    run -0 gsg-augment --data "$T/tv" --plain --recipe imagenet --size 32 -o "$T/tv.gsgt"
    /usr/bin/python3 - <<'PYEOF'
import gsgt, os, glob, numpy as np
import torchvision.transforms as TT
from PIL import Image
T = os.environ['BATS_TEST_TMPDIR']
ours = [a for _, n, a, _ in gsgt.read(f'{T}/tv.gsgt') if n == 'images'][0].astype(int)
tf = TT.Compose([TT.Resize(36), TT.CenterCrop(32), TT.PILToTensor()])   # 256 * 32 / 224 = 36
ref = np.stack([tf(Image.open(f).convert('RGB')).numpy() for f in sorted(glob.glob(f'{T}/tv/a/*.jpg'))]).astype(int)
d = np.abs(ours - ref)
# the same libjpeg-turbo decode (accurate IDCT); PIL resamples in fixed point, we in float: +-1
assert ours.shape == ref.shape == (3, 3, 32, 32), ours.shape
assert d.max() <= 2 and d.mean() < 0.3, (d.max(), d.mean())
PYEOF
}

@test "gsg-augment: a reader that closes the pipe early is a normal end (exit 0, no message)" {
    make_cifar "$T/data_batch_1.bin" 64
    # 50 epochs of views are far more than a pipe holds: gsg-augment meets the closed pipe
    run -0 --separate-stderr bash -c "set -o pipefail; gsg-augment --data '$T/data_batch_1.bin' --batch 16 --views 4 --epochs 50 | head -c 1000 >/dev/null"
    [ -z "$stderr" ]
    # gsg-step stopping on purpose at --steps closes its input the same way
    run -0 --separate-stderr bash -c "set -o pipefail; gsg-augment --data '$T/data_batch_1.bin' --batch 16 --views 4 --epochs 50 2>'$T/aug.err' \
        | gsg-step --width 4 --proj-dim 16 --pred-dim 8 --steps 2 --metrics '$T/m.jsonl' 2>/dev/null"
    [ ! -s "$T/aug.err" ]
    [ "$(wc -l <"$T/m.jsonl")" -eq 2 ]
}
