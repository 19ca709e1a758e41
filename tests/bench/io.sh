#!/usr/bin/env bash
# tests/bench/io.sh: MB/s of our stream writer and reader next to the zstd CLI on the same bytes,
# at the same level, both through pipes. MB = 1e6 bytes of uncompressed data.
set -euo pipefail
B=${BENCH_IO:?set BENCH_IO to the bench_io binary}
SIZE=${BENCH_IO_BYTES:-1073741824}
LEVEL=${BENCH_IO_LEVEL:-1}
WORKERS=${BENCH_IO_WORKERS:-0}
command -v zstd >/dev/null || { echo "bench-io: the zstd CLI is missing (apt-get install zstd)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gsg-bench-io.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

secs() {   # run a pipeline (one string); print "wall cpu" seconds (cpu = user + sys of the whole pipeline)
    local TIMEFORMAT='%R %U %S' t
    t=$( { time bash -o pipefail -c "$1" 2>/dev/null; } 2>&1 ) || { echo "bench-io: failed: $1" >&2; exit 1; }
    awk '{ printf "%.3f %.3f", $1, $2 + $3 }' <<<"$t"
}
mbs() { awk -v n="$SIZE" -v s="$1" 'BEGIN { printf "%.0f", n / s / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }   # time_zstd / time_ours = speed ratio
row() {   # kind op "wall cpu"(ours) "wall cpu"(zstd) [note]
    local ow oc zw zc
    read -r ow oc <<<"$3"; read -r zw zc <<<"$4"
    printf '%-5s %-6s %9s %9s %6sx   %9s %9s %6sx  %s\n' "$1" "$2" "$(mbs "$ow")" "$(mbs "$zw")" "$(ratio "$ow" "$zw")" \
        "$(mbs "$oc")" "$(mbs "$zc")" "$(ratio "$oc" "$zc")" "${5:-}"
}

echo "bench-io: $SIZE bytes per kind, zstd level $LEVEL, writer workers $WORKERS, through pipes; load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-5s %-6s %9s %9s %7s   %9s %9s %7s  %s\n' kind op "gsg" "zstd" ratio "gsg/cpu" "zstd/cpu" ratio "(stream bytes gsg / zstd)"
for kind in u8 f32; do
    "$B" gen "$kind" "$SIZE" > "$tmp/raw"
    cat "$tmp/raw" > /dev/null   # page cache
    tw=$(secs "cat '$tmp/raw' | '$B' write $kind $LEVEL $WORKERS | cat > '$tmp/s.gsgt'")
    zw=$(secs "cat '$tmp/raw' | zstd -$LEVEL -q -c | cat > '$tmp/s.zst'")
    tr=$(secs "cat '$tmp/s.gsgt' | '$B' read")
    zr=$(secs "cat '$tmp/s.zst' | zstd -d -q -c > /dev/null")
    row "$kind" write "$tw" "$zw" "($(stat -c %s "$tmp/s.gsgt") / $(stat -c %s "$tmp/s.zst"))"
    row "$kind" read "$tr" "$zr"
    rm -f "$tmp/raw" "$tmp/s.gsgt" "$tmp/s.zst"
done
echo "MB/s of uncompressed data: by wall clock, then by CPU seconds of the whole pipeline incl. cat (steadier on a shared machine)"
echo "goal: every ratio >= 0.90 (gsg at least 0.9x the zstd CLI); u8 read >= 1000 MB/s on one core"
