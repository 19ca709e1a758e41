#!/usr/bin/env bash
# bench_augment.sh BUILD: `make bench-augment`. Views per second of the cifar recipe (32x32) and
# the imagenet recipe (a folder of 500x375 JPEGs, 224 crops), 1 and 2 threads, the library alone
# and gsg-augment end to end (stream written to /dev/null), and torchvision's transforms on the
# same images in the same run, as ratios. BENCH_AUGMENT_ARGS passes options to bench_augment.
set -euo pipefail
BUILD=${1:-build}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
out=$dir/results.txt
echo "== gsg augmentation (library: decode + augment, 2 views per image)"
"$BUILD/bench/bench_augment" "$dir/data" ${BENCH_AUGMENT_ARGS:-} | tee "$out"
echo "== gsg-augment end to end (--views 2 --batch 256, zstd level 1 to /dev/null)"
for t in 1 2; do
    t0=$(date +%s.%N)
    "$BUILD/bin/gsg-augment" --data "$dir/data/data_batch_1.bin" --views 2 --batch 256 --threads $t > /dev/null
    t1=$(date +%s.%N)
    n=$(( $(stat -c %s "$dir/data/data_batch_1.bin") / 3073 / 256 * 256 * 2 ))
    awk -v n=$n -v a=$t0 -v b=$t1 -v t=$t 'BEGIN { printf "tool-cifar threads=%d views_per_s=%.0f\n", t, n / (b - a) }' | tee -a "$out"
done
if /usr/bin/python3 -c 'import torchvision' 2>/dev/null; then
    echo "== torchvision $(/usr/bin/python3 -c 'import torchvision; print(torchvision.__version__)') on the same images (1 process, 1 thread)"
    /usr/bin/python3 tests/bench/bench_augment_tv.py "$dir/data" | tee -a "$out"
    echo "== ratios (gsg / torchvision; 2 threads vs two ideal torchvision workers = 2x its 1-process rate)"
    awk '
        /^cifar threads=1/ { split($3, a, "="); c1 = a[2] } /^cifar threads=2/ { split($3, a, "="); c2 = a[2] }
        /^jpeg threads=1/ { split($3, a, "="); j1 = a[2] } /^jpeg threads=2/ { split($3, a, "="); j2 = a[2] }
        /^tool-cifar threads=2/ { split($3, a, "="); e2 = a[2] }
        /^torchvision cifar/ { split($3, a, "="); tc = a[2] } /^torchvision jpeg/ { split($3, a, "="); tj = a[2] }
        END {
            printf "cifar 1 thread : %8.0f vs %8.0f views/s  ratio %.1fx (goal >= 5x)\n", c1, tc, c1 / tc
            printf "cifar 2 threads: %8.0f vs %8.0f views/s  ratio %.1fx (goal >= 20000 views/s, >= 5x)\n", c2, 2 * tc, c2 / (2 * tc)
            printf "cifar end to end, 2 threads: %.0f views/s\n", e2
            printf "jpeg  1 thread : %8.1f vs %8.1f views/s  ratio %.1fx (goal >= 2x)\n", j1, tj, j1 / tj
            printf "jpeg  2 threads: %8.1f vs %8.1f views/s  ratio %.1fx\n", j2, 2 * tj, j2 / (2 * tj)
        }' "$out"
else
    echo "== torchvision not installed: no ratios (apt install python3-torchvision)"
fi
