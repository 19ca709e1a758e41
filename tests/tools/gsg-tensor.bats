#!/usr/bin/env bats
# gsg-tensor: every subcommand on small generated streams, checked against numpy/torch.
bats_require_minimum_version 1.5.0

setup() {
    PY=/usr/bin/python3
    command -v gsg-tensor >/dev/null || { echo "gsg-tensor not on PATH (run through tests/run.sh)" >&2; return 1; }
    cd "$BATS_TEST_TMPDIR"
    $PY -c "
import numpy as np
rng = np.random.default_rng(0)
np.save('views.npy', rng.integers(0, 256, (6, 2, 1, 8, 8), dtype=np.uint8))
np.save('views3.npy', rng.integers(0, 256, (3, 3, 10, 12), dtype=np.uint8))
np.save('index.npy', np.arange(6, dtype=np.int64))
x = rng.standard_normal((5, 4)).astype(np.float32); x[0, 0] = np.nan; x[1, 1] = np.inf; x[2, 2] = -np.inf
np.save('x.npy', x)
np.save('conv.npy', rng.standard_normal((4, 1, 3, 3)).astype(np.float32))
np.save('nbt.npy', np.array(7, dtype=np.int64))
np.save('proj.npy', rng.standard_normal((8, 4)).astype(np.float32))
np.save('cfg.npy', np.frombuffer(b'recipe=fmnist\nseed=1\n', dtype=np.uint8))"
    gsg-tensor from-npy --set-seq 0 --meta epoch=0 views=views.npy index=index.npy -o b0.gsgt
    gsg-tensor from-npy --set-seq 1 --meta epoch=0 views=views.npy index=index.npy -o b1.gsgt
    gsg-tensor cat b0.gsgt b1.gsgt -o batches.gsgt
    gsg-tensor from-npy conv1.weight=conv.npy bn1.num_batches_tracked=nbt.npy projector.0.weight=proj.npy \
        target.conv1.weight=conv.npy gsg.config=cfg.npy -o ckpt.gsgt
}

@test "--help on stdout exits 0; --version; no command and unknown command exit 2" {
    run -0 --separate-stderr gsg-tensor --help
    [[ "$output" == Usage:* ]] && [[ "$output" == *"Exit status"* ]] && [ -z "$stderr" ]
    run -0 gsg-tensor info --help
    [[ "$output" == Usage:* ]]
    run -0 gsg-tensor --version
    [[ "$output" == "gsg-tensor "* ]]
    run -2 --separate-stderr gsg-tensor
    [[ "${stderr_lines[1]}" == "Try 'gsg-tensor --help'." ]]
    run -2 --separate-stderr gsg-tensor frobnicate
    [ "${stderr_lines[0]}" = "gsg-tensor: unknown command 'frobnicate'" ]
    run -2 --separate-stderr gsg-tensor info --range 0:1 batches.gsgt
    [[ "$stderr" == *"option '--range' does not apply to 'info'"* ]]
    run -2 --separate-stderr gsg-tensor head --records x batches.gsgt
    [[ "$stderr" == *"--records: 'x' is not an integer"* ]]
}

@test "info lists every record with seq, dtype, shape, bytes, stored bytes, ratio and meta; --json parses" {
    run -0 gsg-tensor info batches.gsgt
    [ "${#lines[@]}" -eq 6 ]
    [[ "${lines[1]}" =~ ^0\ +0\ +views\ +u8\ +\[6,2,1,8,8\]\ +768\ +[0-9]+\ +[0-9.]+x\ +epoch=0$ ]]
    [[ "${lines[4]}" =~ ^3\ +1\ +index\ +i64\ +\[6\]\ +48 ]]
    [[ "${lines[5]}" == "total: 4 records, 1632 bytes,"* ]]
    gsg-tensor info --json batches.gsgt > info.json
    run -0 $PY -c "
import json
rs = [json.loads(l) for l in open('info.json')]
assert [r['name'] for r in rs] == ['views', 'index'] * 2 and [r['seq'] for r in rs] == [0, 0, 1, 1]
assert rs[0]['shape'] == [6, 2, 1, 8, 8] and rs[0]['dtype'] == 'u8' and rs[0]['meta'] == {'epoch': '0'}
assert all(r['stored_bytes'] > 0 and abs(r['ratio'] - r['bytes'] / r['stored_bytes']) < 1e-3 for r in rs)
import os; assert sum(r['stored_bytes'] for r in rs) < os.path.getsize('batches.gsgt')
print('ok')"
    [ "$output" = ok ]
    # stdin, and the --name / --seq selection
    run -0 bash -c "gsg-tensor info --name index --seq 1 - < batches.gsgt"
    [ "${#lines[@]}" -eq 3 ] && [[ "${lines[1]}" == "3 "*"index"* ]]
}

