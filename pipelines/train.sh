#!/usr/bin/env bash
# pipelines/train.sh: one training run: gsg-augment | gsg-step, into OUT/.
#   OUT/ckpt.gsgt  the checkpoint, written at the end of every epoch
#   OUT/metrics.jsonl  gsg-step's per-step metrics
#   OUT/run.txt    the settings       OUT/train.log  everything shown on stderr (progress too)
#   OUT/epoch_loss.txt  mean loss per epoch
# An OUT that holds an earlier run is refused unless --resume (RESUME=1: continue it from its
# last checkpoint, same settings) or --force (FORCE=1: replace it).
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
  --method M        simsiam|byol|simclr (default simsiam); simclr: the contrastive baseline
                    (NT-Xent; gsg-step --temperature through --step-args)
  --gsg on|off      Guided Stop-Gradient (default on; with simclr off, and on is refused)
  --no-predictor    the no-predictor ablation
  --epochs E        epochs (default 10)
  --batch B         images per batch (default 256)
  --seed S          seed (default 0)
  --device D        cpu|cuda (default cpu)
  --limit N         train on the first N images only (default 0 = all)
  --val N           hold out the last N training images as a validation split: train on
                    the others; the k-NN monitor's bank is the training part (its first
                    --knn-bank images), its queries the held-out images (the first
                    --knn-test of them); the test split is not read
  --aug-args "..."  extra gsg-augment options for the training views (e.g. "--crop-scale 0.5:1")
  --steps N         stop after N steps (the schedule still spans --epochs)
  --threads T       OpenMP threads for gsg-step
  --step-args "..." extra gsg-step options (e.g. "--lr 0.1 --fix-pred-lr")
  --knn-every K     k-NN evaluation every K epochs (0 = none; default 0)
  --knn-bank N      bank images for those evaluations (default 10000)
  --knn-test N      test images for those evaluations (default 2000)
  --minutes M       stop after about M minutes (whole steps; the lr schedule still spans
                    --epochs, so a cut run ends before the cosine reaches 0)
  --out DIR         output directory (default results/train)
  --resume          continue the run in OUT from its last checkpoint (RESUME=1); a finished
                    run is left as it is
  --force           replace a run already in OUT (FORCE=1)
  -h, --help        this help
Exit status: 0 success, 1 a tool failed, 2 usage error.
USAGE
}

data=${DATA:-fashion-mnist} recipe=${RECIPE:-fmnist} method=${METHOD:-simsiam} gsg=${GSG:-} nopred=0
epochs=${EPOCHS:-10} batch=${BATCH:-256} seed=${SEED:-0} device=${DEVICE:-cpu} limit=0 steps=0 threads=""
step_args="" aug_args="" val=0 knn_every=0 knn_bank=10000 knn_test=2000 out=${OUT:-results/train} minutes=0
resume=${RESUME:-0} force=${FORCE:-0}
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
        --val) val=$2; shift 2 ;;
        --aug-args) aug_args=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --step-args) step_args=$2; shift 2 ;;
        --knn-every) knn_every=$2; shift 2 ;;
        --knn-bank) knn_bank=$2; shift 2 ;;
        --knn-test) knn_test=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --minutes) minutes=$2; shift 2 ;;
        --resume) resume=1; shift ;;
        --force) force=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) gsg_usage_die "unknown option '$1'" ;;
    esac
done
case $method in simsiam|byol|simclr) ;; *) gsg_usage_die "--method: '$method' is not simsiam, byol or simclr" ;; esac
# GSG chooses stop-gradient targets: SimSiam and BYOL have them (default on), SimCLR has none
[ -n "$gsg" ] || { [ "$method" = simclr ] && gsg=off || gsg=on; }
case $gsg in on|1|yes) gsg=on ;; off|0|no) gsg=off ;; *) gsg_usage_die "--gsg: '$gsg' is not on or off" ;; esac
[ "$method$gsg" != simclron ] ||
    gsg_usage_die "--gsg on: Guided Stop-Gradient does not apply to --method simclr (leave --gsg out, or give --gsg off)"
