#!/usr/bin/env bash
# gpu_bench.sh: `make bench-gpu` — our training step against PyTorch's on the same GPU, in one run:
# cifar (ResNet-18, batch 512) and fmnist (width 16, batch 256), SimSiam and SimSiam+GSG;
# ours in fp32 and bf16 (tests/bench/gpu_bench_step.c; no CUDA-graph row: the trainer step stages the GSG
# selection and losses through pageable host memory mid-step, which stream capture cannot record, so
# --graph only ever runs eagerly and is not reported), PyTorch eager fp32,
# eager AMP bf16 (channels_last) and torch.compile (tests/bench/gpu_torch_step.py); the bf16 GEMM rate;
# then the table (tests/bench/gpu_summary.py). Every row runs under a time limit; a row that fails or
# times out is reported as missing, never as a number.
#   gpu_bench.sh [--out DIR] [--steps S] [--warmup W] [--recipes "cifar fmnist"] [--methods "simsiam gsg"]
#                [--compile gsg|all|none] [--dry-run]
# Environment: BUILD (default build), GSG_PYTHON (a python3 with torch; default: the first of
# /usr/bin/python3 and python3 that imports torch with CUDA).
# Exit status: 0 when every row of ours ran, 1 otherwise, 2 usage error.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
out=results/bench-gpu steps=10 warmup=3 recipes="cifar fmnist" methods="simsiam gsg" compile=gsg dry=0
while [ $# -gt 0 ]; do
    case $1 in
        --out) out=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --recipes) recipes=$2; shift 2 ;;
        --methods) methods=$2; shift 2 ;;
        --compile) compile=$2; shift 2 ;;
        --dry-run) dry=1; shift ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu_bench.sh: unknown option '$1'" >&2; echo "Try 'gpu_bench.sh --help'." >&2; exit 2 ;;
    esac
done
case $compile in gsg|all|none) ;; *) echo "gpu_bench.sh: --compile: expected gsg, all or none" >&2; exit 2 ;; esac
mkdir -p "$out"
res="$out/results.txt"
: >"$res"
bin="$BUILD/bench/gpu_bench_step"
py=${GSG_PYTHON:-}
if [ -z "$py" ]; then
    for c in /usr/bin/python3 python3; do
        if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
            py=$c; break
        fi
    done
fi
fail=0
# run LIMIT_S LOG CMD...: one row; its RESULT line (if any) goes to $res
run() {
    local lim=$1 log=$2; shift 2
    if [ "$dry" = 1 ]; then echo "would run (limit ${lim}s): $*"; return 0; fi
    echo "== $*"
    timeout "$lim" "$@" >"$log" 2>&1
    local rc=$?
    tail -n 3 "$log" | sed 's/^/   /'
    grep '^RESULT ' "$log" >>"$res"
    [ $rc -eq 124 ] && echo "   (timed out after ${lim}s)"
    return $rc
}
for r in $recipes; do
    for m in $methods; do
        b=512; [ "$r" = fmnist ] && b=256
        common=(--recipe "$r" --method "$m" --batch "$b" --steps "$steps" --warmup "$warmup")
        run 120 "$out/ours-$r-$m-fp32.log" "$bin" "${common[@]}" --precision fp32 || fail=1
        run 120 "$out/ours-$r-$m-bf16.log" "$bin" "${common[@]}" --precision bf16 || fail=1
        if [ -n "$py" ] || [ "$dry" = 1 ]; then
            for mode in eager amp compile; do
                if [ "$mode" = compile ] && { [ "$compile" = none ] || { [ "$compile" = gsg ] && [ "$m" != gsg ]; }; }; then continue; fi
                lim=120; [ "$mode" = compile ] && lim=300
                run "$lim" "$out/torch-$r-$m-$mode.log" "${py:-python3}" tests/bench/gpu_torch_step.py "${common[@]}" --mode "$mode" || true
            done
        fi
    done
done
if [ -n "$py" ]; then run 60 "$out/gemm.log" "$py" tests/bench/gpu_torch_step.py --gemm || true
elif [ "$dry" = 0 ]; then echo "== PyTorch peer skipped: no python3 with torch and a CUDA device (set GSG_PYTHON)"; fi
[ "$dry" = 1 ] && exit 0
spy=${py:-/usr/bin/python3}
"$spy" tests/bench/gpu_summary.py "$res" | tee "$out/table.md"
exit $fail
