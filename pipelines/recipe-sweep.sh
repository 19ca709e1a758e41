#!/usr/bin/env bash
# pipelines/recipe-sweep.sh: choose the fmnist recipe on validation data (docs/results.md §2).
# Short SimSiam runs, one per candidate "NAME:LR:LO:HI" (base lr; gsg-augment --crop-scale LO:HI), on
# the first 50,000 training images; the k-NN monitor scores each on the held-out last 10,000 (--val;
# bank = all the others, k = 200, T = 0.1) every --knn-every epochs. The test split is never read.
# Writes OUT/<NAME>/ (train.sh's run folder) and OUT/table.md: one row per candidate, k-NN top-1 per
# scored epoch. Resumable: a finished candidate is kept, an unfinished one continues (--resume).
set -euo pipefail
GSG_PROG=recipe-sweep.sh
. "$(dirname "$0")/lib.sh"

usage() {
    cat <<USAGE
Usage: $GSG_PROG [OPTIONS] [NAME:LR:CROP ...]
  --epochs E       epochs per candidate (default 6)
  --knn-every K    score every K epochs (default 3)
  --method M       simsiam|byol|simclr (default simsiam)   --gsg on|off (default off)
  --seed S         seed (default 0)
  --data D         data set (default fashion-mnist)   --val N  held-out images (default 10000)
  --batch B        batch (default 256)   --step-args "..."  more gsg-step options for every candidate
  --threads T      gsg-step threads
  --out DIR        results (default results/recipe-sweep)
  Candidates (default: the stage-1 grid of docs/results.md §2):
    a:0.03:0.2:1  b:0.1:0.2:1  d:0.1:0.5:1  c:0.3:0.2:1  e:0.03:0.5:1
  -h, --help       this help
Exit status: 0 success, 1 a run failed, 2 usage error.
USAGE
}
epochs=6 every=3 method=simsiam gsg=off seed=0 threads="" out=results/recipe-sweep cands=() data=fashion-mnist val=10000
batch=256 step_args=""
while [ $# -gt 0 ]; do
    case $1 in
        --epochs) epochs=$2; shift 2 ;;
        --knn-every) every=$2; shift 2 ;;
        --method) method=$2; shift 2 ;;
        --gsg) gsg=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --data) data=$2; shift 2 ;;
        --val) val=$2; shift 2 ;;
        --batch) batch=$2; shift 2 ;;
        --step-args) step_args=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        -*) gsg_usage_die "unknown option '$1'" ;;
        *) cands+=("$1"); shift ;;
    esac
done
[ ${#cands[@]} -gt 0 ] || cands=(a:0.03:0.2:1 b:0.1:0.2:1 d:0.1:0.5:1 c:0.3:0.2:1 e:0.03:0.5:1)
for c in "${cands[@]}"; do
    [[ "$c" =~ ^[A-Za-z0-9_.-]+:[0-9.eE-]+:[0-9.]+:[0-9.]+$ ]] || gsg_usage_die "candidate '$c' is not NAME:LR:LO:HI"
done
mkdir -p "$out"
P="$GSG_ROOT/pipelines"
for c in "${cands[@]}"; do
    IFS=: read -r name lr lo hi <<<"$c"
    o="$out/$name"
    mode=()
    [ -e "$o/run.txt" ] && mode=(--resume)
    targs=(--data "$data" --method "$method" --gsg "$gsg" --val "$val" --batch "$batch" --epochs "$epochs" --seed "$seed"
           --knn-every "$every" --knn-bank 0 --knn-test 0 --step-args "--lr $lr${step_args:+ $step_args}" --aug-args "--crop-scale $lo:$hi"
           --out "$o")
    [ -n "$threads" ] && targs+=(--threads "$threads")
    gsg_log "$GSG_PROG: candidate $name: lr $lr, crop scale $lo:$hi"
    bash "$P/train.sh" "${targs[@]}" "${mode[@]}"
done
{
    echo "| candidate | lr | crop scale | k-NN top-1 (val, k=200) per epoch | wall s |"
    echo "|---|---|---|---|---|"
    for c in "${cands[@]}"; do
        IFS=: read -r name lr lo hi <<<"$c"
        k=$(awk '{ printf "%s%g: %.2f %%", (NR > 1 ? ", " : ""), $1, 100 * $2 }' "$out/$name/knn_epochs.txt" 2>/dev/null)
        s=$(sed -n 's/^seconds=//p' "$out/$name/run.txt" 2>/dev/null | tail -1)
        echo "| $name | $lr | $lo:$hi | ${k:--} | ${s:--} |"
    done
} >"$out/table.md"
cat "$out/table.md"
