#!/usr/bin/env bats
# The GSGT format: the spec's Python reader on streams the tools wrote, byte-identical .npy round
# trips, zstd CLI compatibility, and every bad input of issue 2 (exit 1, one line naming file,
# record and byte, nothing on stdout past the last good record, no output file left behind).
bats_require_minimum_version 1.5.0

setup() {
    ROOT="$BATS_TEST_DIRNAME/../.."
    PY=/usr/bin/python3
    command -v gsg-tensor >/dev/null || { echo "gsg-tensor not on PATH (run through tests/run.sh)" >&2; return 1; }
    cd "$BATS_TEST_TMPDIR"
    # the reader exactly as formats/tensor-stream.md prints it
    sed -n '/<!-- reader:begin -->/,/<!-- reader:end -->/p' "$ROOT/formats/tensor-stream.md" | sed '1,2d;$d' | sed '$d' > gsgt_reader.py
    cat > mk.py <<'PY'
import struct, sys, numpy as np, zstandard as zstd
def rec(name, dt, dims, data, seq=0, ver=1, flags=0, nbytes=None, meta=b''):
    nd = len(dims); hb = (32 + 8 * nd + len(name) + len(meta) + 63) // 64 * 64
    h = struct.pack('<4sBBBBIHHQQ', b'GSGT', ver, dt, nd, flags, hb, len(name), len(meta), seq,
                    len(data) if nbytes is None else nbytes)
    h += struct.pack(f'<{nd}Q', *dims) + name.encode() + meta
    return h.ljust(hb, b'\0') + data
def end(n): return rec('gsg.end', 7, [], struct.pack('<q', n), seq=n)
def z(b): return zstd.ZstdCompressor(level=1, write_checksum=True, write_content_size=True).compress(b)
good = z(rec('x', 1, [2, 3], np.arange(6, dtype='<f4').tobytes()))
img = (np.add.outer(np.arange(300), np.arange(1000)) % 251).astype('u1')
big = z(rec('img', 5, [300, 1000], img.tobytes(), seq=1))
k = sys.argv[1]
s = {
    'good': lambda: good + big + z(end(2)),
    'magic': lambda: b'XSGT' + good[4:] + z(end(1)),
    'version': lambda: good + z(rec('y', 1, [2, 3], bytes(24), seq=1, ver=2)) + z(end(2)),
    'dtype': lambda: good + z(rec('y', 9, [2, 3], bytes(24), seq=1)) + z(end(2)),
    'overflow': lambda: good + z(rec('y', 1, [1 << 62, 8], b'', seq=1, nbytes=0)) + z(end(2)),
    'databytes': lambda: good + z(rec('y', 1, [2, 3], bytes(24), seq=1, nbytes=20)) + z(end(2)),
    'lying': lambda: good + rec('y', 5, [1 << 40], b'0123456789', seq=1, nbytes=1 << 40),
    'trunc_inside': lambda: good + big[:len(big) // 2],
    'trunc_boundary': lambda: good + big,
    'corrupt': lambda: good + big[:len(big) // 2] + bytes([big[len(big) // 2] ^ 0x55]) + big[len(big) // 2 + 1:] + z(end(2)),
}[k]()
open(sys.argv[2], 'wb').write(s)
PY
    $PY mk.py good good.gsgt
}

# run a gsg-tensor command with stdout to a file; sets status/stderr via run
bad() {  # bad KIND EXPECTED_RECORD_PREFIX EXPECTED_SUBSTRING
    $PY mk.py "$1" "$1.gsgt"
    run -1 --separate-stderr bash -c "gsg-tensor cat $1.gsgt > out.gsgt"
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == "gsg-tensor: $1.gsgt: $2"* ]]
    [[ "$stderr" == *"$3"* ]]
    [[ "$stderr" == *expected*found* ]]
    # stdout holds exactly the good records before the bad one, without an end record
    run -1 $PY -c "
import sys; exec(open('gsgt_reader.py').read()); n = 0
try:
    for r in read_gsgt('out.gsgt'): n += 1
except ValueError as e: print(n, 'truncated' in str(e)); sys.exit(1)
print(n, 'complete')"
    [ "$output" = "$4 True" ]
    # a file output is not left behind, nor its temporary
    run -1 --separate-stderr gsg-tensor cat -o kept.gsgt "$1.gsgt"
    [ ! -e kept.gsgt ]
    [ -z "$(ls | grep '\.tmp\.' || true)" ]
    # info prints the good records, then fails the same way
    run -1 --separate-stderr gsg-tensor info "$1.gsgt"
    [[ "$stderr" == "gsg-tensor: $1.gsgt: $2"* ]]
}

