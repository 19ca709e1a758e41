#!/usr/bin/env bash
# pipelines/demo.sh: the demo (make demo, at most ~15 minutes on 2 cores). Trains SimSiam with the
# fmnist recipe at the base lr the recipe sweep chose (docs/results.md §2) on all of Debian's
# Fashion-MNIST on the CPU, with the k-NN monitor after every epoch, then compares on the same test
# images, with the same k-NN (k=200, T=0.1, the first --bank training images as the bank):
#   this run  |  a randomly initialised encoder of the same architecture  |  raw pixels
# says after which epoch (if any) the run passed the random encoder, and shows the long runs'
# table from docs/results.md beside it (read from the file, with the command that reproduces it).
# Writes OUT/ (default results/demo): table.md, the run's checkpoint and metrics, each row's JSON.
set -euo pipefail
GSG_PROG=demo.sh
. "$(dirname "$0")/lib.sh"
T_START=${GSG_DEMO_T0:-$(gsg_seconds)}

usage() {
    cat <<USAGE
Usage: $GSG_PROG [OPTIONS]
  --data D        data set (default fashion-mnist)
  --method M      simsiam|byol|simclr (default ${DEMO_METHOD:-simsiam})   --gsg on|off (default ${DEMO_GSG:-off})
  --lr LR         base lr (default ${DEMO_LR:-0.1}, the recipe sweep's choice)
  --limit N       training images (default ${DEMO_LIMIT:-0} = all 60,000)
  --epochs E      planned epochs: the lr schedule (default ${DEMO_EPOCHS:-4})
  --minutes M     training time budget: stop after about M minutes (default ${DEMO_MINUTES:-12};
                  0 = run all planned epochs)
  --batch B       batch (default ${DEMO_BATCH:-256})
  --bank N        k-NN bank: the first N training images (default ${DEMO_BANK:-10000})
  --test N        test images: the first N of the test split (default ${DEMO_TEST:-5000})
  --seed S        seed (default 0)
  --device D      cpu|cuda (default cpu)
  --out DIR       results directory (default results/demo)
  -h, --help      this help
Environment: DEMO_METHOD, DEMO_GSG, DEMO_LR, DEMO_LIMIT, DEMO_EPOCHS, DEMO_MINUTES, DEMO_BATCH,
DEMO_BANK, DEMO_TEST set the defaults.
Exit status: 0 success, 1 a step failed, 2 usage error.
USAGE
}
data=${DATA:-fashion-mnist} method=${DEMO_METHOD:-simsiam} gsg=${DEMO_GSG:-off} lr=${DEMO_LR:-0.1}
limit=${DEMO_LIMIT:-0} epochs=${DEMO_EPOCHS:-4} batch=${DEMO_BATCH:-256}
bank=${DEMO_BANK:-10000} test=${DEMO_TEST:-5000} minutes=${DEMO_MINUTES:-12} seed=${SEED:-0} device=${DEVICE:-cpu} out=${OUT:-results/demo}
while [ $# -gt 0 ]; do
    case $1 in
        --data) data=$2; shift 2 ;;
        --method) method=$2; shift 2 ;;
        --gsg) gsg=$2; shift 2 ;;
        --lr) lr=$2; shift 2 ;;
        --limit) limit=$2; shift 2 ;;
        --epochs) epochs=$2; shift 2 ;;
        --minutes) minutes=$2; shift 2 ;;
        --batch) batch=$2; shift 2 ;;
        --bank) bank=$2; shift 2 ;;
        --test) test=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --device) device=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) gsg_usage_die "unknown option '$1'" ;;
    esac
done
gsg_need_tools gsg-augment gsg-step gsg-encode gsg-eval
mkdir -p "$out"
cache="$out/plain"
P="$GSG_ROOT/pipelines"

name=$(case $method in simsiam) echo SimSiam ;; byol) echo BYOL ;; *) echo SimCLR ;; esac)$([ "$gsg" = on ] && echo +GSG || true)
nimg=$([ "$limit" = 0 ] && echo "all" || echo "$limit")
gsg_log "demo: 1/4 training $name (fmnist recipe, base lr $lr): $epochs epochs on $nimg Fashion-MNIST images, batch $batch, at most $minutes min"
t=$(gsg_seconds)
bash "$P/train.sh" --data "$data" --recipe fmnist --method "$method" --gsg "$gsg" --epochs "$epochs" --batch "$batch" \
    --seed "$seed" --device "$device" --limit "$limit" --minutes "$minutes" --step-args "--lr $lr" \
    --knn-every 1 --knn-bank "$bank" --knn-test "$test" --out "$out/run"
