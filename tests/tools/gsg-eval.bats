#!/usr/bin/env bats
# gsg-eval: k-NN, linear probe and collapse on constructed data with known answers,
# checked against an independent numpy implementation; errors, exit codes, /dev/full.
bats_require_minimum_version 1.5.0

setup() {
    T=$BATS_TEST_TMPDIR
    # A tiny GSGT writer in Python (numpy + zstandard), independent of the C code.
    cat >"$T/gsgt.py" <<'EOF'
import numpy as np
from gsgt_io import record, write
def features(path, x, y, batch=300, name='features', proj=None):
    recs = []
    for s, i in enumerate(range(0, len(x), batch)):
        recs.append((name, s, x[i:i + batch].astype('<f4') if name != 'images' else x[i:i + batch]))
        if proj is not None: recs.append(('projections', s, proj[i:i + batch].astype('<f4')))
        recs.append(('index', s, np.arange(i, min(i + batch, len(x)), dtype='<i8')))
        recs.append(('label', s, y[i:i + batch].astype('<i8')))
    write(path, recs)
def clusters(n, d, k, noise, seed):
    ctr = np.random.default_rng(1234).normal(size=(k, d))
    g = np.random.default_rng(seed)
    y = g.integers(0, k, n)
    return (ctr[y] + noise * g.normal(size=(n, d))).astype('<f4'), y
def knn_ref(bank, yb, q, yq, k, t, C):
    """InstDisc weighted vote in float64; ties: lower index (stable sort), then lower class."""
    bn = bank / np.maximum(np.linalg.norm(bank, axis=1, keepdims=True), 1e-12)
    qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    s = qn.astype(np.float64) @ bn.astype(np.float64).T
    c1 = c5 = 0
    for i in range(len(q)):
        nn = np.argsort(-s[i], kind='stable')[:k]
        score = np.zeros(C)
        np.add.at(score, yb[nn], np.exp(s[i, nn] / t))
        order = sorted(range(C), key=lambda c: (-score[c], c))
        c1 += order[0] == yq[i]; c5 += yq[i] in order[:5]
    return c1 / len(q), c5 / len(q)
EOF
    export PYTHONPATH=$T:$BATS_TEST_DIRNAME/../lib
    /usr/bin/python3 - <<'EOF'
import numpy as np, gsgt, os
T = os.environ['BATS_TEST_TMPDIR']
x, y = gsgt.clusters(1200, 16, 5, 0.05, 1); gsgt.features(f'{T}/sep_train.gsgt', x, y)
x, y = gsgt.clusters(300, 16, 5, 0.05, 2); gsgt.features(f'{T}/sep_test.gsgt', x, y, batch=128)
x, y = gsgt.clusters(1500, 12, 8, 1.2, 3); gsgt.features(f'{T}/ov_train.gsgt', x, y, batch=256)
x, y = gsgt.clusters(400, 12, 8, 1.2, 4); gsgt.features(f'{T}/ov_test.gsgt', x, y)
# hand-worked: rows of +-1 in 4 dims, query (1,1,1,1) with label 1; cosines 1, .5, .5, 0, -1
bank = np.array([[1,1,1,1],[1,1,1,-1],[1,1,-1,1],[1,1,-1,-1],[-1,-1,-1,-1]], dtype='<f4')
gsgt.features(f'{T}/hand_bank.gsgt', bank, np.array([0, 1, 1, 2, 2]))
gsgt.features(f'{T}/hand_q.gsgt', np.ones((1, 4), dtype='<f4'), np.array([1]))
# unlabelled bank row
gsgt.features(f'{T}/nolabel.gsgt', bank, np.array([0, 1, -1, 2, 2]))
# images (u8 [N,1,4,4]) for k-NN on pixels: class c is bright in quadrant c
g = np.random.default_rng(5)
def imgs(n):
    y = g.integers(0, 4, n); im = g.integers(0, 40, (n, 1, 4, 4)).astype('u1')
    for i, c in enumerate(y): im[i, 0, (c // 2) * 2:(c // 2) * 2 + 2, (c % 2) * 2:(c % 2) * 2 + 2] += 200
    return im, y
im, y = imgs(200); gsgt.features(f'{T}/img_train.gsgt', im, y, batch=64, name='images')
im, y = imgs(50); gsgt.features(f'{T}/img_test.gsgt', im, y, name='images')
# collapse cases
gsgt.features(f'{T}/healthy.gsgt', g.normal(size=(500, 32)).astype('<f4'), np.zeros(500, dtype='i8'))
same = np.tile(np.arange(1, 33, dtype='<f4'), (500, 1)) + 1e-6 * g.normal(size=(500, 32)).astype('<f4')
gsgt.features(f'{T}/collapsed.gsgt', same, np.zeros(500, dtype='i8'))
# training views (wrong kind of stream) and a projections stream
gsgt.write(f'{T}/views.gsgt', [('views', 0, np.zeros((2, 2, 1, 4, 4), 'u1')), ('index', 0, np.arange(2)), ('label', 0, np.zeros(2, 'i8'))])
x, y = gsgt.clusters(200, 8, 3, 0.05, 9)
gsgt.features(f'{T}/withproj.gsgt', x, y, proj=np.random.default_rng(0).normal(size=(200, 6)))
EOF
}

@test "gsg-eval --help prints usage and exit codes on stdout" {
    run -0 --separate-stderr gsg-eval --help
    [[ "$output" == Usage:* ]]
    [[ "$output" == *"Exit status"* ]]
    [[ "$output" == *"knn"* && "$output" == *"linear"* && "$output" == *"collapse"* ]]
    [ -z "$stderr" ]
    run -0 gsg-eval knn --help
    run -0 gsg-eval --version
    [[ "$output" == "gsg-eval "* ]]
}

@test "gsg-eval usage errors exit 2 with one line and the hint" {
    run -2 --separate-stderr gsg-eval knn --train "$T/sep_train.gsgt" --test "$T/sep_test.gsgt" --bogus
    [ -z "$output" ]
    [[ "$stderr" == *"unknown option '--bogus'"* ]]
    [[ "$stderr" == *"Try 'gsg-eval --help'"* ]]
    [ "$(printf '%s\n' "$stderr" | wc -l)" -eq 2 ]
    run -2 gsg-eval
    run -2 gsg-eval frobnicate
    run -2 gsg-eval knn --test "$T/sep_test.gsgt"
    run -2 gsg-eval knn --train "$T/sep_train.gsgt" --test "$T/sep_test.gsgt" -k 0
    run -2 gsg-eval linear --train "$T/sep_train.gsgt" --test "$T/sep_test.gsgt" --solver magic
    run -2 gsg-eval knn --train - --test -
}

@test "gsg-eval knn: separable clusters are classified perfectly" {
    run -0 --separate-stderr gsg-eval knn --train "$T/sep_train.gsgt" --test "$T/sep_test.gsgt"
    [[ "$output" == *"top-1"*"100.00 %"* ]]
    [[ "$output" == *"k=200 T=0.1"* ]]
    run -0 --separate-stderr gsg-eval knn --json --train "$T/sep_train.gsgt" --test "$T/sep_test.gsgt"
    [[ "$output" == *'"top1":1.000000'* ]]
    [[ "$output" == *'"train_rows":1200'* && "$output" == *'"test_rows":300'* && "$output" == *'"classes":5'* ]]
}

@test "gsg-eval knn: hand-worked weights (temperature decides the vote)" {
    # k=3: neighbours s = 1 (class 0), .5 and .5 (class 1).
    # T=0.5: class 0 scores e^2 = 7.39 > class 1 2e = 5.44 -> wrong (label 1), still top-5
    run -0 gsg-eval knn --json -k 3 -t 0.5 --train "$T/hand_bank.gsgt" --test "$T/hand_q.gsgt"
    [[ "$output" == *'"top1":0.000000,"top5":1.000000'* ]]
    # T=1: class 0 e = 2.72 < class 1 2 e^.5 = 3.30 -> right
    run -0 gsg-eval knn --json -k 3 -t 1 --train "$T/hand_bank.gsgt" --test "$T/hand_q.gsgt"
    [[ "$output" == *'"top1":1.000000'* ]]
    # k=1 with 7 classes: only class 0 votes; label 1 ranks 2nd -> top-5 yes
    run -0 gsg-eval knn --json -k 1 --classes 7 --train "$T/hand_bank.gsgt" --test "$T/hand_q.gsgt"
    [[ "$output" == *'"k":1,'* && "$output" == *'"top1":0.000000,"top5":1.000000'* ]]
}

@test "gsg-eval knn equals an independent numpy vote on overlapping clusters" {
    for kt in "200 0.1" "20 0.07" "1 1"; do
        set -- $kt
        run -0 gsg-eval knn --json -k "$1" -t "$2" --train "$T/ov_train.gsgt" --test "$T/ov_test.gsgt"
        ours=$(printf '%s' "$output" | sed -n 's/.*"top1":\([0-9.]*\),"top5":\([0-9.]*\).*/\1 \2/p')
        ref=$(K=$1 TT=$2 /usr/bin/python3 -c '
import gsgt, numpy as np, os
T = os.environ["BATS_TEST_TMPDIR"]
xb, yb = gsgt.clusters(1500, 12, 8, 1.2, 3); xq, yq = gsgt.clusters(400, 12, 8, 1.2, 4)
print("%.6f %.6f" % gsgt.knn_ref(xb, yb, xq, yq, int(os.environ["K"]), float(os.environ["TT"]), 8))')
        echo "k=$1 T=$2 ours=$ours ref=$ref"
        /usr/bin/python3 -c "
a, b = '$ours'.split(), '$ref'.split()
assert all(abs(float(x) - float(y)) <= 1.01 / 400 for x, y in zip(a, b)), (a, b)
assert 0.2 < float(a[0]) < 1.0"
    done
}

@test "gsg-eval linear: sgd and ridge separate clusters; seeds reproduce" {
    run -0 gsg-eval linear --json --epochs 20 --train "$T/sep_train.gsgt" --test "$T/sep_test.gsgt"
    [[ "$output" == *'"solver":"sgd"'* && "$output" == *'"top1":1.000000'* ]]
    a=$(printf '%s' "$output" | sed 's/"load_seconds.*//')
    run -0 gsg-eval linear --json --epochs 20 --train "$T/sep_train.gsgt" --test "$T/sep_test.gsgt"
    [ "$a" = "$(printf '%s' "$output" | sed 's/"load_seconds.*//')" ]
    run -0 gsg-eval linear --json --solver ridge --train "$T/sep_train.gsgt" --test "$T/sep_test.gsgt"
    [[ "$output" == *'"solver":"ridge"'* && "$output" == *'"top1":1.000000'* ]]
    run -0 gsg-eval linear --train "$T/ov_train.gsgt" --test "$T/ov_test.gsgt" --epochs 5
    [[ "$output" == *"train top-1"* ]]
}

@test "gsg-eval reads pixel images from gsg-augment --plain streams" {
    run -0 gsg-eval knn --json -k 10 --train "$T/img_train.gsgt" --test "$T/img_test.gsgt"
    [[ "$output" == *'"source":"images","dim":16'* ]]
    [[ "$output" == *'"top1":1.000000'* ]]
}

@test "gsg-eval --use projections and stdin input" {
    run -0 gsg-eval knn --json --use projections --train "$T/withproj.gsgt" --test "$T/withproj.gsgt"
    [[ "$output" == *'"source":"projections","dim":6'* ]]
    run -0 gsg-eval knn --json --train "$T/withproj.gsgt" --test "$T/withproj.gsgt"
    [[ "$output" == *'"source":"features","dim":8'* ]]
    run -0 bash -c "cat '$T/sep_test.gsgt' | gsg-eval knn --json --train '$T/sep_train.gsgt' --test -"
    [[ "$output" == *'"top1":1.000000'* ]]
    run -0 gsg-eval knn --json --max-train 100 --max-test 7 --train "$T/sep_train.gsgt" --test "$T/sep_test.gsgt"
    [[ "$output" == *'"train_rows":100,"test_rows":7'* ]]
}

@test "gsg-eval collapse: verdicts for spread and collapsed features" {
    run -0 --separate-stderr gsg-eval collapse "$T/healthy.gsgt"
    [[ "$output" == *"verdict: ok:"* ]]
    [[ "$output" == *"effective rank"* ]]
    run -0 gsg-eval collapse --json "$T/collapsed.gsgt"
    [[ "$output" == *'"verdict":"collapsed"'* ]]
    run -0 gsg-eval collapse --json --test "$T/healthy.gsgt"
    [[ "$output" == *'"verdict":"ok"'* && "$output" == *'"dim":32'* ]]
}

@test "gsg-eval: bad inputs exit 1 with one line naming the file, stdout empty" {
    head -c 300 "$T/sep_train.gsgt" >"$T/trunc.gsgt"
    run -1 --separate-stderr gsg-eval knn --train "$T/trunc.gsgt" --test "$T/sep_test.gsgt"
    [ -z "$output" ]
    [[ "$stderr" == "gsg-eval: "*"trunc.gsgt"* ]]
    [ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
    run -1 --separate-stderr gsg-eval knn --train "$T/nolabel.gsgt" --test "$T/hand_q.gsgt"
    [ -z "$output" ]
    [[ "$stderr" == *"no label"* ]]
    run -1 --separate-stderr gsg-eval knn --train "$T/views.gsgt" --test "$T/hand_q.gsgt"
    [[ "$stderr" == *"views.gsgt: record 0 'views'"*"gsg-augment --plain"* ]]
    run -1 --separate-stderr gsg-eval knn --train "$T/sep_train.gsgt" --test "$T/hand_q.gsgt"
    [[ "$stderr" == *"with 4 values per row"*"with 16"* ]]
    run -1 --separate-stderr gsg-eval collapse "$T/missing.gsgt"
    [[ "$stderr" == "gsg-eval: "*"missing.gsgt"* ]]
    run -1 gsg-eval knn --use projections --train "$T/sep_train.gsgt" --test "$T/sep_test.gsgt"
}

@test "gsg-eval: a full stdout is a write error (exit 1)" {
    run -1 --separate-stderr bash -c "gsg-eval knn --train '$T/sep_train.gsgt' --test '$T/sep_test.gsgt' > /dev/full"
    [[ "$stderr" == *"write error"* ]]
}
