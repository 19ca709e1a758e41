#!/usr/bin/env bats
# gsg-select: hand-computed selections (ties included), --check, --summary, errors.
bats_require_minimum_version 1.5.0

setup() {
    T=$BATS_TEST_TMPDIR
    # A tiny GSGT writer/reader in Python (numpy + zstandard), independent of the C code.
    cat >"$T/gsgt.py" <<'EOF'
import sys
from gsgt_io import record, write, read
EOF
    export PYTHONPATH=$T:$BATS_TEST_DIRNAME/../lib
    # The hand-computed 2x2 case of tests/unit/test_gsg.c:
    # row 0: A1=(0,0) A2=(3,4) B1=(1,0) B2=(10,10): d = 1, 14.142, 4.472, 9.220 -> k=0
    # row 1: A1=(5,5) A2=(0,1) B1=(-5,-5) B2=(0,-1): d = 14.142, 7.810, 7.810, 2 -> k=3
    /usr/bin/python3 - <<'EOF'
import numpy as np, gsgt, os
T = os.environ['BATS_TEST_TMPDIR']
z = np.array([[[0, 0], [5, 5]], [[3, 4], [0, 1]], [[1, 0], [-5, -5]], [[10, 10], [0, -1]]], dtype='<f4')
gsgt.write(f'{T}/hand.gsgt', [('gsg.z', 7, z), ('gsg.perm', 7, np.array([1, 0], dtype='<i8')),
                              ('gsg.choice', 7, np.array([0, 3], dtype='<i8'))])
gsgt.write(f'{T}/wrong.gsgt', [('gsg.z', 7, z), ('gsg.choice', 7, np.array([0, 1], dtype='<i8'))])
# ties: row 0 all four views equal -> all distances 0 -> k=0
#       row 1 A1=(0,0) A2=(0,0) B1=(1,0) B2=(0,5): d = 1, 5, 1, 5 -> tie of 0 and 2 -> k=0
#       row 2 A1=(0,0) A2=(4,0) B1=(2,0) B2=(9,9): d = 2, 12.73, 2, 9.85 -> tie 0 and 2 -> k=0
#       row 3 A1=(0,0) A2=(1,0) B1=(5,0) B2=(2,0): d = 5, 2, 4, 1 -> k=3
#       row 4 A1=(0,0) A2=(3,0) B1=(9,0) B2=(2,0): d = 9, 2, 6, 1 -> k=3
#       row 5 A1=(0,0) A2=(2,0) B1=(1,0) B2=(-1,0): d = 1, 1, 1, 3 -> tie of 0,1,2 -> k=0
#       row 6 A1=(0,0) A2=(0,3) B1=(0,9) B2=(0,1): d = 9, 1, 6, 2 -> k=1
#       row 7 A1=(0,0) A2=(0,3) B1=(0,2) B2=(0,-2): d = 2, 2, 1, 5 -> k=2
A1 = [(1, 1), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0)]
A2 = [(1, 1), (0, 0), (4, 0), (1, 0), (3, 0), (2, 0), (0, 3), (0, 3)]
B1 = [(1, 1), (1, 0), (2, 0), (5, 0), (9, 0), (1, 0), (0, 9), (0, 2)]
B2 = [(1, 1), (0, 5), (9, 9), (2, 0), (2, 0), (-1, 0), (0, 1), (0, -2)]
gsgt.write(f'{T}/ties.gsgt', [('gsg.z', 0, np.array([A1, A2, B1, B2], dtype='<f4'))])
gsgt.write(f'{T}/badshape.gsgt', [('gsg.z', 0, np.zeros((3, 2, 2), dtype='<f4'))])
gsgt.write(f'{T}/noz.gsgt', [('features', 0, np.zeros((2, 2), dtype='<f4'))])
EOF
}

@test "gsg-select --help prints usage on stdout and exits 0" {
    run -0 --separate-stderr gsg-select --help
    [[ "$output" == *"Usage: gsg-select"* ]]
    [[ "$output" == *"Exit status"* ]]
    [ -z "$stderr" ]
    run -0 gsg-select --version
    [[ "$output" == "gsg-select "* ]]
}

@test "gsg-select: unknown option is a usage error (exit 2, one line + hint)" {
    run -2 --separate-stderr gsg-select --frobnicate
    [ -z "$output" ]
    [ "${#stderr_lines[@]}" -eq 2 ]
    [[ "${stderr_lines[0]}" == "gsg-select: unknown option '--frobnicate'" ]]
    [[ "${stderr_lines[1]}" == "Try 'gsg-select --help'." ]]
    run -2 --separate-stderr gsg-select --distance manhattan "$T/hand.gsgt"
    [[ "$stderr" == *"--distance"* ]]
}

