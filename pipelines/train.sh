#!/usr/bin/env bash
# pipelines/train.sh: one training run: gsg-augment | gsg-step, into OUT/.
#   OUT/ckpt.gsgt  the checkpoint     OUT/metrics.jsonl  gsg-step's per-step metrics
#   OUT/run.txt    the settings       OUT/train.log      gsg-step's stderr
#   OUT/epoch_loss.txt  mean loss per epoch
# With --knn-every K, gsg-step's own k-NN monitor evaluates the backbone every K epochs
# and at the end of the schedule on --knn-bank/--knn-test images (the rows of
# metrics.jsonl with knn_top1; OUT/knn_epochs.txt: "epoch top1 top5"): the curve of the
# run itself.
set -euo pipefail
GSG_PROG=train.sh
. "$(dirname "$0")/lib.sh"

usage() {
    cat <<USAGE
Usage: $GSG_PROG [OPTIONS]
  --data D          data set (default fashion-mnist: Debian's copy)
  --recipe R        cifar|fmnist|imagenet (default fmnist)
  --method M        simsiam|byol (default simsiam)
  --gsg on|off      Guided Stop-Gradient (default on)
  --no-predictor    the no-predictor ablation
  --epochs E        epochs (default 10)
  --batch B         images per batch (default 256)
  --seed S          seed (default 0)
  --device D        cpu|cuda (default cpu)
  --limit N         train on the first N images only (default 0 = all)
  --steps N         stop after N steps (the schedule still spans --epochs)
  --threads T       OpenMP threads for gsg-step
  --step-args "..." extra gsg-step options (e.g. "--lr 0.1 --fix-pred-lr")
  --knn-every K     k-NN evaluation every K epochs (0 = none; default 0)
  --knn-bank N      bank images for those evaluations (default 10000)
  --knn-test N      test images for those evaluations (default 2000)
  --minutes M       stop after about M minutes (whole steps; the lr schedule still spans
                    --epochs, so a cut run ends before the cosine reaches 0)
  --out DIR         output directory (default results/train)
  -h, --help        this help
Exit status: 0 success, 1 a tool failed, 2 usage error.
USAGE
}

data=${DATA:-fashion-mnist} recipe=${RECIPE:-fmnist} method=${METHOD:-simsiam} gsg=${GSG:-on} nopred=0
epochs=${EPOCHS:-10} batch=${BATCH:-256} seed=${SEED:-0} device=${DEVICE:-cpu} limit=0 steps=0 threads=""
step_args="" knn_every=0 knn_bank=10000 knn_test=2000 out=${OUT:-results/train} minutes=0
while [ $# -gt 0 ]; do
    case $1 in
        --data) data=$2; shift 2 ;;
        --recipe) recipe=$2; shift 2 ;;
        --method) method=$2; shift 2 ;;
        --gsg) gsg=$2; shift 2 ;;
        --no-predictor) nopred=1; shift ;;
        --epochs) epochs=$2; shift 2 ;;
        --batch) batch=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --device) device=$2; shift 2 ;;
        --limit) limit=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --step-args) step_args=$2; shift 2 ;;
        --knn-every) knn_every=$2; shift 2 ;;
        --knn-bank) knn_bank=$2; shift 2 ;;
        --knn-test) knn_test=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --minutes) minutes=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) gsg_usage_die "unknown option '$1'" ;;
    esac
done
case $gsg in on|1|yes) gsg=on ;; off|0|no) gsg=off ;; *) gsg_usage_die "--gsg: '$gsg' is not on or off" ;; esac
case $method in simsiam|byol) ;; *) gsg_usage_die "--method: '$method' is not simsiam or byol" ;; esac
for v in epochs batch seed limit steps knn_every knn_bank knn_test; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || gsg_usage_die "--${v//_/-}: '${!v}' is not a count"
done
[[ "$minutes" =~ ^[0-9]+([.][0-9]+)?$ ]] || gsg_usage_die "--minutes: '$minutes' is not a number"
[ "$epochs" -ge 1 ] || gsg_usage_die "--epochs must be at least 1"
gsg_need_tools gsg-augment gsg-step gsg-tensor
mkdir -p "$out"
views=2; sargs=(--recipe "$recipe" --method "$method" --epochs "$epochs" --seed "$seed" --device "$device")
[ "$gsg" = on ] && { views=4; sargs+=(--gsg); }
[ "$nopred" = 1 ] && sargs+=(--no-predictor)
[ -n "$threads" ] && sargs+=(--threads "$threads")
# shellcheck disable=SC2206
[ -n "$step_args" ] && sargs+=($step_args)
aargs=(--recipe "$recipe" --views "$views" --batch "$batch" --seed "$seed")
[ "$limit" != 0 ] && aargs+=(--limit "$limit")
{
    echo "data=$data"; echo "recipe=$recipe"; echo "method=$method"; echo "gsg=$gsg"; echo "no_predictor=$nopred"
    echo "epochs=$epochs"; echo "batch=$batch"; echo "seed=$seed"; echo "device=$device"; echo "limit=$limit"
    echo "steps=$steps"; echo "step_args=$step_args"; echo "augment: gsg-augment ${aargs[*]} --epochs E --data $data"
    echo "step: gsg-step ${sargs[*]}"
} >"$out/run.txt"