for v in epochs batch seed limit val steps knn_every knn_bank knn_test; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || gsg_usage_die "--${v//_/-}: '${!v}' is not a count"
done
[[ "$minutes" =~ ^[0-9]+([.][0-9]+)?$ ]] || gsg_usage_die "--minutes: '$minutes' is not a number"
[ "$epochs" -ge 1 ] || gsg_usage_die "--epochs must be at least 1"
case $resume in 0|1) ;; *) gsg_usage_die "RESUME=$resume: expected 0 or 1" ;; esac
case $force in 0|1) ;; *) gsg_usage_die "FORCE=$force: expected 0 or 1" ;; esac
[ "$resume$force" != 11 ] || gsg_usage_die "--resume and --force exclude each other"
gsg_need_tools gsg-augment gsg-step gsg-tensor
mkdir -p "$out"
views=2; sargs=(--recipe "$recipe" --method "$method" --epochs "$epochs" --seed "$seed" --device "$device" --progress)
[ "$gsg" = on ] && { views=4; sargs+=(--gsg); }
[ "$nopred" = 1 ] && sargs+=(--no-predictor)
[ -n "$threads" ] && sargs+=(--threads "$threads")
aargs=(--recipe "$recipe" --views "$views" --batch "$batch" --seed "$seed")
if [ "$val" != 0 ]; then
    [ "$limit" = 0 ] || gsg_usage_die "--val and --limit exclude each other"
    ntotal=$(gsg_count_images "$data" "$recipe" 0)
    [ "$val" -lt "$ntotal" ] || gsg_usage_die "--val $val: the data set has $ntotal training images"
    ntrain=$((ntotal - val))
    limit=0:$ntrain   # gsg-augment --range
    aargs+=(--range "$limit")
elif [ "$limit" != 0 ]; then
    aargs+=(--limit "$limit")
fi
# shellcheck disable=SC2206
[ -n "$aug_args" ] && aargs+=($aug_args)
# the settings that make a run (a resumed run must have the same ones)
settings=$(printf '%s\n' "data=$data" "recipe=$recipe" "method=$method" "gsg=$gsg" "no_predictor=$nopred" "epochs=$epochs" \
    "batch=$batch" "seed=$seed" "device=$device" "limit=$limit" "step_args=$step_args" "val=$val" "aug_args=$aug_args")
prev_secs=0 done_steps=0
if [ -e "$out/ckpt.gsgt" ] || [ -e "$out/metrics.jsonl" ] || [ -e "$out/metrics.part.jsonl" ] || [ -e "$out/run.txt" ]; then
    if [ "$force" = 1 ]; then
        rm -f "$out/ckpt.gsgt" "$out/metrics.jsonl" "$out/metrics.part.jsonl" "$out/knn_epochs.txt" "$out/epoch_loss.txt" \
            "$out/run.txt" "$out/train.log"
        rm -rf "$out/knn_epoch"
    elif [ "$resume" = 1 ]; then
        old=$(grep -E '^(data|recipe|method|gsg|no_predictor|epochs|batch|seed|device|limit|step_args|val|aug_args)=' "$out/run.txt" 2>/dev/null || true)
        if [ -n "$old" ] && [ "$old" != "$settings" ]; then
            gsg_die "--resume: $out was run with other settings ($(diff <(echo "$old") <(echo "$settings") | sed -n 's/^< //p' | tr '\n' ' ')): give them again, or --force / FORCE=1 to replace the run"
        fi
        if [ -s "$out/ckpt.gsgt" ]; then
            done_steps=$(gsg_ckpt_step "$out/ckpt.gsgt")
            [[ "$done_steps" =~ ^[0-9]+$ ]] || gsg_die "$out/ckpt.gsgt: no step= in its gsg.state"
        fi
        prev_secs=$(sed -n 's/^seconds=//p' "$out/run.txt" 2>/dev/null | tail -n 1)
        prev_secs=${prev_secs:-0}
        # the metrics of the steps the checkpoint holds, from the finished chunks and an interrupted one
        { cat "$out/metrics.jsonl" 2>/dev/null || true; cat "$out/metrics.part.jsonl" 2>/dev/null || true; } |
            awk -v n="$done_steps" 'match($0, /^\{"step":[0-9]+,/) { s = substr($0, 9, RLENGTH - 9) + 0
                                       if (s < n && !(s in seen) && /\}$/) { seen[s] = 1; print } }' >"$out/metrics.keep"
        mv "$out/metrics.keep" "$out/metrics.jsonl"
        rm -f "$out/metrics.part.jsonl"
    else
        gsg_die "$out holds an earlier run (ckpt.gsgt, metrics.jsonl, run.txt): --resume (RESUME=1) continues it, --force (FORCE=1) replaces it, or give another --out"
    fi
