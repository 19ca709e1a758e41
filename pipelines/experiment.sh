#!/usr/bin/env bash
# pipelines/experiment.sh: a comparison at equal epochs and hyper-parameters, repeated over
# seeds, into results/<name>/:
#   table.md            final k-NN top-1/top-5 (mean ± std over seeds), loss, collapse verdict,
#                       time, plus the random-encoder and raw-pixel baselines on the same split
#   loss.png, knn.png   loss and k-NN top-1 per epoch, one line per method (gnuplot)
#   runs/<method>/seed<S>/  each run's metrics.jsonl, epoch_loss.txt, knn_epochs.txt, ...
#   <method>.loss.dat, <method>.knn.dat   the plotted curves (mean over seeds)
# Budget: the defaults (20 epochs on all 60000 images) take hours per seed on a 2-core CPU
# (about 5 h for experiment-gsg at the goal of ~200 img/s for a GSG step, docs/performance.md §6); use
# --device cuda, fewer --epochs / --limit, or --quick (minutes) for a smoke run.
# Experiments:
# An experiment directory that holds results is refused unless --resume (RESUME=1: finished
# runs are kept, unfinished ones continue from their last checkpoint) or --force (FORCE=1:
# every run is replaced). --report (make report) rebuilds table.md and the plots from the
# runs already there, training nothing.
#   gsg            SimSiam vs SimSiam+GSG, BYOL vs BYOL+GSG
#   no-predictor   SimSiam vs SimSiam+GSG, both without predictor (plain SimSiam collapses)
#   batch-size     SimCLR vs SimSiam+GSG vs BYOL+GSG at batch 64, 128, 256, the lr scaled linearly
#                  (--base-lr per 256 images, default 0.1: docs/results.md §2); each run is also scored
#                  by protocol.sh on the test split (k-NN k = 200 and 20, linear probe, backbone erank)
#                  into batch.md and knn_batch.png (k-NN against the batch size, one line per method)
set -euo pipefail
GSG_PROG=experiment.sh
. "$(dirname "$0")/lib.sh"

usage() {
    cat <<USAGE
Usage: $GSG_PROG --name gsg|no-predictor|batch-size [OPTIONS]
  --epochs E        epochs per run (default 20; QUICK: 2)
  --batch B         batch (default 256; batch-size uses 64 128 256)
  --seeds "S..."    seeds (default "0")
  --limit N         training images (default 0 = all 60000; QUICK: 2000)
  --knn-every K     k-NN curve point every K epochs (default 1)
  --curve-bank N    bank images for the curve points (default 10000; QUICK: 2000)
  --curve-test N    test images for the curve points (default 2000; QUICK: 500)
  --bank N          bank images for the final k-NN (default 0 = all; QUICK: 2000)
  --test N          test images for the final k-NN (default 0 = all; QUICK: 1000)
  --quick           the smoke variant (QUICK=1): tiny budget, same outputs
  --data D  --recipe R  --device D  --out DIR (default results)
  --step-args "..." extra gsg-step options for every run
  --batches "B..."  batch-size: the batch sizes (default "64 128 256")
  --base-lr X       every run's lr = X * batch / 256 (default: the recipe's rule; batch-size: 0.1)
  --resume          keep finished runs, continue unfinished ones (RESUME=1)
  --force           replace the results of an earlier experiment (FORCE=1)
  --report          rebuild table.md and the plots from the runs in OUT/NAME (the settings
                    they were run with, from OUT/NAME/settings.env); trains nothing
  -h, --help        this help