t_train=$(gsg_elapsed "$t")
ev=(--data "$data" --recipe fmnist --bank-limit "$bank" --test-limit "$test" --cache "$cache" --device "$device")
gsg_log "demo: 2/4 k-NN of the trained encoder"
bash "$P/knn.sh" --ckpt "$out/run/ckpt.gsgt" --label "$name" --out "$out/trained" "${ev[@]}" >/dev/null
gsg_log "demo: 3/4 k-NN of a randomly initialised encoder"
bash "$P/knn.sh" --like "$out/run/ckpt.gsgt" --seed "$seed" --label "random init" --out "$out/random" "${ev[@]}" >/dev/null
gsg_log "demo: 4/4 k-NN on raw pixels"
bash "$P/knn.sh" --pixels --label "raw pixels" --out "$out/pixels" "${ev[@]}" >/dev/null

total=$(gsg_elapsed "$T_START")
loss=$(tail -n 1 "$out/run/epoch_loss.txt" 2>/dev/null | awk '{ print $2 }')
sdone=$(sed -n 's/^steps_done=//p' "$out/run/run.txt") spe=$(sed -n 's/^steps_per_epoch=//p' "$out/run/run.txt")
nseen=$(sed -n 's/^images=//p' "$out/run/run.txt")
ep_done=$(awk -v d="$sdone" -v s="$spe" 'BEGIN { printf "%.2g", d / s }')
r_top1=$(gsg_json top1 "$out/random/knn.json") t_top1=$(gsg_json top1 "$out/trained/knn.json") p_top1=$(gsg_json top1 "$out/pixels/knn.json")
row() { printf '| %-44s | %6s %% | %6s %% |\n' "$1" "$(gsg_pct "$(gsg_json top1 "$2")")" "$(gsg_pct "$(gsg_json top5 "$2")")"; }
# the monitor's points (the same bank and test images as the table) against the random encoder
cross=$(awk -v r="$r_top1" '$2 > r { printf "%g", $1; exit }' "$out/run/knn_epochs.txt" 2>/dev/null || true)
# the long runs' table, as docs/results.md holds it now (between its long-runs-table markers)
results=${DEMO_RESULTS:-$GSG_ROOT/docs/results.md}
long=""
[ -f "$results" ] && long=$(sed -n '/<!-- long-runs-table -->/,/<!-- \/long-runs-table -->/p' "$results" | sed '1d;$d')
{
    echo "## gsg demo: weighted k-NN on Fashion-MNIST (k=200, T=0.1)"
    echo
    echo "Bank: the first $(gsg_json train_rows "$out/pixels/knn.json") training images; queries: $(gsg_json test_rows "$out/pixels/knn.json") test images; the same for every row."
    echo
    echo "| encoder                                      |  top-1   |  top-5   |"
    echo "|----------------------------------------------|----------|----------|"
    row "$name, $sdone steps = $ep_done epochs on $nseen images" "$out/trained/knn.json"
    row "random init, the same model ($(gsg_ckpt_model "$out/run/ckpt.gsgt"))" "$out/random/knn.json"
    row "raw pixels (784 values)" "$out/pixels/knn.json"
    echo
    echo "Training: $sdone steps of batch $batch ($ep_done of $epochs planned epochs; budget $minutes min) in ${t_train} s."
    echo "Loss of the last epoch: ${loss:--} (negative cosine for SimSiam/BYOL: -1 is perfect agreement)."
    echo "Total time: ${total} s (training ${t_train} s), $(nproc) CPU cores, device $device."
    echo
    echo "k-NN top-1 after each epoch of this run (the same bank and test images):"
    while read -r e a _; do printf '  epoch %s: %s %%\n' "$e" "$(gsg_pct "$a")"; done <"$out/run/knn_epochs.txt"
    if [ -n "$cross" ]; then
        echo "This run passed the random encoder ($(gsg_pct "$r_top1") %) after epoch $cross."
    else
        echo "This run did not pass the random encoder ($(gsg_pct "$r_top1") %) within its budget: a random narrow"
        echo "ResNet is already a good k-NN feature on Fashion-MNIST; see the long runs below."
    fi
    awk -v t="$t_top1" -v p="$p_top1" 'BEGIN { if (t > p) print "It is also above raw pixels."; else if (t == p) print "It is level with raw pixels."; else printf "Raw pixels (%.2f %%) are still ahead after minutes: the long runs below show what hours do.\n", 100 * p }'
    echo
    if [ -n "$long" ]; then
        echo "The long runs (docs/results.md §3; all 60k images, test split, the evaluation protocol of §1):"
        echo
        echo "$long"
    else
        echo "The long runs (docs/results.md §3) have no finished table yet."
    fi
    echo
    echo "Reproduce them: make long-runs (hours on 2 cores; resumable), then make report."
} >"$out/table.md"
cat "$out/table.md"