fi
# everything on stderr from here on, progress lines included, also goes to train.log
exec 4>&2 2> >(exec tee -i -a "$out/train.log" >&4)
tee_pid=$!
trap 'exec 2>&4; wait "$tee_pid" 2>/dev/null || true' EXIT
if [ "$done_steps" -gt 0 ]; then
    gsg_log "$GSG_PROG: resuming $out from its checkpoint at step $done_steps"
    kept=$(wc -l <"$out/metrics.jsonl")
    [ "$kept" -lt "$done_steps" ] &&
        gsg_log "$GSG_PROG: metrics.jsonl has $kept of the $done_steps steps before the checkpoint: the others were lost with the interrupted run"
fi
[ "$resume" = 1 ] && [ "$done_steps" = 0 ] && gsg_log "$GSG_PROG: $out has no checkpoint yet: starting at step 0"
{
    echo "$settings"
    echo "steps=$steps"; echo "augment: gsg-augment ${aargs[*]} --epochs E --data $data"
    echo "step: gsg-step ${sargs[*]} $step_args"
} >"$out/run.txt"

t0=$(gsg_seconds)
# gsg-augment drops the last partial batch of an epoch
nimg=$(gsg_count_images "$data" "$recipe" "$limit")
spe=$((nimg / batch))
[ "$spe" -ge 1 ] || gsg_die "$nimg training images make no batch of $batch"
# a checkpoint at the end of every epoch (and at the end)
sargs+=(--steps-per-epoch "$spe" --save-every "$spe")
# shellcheck disable=SC2206
[ -n "$step_args" ] && sargs+=($step_args)
echo "images=$nimg" >>"$out/run.txt"; echo "steps_per_epoch=$spe" >>"$out/run.txt"
rm -f "$out/knn_epochs.txt"
total=$((epochs * spe))
[ "$steps" != 0 ] && [ "$steps" -lt "$total" ] && total=$steps
[ "$done_steps" -le $((epochs * spe)) ] || gsg_die "$out/ckpt.gsgt is at step $done_steps, past the $((epochs * spe)) steps of the schedule"
[ "$done_steps" -ge "$total" ] && [ "$done_steps" -gt 0 ] && gsg_log "$GSG_PROG: $out is at step $done_steps of $total already: nothing to train"
# the k-NN monitor runs inside gsg-step (--knn-every): plain bank and test images, cached
kargs=()
if [ "$knn_every" -gt 0 ]; then
    cache=${GSG_CACHE:-$out/plain}
    mkdir -p "$cache"
    dkey=$(printf '%s' "$data" | cksum | cut -d ' ' -f 1)
    if [ "$val" != 0 ]; then
        # validation: the bank from the training part, the queries from the held-out images
        bank=$([ "$knn_bank" -gt 0 ] && [ "$knn_bank" -lt "$ntrain" ] && echo "$knn_bank" || echo "$ntrain")
        nq=$([ "$knn_test" -gt 0 ] && [ "$knn_test" -lt "$val" ] && echo "$knn_test" || echo "$val")
        trp="$cache/train_${dkey}_${recipe}_0-${bank}.gsgt" tep="$cache/val_${dkey}_${recipe}_${ntrain}-$((ntrain + nq)).gsgt"
        gsg_plain "$data" "$recipe" train "0:$bank" "$trp"
        gsg_plain "$data" "$recipe" train "$ntrain:$((ntrain + nq))" "$tep"
    else
        trp="$cache/train_${dkey}_${recipe}_${knn_bank}.gsgt" tep="$cache/test_${dkey}_${recipe}_${knn_test}.gsgt"
        gsg_plain "$data" "$recipe" train "$knn_bank" "$trp"
        gsg_plain "$data" "$recipe" test "$knn_test" "$tep"
    fi
    kargs=(--knn-every "$knn_every" --knn-bank "$trp" --knn-test "$tep")