@test "the spec's Python reader reads compressed, raw and concatenated streams the tools wrote" {
    $PY -c "
import numpy as np
np.save('f.npy', np.linspace(-1, 1, 24, dtype=np.float32).reshape(2, 3, 4))
np.save('u.npy', (np.arange(2 * 2 * 1 * 5 * 5) % 256).astype(np.uint8).reshape(2, 2, 1, 5, 5))
np.save('i.npy', np.array([3, -1, 7], dtype=np.int64))
np.save('h.npy', np.array([1.5, -2], dtype=np.float16))
np.save('s.npy', np.array(2.5))"
    gsg-tensor from-npy --meta epoch=4 --set-seq 9 views=u.npy f=f.npy index=i.npy h=h.npy s=s.npy -o c.gsgt
    gsg-tensor cat --level 0 c.gsgt -o r.gsgt
    cat c.gsgt c.gsgt > cc.gsgt
    run -0 $PY -c "
exec(open('gsgt_reader.py').read()); import numpy as np
for path, reps in (('c.gsgt', 1), ('r.gsgt', 1), ('cc.gsgt', 2)):
    recs = list(read_gsgt(path))
    assert len(recs) == 5 * reps, (path, len(recs))
    for seq, name, meta, a in recs:
        ref = np.load({'views': 'u', 'f': 'f', 'index': 'i', 'h': 'h', 's': 's'}[name] + '.npy')
        assert seq == 9 and meta == 'epoch=4\n' and a.dtype == ref.dtype and a.shape == ref.shape and (a == ref).all(), name
print('ok')"
    [ "$output" = ok ]
}

@test "the spec's Python reader raises on truncation and on a corrupt frame" {
    head -c 200 good.gsgt > t.gsgt
    run -1 $PY -c "exec(open('gsgt_reader.py').read()); list(read_gsgt('t.gsgt'))"
    [[ "$output" == *truncated* ]]
    $PY mk.py trunc_boundary tb.gsgt
    run -1 $PY -c "exec(open('gsgt_reader.py').read()); list(read_gsgt('tb.gsgt'))"
    [[ "$output" == *"no end record"* ]]
    $PY mk.py corrupt c.gsgt
    run -1 $PY -c "exec(open('gsgt_reader.py').read()); list(read_gsgt('c.gsgt'))"
    [[ "$output" == *Error* ]]
}

@test "npy -> stream -> npy is byte-identical with numpy's own files, for every dtype and shape" {
    $PY -c "
import numpy as np
rng = np.random.default_rng(1)
cases = {'f4': [(2, 3), (0, 5), (), (7,), (1, 1, 1, 1, 1, 1, 1, 1)], 'f2': [(4, 4)], 'f8': [(3,)], 'u1': [(100000,), (2, 3, 4, 5)],
         'i4': [(5, 2)], 'i8': [(12345, 2)]}
n = 0
for dt, shapes in cases.items():
    for sh in shapes:
        a = (rng.standard_normal(sh) * 100).astype(dt)
        np.save(f'a{n}.npy', a); n += 1
print(n)" > n.txt
    for i in $(seq 0 $(( $(cat n.txt) - 1 ))); do
        gsg-tensor from-npy "t=a$i.npy" -o "a$i.gsgt"
        gsg-tensor to-npy -o "b$i.npy" "a$i.gsgt"
        cmp "a$i.npy" "b$i.npy"
    done
    # through pipes, stdin and stdout
    gsg-tensor from-npy t=- < a0.npy | gsg-tensor to-npy - > p.npy
    cmp a0.npy p.npy
}