Exit status: 0 success, 1 a run failed, 2 usage error.
USAGE
}
name="" epochs="" batch=${BATCH:-256} seeds=${SEEDS:-0} limit="" knn_every=1 cbank="" ctest="" bank="" test=""
quick=${QUICK:-0} data=${DATA:-fashion-mnist} recipe=${RECIPE:-fmnist} device=${DEVICE:-cpu} outdir=results step_args="" base_lr="" batches="64 128 256"
resume=${RESUME:-0} force=${FORCE:-0} report=0
while [ $# -gt 0 ]; do
    case $1 in
        --name) name=$2; shift 2 ;;
        --epochs) epochs=$2; shift 2 ;;
        --batch) batch=$2; shift 2 ;;
        --seeds) seeds=$2; shift 2 ;;
        --limit) limit=$2; shift 2 ;;
        --knn-every) knn_every=$2; shift 2 ;;
        --curve-bank) cbank=$2; shift 2 ;;
        --curve-test) ctest=$2; shift 2 ;;
        --bank) bank=$2; shift 2 ;;
        --test) test=$2; shift 2 ;;
        --quick) quick=1; shift ;;
        --data) data=$2; shift 2 ;;
        --recipe) recipe=$2; shift 2 ;;
        --device) device=$2; shift 2 ;;
        --out) outdir=$2; shift 2 ;;
        --step-args) step_args=$2; shift 2 ;;
        --base-lr) base_lr=$2; shift 2 ;;
        --batches) batches=$2; shift 2 ;;
        --resume) resume=1; shift ;;
        --force) force=1; shift ;;
        --report) report=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) gsg_usage_die "unknown option '$1'" ;;
    esac
done
case $resume$force in 00|10|01) ;; 11) gsg_usage_die "--resume and --force exclude each other" ;;
    *) gsg_usage_die "RESUME=$resume FORCE=$force: expected 0 or 1" ;; esac
if [ "$report" = 1 ]; then
    # the settings the experiment was run with
    [ -n "$name" ] || gsg_usage_die "give --name gsg|no-predictor|batch-size"
    [ -s "$outdir/$name/settings.env" ] || gsg_die "$outdir/$name/settings.env: not found (no experiment '$name' was run into $outdir)"
    # shellcheck disable=SC1090
    . "$outdir/$name/settings.env"
fi
if [ "$quick" = 1 ]; then d_ep=2 d_lim=2000 d_cb=2000 d_ct=500 d_b=2000 d_t=1000; else d_ep=20 d_lim=0 d_cb=10000 d_ct=2000 d_b=0 d_t=0; fi
epochs=${epochs:-$d_ep} limit=${limit:-$d_lim} cbank=${cbank:-$d_cb} ctest=${ctest:-$d_ct} bank=${bank:-$d_b} test=${test:-$d_t}
for v in epochs batch limit knn_every cbank ctest bank test; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || gsg_usage_die "--${v//_/-}: '${!v}' is not a count"
done
for s in $seeds; do [[ "$s" =~ ^[0-9]+$ ]] || gsg_usage_die "--seeds: '$s' is not a seed"; done
[ -z "$base_lr" ] || [[ "$base_lr" =~ ^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$ ]] || gsg_usage_die "--base-lr: '$base_lr' is not a number"
# variants: label method gsg no-predictor batch
case $name in
    gsg) variants=("simsiam simsiam off 0 $batch" "simsiam+gsg simsiam on 0 $batch" "byol byol off 0 $batch" "byol+gsg byol on 0 $batch") ;;
    no-predictor) variants=("simsiam-nopred simsiam off 1 $batch" "simsiam+gsg-nopred simsiam on 1 $batch") ;;
    batch-size) variants=(); base_lr=${base_lr:-0.1}
        for b in $batches; do [[ "$b" =~ ^[1-9][0-9]*$ ]] || gsg_usage_die "--batches: '$b' is not a batch size"; variants+=("simclr-b$b simclr off 0 $b" "simsiam+gsg-b$b simsiam on 0 $b" "byol+gsg-b$b byol on 0 $b"); done ;;
    "") gsg_usage_die "give --name gsg|no-predictor|batch-size" ;;
    *) gsg_usage_die "--name: '$name' is not gsg, no-predictor or batch-size" ;;
esac
gsg_need_tools gsg-augment gsg-step gsg-encode gsg-eval gsg-tensor
R="$outdir/$name"
P="$GSG_ROOT/pipelines"
export GSG_CACHE="$R/plain"
T0=$(gsg_seconds)
first_seed=$(set -- $seeds; echo "$1")
read -r first_label _ <<<"${variants[0]}"
if [ "$report" = 0 ]; then
if [ -e "$R/settings.txt" ] && [ "$resume$force" = 00 ]; then
    gsg_die "$R holds an earlier experiment: --resume (RESUME=1) keeps its finished runs and continues the others, --force (FORCE=1) replaces it, --report (make report) rebuilds its table, or give another --out"
fi
mkdir -p "$R/runs"
for v in name quick epochs seeds limit data recipe device batch knn_every cbank ctest bank test step_args base_lr batches; do
    printf '%s=%q\n' "$v" "${!v}"
