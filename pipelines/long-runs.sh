#!/usr/bin/env bash
# pipelines/long-runs.sh: the long runs of the Fashion-MNIST result (docs/results.md §3).
# Each RUN is LABEL-sSEED, LABEL one of
#   simsiam simsiam+gsg byol byol+gsg           --epochs (default 50) on all 60,000 images
#   simsiam-nopred simsiam+gsg-nopred           the no-predictor ablation, --nopred-epochs (default 20)
# trained by train.sh into OUT/runs/RUN/ (a checkpoint every epoch, the k-NN monitor every
# --knn-every epochs), resumed where an earlier invocation stopped, then scored once by
# protocol.sh on the test split into OUT/runs/RUN/protocol.json. The baselines (raw pixels, the
# random encoder at seeds 0 and 1) are scored the same way into OUT/baselines.jsonl, and on the
# k-NN monitor's own bank and queries into OUT/monitor/ (the dashed lines of the plots). OUT/table.md
# (mean ± std over seeds), OUT/curves.md and OUT/knn_epochs.png / knn_images.png / loss.png / ranks.png are
# rebuilt from whatever has finished at the end of every invocation (--table: only that).
# OUT/runs/RUN/machine.txt records, per invocation, the CPU, the precision and the wall time.
set -euo pipefail
GSG_PROG=long-runs.sh
. "$(dirname "$0")/lib.sh"

DEFAULT_RUNS="simsiam-s0 simsiam+gsg-s0 simsiam-s1 simsiam+gsg-s1 byol-s0 byol+gsg-s0 simsiam-nopred-s0 simsiam+gsg-nopred-s0"
usage() {
    cat <<USAGE
Usage: $GSG_PROG [OPTIONS] [RUN ...]
  RUN               LABEL-sSEED, LABEL: simsiam simsiam+gsg byol byol+gsg simsiam-nopred
                    simsiam+gsg-nopred (default, in this order:
                    $DEFAULT_RUNS)
  --epochs E        epochs of the main runs (default 50)
  --nopred-epochs E epochs of the no-predictor ablation (default 20)
  --knn-every K     the in-run k-NN monitor every K epochs (default 5; bank 10,000 training
                    images, 2,000 test images)
  --step-args "..." gsg-step options of every run: the recipe (default "$RECIPE_ARGS_DEFAULT")
  --aug-args "..."  gsg-augment options of every run (default none)
  --precision P     fp32|bf16 (default fp32)
  --threads T       gsg-step threads
  --data D          data set (default fashion-mnist)   --batch B  batch (default 256)
  --no-linear       protocol without the linear probe
  --table           rebuild the table and the curves only; train nothing
  --out DIR         results (default results/long)
  -h, --help        this help
Exit status: 0 success, 1 a run failed, 2 usage error.
USAGE
}
# the recipe of the long runs, chosen on the validation split (docs/results.md §2)
RECIPE_ARGS_DEFAULT="--lr 0.1"
epochs=50 npep=20 every=5 step_args=$RECIPE_ARGS_DEFAULT aug_args="" prec=fp32 threads="" linear=1 table=0
out=results/long runs=() data=fashion-mnist batch=256
while [ $# -gt 0 ]; do
    case $1 in
        --epochs) epochs=$2; shift 2 ;;
        --nopred-epochs) npep=$2; shift 2 ;;
        --knn-every) every=$2; shift 2 ;;
        --step-args) step_args=$2; shift 2 ;;
        --aug-args) aug_args=$2; shift 2 ;;
        --precision) prec=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --data) data=$2; shift 2 ;;
        --batch) batch=$2; shift 2 ;;
        --no-linear) linear=0; shift ;;
        --table) table=1; shift ;;
        --out) out=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        -*) gsg_usage_die "unknown option '$1'" ;;
        *) runs+=("$1"); shift ;;
    esac
