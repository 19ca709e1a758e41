#!/usr/bin/env bash
# pipelines/protocol.sh: the evaluation protocol of docs/results.md for one encoder, one JSON line.
# Backbone features with eval-mode BatchNorm (gsg-encode), the same for trained checkpoints,
# randomly initialised encoders and raw pixels:
#   knn200, knn20   weighted k-NN top-1 (T = 0.1) at k = 200 and k = 20
#   linear          linear probe top-1 on frozen, standardised features (gsg-eval linear, a fixed
#                   recipe: SGD, 100 epochs, batch 256, lr 0.1 cosine, momentum 0.9, no weight decay)
#   erank           effective rank of the centred backbone features of the queries (gsg-eval collapse)
# Splits: --split test: bank = the 60,000 training images, queries = the 10,000 test images (the
# final tables only); --split val: bank = the first 60,000 - N training images, queries = the last
# N (--val N, default 10,000): every choice made by looking at accuracy is made here.
set -euo pipefail
GSG_PROG=protocol.sh
. "$(dirname "$0")/lib.sh"

usage() {
    cat <<USAGE
Usage: $GSG_PROG (--ckpt FILE | --init RECIPE [--seed S] | --pixels) [OPTIONS]
  --split S        val|test (default val)
  --val N          held-out training images for --split val (default 10000)
  --label TEXT     the row's name in the JSON line (default: the encoder)
  --data D  --recipe R (default fashion-mnist, fmnist)  --device D (cpu|cuda for gsg-encode)
  --cache DIR      where the plain image streams are kept (default \$GSG_CACHE or results/plain)
  --out FILE       append the JSON line to FILE too (default: stdout only)
  --no-linear      skip the linear probe (the slowest part)
  -h, --help       this help
Prints one JSON line: {"label", "split", "knn200", "knn20", "linear", "erank", "bank", "queries", "seconds"}.
Exit status: 0 success, 1 a tool failed, 2 usage error.
USAGE
}

enc=() split=val val=10000 label="" data=fashion-mnist recipe=fmnist device=cpu seed=0 out="" linear=1
cache=${GSG_CACHE:-results/plain}
while [ $# -gt 0 ]; do
    case $1 in
        --ckpt) enc=(--ckpt "$2"); shift 2 ;;
        --init) enc=(--init "$2"); shift 2 ;;
        --pixels) enc=(--pixels); shift ;;
        --seed) seed=$2; shift 2 ;;
        --split) split=$2; shift 2 ;;
        --val) val=$2; shift 2 ;;
        --label) label=$2; shift 2 ;;
        --data) data=$2; shift 2 ;;
        --recipe) recipe=$2; shift 2 ;;
        --device) device=$2; shift 2 ;;
        --cache) cache=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --no-linear) linear=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) gsg_usage_die "unknown option '$1'" ;;
    esac
done
[ ${#enc[@]} -gt 0 ] || gsg_usage_die "give --ckpt FILE, --init RECIPE or --pixels"
case $split in val|test) ;; *) gsg_usage_die "--split: '$split' is not val or test" ;; esac
[[ "$val" =~ ^[0-9]+$ ]] && [ "$val" -gt 0 ] || gsg_usage_die "--val: '$val' is not a positive count"
[ "${enc[0]}" = --init ] && enc+=(--seed "$seed")
label=${label:-${enc[*]}}
gsg_need_tools gsg-augment gsg-encode gsg-eval
mkdir -p "$cache"
t0=$(gsg_seconds)
dkey=$(printf '%s' "$data" | cksum | cut -d ' ' -f 1)
if [ "$split" = val ]; then
    ntotal=$(gsg_count_images "$data" "$recipe" 0)
    [ "$val" -lt "$ntotal" ] || gsg_usage_die "--val $val: the data set has $ntotal training images"
    ntrain=$((ntotal - val))
    bp="$cache/train_${dkey}_${recipe}_0-${ntrain}.gsgt" qp="$cache/val_${dkey}_${recipe}_${ntrain}-${ntotal}.gsgt"
    gsg_plain "$data" "$recipe" train "0:$ntrain" "$bp"
    gsg_plain "$data" "$recipe" train "$ntrain:$ntotal" "$qp"
else
    bp="$cache/train_${dkey}_${recipe}_0.gsgt" qp="$cache/test_${dkey}_${recipe}_0.gsgt"
    gsg_plain "$data" "$recipe" train 0 "$bp"
    gsg_plain "$data" "$recipe" test 0 "$qp"
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gsg-protocol.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [ "${enc[0]}" = --pixels ]; then
    bf=$bp qf=$qp
else
    bf=$tmp/bank.gsgt qf=$tmp/queries.gsgt
    gsg-encode "${enc[@]}" --device "$device" -o "$bf" "$bp"
    gsg-encode "${enc[@]}" --device "$device" -o "$qf" "$qp"
fi
gsg-eval knn --json -k 200 --train "$bf" --test "$qf" >"$tmp/k200.json"
gsg-eval knn --json -k 20 --train "$bf" --test "$qf" >"$tmp/k20.json"
lin=null
if [ "$linear" = 1 ]; then
    gsg-eval linear --json --train "$bf" --test "$qf" >"$tmp/lin.json"
    lin=$(gsg_json top1 "$tmp/lin.json")
fi
gsg-eval collapse --json --test "$qf" >"$tmp/col.json"
line=$(printf '{"label":"%s","split":"%s","knn200":%s,"knn20":%s,"linear":%s,"erank":%s,"bank":%s,"queries":%s,"seconds":%s}' \
    "$label" "$split" "$(gsg_json top1 "$tmp/k200.json")" "$(gsg_json top1 "$tmp/k20.json")" "$lin" \
    "$(gsg_json erank "$tmp/col.json")" "$(gsg_json train_rows "$tmp/k200.json")" "$(gsg_json test_rows "$tmp/k200.json")" \
    "$(gsg_elapsed "$t0")")
echo "$line"
[ -z "$out" ] || echo "$line" >>"$out"
