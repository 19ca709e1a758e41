#!/usr/bin/env bats
# Hostile inputs at the tools (issue 10): each exits 1 with one line naming the data, within a
# small memory bound (ulimit -v), and leaves no output or temporary file behind.
bats_require_minimum_version 1.5.0

setup() {
    PY=/usr/bin/python3
    command -v gsg-tensor >/dev/null || { echo "gsg-tensor not on PATH (run through tests/run.sh)" >&2; return 1; }
    cd "$BATS_TEST_TMPDIR"
    # ulimit -v cannot hold an ASan build (its shadow memory alone is terabytes of address space)
    if ldd "$(command -v gsg-tensor)" 2>/dev/null | grep -q libasan; then LIMIT1G=: LIMIT2G=:; else LIMIT1G='ulimit -v 1048576' LIMIT2G='ulimit -v 2097152'; fi
    export LIMIT1G LIMIT2G
}

@test "IDX dims whose product wraps (65536 x 2^24 x 2^24): exit 1, no output, no .tmp" {
    mkdir w && cd w
    printf '\x00\x00\x08\x03\x00\x01\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00' > wrap-idx3-ubyte
    run -1 --separate-stderr gsg-augment --data wrap-idx3-ubyte --batch 4 -o out.gsgt
    [[ "$stderr" == *"wrap-idx3-ubyte: at byte 4: expected IDX dims of at most 2^40 bytes, found 65536x16777216x16777216"* ]]
    [ -z "$(ls -A | grep -v wrap-idx3-ubyte)" ]
}

@test "gzip IDX with trailing garbage: exit 1 naming it" {
    $PY -c "
import gzip, struct
raw = b'\x00\x00\x08\x03' + struct.pack('>III', 4, 2, 2) + bytes(16)
open('t-idx3-ubyte.gz', 'wb').write(gzip.compress(raw) + b'garbage!')"
    run -1 --separate-stderr gsg-augment --data t-idx3-ubyte.gz --plain --batch 4 -o out.gsgt
    [[ "$stderr" == *"t-idx3-ubyte.gz: at byte "*"trailing garbage"* ]]
    [ ! -e out.gsgt ]
}

@test ".npy declaring 1 TiB in 138 bytes: exit 1 under ulimit -v 1 GiB, quickly" {
    $PY -c "
h = b\"{'descr': '<f8', 'fortran_order': False, 'shape': (137438953472,), }\"
h = h + b' ' * (117 - len(h)) + b'\n'
open('huge.npy', 'wb').write(b'\x93NUMPY\x01\x00' + bytes([len(h), 0]) + h + b'12345678')"
    [ "$(stat -c %s huge.npy)" = 136 ]
    run -1 --separate-stderr bash -c '$LIMIT1G; exec gsg-tensor from-npy x=huge.npy -o x.gsgt'
    [[ "$stderr" == *"huge.npy: .npy data truncated: expected 1099511627776 bytes"* ]]
    [ ! -e x.gsgt ]
}

@test "checkpoint holding only gsg.config for a huge network: gsg-encode exits 1 under ulimit -v" {
    printf 'arch=resnet50\nstem=imagenet\nin_channels=1\nwidth=1024\nzero_init_residual=0\nproj_layers=3\nproj_hidden=65536\nproj_dim=65536\npred_hidden=0\n' > cfg.txt
    $PY -c "
import numpy as np
np.save('cfg.npy', np.frombuffer(open('cfg.txt','rb').read(), dtype=np.uint8))
np.save('img.npy', np.zeros((2, 1, 28, 28), dtype=np.uint8))"
    gsg-tensor from-npy gsg.config=cfg.npy -o ck.gsgt
    gsg-tensor from-npy images=img.npy -o img.gsgt
    run -1 --separate-stderr bash -c '$LIMIT2G; exec gsg-encode --ckpt ck.gsgt -o f.gsgt img.gsgt'
    [[ "$stderr" == *"ck.gsgt: gsg.config describes a resnet50 of width 1024 with "*" the file holds 0 bytes of tensors"* ]]
    [ ! -e f.gsgt ]
}

