#!/usr/bin/env bats
# Crash safety (issue 10): a training run (gsg-step --ckpt --save-every 2, tiny network) is killed
# with SIGKILL at random moments, several times, once right when a checkpoint's temporary file
# appears (during the write). After each kill the previous checkpoint is intact (it loads); the next
# start removes the stale temporaries of that output; and resuming to the end gives the same
# checkpoint bytes as an uninterrupted run, at the default thread count.
# Needs issue 10's afile fix (stale .tmp cleanup) and the bit-exact resume at the default threads.
bats_require_minimum_version 1.5.0

setup_file() {
    D=$(mktemp -d "${BATS_RUN_TMPDIR:-/tmp}/gsg-crash.XXXXXX")
    export GSG_CRASH_FIX=$D
    mkdir -p "$D/data"
    /usr/bin/python3 - "$D/data" <<'PY'
import numpy as np, struct, sys
g = np.random.default_rng(0)
n = 48
im = g.integers(0, 255, (n, 28, 28)).astype('u1')
open(sys.argv[1] + '/train-images-idx3-ubyte', 'wb').write(struct.pack('>IIII', 0x803, n, 28, 28) + im.tobytes())
open(sys.argv[1] + '/train-labels-idx1-ubyte', 'wb').write(struct.pack('>II', 0x801, n) + (np.arange(n) % 4).astype('u1').tobytes())
PY
    # 3 epochs of 6 batches of 8 images, 4 views
    gsg-augment --data "$D/data" --views 4 --batch 8 --epochs 3 --seed 3 --threads 1 -o "$D/views.gsgt"
}

teardown_file() {
    rm -rf "$GSG_CRASH_FIX"
}

STEP=(gsg-step --recipe fmnist --gsg --width 4 --proj-dim 16 --pred-dim 8 --lr 0.05 --epochs 3 --save-every 2)

@test "crash: SIGKILL at random moments and during a checkpoint write; checkpoint intact, temporaries cleaned, resume bit-exact" {
    D=$GSG_CRASH_FIX
    T=$BATS_TEST_TMPDIR
    run -0 "${STEP[@]}" -i "$D/views.gsgt" --ckpt "$T/full.gsgt"
    mkdir -p "$T/run"
    ck=$T/run/ckpt.gsgt
    RANDOM=$$
    for round in 1 2 3 4 5; do
        resume=()
        [ -e "$ck" ] && resume=(--resume "$ck")
        "${STEP[@]}" -i "$D/views.gsgt" --ckpt "$ck" "${resume[@]}" 2>"$T/err.$round" &
        pid=$!
        if [ "$round" -eq 3 ] || [ "$round" -eq 5 ]; then
            # kill while a checkpoint is being written: as soon as a new temporary appears
            old=$(compgen -G "$ck.tmp.*" | sort | tr '\n' ' ' || true)
            for _ in $(seq 1 6000); do
                now=$(compgen -G "$ck.tmp.*" | sort | tr '\n' ' ' || true)
                [ "$now" != "$old" ] && [ -n "$now" ] && break
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.005
            done
        else
            sleep "$((RANDOM % 3 + 1)).$((RANDOM % 10))"
        fi
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" || true
        echo "round $round: $(ls "$T/run" | tr '\n' ' ')"
        # whatever checkpoint exists is a complete one that loads
        if [ -e "$ck" ]; then
            run -0 gsg-tensor info "$ck"
        fi
    done
    stale=$(compgen -G "$ck.tmp.*" || true)
    if [ -z "$stale" ]; then
        # no kill landed inside a write this time: leave what such a kill leaves, half a temporary
        # named as lib/core/afile.c names them (PATH.tmp.HOST-PID.XXXXXX), with a pid that is gone
        bash -c 'exit 0' & dead=$!; wait "$dead"
        stale=$ck.tmp.$(hostname | tr -c 'A-Za-z0-9_\n' '_' | cut -c1-32)-$dead.Kx9q2Z
        [ -e "$ck" ] && head -c $(($(stat -c %s "$ck") / 2)) "$ck" >"$stale" || : >"$stale"
    fi
    echo "stale before the last start: $stale"
    resume=()
    [ -e "$ck" ] && resume=(--resume "$ck")
    run -0 "${STEP[@]}" -i "$D/views.gsgt" --ckpt "$ck" "${resume[@]}"
    cmp "$T/full.gsgt" "$ck"
    # the last start removed the temporaries the killed runs left
    [ -z "$(compgen -G "$ck.tmp.*" || true)" ]
}