fi
chunk=$total
budget=""
[ "$minutes" != 0 ] && budget=$(awk -v m="$minutes" 'BEGIN { print 60 * m }')
s0=$done_steps   # the steps done before this invocation
while [ "$done_steps" -lt "$total" ]; do
    next=$((done_steps + chunk))
    if [ -n "$budget" ]; then
        # a time budget: 2 steps to measure, then as many as the remaining time allows
        if [ "$done_steps" = "$s0" ]; then next=$((s0 + 2)); else
            left=$(awk -v b="$budget" -v t0="$t0" -v now="$(gsg_seconds)" -v d="$((done_steps - s0))" -v t1="$t_first" \
                'BEGIN { per = (now - t1) / (d - 2 > 0 ? d - 2 : 1); if (d == 2) per = (now - t0) / 2;
                         n = int((b - (now - t0)) / per); print (n > 0 ? n : 0) }')
            [ "$left" -gt 0 ] || break
            [ "$next" -gt $((done_steps + left)) ] && next=$((done_steps + left))
        fi
    fi
    [ "$next" -gt "$total" ] && next=$total
    ep=$(((next + spe - 1) / spe))
    resume_args=()
    [ "$done_steps" -gt 0 ] && resume_args=(--resume "$out/ckpt.gsgt")
    gsg_log "$GSG_PROG: $method gsg=$gsg steps $((done_steps + 1))..$next of $total (epoch $ep of $epochs) -> $out"
    # gsg-step stops reading at --steps: gsg-augment then ends on SIGPIPE (status 141), which is fine
    set +e
    gsg-augment "${aargs[@]}" --epochs "$ep" --data "$data" |
        gsg-step "${sargs[@]}" "${kargs[@]}" "${resume_args[@]}" --steps "$next" --ckpt "$out/ckpt.gsgt" \
            --metrics "$out/metrics.part.jsonl"
    ps=("${PIPESTATUS[@]}")
    set -e
    if [ "${ps[1]}" != 0 ] || { [ "${ps[0]}" != 0 ] && [ "${ps[0]}" != 141 ]; }; then
        at=$( [ -s "$out/ckpt.gsgt" ] && gsg_ckpt_step "$out/ckpt.gsgt" || echo 0)
        gsg_die "training failed: gsg-augment exit ${ps[0]}, gsg-step exit ${ps[1]} (see $out/train.log); the checkpoint is at step ${at:-0}: RESUME=1 (--resume) continues from there"
    fi
    cat "$out/metrics.part.jsonl" >>"$out/metrics.jsonl"
    rm -f "$out/metrics.part.jsonl"
    [ "$done_steps" = "$s0" ] && t_first=$(gsg_seconds)
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
    if [ "$done_steps" -lt "$total" ] && [ "$done_steps" -gt 0 ] && [ "$val" != 0 ]; then
        gsg_log "$GSG_PROG: the run was cut short at step $done_steps: RESUME=1 (--resume) continues it to its next k-NN point"
    elif [ "$done_steps" -lt "$total" ] && [ "$done_steps" -gt 0 ]; then
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
secs=$(awk -v a="$prev_secs" -v b="$(gsg_elapsed "$t0")" 'BEGIN { printf "%.1f", a + b }')
echo "seconds=$secs" >>"$out/run.txt"
gsg_log "$GSG_PROG: done in ${secs}s: $out/ckpt.gsgt"