@test "stats: min, max, mean, std of finite values and NaN/Inf counts match numpy" {
    gsg-tensor from-npy x=x.npy views=views.npy -o s.gsgt
    gsg-tensor stats --json s.gsgt > st.json
    run -0 $PY -c "
import json, numpy as np
rs = [json.loads(l) for l in open('st.json')]
for r, f in zip(rs, ['x.npy', 'views.npy']):
    a = np.load(f).astype(np.float64); fin = a[np.isfinite(a)]
    assert r['nan'] == np.isnan(a).sum() and r['inf'] == np.isinf(a).sum() and r['count'] == a.size
    for k, v in (('min', fin.min()), ('max', fin.max()), ('mean', fin.mean()), ('std', fin.std())):
        assert abs(r[k] - v) <= 1e-6 * max(1, abs(v)), (k, r[k], v)
print('ok')"
    [ "$output" = ok ]
    run -0 gsg-tensor stats s.gsgt
    [[ "${lines[1]}" =~ x\ +f32\ +\[5,4\].*\ 1\ +2$ ]]
}

@test "head -n keeps the first N selected records and ends the stream properly" {
    run -0 bash -c "gsg-tensor head -n 3 batches.gsgt | gsg-tensor info"
    [ "${#lines[@]}" -eq 5 ]
    run -0 bash -c "gsg-tensor head -n 1 --name index batches.gsgt | gsg-tensor info --json"
    [[ "$output" == *'"seq":0,"name":"index"'* ]] && [ "${#lines[@]}" -eq 1 ]
    run -0 bash -c "gsg-tensor head -n 0 batches.gsgt | gsg-tensor info"
    [[ "$output" == "total: 0 records"* ]]
}

@test "slice --name --range cuts along dim 0 like numpy (negative and open ends)" {
    for r in 0:2 1: :-2 -3:-1 4:100 5:2; do
        gsg-tensor slice --name views --range "$r" batches.gsgt -o sl.gsgt
        gsg-tensor to-npy --seq 1 -o sl.npy sl.gsgt
        run -0 $PY -c "
import numpy as np
a = np.load('views.npy'); s = np.load('sl.npy')
lo, hi = ('$r'.split(':') + [''])[:2]
ref = a[int(lo) if lo else None:int(hi) if hi else None]
assert s.shape == ref.shape and (s == ref).all(), (s.shape, ref.shape)
print('ok')"
        [ "$output" = ok ]
    done
    # without --name the range applies to every record of the batch
    run -0 bash -c "gsg-tensor slice --range 0:2 batches.gsgt | gsg-tensor info --json"
    [[ "${lines[1]}" == *'"shape":[2]'* ]]
    run -2 gsg-tensor slice batches.gsgt
}

@test "cat validates and concatenates into one stream with a single end record" {
    gsg-tensor cat b0.gsgt - b1.gsgt < b0.gsgt -o all.gsgt
    run -0 gsg-tensor info all.gsgt
    [[ "${lines[-1]}" == "total: 6 records"* ]]
    zstd -d -q -c all.gsgt > raw.bin
    run -0 grep -c -a "gsg.end" raw.bin
    [ "$output" = 1 ]
    cat b0.gsgt b1.gsgt | cmp - batches.gsgt && false || true   # plain cat differs (two end records) ...
    run -0 bash -c "cat b0.gsgt b1.gsgt | gsg-tensor cat | cmp - batches.gsgt"   # ... gsg-tensor cat does not
}