done >"$R/settings.env"
{
    echo "experiment=$name quick=$quick epochs=$epochs seeds=$seeds limit=$limit data=$data recipe=$recipe device=$device"
    echo "final k-NN: bank=$bank test=$test (0 = all); curve: every $knn_every epochs, bank=$cbank test=$ctest"
    echo "step_args=$step_args"
    [ -z "$base_lr" ] || echo "base_lr=$base_lr (lr = base_lr * batch / 256)"
} >"$R/settings.txt"
# run_step_args B: the gsg-step options of a run at batch B (with --base-lr: its linearly scaled lr first)
run_step_args() {
    if [ -n "$base_lr" ]; then
        echo "--lr $(awk -v x="$base_lr" -v b="$1" 'BEGIN { printf "%.6g", x * b / 256 }')${step_args:+ $step_args}"
    else
        echo "$step_args"
    fi
}
ev=(--data "$data" --recipe "$recipe" --bank-limit "$bank" --test-limit "$test" --cache "$R/plain" --device "$device")

for seed in $seeds; do
    for v in "${variants[@]}"; do
        read -r label method gsg nopred b <<<"$v"
        run="$R/runs/$label/seed$seed"
        np=(); [ "$nopred" = 1 ] && np=(--no-predictor)
        if [ "$resume" = 1 ] && [ -s "$run/final/knn.json" ] && [ -s "$run/final/collapse.json" ] && grep -q '^steps_done=' "$run/run.txt" 2>/dev/null; then
            gsg_log "$GSG_PROG: $name: $label seed $seed: finished already, kept"
            continue
        fi
        gsg_log "$GSG_PROG: $name: $label seed $seed ($epochs epochs, batch $b)"
        ra=(); [ "$resume" = 1 ] && ra=(--resume); [ "$force" = 1 ] && ra=(--force)
        rm -rf "$run/final"
        bash "$P/train.sh" --data "$data" --recipe "$recipe" --method "$method" --gsg "$gsg" "${np[@]}" --epochs "$epochs" \
            --batch "$b" --seed "$seed" --device "$device" --limit "$limit" --knn-every "$knn_every" --knn-bank "$cbank" \
            --knn-test "$ctest" --step-args "$(run_step_args "$b")" "${ra[@]}" --out "$run"
        sed -n 's/^seconds=//p' "$run/run.txt" | tail -n 1 >"$run/seconds.txt"
        bash "$P/knn.sh" --ckpt "$run/ckpt.gsgt" --label "$label" --out "$run/final" --keep --projections "${ev[@]}" >/dev/null
        tef=$(ls "$run/final"/features_test_*.gsgt | head -n 1)
        # collapse of the projector's output z on the test images (SimSiam paper, fig. 2)
        gsg-eval collapse --json --use projections "$tef" >"$run/final/collapse.json"
        rm -f "$run/final"/features_*.gsgt
        if [ "$name" = batch-size ]; then
            bash "$P/protocol.sh" --ckpt "$run/ckpt.gsgt" --split test --data "$data" --recipe "$recipe" --device "$device" \
                --cache "$R/plain" --label "$label" >"$run/final/protocol.part"
            mv "$run/final/protocol.part" "$run/final/protocol.json"
        fi
    done
done
gsg_log "$GSG_PROG: baselines on the same split"
# the random encoder has the architecture of the runs (--like: the first run's gsg.config, every
# run of an experiment has the same), with the first seed's weights
if [ "$resume" = 0 ] || [ ! -s "$R/baseline_random/knn.json" ]; then
    bash "$P/knn.sh" --like "$R/runs/$first_label/seed$first_seed/ckpt.gsgt" --seed "$first_seed" --label "random init" \
        --out "$R/baseline_random" "${ev[@]}" >/dev/null
fi
if [ "$resume" = 0 ] || [ ! -s "$R/baseline_pixels/knn.json" ]; then
    bash "$P/knn.sh" --pixels --label "raw pixels" --out "$R/baseline_pixels" "${ev[@]}" >/dev/null
fi
fi   # report = 0

# ---- table ----
for seed in $seeds; do
    for v in "${variants[@]}"; do
        read -r label _ <<<"$v"
        for f in ckpt.gsgt epoch_loss.txt seconds.txt final/knn.json final/collapse.json; do
            [ -s "$R/runs/$label/seed$seed/$f" ] || gsg_die "$R/runs/$label/seed$seed/$f: missing (an unfinished run: RESUME=1 make experiment-$name continues it)"
        done
    done
