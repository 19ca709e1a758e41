#!/usr/bin/env bash
# pipelines/lib.sh: helpers sourced by the other pipeline scripts (not run directly).
# Finds the tools ($GSG_BIN, else $BUILD/bin, else build/bin, else PATH), logs with
# timestamps on stderr, reads numbers out of gsg-eval --json lines and metrics files.

GSG_ROOT=${GSG_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
if [ -z "${GSG_BIN:-}" ]; then
    if [ -x "$GSG_ROOT/${BUILD:-build}/bin/gsg-step" ]; then GSG_BIN="$GSG_ROOT/${BUILD:-build}/bin"
    elif [ -x "$GSG_ROOT/build/bin/gsg-step" ]; then GSG_BIN="$GSG_ROOT/build/bin"
    else GSG_BIN=""; fi
fi
[ -n "$GSG_BIN" ] && export PATH="$GSG_BIN:$PATH"
export GSG_ROOT GSG_BIN

gsg_log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
gsg_die() { printf '%s: %s\n' "${GSG_PROG:-pipeline}" "$*" >&2; exit 1; }
gsg_usage_die() { printf '%s: %s\nTry '\''%s --help'\''.\n' "${GSG_PROG:-pipeline}" "$*" "${GSG_PROG:-pipeline}" >&2; exit 2; }

gsg_need_tools() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || gsg_die "$t not found (run 'make' first, or set GSG_BIN)"
    done
}

# gsg_gnuplot: run the gnuplot script on stdin after the preamble every plot here shares (PNG,
# pngcairo where this gnuplot has it, 900x560, the key outside, a grid). Logs and returns 1 when
# gnuplot is missing (pipelines/deps.sh installs gnuplot-nox) or fails: the .dat files stay.
gsg_gnuplot() {
    local term=png
    if ! command -v gnuplot >/dev/null 2>&1; then
        cat >/dev/null
        gsg_log "${GSG_PROG:-gsg}: gnuplot not found (pipelines/deps.sh installs gnuplot-nox): no plots"
        return 1
    fi
    gnuplot -e 'set terminal' </dev/null 2>&1 | grep -q pngcairo && term=pngcairo   # not the plot script on stdin
    { printf 'set terminal %s size 900,560 noenhanced\nset key outside right\nset grid\n' "$term"; cat; } | gnuplot ||
        { gsg_log "${GSG_PROG:-gsg}: gnuplot failed; the .dat files are there"; return 1; }
}

# gsg_json KEY [FILE]: the value of "KEY" in a one-line JSON object (first line of FILE or stdin).
gsg_json() {
    local key=$1
    shift
    head -n 1 "$@" | sed -n "s/.*\"$key\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

# gsg_pct X: a fraction as a percentage with two decimals.
gsg_pct() { awk -v x="$1" 'BEGIN { if (x == "") print "-"; else printf "%.2f", 100 * x }'; }

# gsg_epoch_loss METRICS: "epoch mean_loss" per epoch (1-based) from gsg-step's JSON lines.
gsg_epoch_loss() {
    sed -n 's/.*"epoch":\([0-9]*\),"loss":\([-0-9.eE+]*\).*/\1 \2/p' "$1" |
        awk '{ s[$1] += $2; n[$1]++ } END { for (e in s) printf "%d %.6f\n", e + 1, s[e] / n[e] }' | sort -n
}

# gsg_epoch_ranks METRICS: "epoch erank_z erank_h" per epoch (1-based; the epoch's means) from gsg-step's
# JSON lines: the effective rank of the projections z and of the backbone features h.
gsg_epoch_ranks() {
    sed -n 's/.*"epoch":\([0-9]*\),.*"erank_z":\([-0-9.eE+]*\),"erank_h":\([-0-9.eE+]*\).*/\1 \2 \3/p' "$1" |
        awk '{ z[$1] += $2; h[$1] += $3; n[$1]++ } END { for (e in n) printf "%d %.4f %.4f\n", e + 1, z[e] / n[e], h[e] / n[e] }' | sort -n
}

# gsg_mean_std VALUES...: "mean std n" (sample std, 0 for one value).
gsg_mean_std() {
    printf '%s\n' "$@" | awk 'NF { x[n++] = $1; s += $1 } END {
        if (n == 0) { print "- - 0"; exit }
        m = s / n; v = 0; for (i = 0; i < n; i++) v += (x[i] - m) ^ 2
        printf "%.6f %.6f %d\n", m, (n > 1 ? sqrt(v / (n - 1)) : 0), n }'
}

gsg_seconds() { date +%s.%N; }
gsg_elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# gsg_plain DATA RECIPE SPLIT LIMIT OUT: the deterministic eval images of a split
# (train|test; LIMIT: 0 = all, N = the first N, A:B = images A <= i < B) as a stream file,
# made once and reused (keyed by its name).
gsg_plain() {
    local data=$1 recipe=$2 split=$3 limit=$4 out=$5
    if [ -s "$out" ]; then return 0; fi
    local args=(--plain --recipe "$recipe" --split "$split" --data "$data")
    gsg_limit_args "$limit"
    gsg-augment "${args[@]}" "${GSG_LIMIT_ARGS[@]}" -o "$out"
}

# gsg_limit_args LIMIT: GSG_LIMIT_ARGS=(the gsg-augment options of LIMIT: 0, N or A:B)
gsg_limit_args() {
    GSG_LIMIT_ARGS=()
    case $1 in
        0) ;;
        *:*) GSG_LIMIT_ARGS=(--range "$1") ;;
        *) GSG_LIMIT_ARGS=(--limit "$1") ;;
    esac
}

# gsg_count_images DATA RECIPE LIMIT: number of training images gsg-augment will use
# (min(LIMIT, size) with LIMIT 0 = all), counted from one uncompressed --plain pass.
gsg_count_images() {
    local data=$1 recipe=$2 limit=$3
    gsg_limit_args "$limit"
    gsg-augment --plain --recipe "$recipe" --split train --data "$data" --level 0 "${GSG_LIMIT_ARGS[@]}" |
        gsg-tensor info --name label - | awk 'NR > 1 { gsub(/[\[\]]/, "", $5); n += $5 } END { print n + 0 }'
}

# gsg_ckpt_text CKPT RECORD: the key=value text of a checkpoint record (gsg.config, gsg.state).
gsg_ckpt_text() {
    gsg-tensor to-npy --name "$2" -o - "$1" | /usr/bin/python3 -c 'import sys, numpy as np, io
sys.stdout.write(np.load(io.BytesIO(sys.stdin.buffer.read())).tobytes().decode())'
}

# gsg_ckpt_step CKPT: the number of steps a checkpoint has done (gsg.state step=).
gsg_ckpt_step() { gsg_ckpt_text "$1" gsg.state | sed -n 's/^step=//p'; }

# gsg_ckpt_model CKPT: "arch wWIDTH" from a checkpoint's gsg.config (e.g. "resnet18 w16").
gsg_ckpt_model() {
    gsg_ckpt_text "$1" gsg.config | awk -F= '$1 == "arch" { a = $2 } $1 == "width" { w = $2 } END { print a " w" w }'
}