@test "from-npy / to-npy: names, --seq selection, errors" {
    run -2 --separate-stderr gsg-tensor from-npy Bad=views.npy
    [[ "$stderr" == *"record names are 1-255 chars"* ]]
    run -2 --separate-stderr gsg-tensor from-npy views.npy
    [[ "$stderr" == *"expected NAME=FILE.npy"* ]]
    run -1 --separate-stderr gsg-tensor from-npy a=missing.npy -o m.gsgt
    [[ "$stderr" == "gsg-tensor: missing.npy: cannot open"* ]] && [ ! -e m.gsgt ]
    gsg-tensor to-npy --name index --seq 1 -o i.npy batches.gsgt
    cmp i.npy index.npy
    run -1 --separate-stderr gsg-tensor to-npy --name nothing -o n.npy batches.gsgt
    [[ "$stderr" == *"no record matches"* ]] && [ ! -e n.npy ]
}

@test "to-npy: a name written in batches comes out whole, concatenated on dim 0; unstackable selections are refused" {
    gsg-tensor to-npy --name views -o v.npy batches.gsgt
    gsg-tensor to-npy --name index -o i.npy batches.gsgt
    $PY -c "
import numpy as np
v, x = np.load('v.npy'), np.load('views.npy')
assert v.shape == (12, 2, 1, 8, 8) and (v == np.concatenate([x, x])).all(), v.shape
assert (np.load('i.npy') == np.concatenate([np.arange(6)] * 2)).all()"
    # byte-identical to numpy's own save of the concatenation
    $PY -c "import numpy as np; np.save('i2.npy', np.concatenate([np.load('index.npy')] * 2))"
    cmp i.npy i2.npy
    # 4 records of two names: refused, naming the count and --seq; no output
    run -1 --separate-stderr gsg-tensor to-npy -o n.npy batches.gsgt
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == "gsg-tensor: 4 records match the selection and do not stack on dim 0 (record 0 'views' u8 [6,2,1,8,8]; batches.gsgt: record 1 'index' i64 [6]): select one with --name and --seq" ]]
    [ ! -e n.npy ]
    # one name, a different trailing shape in a later batch: refused too
    gsg-tensor from-npy --set-seq 2 views=views3.npy -o b2.gsgt
    gsg-tensor cat batches.gsgt b2.gsgt -o mixed.gsgt
    run -1 --separate-stderr gsg-tensor to-npy --name views -o n.npy mixed.gsgt
    [[ "$stderr" == "gsg-tensor: 3 records match the selection"*"record 4 'views' u8 [3,3,10,12]"*"--seq"* ]]
    [ ! -e n.npy ]
    gsg-tensor to-npy --name views --seq 2 -o v3.npy mixed.gsgt
    cmp v3.npy views3.npy
}

@test "export --format safetensors: a file a plain parser (numpy) and torch read; --backbone, --prefix --strip-prefix" {
    gsg-tensor export --format safetensors -o all.safetensors ckpt.gsgt
    gsg-tensor export --backbone -o bb.safetensors ckpt.gsgt
    gsg-tensor export --prefix target. --strip-prefix -o tg.safetensors ckpt.gsgt
    # the format parsed by hand with numpy + stdlib only (make test's packages)
    run -0 $PY -c "
import json, struct, numpy as np
def load(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n]); meta = h.pop('__metadata__', {})
    dt = {'F32': '<f4', 'I64': '<i8', 'U8': 'u1'}
    ends = sorted(v['data_offsets'] for v in h.values()); assert ends[0][0] == 0 and ends[-1][1] == len(b) - 8 - n
    assert all(a[1] == c[0] for a, c in zip(ends, ends[1:])) and n % 8 == 0
    return {k: np.frombuffer(b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]], dtype=dt[v['dtype']]).reshape(v['shape']) for k, v in h.items()}, meta
