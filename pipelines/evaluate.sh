#!/usr/bin/env bash
# pipelines/evaluate.sh: encode a split pair with one encoder and evaluate it
# (k-NN or linear probe). knn.sh and linear.sh are this script with --mode set.
set -euo pipefail
GSG_PROG=${GSG_PROG:-evaluate.sh}
. "$(dirname "$0")/lib.sh"

usage() {
    cat <<USAGE
Usage: $GSG_PROG (--ckpt FILE | --init RECIPE | --like FILE | --pixels) [OPTIONS]
Encode the train split (the bank / probe training set) and the test split of DATA
with one encoder, then evaluate with gsg-eval. Prints one result line; writes
OUT/<mode>.json (gsg-eval --json) and OUT/<mode>.txt (the table).

  --ckpt FILE        a gsg-step checkpoint
  --init RECIPE      a randomly initialised encoder of a recipe's model (--seed picks it)
  --like FILE        a randomly initialised encoder with checkpoint FILE's architecture
  --pixels           raw pixels, no encoder
  --mode M           knn|linear (default knn)
  --data D           data set for gsg-augment (default fashion-mnist)
  --recipe R         eval preprocessing recipe (default fmnist)
  --bank-limit N     first N training images (default 0 = all)
  --test-limit N     first N test images (default 0 = all)
  --out DIR          results directory (default results/eval)
  --cache DIR        where the plain image streams are kept (default OUT/plain)
  --label TEXT       name of this row in the printed line
  --seed S           --init seed (default 0)
  --device D         cpu|cuda for gsg-encode (default cpu)
  --eval-args "..."  extra gsg-eval options (e.g. "-k 20 -t 0.07" or "--solver ridge")
  --keep             keep the feature streams (default: removed after evaluation)
  --projections      also write the projections into the feature streams (with --keep)
  -h, --help         this help
Exit status: 0 success, 1 a tool failed, 2 usage error.
USAGE
}

enc=() mode=knn data=${DATA:-fashion-mnist} recipe=${RECIPE:-fmnist} bank=0 test=0 out=results/eval cache=""
label="" seed=0 device=${DEVICE:-cpu} eval_args="" keep=0 proj=()
while [ $# -gt 0 ]; do
    case $1 in
        --ckpt) enc=(--ckpt "$2"); label=${label:-$2}; shift 2 ;;
        --init) enc=(--init "$2"); shift 2 ;;
        --like) enc=(--like "$2"); shift 2 ;;
        --pixels) enc=(--pixels); shift ;;
        --mode) mode=$2; shift 2 ;;
        --data) data=$2; shift 2 ;;
        --recipe) recipe=$2; shift 2 ;;
        --bank-limit) bank=$2; shift 2 ;;
        --test-limit) test=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --cache) cache=$2; shift 2 ;;
        --label) label=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --device) device=$2; shift 2 ;;
        --eval-args) eval_args=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        --projections) proj=(--projections); shift ;;
        -h|--help) usage; exit 0 ;;
        *) gsg_usage_die "unknown option '$1'" ;;
    esac
done
[ ${#enc[@]} -gt 0 ] || gsg_usage_die "give --ckpt FILE, --init RECIPE, --like FILE or --pixels"
case $mode in knn|linear) ;; *) gsg_usage_die "--mode: '$mode' is not knn or linear" ;; esac
[[ "$bank" =~ ^[0-9]+$ && "$test" =~ ^[0-9]+$ ]] || gsg_usage_die "--bank-limit and --test-limit take counts"
case ${enc[0]} in --init|--like) enc+=(--seed "$seed") ;; esac
label=${label:-${enc[*]}}
cache=${cache:-$out/plain}
gsg_need_tools gsg-augment gsg-encode gsg-eval
mkdir -p "$out" "$cache"

t0=$(gsg_seconds)
dkey=$(printf '%s' "$data" | cksum | cut -d ' ' -f 1)   # cached plain images are keyed by data, recipe, limit
trp="$cache/train_${dkey}_${recipe}_${bank}.gsgt" tep="$cache/test_${dkey}_${recipe}_${test}.gsgt"
gsg_plain "$data" "$recipe" train "$bank" "$trp"
gsg_plain "$data" "$recipe" test "$test" "$tep"
tag=$(printf '%s' "${enc[*]}" | tr -c 'a-zA-Z0-9_.-' '_' | tail -c 60)
if [ "${enc[0]}" = --pixels ]; then
    trf=$trp tef=$tep      # gsg-eval reads image streams as pixel features directly
else
    trf="$out/features_train_$tag.gsgt" tef="$out/features_test_$tag.gsgt"
    gsg-encode "${enc[@]}" --device "$device" -o "$trf" "$trp"
    gsg-encode "${enc[@]}" "${proj[@]}" --device "$device" -o "$tef" "$tep"
fi
# shellcheck disable=SC2086
gsg-eval "$mode" --json --train "$trf" --test "$tef" $eval_args >"$out/$mode.json.tmp"
mv "$out/$mode.json.tmp" "$out/$mode.json"
if [ "${enc[0]}" != --pixels ] && [ "$keep" = 0 ]; then rm -f "$trf" "$tef"; fi
j="$out/$mode.json"
printf '%s\t%s\ttop1 %s %%\ttop5 %s %%\tbank %s\ttest %s\t%ss\n' "$label" "$mode" "$(gsg_pct "$(gsg_json top1 "$j")")" \
    "$(gsg_pct "$(gsg_json top5 "$j")")" "$(gsg_json train_rows "$j")" "$(gsg_json test_rows "$j")" "$(gsg_elapsed "$t0")" |
    tee "$out/$mode.txt"