@test "gsg.state with step=abc: an error (exit 1), not a silent step 0" {
    printf 'arch=resnet18\nstem=cifar\nin_channels=1\nwidth=2\nzero_init_residual=0\nproj_layers=2\nproj_hidden=4\nproj_dim=4\npred_hidden=0\n' > cfg.txt
    printf 'step=abc\nepoch=0\n' > state.txt
    $PY -c "
import numpy as np
for n in ('cfg', 'state'): np.save(n + '.npy', np.frombuffer(open(n + '.txt','rb').read(), dtype=np.uint8))
np.save('img.npy', np.zeros((2, 1, 8, 8), dtype=np.uint8))"
    gsg-tensor from-npy gsg.config=cfg.npy gsg.state=state.npy -o ck.gsgt
    gsg-tensor from-npy images=img.npy -o img.gsgt
    run -1 --separate-stderr gsg-encode --ckpt ck.gsgt -o f.gsgt img.gsgt
    [[ "$stderr" == *"ck.gsgt: gsg.state: step: expected a non-negative integer, found 'abc'"* ]]
}

@test "grid: a stream of zero images is an error (exit 1, no PNG); a sheet above GSG_MAX_PIXELS is refused before allocating" {
    $PY -c "
import numpy as np
np.save('zero.npy', np.zeros((0, 3, 8000, 8000), dtype=np.uint8))
np.save('one.npy', np.zeros((1, 3, 64, 64), dtype=np.uint8))"
    gsg-tensor from-npy images=zero.npy -o zero.gsgt
    run -1 --separate-stderr bash -c '$LIMIT1G; exec gsg-tensor grid -o g.png zero.gsgt'
    [[ "$stderr" == *"no images in the input"* ]]
    [ ! -e g.png ]
    gsg-tensor from-npy images=one.npy -o one.gsgt
    GSG_MAX_PIXELS=4096 run -1 --separate-stderr gsg-tensor grid -o g.png one.gsgt
    [[ "$stderr" == *"expected at most 4096 (GSG_MAX_PIXELS"* ]]
    [ ! -e g.png ]
    run -0 gsg-tensor grid --max 1 -o g.png one.gsgt
    [ -s g.png ]
}

@test "a record above GSG_MAX_RECORD_BYTES is refused from its header (exit 1)" {
    $PY -c "
import numpy as np
np.save('big.npy', np.zeros((3, 1024, 1024), dtype=np.uint8))"
    gsg-tensor from-npy images=big.npy -o big.gsgt
    GSG_MAX_RECORD_BYTES=1M run -1 --separate-stderr gsg-tensor info big.gsgt
    [[ "$stderr" == *"big.gsgt: record 0"*"at most 1048576 bytes"*"(GSG_MAX_RECORD_BYTES)"* ]]
    GSG_MAX_RECORD_BYTES=4M run -0 gsg-tensor info big.gsgt
}

@test "CIFAR-10 folder missing data_batch_2..5: exit 1 naming the first missing file" {
    head -c $((3073 * 4)) /dev/zero > data_batch_1.bin
    mkdir c10 && mv data_batch_1.bin c10/
    run -1 --separate-stderr gsg-augment --data c10 --batch 2 -o out.gsgt
    [[ "$stderr" == *"c10: no data_batch_2.bin in this folder"* ]]
}

@test "stale temporaries of a killed writer are removed on the next start of the same output" {
    host=$(hostname | tr -c 'A-Za-z0-9\n' '_' | cut -c1-32)
    sh -c 'exit 0' & dead=$!; wait $dead
    $PY -c "
import numpy as np
np.save('x.npy', np.arange(6, dtype=np.float32))"
    echo partial > "out.gsgt.tmp.$host-$dead.AbC123"
    echo partial > "out.gsgt.tmp.$host-$$.LiVe00"        # this shell: alive, kept
    echo partial > "other.gsgt.tmp.$host-$dead.AbC123"   # another output's: kept
    gsg-tensor from-npy x=x.npy -o out.gsgt
    [ ! -e "out.gsgt.tmp.$host-$dead.AbC123" ]
    [ -e "out.gsgt.tmp.$host-$$.LiVe00" ]
    [ -e "other.gsgt.tmp.$host-$dead.AbC123" ]
    [ -s out.gsgt ]
}

@test "a huge --epochs does not overflow the progress total: the run goes on until stopped" {
    $PY -c "
import numpy as np
np.save('img.npy', np.zeros((8, 1, 8, 8), dtype=np.uint8))"
    gsg-tensor from-npy images=img.npy -o img.gsgt
    run --separate-stderr timeout 2 gsg-augment --data img.gsgt --batch 4 --views 2 --epochs 4611686018427387903 --progress -o /dev/null
    [ "$status" -eq 124 ]
    [[ "$stderr" != *"runtime error"* ]]
}