a, meta = load('all.safetensors')
assert sorted(a) == ['bn1.num_batches_tracked', 'conv1.weight', 'gsg.config', 'projector.0.weight', 'target.conv1.weight']
assert np.array_equal(a['conv1.weight'], np.load('conv.npy')) and a['conv1.weight'].dtype == np.float32
assert a['bn1.num_batches_tracked'].shape == () and int(a['bn1.num_batches_tracked']) == 7
assert np.array_equal(a['projector.0.weight'], np.load('proj.npy'))
assert meta['format'] == 'pt' and meta['gsg.config'] == 'recipe=fmnist\\nseed=1\\n'
bb, _ = load('bb.safetensors'); assert sorted(bb) == ['bn1.num_batches_tracked', 'conv1.weight']
tg, _ = load('tg.safetensors'); assert sorted(tg) == ['conv1.weight']
print('ok')"
    [ "$output" = ok ]
    # the reference readers, where installed (make deps-ref); the check above stands without them
    if $PY -c "import torch" 2>/dev/null; then
        run -0 $PY -c "
import json, struct, numpy as np, torch
b = open('all.safetensors', 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; v = json.loads(b[8:8 + n])['conv1.weight']
t = torch.frombuffer(bytearray(b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]]), dtype=torch.float32).reshape(v['shape'])
assert torch.equal(t, torch.from_numpy(np.load('conv.npy'))); print('ok')"
        [ "$output" = ok ]
    fi
    if $PY -c "import safetensors" 2>/dev/null; then
        run -0 $PY -c "from safetensors.numpy import load_file; print(sorted(load_file('bb.safetensors')))"
        [ "$output" = "['bn1.num_batches_tracked', 'conv1.weight']" ]
    fi
    # duplicate names (one per batch) need a selection
    run -1 --separate-stderr gsg-tensor export -o d.safetensors batches.gsgt
    [[ "$stderr" == *"record 3 'views' at byte"*"expected unique tensor names"* ]] && [ ! -e d.safetensors ]
    gsg-tensor export --seq 1 -o d.safetensors batches.gsgt
    run -2 gsg-tensor export --format npz -o x batches.gsgt
}

@test "grid: PNG and JPEG contact sheets, one row per image with its views side by side" {
    gsg-tensor grid --name views -o g.png batches.gsgt
    gsg-tensor from-npy images=views3.npy -o rgb.gsgt
    gsg-tensor grid --max 3 --cols 2 -o g.jpg rgb.gsgt
    gsg-tensor grid --rows 2 --format jpeg rgb.gsgt > g2.jpg
    run -0 $PY -c "
import struct, numpy as np
b = open('g.png', 'rb').read(); assert b[:8] == b'\x89PNG\r\n\x1a\n'
w, h, depth, ctype = struct.unpack('>IIBB', b[16:26]); print(w, h, depth, ctype)
j = open('g.jpg', 'rb').read(); assert j[:3] == b'\xff\xd8\xff'
# SOF0 marker holds the size
i = j.index(b'\xff\xc0'); hh, ww, nc = struct.unpack('>HHB', j[i + 5:i + 10]); print(ww, hh, nc)
j = open('g2.jpg', 'rb').read(); i = j.index(b'\xff\xc0'); hh, ww, nc = struct.unpack('>HHB', j[i + 5:i + 10]); print(ww, hh, nc)"
    # 12 images (2 batches x 6) of 2 views 8x8, gap 2: width 2+8+2+8+2 = 22, height 12*10+2 = 122, gray
    [ "${lines[0]}" = "22 122 8 0" ]
    # 3 RGB images 10x12, 2 per row: width 2+12+2+12+2 = 30, 2 rows: 2+10+2+10+2 = 26
    [ "${lines[1]}" = "30 26 3" ]
    # default 8 per row, 1 row
    [ "${lines[2]}" = "$((8 * 14 + 2)) 14 3" ]
    run -1 --separate-stderr gsg-tensor grid --name index -o bad.png batches.gsgt
    [[ "$stderr" == *"record 1 'index' at byte"*"expected u8 [N,C,H,W] or [N,V,C,H,W], found i64 [6]"* ]] && [ ! -e bad.png ]
    run -2 gsg-tensor grid -o g.gif batches.gsgt
}

@test "a failing command leaves no output file and no temporary behind" {
    head -c 300 batches.gsgt > cut.gsgt
    for c in "cat" "head" "slice --range 0:1" "export" "grid" "to-npy --seq 9"; do
        run -1 gsg-tensor $c -o "out.$RANDOM.png" cut.gsgt
    done
    [ -z "$(ls | grep -E '^out\.|\.tmp\.' || true)" ]
}