t0=$(gsg_seconds)
# gsg-augment drops the last partial batch of an epoch
nimg=$(gsg_count_images "$data" "$recipe" "$limit")
spe=$((nimg / batch))
[ "$spe" -ge 1 ] || gsg_die "$nimg training images make no batch of $batch"
sargs+=(--steps-per-epoch "$spe")
echo "images=$nimg" >>"$out/run.txt"; echo "steps_per_epoch=$spe" >>"$out/run.txt"
rm -f "$out/metrics.jsonl" "$out/knn_epochs.txt" "$out/ckpt.gsgt"
total=$((epochs * spe))
[ "$steps" != 0 ] && [ "$steps" -lt "$total" ] && total=$steps
# the k-NN monitor runs inside gsg-step (--knn-every): plain bank and test images, cached
kargs=()
if [ "$knn_every" -gt 0 ]; then
    cache=${GSG_CACHE:-$out/plain}
    mkdir -p "$cache"
    dkey=$(printf '%s' "$data" | cksum | cut -d ' ' -f 1)
    trp="$cache/train_${dkey}_${recipe}_${knn_bank}.gsgt" tep="$cache/test_${dkey}_${recipe}_${knn_test}.gsgt"
    gsg_plain "$data" "$recipe" train "$knn_bank" "$trp"
    gsg_plain "$data" "$recipe" test "$knn_test" "$tep"
    kargs=(--knn-every "$knn_every" --knn-bank "$trp" --knn-test "$tep")
fi
chunk=$total
budget=""
[ "$minutes" != 0 ] && budget=$(awk -v m="$minutes" 'BEGIN { print 60 * m }')
done_steps=0
while [ "$done_steps" -lt "$total" ]; do
    next=$((done_steps + chunk))
    if [ -n "$budget" ]; then
        # a time budget: 2 steps to measure, then as many as the remaining time allows
        if [ "$done_steps" = 0 ]; then next=2; else
            left=$(awk -v b="$budget" -v t0="$t0" -v now="$(gsg_seconds)" -v d="$done_steps" -v t1="$t_first" \
                'BEGIN { per = (now - t1) / (d - 2 > 0 ? d - 2 : 1); if (d == 2) per = (now - t0) / 2;
                         n = int((b - (now - t0)) / per); print (n > 0 ? n : 0) }')
            [ "$left" -gt 0 ] || break
            [ "$next" -gt $((done_steps + left)) ] && next=$((done_steps + left))
        fi
    fi
    [ "$next" -gt "$total" ] && next=$total
    ep=$(((next + spe - 1) / spe))
    resume=()
    [ "$done_steps" -gt 0 ] && resume=(--resume "$out/ckpt.gsgt")
    gsg_log "$GSG_PROG: $method gsg=$gsg steps $((done_steps + 1))..$next of $total (epoch $ep of $epochs) -> $out"
    # gsg-step stops reading at --steps: gsg-augment then ends on SIGPIPE (status 141), which is fine
    set +e
    gsg-augment "${aargs[@]}" --epochs "$ep" --data "$data" 2>>"$out/train.log" |
        gsg-step "${sargs[@]}" "${kargs[@]}" "${resume[@]}" --steps "$next" --ckpt "$out/ckpt.gsgt" \
            --metrics "$out/metrics.part.jsonl" 2>>"$out/train.log"
    ps=("${PIPESTATUS[@]}")
    set -e
    if [ "${ps[1]}" != 0 ] || { [ "${ps[0]}" != 0 ] && [ "${ps[0]}" != 141 ]; }; then
        tail -n 3 "$out/train.log" >&2
        gsg_die "training failed: gsg-augment exit ${ps[0]}, gsg-step exit ${ps[1]} (see $out/train.log)"
    fi
    cat "$out/metrics.part.jsonl" >>"$out/metrics.jsonl"
    rm -f "$out/metrics.part.jsonl"
    [ "$done_steps" = 0 ] && t_first=$(gsg_seconds)
    done_steps=$next
done
if [ "$knn_every" -gt 0 ]; then
    # "epoch top1 top5" per k-NN row of the metrics
    /usr/bin/python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if "knn_top1" in r: print("%g %s %s" % ((r["step"] + 1) / int(sys.argv[2]), r["knn_top1"], r["knn_top5"]))' \
        "$out/metrics.jsonl" "$spe" >"$out/knn_epochs.txt"
    while read -r e a b; do gsg_log "$GSG_PROG: epoch $e: k-NN top-1 $(gsg_pct "$a") % top-5 $(gsg_pct "$b") %"; done <"$out/knn_epochs.txt"
    if [ "$done_steps" -lt "$total" ] && [ "$done_steps" -gt 0 ]; then
        # a run cut short (--minutes, --steps): one more point for where it stopped
        bash "$GSG_ROOT/pipelines/evaluate.sh" --mode knn --ckpt "$out/ckpt.gsgt" --data "$data" --recipe "$recipe" \
            --bank-limit "$knn_bank" --test-limit "$knn_test" --out "$out/knn_epoch" --cache "$cache" \
            --device "$device" >/dev/null
        e_now=$(awk -v d="$done_steps" -v s="$spe" 'BEGIN { printf "%g", d / s }')
        echo "$e_now $(gsg_json top1 "$out/knn_epoch/knn.json") $(gsg_json top5 "$out/knn_epoch/knn.json")" >>"$out/knn_epochs.txt"
        gsg_log "$GSG_PROG: epoch $e_now (run cut short): k-NN top-1 $(gsg_pct "$(gsg_json top1 "$out/knn_epoch/knn.json")") %"
    fi
fi
echo "steps_done=$done_steps" >>"$out/run.txt"
[ -s "$out/ckpt.gsgt" ] || gsg_die "no checkpoint was written"
gsg_epoch_loss "$out/metrics.jsonl" >"$out/epoch_loss.txt"
secs=$(gsg_elapsed "$t0")
echo "seconds=$secs" >>"$out/run.txt"
gsg_log "$GSG_PROG: done in ${secs}s: $out/ckpt.gsgt"