done
for v in epochs npep every batch; do
    [[ "${!v}" =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || gsg_usage_die "'${!v}' is not a positive count"
done
case $prec in fp32|bf16) ;; *) gsg_usage_die "--precision: '$prec' is not fp32 or bf16" ;; esac
[ ${#runs[@]} -gt 0 ] || read -r -a runs <<<"$DEFAULT_RUNS"
# run_spec RUN: "label method gsg nopred seed epochs"
run_spec() {
    local r=$1 label seed
    [[ "$r" =~ ^(.+)-s([0-9]+)$ ]] || return 1
    label=${BASH_REMATCH[1]} seed=${BASH_REMATCH[2]}
    case $label in
        simsiam) echo "$label simsiam off 0 $seed $epochs" ;;
        simsiam+gsg) echo "$label simsiam on 0 $seed $epochs" ;;
        byol) echo "$label byol off 0 $seed $epochs" ;;
        byol+gsg) echo "$label byol on 0 $seed $epochs" ;;
        simsiam-nopred) echo "$label simsiam off 1 $seed $npep" ;;
        simsiam+gsg-nopred) echo "$label simsiam on 1 $seed $npep" ;;
        *) return 1 ;;
    esac
}
for r in "${runs[@]}"; do run_spec "$r" >/dev/null || gsg_usage_die "'$r' is not a run (LABEL-sSEED; see --help)"; done
gsg_need_tools gsg-augment gsg-step gsg-encode gsg-eval gsg-tensor
P="$GSG_ROOT/pipelines"
mkdir -p "$out/runs"
export GSG_CACHE=${GSG_CACHE:-$out/plain}
cpu_name() {
    local m f mo
    m=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    f=$(sed -n 's/^cpu family[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    mo=$(sed -n 's/^model[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    echo "$m family $f model $mo, $(nproc) cpus"
}

step_cost() { # METRICS.jsonl -> "SECONDS IMG_S": the sum of its steps' step_ms / 1000 and the median img_s
    local t m
    t=$(awk 'match($0, /"step_ms":[0-9.eE+-]+/) { t += substr($0, RSTART + 10, RLENGTH - 10) } END { printf "%.1f", t / 1000 }' "$1")
    m=$(sed -n 's/.*"img_s":\([0-9.eE+-]*\).*/\1/p' "$1" | sort -g |
        awk '{ v[NR] = $1 } END { if (!NR) print 0; else printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    echo "$t $m"
}

report() {
    local d r label n spe k2 k20 li er ws ir sd eps pr l em wm im lin pk pi pl pb pr2 ci m v e i k vw
    # ---- table: one row per LABEL, mean ± std over its finished seeds ----
    pm() { # values... -> "mean ± std" in % (or the one value)
        [ $# -gt 0 ] || { echo "-"; return; }
        read -r m s n <<<"$(gsg_mean_std "$@")"
        awk -v m="$m" -v s="$s" -v n="$n" 'BEGIN { if (n > 1) printf "%.2f ± %.2f", 100 * m, 100 * s; else printf "%.2f", 100 * m }'
    }
    {
        echo "| run | seeds | epochs | k-NN k = 200 | k-NN k = 20 | linear | erank (backbone) | step time s (per seed) | img/s (median step) | precision |"
        echo "|---|---|---|---|---|---|---|---|---|---|"
        for label in simsiam simsiam+gsg byol byol+gsg simsiam-nopred simsiam+gsg-nopred; do
            k2=() k20=() li=() er=() ws=() ir=() sd="" eps="" pr=""
            for d in "$out/runs/$label"-s*; do
                [ -s "$d/protocol.json" ] || continue
                k2+=("$(gsg_json knn200 "$d/protocol.json")"); k20+=("$(gsg_json knn20 "$d/protocol.json")")
                l=$(gsg_json linear "$d/protocol.json"); [ "$l" = null ] || li+=("$l")
                er+=("$(gsg_json erank "$d/protocol.json")")
                # the cost of a run, robust to resumes: its steps' own times (metrics.jsonl step_ms), summed,
                # and the median step's speed (little moved by other work sharing the machine for a while)
                read -r l n <<<"$(step_cost "$d/metrics.jsonl")"; ws+=("$l"); ir+=("$n")
                sd="$sd${sd:+ }${d##*-s}"; eps=$(sed -n 's/^epochs=//p' "$d/run.txt" | head -n 1)
                pr=""; [ -f "$d/machine.txt" ] && pr=$(sed -n 's/.*precision=\([a-z0-9]*\).*/\1/p' "$d/machine.txt" | sort -u | paste -sd/)
                [ -n "$pr" ] || pr=$(sed -n 's/^step_args=.*--precision \([a-z0-9]*\).*/\1/p' "$d/run.txt" | tail -n 1)
            done
            [ -n "$sd" ] || continue
            read -r em _ _ <<<"$(gsg_mean_std "${er[@]}")"; read -r wm _ _ <<<"$(gsg_mean_std "${ws[@]}")"
            read -r im _ _ <<<"$(gsg_mean_std "${ir[@]}")"
            printf '| %s | %s | %s | %s | %s | %s | %.1f | %.0f | %.0f | %s |\n' "$label" "$sd" "$eps" "$(pm "${k2[@]}")" \
                "$(pm "${k20[@]}")" "$(pm "${li[@]}")" "$em" "$wm" "$im" "$pr"
        done
        if [ -s "$out/baselines.jsonl" ]; then
            while IFS= read -r l; do
                echo "$l" >"$out/.bl.json"
                lin=$(gsg_json linear "$out/.bl.json")
                printf '| %s | - | - | %s | %s | %s | %.1f | - | - | - |\n' "$(gsg_json label "$out/.bl.json")" \
                    "$(gsg_pct "$(gsg_json knn200 "$out/.bl.json")")" "$(gsg_pct "$(gsg_json knn20 "$out/.bl.json")")" \
                    "$([ "$lin" = null ] && echo - || gsg_pct "$lin")" "$(gsg_json erank "$out/.bl.json")"
            done <"$out/baselines.jsonl"
            rm -f "$out/.bl.json"
        fi
    } >"$out/table.md"

    # ---- curves: the in-run k-NN monitor (bank 10k, 2k test images) against epochs and images seen ----
    pk="" pi="" pl="" pr2="" ci=0
    {
        echo "| run | epoch | images seen | views encoded | k-NN top-1 (monitor) |"
        echo "|---|---|---|---|---|"
        for d in "$out"/runs/*; do
            [ -d "$d" ] || continue
            r=${d##*/} n=$(sed -n 's/^images=//p' "$d/run.txt" 2>/dev/null | head -n 1)
            # train.sh writes knn_epochs.txt at the end of an invocation; a run in progress has its
            # points in metrics.jsonl
            spe=$(sed -n 's/^steps_per_epoch=//p' "$d/run.txt" 2>/dev/null | head -n 1)
            [ -n "$spe" ] && [ -n "$n" ] || continue
            v=$(sed -n 's/^augment: .*--views \([0-9]*\).*/\1/p' "$d/run.txt" | head -n 1)
            { cat "$d/metrics.jsonl" 2>/dev/null || true; cat "$d/metrics.part.jsonl" 2>/dev/null || true; } |
                awk -v spe="$spe" -v n="$n" -v v="${v:-2}" 'match($0, /"step":[0-9]+/) { s = substr($0, RSTART + 7, RLENGTH - 7) + 1 }
                    match($0, /"knn_top1":[0-9.eE+-]+/) { k = substr($0, RSTART + 11, RLENGTH - 11); e = s / spe
                        printf "%g %.0f %.4f %.0f\n", e, e * n, 100 * k, e * n * v }' | sort -n -u >"$d/knn_curve.dat"
            grep -h '"loss"' "$d"/metrics.jsonl 2>/dev/null >/dev/null && gsg_epoch_loss "$d/metrics.jsonl" >"$d/loss_curve.dat" || true
            grep -h '"erank_h"' "$d"/metrics.jsonl 2>/dev/null >/dev/null && gsg_epoch_ranks "$d/metrics.jsonl" >"$d/rank_curve.dat" || true
            while read -r e i k vw; do echo "| $r | $e | $i | $vw | $k % |"; done <"$d/knn_curve.dat"
            [ -s "$d/knn_curve.dat" ] && { pk="$pk${pk:+, }'$d/knn_curve.dat' using 1:3 with linespoints title '$r'"
                                            pi="$pi${pi:+, }'$d/knn_curve.dat' using (\$4/1e6):3 with linespoints title '$r'"; }
            [ -s "$d/loss_curve.dat" ] && pl="$pl${pl:+, }'$d/loss_curve.dat' using 1:2 with lines title '$r'"
            [ -s "$d/rank_curve.dat" ] && { ci=$((ci + 1))   # one colour per run: z solid, backbone dashed
                pr2="$pr2${pr2:+, }'$d/rank_curve.dat' using 1:2 with lines lc $ci title '$r: z', '$d/rank_curve.dat' using 1:3 with lines lc $ci dashtype 2 title '$r: backbone h'"; }
        done
    } >"$out/curves.md"
    # the k-NN monitor's own baselines (its bank and queries), dashed
    pb=""
    if [ -d "$out/monitor" ]; then
        {
            echo
            echo "The k-NN monitor's baselines (the same bank and queries, k = 200, T = 0.1):"
            echo
            echo "| encoder | k-NN top-1 (monitor) |"
            echo "|---|---|"
            for m in pixels:"raw pixels" random0:"random init (seed 0)" random1:"random init (seed 1)"; do
                [ -s "$out/monitor/${m%%:*}/knn.json" ] || continue
                k=$(gsg_pct "$(gsg_json top1 "$out/monitor/${m%%:*}/knn.json")")
                echo "| ${m#*:} | $k % |"
                pb="$pb, $k with lines dashtype 2 title '${m#*:}'"
            done
        } >>"$out/curves.md"
    fi
    [ -n "$pk" ] && gsg_gnuplot <<GP || true
set ylabel 'k-NN top-1 (%), bank 10k, 2k test images'
set output '$out/knn_epochs.png'
set title 'Fashion-MNIST long runs: k-NN monitor against epochs'
set xlabel 'epoch'
plot $pk$pb
set output '$out/knn_images.png'
set title 'Fashion-MNIST long runs: k-NN monitor against views encoded (compute)'
set xlabel 'views encoded, millions (a SimSiam step encodes 2 per image, a GSG step 4)'
plot $pi$pb
set output '$out/loss.png'
set title 'Fashion-MNIST long runs: training loss per epoch'
set xlabel 'epoch'
set ylabel 'loss'
$([ -n "$pl" ] && echo "plot $pl" || echo "unset output")
set output '$out/ranks.png'
set title 'Fashion-MNIST long runs: effective rank per epoch (training batches)'
set ylabel 'effective rank'
set logscale y
$([ -n "$pr2" ] && echo "plot $pr2" || echo "unset output")
GP
}

monitor_baselines() { # the k-NN monitor's bank and queries, encoded by raw pixels and random init seeds 0 and 1
    local m=$out/monitor s ev
    ev=(--data "$data" --recipe fmnist --bank-limit 10000 --test-limit 2000 --cache "$m/plain")
    mkdir -p "$m"
    [ -s "$m/pixels/knn.json" ] || bash "$P/knn.sh" --pixels --label "raw pixels" --out "$m/pixels" "${ev[@]}" >/dev/null
    for s in 0 1; do
        [ -s "$m/random$s/knn.json" ] ||
            bash "$P/knn.sh" --init fmnist --seed "$s" --label "random init (seed $s)" --out "$m/random$s" "${ev[@]}" >/dev/null
    done
    rm -rf "$m/plain"
}

if [ "$table" = 0 ]; then
    # the baselines first, once: every table from here on has them
    gsg_log "$GSG_PROG: the baselines on the test split (raw pixels, random init seeds 0 and 1), once"
    touch "$out/baselines.jsonl"
    la=(); [ "$linear" = 0 ] && la=(--no-linear)
    grep -q '"raw pixels"' "$out/baselines.jsonl" ||
        bash "$P/protocol.sh" --pixels --split test --data "$data" --label "raw pixels" "${la[@]}" --out "$out/baselines.jsonl" >/dev/null
    for s in 0 1; do
        grep -qF "\"random init (seed $s)\"" "$out/baselines.jsonl" ||
            bash "$P/protocol.sh" --init fmnist --seed "$s" --split test --data "$data" --label "random init (seed $s)" "${la[@]}" \
                --out "$out/baselines.jsonl" >/dev/null
    done
    monitor_baselines
    for r in "${runs[@]}"; do
        read -r label method gsg nopred seed ep <<<"$(run_spec "$r")"
        d="$out/runs/$r"
        np=(); [ "$nopred" = 1 ] && np=(--no-predictor)
        th=(); [ -n "$threads" ] && th=(--threads "$threads")
        sa="$step_args --precision $prec"
        if [ -s "$d/protocol.json" ]; then gsg_log "$GSG_PROG: $r: finished already, kept"; continue; fi
        ra=(); [ -e "$d/run.txt" ] && ra=(--resume)
        gsg_log "$GSG_PROG: $r: $method gsg=$gsg$([ "$nopred" = 1 ] && echo ' no-predictor') seed $seed, $ep epochs, $prec"
        t0=$(gsg_seconds)
        bash "$P/train.sh" --method "$method" --gsg "$gsg" "${np[@]}" --epochs "$ep" --seed "$seed" --data "$data" --batch "$batch" \
            --knn-every "$every" --knn-bank 10000 --knn-test 2000 --step-args "$sa" --aug-args "$aug_args" \
            "${th[@]}" "${ra[@]}" --out "$d"
        echo "$(date -u +%FT%TZ) cpu=\"$(cpu_name)\" precision=$prec wall_s=$(gsg_elapsed "$t0") steps_done=$(gsg_ckpt_step "$d/ckpt.gsgt")" >>"$d/machine.txt"
        la=(); [ "$linear" = 0 ] && la=(--no-linear)
        bash "$P/protocol.sh" --ckpt "$d/ckpt.gsgt" --split test --data "$data" --label "$r" "${la[@]}" >"$d/protocol.part"
        mv "$d/protocol.part" "$d/protocol.json"
        gsg_log "$GSG_PROG: $r: $(cat "$d/protocol.json")"
        report
    done
fi

report
cat "$out/table.md"