done
for bl in random pixels; do
    [ -s "$R/baseline_$bl/knn.json" ] || gsg_die "$R/baseline_$bl/knn.json: missing (RESUME=1 make experiment-$name computes it)"
done

nseeds=$(set -- $seeds; echo $#)
pm() { awk -v m="$1" -v s="$2" -v n="$3" 'BEGIN { if (m == "-") print "-"; else if (n > 1) printf "%.2f ± %.2f", 100 * m, 100 * s; else printf "%.2f", 100 * m }'; }
{
    echo "## experiment $name: weighted k-NN (k=200, T=0.1) on $data"
    echo
    echo "Equal epochs ($epochs) and hyper-parameters per method; seeds: $seeds; training images: $([ "$limit" = 0 ] && echo all || echo "$limit")."
    echo "Final k-NN bank: $(gsg_json train_rows "$R/baseline_pixels/knn.json") training images, $(gsg_json test_rows "$R/baseline_pixels/knn.json") test images."
    [ "$quick" = 1 ] && echo "QUICK=1: a smoke run; these numbers say nothing about the methods."
    echo
    echo "| method | model | batch | k-NN top-1 (%) | top-5 (%) | final loss | collapse of z (erank, verdict) | train s |"
    echo "|---|---|---|---|---|---|---|---|"
    for v in "${variants[@]}"; do
        read -r label method gsg nopred b <<<"$v"
        t1=() t5=() ls=() sec=() er=() vd=""
        for seed in $seeds; do
            run="$R/runs/$label/seed$seed"
            t1+=("$(gsg_json top1 "$run/final/knn.json")"); t5+=("$(gsg_json top5 "$run/final/knn.json")")
            ls+=("$(tail -n 1 "$run/epoch_loss.txt" | awk '{ print $2 }')"); sec+=("$(cat "$run/seconds.txt")")
            er+=("$(gsg_json erank "$run/final/collapse.json")"); vd="$vd $(gsg_json verdict "$run/final/collapse.json")"
        done
        read -r m1 s1 n1 <<<"$(gsg_mean_std "${t1[@]}")"; read -r m5 s5 n5 <<<"$(gsg_mean_std "${t5[@]}")"
        read -r ml sl _ <<<"$(gsg_mean_std "${ls[@]}")"; read -r ms _ _ <<<"$(gsg_mean_std "${sec[@]}")"
        read -r me _ _ <<<"$(gsg_mean_std "${er[@]}")"
        printf '| %s | %s | %s | %s | %s | %.4f | %.1f,%s | %.0f |\n' "$label" "$(gsg_ckpt_model "$R/runs/$label/seed$first_seed/ckpt.gsgt")" "$b" "$(pm "$m1" "$s1" "$n1")" "$(pm "$m5" "$s5" "$n5")" "$ml" "$me" \
            "$(printf '%s\n' $vd | sort | uniq -c | awk -v n="$nseeds" '{ printf " %s %d/%d", $2, $1, n }')" "$ms"
    done
    for bl in random pixels; do
        j="$R/baseline_$bl/knn.json"
        printf '| %s | %s | - | %s | %s | - | - | - |\n' "$([ $bl = random ] && echo "random init (seed $first_seed)" || echo "raw pixels")" \
            "$([ $bl = random ] && gsg_ckpt_model "$R/runs/$first_label/seed$first_seed/ckpt.gsgt" || echo -)" \
            "$(gsg_pct "$(gsg_json top1 "$j")")" "$(gsg_pct "$(gsg_json top5 "$j")")"
    done
    echo
    echo "Training time, all runs: $(cat "$R"/runs/*/seed*/seconds.txt | awk '{ s += $1 } END { printf "%.0f", s }') s. Curves: loss.png, knn.png (mean over $nseeds seed(s))."
} >"$R/table.md"

# ---- batch-size: the protocol's figures against the batch size ----
if [ "$name" = batch-size ]; then
    pmb() { read -r m s n <<<"$(gsg_mean_std "$@")"
            awk -v m="$m" -v s="$s" -v n="$n" 'BEGIN { if (m == "-") print "-"; else if (n > 1) printf "%.2f ± %.2f", 100 * m, 100 * s; else printf "%.2f", 100 * m }'; }
    {
        echo "## batch size: the evaluation protocol on the test split (docs/results.md §1), mean ± std over seeds $seeds"
        echo
        echo "Equal epochs ($epochs); lr = $base_lr x batch / 256; everything else the $recipe recipe."
        echo
        echo "| method | batch | lr | k-NN k = 200 | k-NN k = 20 | linear | erank (backbone) |"
        echo "|---|---|---|---|---|---|---|"
        for v in "${variants[@]}"; do
            read -r label _ _ _ b <<<"$v"
            k2=() k20=() li=() er=()
            for seed in $seeds; do
                j="$R/runs/$label/seed$seed/final/protocol.json"
                [ -s "$j" ] || gsg_die "$j: missing (an unfinished run: RESUME=1 make experiment-$name continues it)"
                k2+=("$(gsg_json knn200 "$j")"); k20+=("$(gsg_json knn20 "$j")"); li+=("$(gsg_json linear "$j")"); er+=("$(gsg_json erank "$j")")
            done
            read -r em _ _ <<<"$(gsg_mean_std "${er[@]}")"
            printf '| %s | %s | %s | %s | %s | %s | %.1f |\n' "${label%-b*}" "$b" "$(run_step_args "$b" | awk '{ print $2 }')" \
                "$(pmb "${k2[@]}")" "$(pmb "${k20[@]}")" "$(pmb "${li[@]}")" "$em"
        done
    } >"$R/batch.md"
    pb=""
    for m in $(for v in "${variants[@]}"; do read -r label _ <<<"$v"; echo "${label%-b*}"; done | awk '!seen[$0]++'); do
        for v in "${variants[@]}"; do
            read -r label _ _ _ b <<<"$v"
            [ "${label%-b*}" = "$m" ] || continue
            for seed in $seeds; do echo "$b $(gsg_json knn200 "$R/runs/$label/seed$seed/final/protocol.json")"; done
        done | awk '{ s[$1] += $2; n[$1]++ } END { for (b in s) printf "%d %.6f\n", b, 100 * s[b] / n[b] }' | sort -n >"$R/$m.batch.dat"
        pb="$pb${pb:+, }'$R/$m.batch.dat' using 1:2 with linespoints title '$m'"
    done
    gsg_gnuplot <<GP || true
set logscale x 2
set xlabel 'batch size'
set ylabel 'k-NN top-1 (%), k = 200, test split'
set output '$R/knn_batch.png'
set title 'experiment batch-size: k-NN against the batch size (mean over seeds $seeds)'
plot $pb
GP
    cat "$R/batch.md" >>"$R/table.md"
fi

# ---- curves and plots ----
plot_loss="" plot_knn=""
for v in "${variants[@]}"; do
    read -r label _ <<<"$v"
    f_l="$R/$label.loss.dat" f_k="$R/$label.knn.dat"
    for seed in $seeds; do cat "$R/runs/$label/seed$seed/epoch_loss.txt"; done |
        awk '{ s[$1] += $2; n[$1]++ } END { for (e in s) printf "%d %.6f\n", e, s[e] / n[e] }' | sort -n >"$f_l"
    for seed in $seeds; do cat "$R/runs/$label/seed$seed/knn_epochs.txt" 2>/dev/null || true; done |
        awk '{ s[$1] += $2; n[$1]++ } END { for (e in s) printf "%d %.6f\n", e, 100 * s[e] / n[e] }' | sort -n >"$f_k"
    plot_loss="$plot_loss${plot_loss:+, }'$f_l' using 1:2 with linespoints title '$label'"
    [ -s "$f_k" ] && plot_knn="$plot_knn${plot_knn:+, }'$f_k' using 1:2 with linespoints title '$label'"
done
gsg_gnuplot <<GP || true
set xlabel 'epoch'
set output '$R/loss.png'
set title 'experiment $name: training loss per epoch'
set ylabel 'loss (mean over the epoch)'
plot $plot_loss
set output '$R/knn.png'
set title 'experiment $name: k-NN top-1 per epoch (bank $cbank, test $ctest)'
set ylabel 'k-NN top-1 (%)'
$([ -n "$plot_knn" ] && echo "plot $plot_knn" || echo "unset output")
GP
cat "$R/table.md"