@test "a compressed stream is a valid .zst; zstd -d gives the raw stream; info reads both" {
    run -0 zstd -t -q good.gsgt
    gsg-tensor cat --level 0 good.gsgt -o raw.gsgt
    zstd -d -q -c good.gsgt > dec.gsgt
    cmp raw.gsgt dec.gsgt
    run -0 gsg-tensor info raw.gsgt
    [[ "$output" == *"img"*"u8"*"[300,1000]"* ]]
    run -0 gsg-tensor info --json good.gsgt
    [ "${#lines[@]}" -eq 2 ]
    [[ "${lines[1]}" == *'"compressed":true'* ]]
}

@test "bad input: wrong magic" {
    bad magic "record 0 at byte 0: " "found bad magic 58 53 47 54" 0
}

@test "bad input: unknown version" {
    bad version "record 1 at byte " "expected version 1, found unsupported version 2" 1
}

@test "bad input: unknown dtype" {
    bad dtype "record 1 at byte " "found unknown dtype 9" 1
}

@test "bad input: dims product overflows" {
    bad overflow "record 1 'y' at byte " "(overflow)" 1
}

@test "bad input: data_bytes disagrees with the shape" {
    bad databytes "record 1 'y' at byte " "expected data_bytes 24 for shape [2,3] of f32, found 20" 1
}

@test "bad input: a lying header (2^40 bytes) is refused by the record limit; under a raised limit it fails as truncated without a giant allocation" {
    # 2 GB of address space is far below 2^40 bytes (ASan builds need more address space than that)
    ldd "$(command -v gsg-tensor)" | grep -q libasan || ulimit -v 2000000
    bad lying "record 1 'y' at byte " "at most 1073741824 bytes of data (GSG_MAX_RECORD_BYTES), found 1099511627776" 1
    export GSG_MAX_RECORD_BYTES=2048G
    bad lying "record 1 'y' at byte " "found end of input (truncated)" 1
    unset GSG_MAX_RECORD_BYTES
}

@test "bad input: truncation inside a record" {
    bad trunc_inside "record 1 " "(truncated)" 1
}

@test "bad input: truncation at a record boundary (no end record)" {
    bad trunc_boundary "record 2 at byte " "expected a record or the end record 'gsg.end', found end of input (truncated)" 2
}

@test "bad input: corrupt zstd frame (one flipped byte)" {
    bad corrupt "record 1 " "corrupt" 1
}

@test "bad input: writing to /dev/full fails with exit 1" {
    run -1 --separate-stderr bash -c "gsg-tensor cat good.gsgt > /dev/full"
    [[ "$stderr" == *"write error"* ]]
    run -1 --separate-stderr bash -c "gsg-tensor info good.gsgt > /dev/full"
    [[ "$stderr" == *"write error"* ]]
    # -o naming a device writes to it (never renamed over it)
    run -1 --separate-stderr gsg-tensor cat good.gsgt -o /dev/full
    [[ "$stderr" == *"write error"* ]]
    [ -c /dev/full ]
}

@test "bad input: binary stream to or from a terminal is refused (exit 2) unless --force" {
    command -v script >/dev/null || skip "script(1) not installed"
    run -2 script -qec "gsg-tensor cat good.gsgt" /dev/null
    [[ "$output" == *"refusing to write a binary stream to a terminal"* ]]
    [[ "$output" != *GSGT* ]]
    run -2 script -qec "gsg-tensor info" /dev/null
    [[ "$output" == *"refusing to read a binary stream from a terminal"* ]]
    run -0 script -qec "gsg-tensor cat --force good.gsgt > /dev/null" /dev/null
}

@test "bad input: unknown option exits 2 with one line and the hint" {
    run -2 --separate-stderr gsg-tensor cat --no-such-option good.gsgt
    [ "${#stderr_lines[@]}" -eq 2 ]
    [ "${stderr_lines[0]}" = "gsg-tensor: unknown option '--no-such-option'" ]
    [ "${stderr_lines[1]}" = "Try 'gsg-tensor --help'." ]
    [ -z "$output" ]
}