@test "gsg-select: hand-computed 2x2 case gives distances, k = [0, 3], sources, targets, counts" {
    run -0 gsg-select -o "$T/out.gsgt" "$T/hand.gsgt"
    run -0 /usr/bin/python3 -c '
import gsgt, numpy as np, sys
r = {n: (s, a) for s, n, a in gsgt.read(sys.argv[1])}
assert sorted(r) == ["gsg.choice", "gsg.counts", "gsg.dist", "gsg.source", "gsg.target"], sorted(r)
assert all(s == 7 for s, _ in r.values())
d = r["gsg.dist"][1]
want = np.array([[1, 200 ** .5, 20 ** .5, 85 ** .5], [200 ** .5, 61 ** .5, 61 ** .5, 2]])
assert np.allclose(d, want, rtol=1e-6), d
assert r["gsg.choice"][1].tolist() == [0, 3]
# k=0: pA1->tA2, pB1->tB2 ; k=3: pA2->tA1, pB2->tB1
assert r["gsg.source"][1].tolist() == [[0, 2], [1, 3]], r["gsg.source"][1]
assert r["gsg.target"][1].tolist() == [[1, 3], [0, 2]], r["gsg.target"][1]
assert r["gsg.counts"][1].tolist() == [1, 0, 0, 1]
print("ok")' "$T/out.gsgt"
    [ "$output" = ok ]
}

@test "gsg-select: ties go to the first index" {
    run -0 gsg-select -o "$T/ties.out" "$T/ties.gsgt"
    run -0 /usr/bin/python3 -c '
import gsgt, sys
r = {n: a for s, n, a in gsgt.read(sys.argv[1])}
print(r["gsg.choice"].tolist())' "$T/ties.out"
    [ "$output" = "[0, 0, 0, 3, 3, 0, 1, 2]" ]
}

@test "gsg-select --distance cosine selects on angles, not lengths" {
    # row 0: A1=(0,0) is a zero vector (cos 0 -> d 1); A2=(3,4),B1=(1,0): 1-0.6 = 0.4;
    #        A2,B2=(10,10): 1-7/(5 sqrt2) = 0.0101 -> k=3 (euclidean chose 0)
    # row 1: A1=(5,5) A2=(0,1) B1=(-5,-5) B2=(0,-1)
    #        1-cos: A1,B1 = 2; A1,B2 = 1.7071; A2,B1 = 1.7071; A2,B2 = 2 -> k=1 (tie 1,2; euclidean chose 3)
    run -0 gsg-select --distance cosine -o "$T/cos.gsgt" "$T/hand.gsgt"
    run -0 /usr/bin/python3 -c '
import gsgt, sys
r = {n: a for s, n, a in gsgt.read(sys.argv[1])}
print(r["gsg.choice"].tolist())' "$T/cos.gsgt"
    [ "$output" = "[3, 1]" ]
}

@test "gsg-select --summary prints counts per case" {
    run -0 --separate-stderr gsg-select --summary "$T/hand.gsgt"
    [ "${lines[0]}" = "records 1 rows 2" ]
    [ "${lines[1]}" = "k=0 pA1->tA2 pB1->tB2 1 0.5000" ]
    [ "${lines[2]}" = "k=1 pA1->tA2 pB2->tB1 0 0.0000" ]
    [ "${lines[3]}" = "k=2 pA2->tA1 pB1->tB2 0 0.0000" ]
    [ "${lines[4]}" = "k=3 pA2->tA1 pB2->tB1 1 0.5000" ]
}

@test "gsg-select --check accepts matching choices and names the first mismatch" {
    run -0 --separate-stderr gsg-select --check "$T/hand.gsgt"
    [[ "$stderr" == *"choices agree"* ]]
    run -1 --separate-stderr gsg-select --check "$T/wrong.gsgt"
    [ -z "$output" ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == "gsg-select: $T/wrong.gsgt: record 1 'gsg.choice' at byte "*": row 1: expected choice 3 (re-derived), found 1" ]]
    run -1 --separate-stderr gsg-select --check "$T/ties.gsgt"
    [[ "$stderr" == *"expected a 'gsg.choice' record"* ]]
}

@test "gsg-select: wrong shape, no projections, corrupt input -> exit 1, one line, no output" {
    run -1 --separate-stderr gsg-select "$T/badshape.gsgt"
    [ -z "$output" ]
    [[ "$stderr" == *"record 0 'gsg.z'"*"shape [3,2,2], expected [4,?,?]"* || "$stderr" == *"record 0 'gsg.z'"*"shape [3,2,2]"* ]]
    run -1 --separate-stderr gsg-select "$T/noz.gsgt"
    [ -z "$output" ]
    [[ "$stderr" == *"expected records 'gsg.z' f32 [4,N,D], found none"* ]]
    head -c 100 "$T/hand.gsgt" >"$T/trunc.gsgt"
    run -1 --separate-stderr gsg-select -o "$T/t.out" "$T/trunc.gsgt"
    [ "${#stderr_lines[@]}" -eq 1 ]
    [ ! -e "$T/t.out" ]
    [ -z "$(ls "$T" | grep '\.tmp\.')" ]
    printf 'not a stream at all' >"$T/junk.gsgt"
    run -1 --separate-stderr gsg-select "$T/junk.gsgt"
    [ -z "$output" ]
}

@test "gsg-select > /dev/full exits 1" {
    run -1 --separate-stderr bash -c "gsg-select '$T/hand.gsgt' > /dev/full"
    [[ "$stderr" == *"gsg-select: "* ]]
    run -1 --separate-stderr bash -c "gsg-select --summary '$T/hand.gsgt' > /dev/full"
}

@test "gsg-select reads stdin and writes stdout" {
    run -0 bash -c "gsg-select < '$T/hand.gsgt' > '$T/pipe.gsgt'"
    run -0 gsg-select -o "$T/file.gsgt" "$T/hand.gsgt"
    cmp "$T/pipe.gsgt" "$T/file.gsgt"
}
