#!/usr/bin/env bash
# pipelines/knn.sh: weighted k-NN (k=200, T=0.1) of one encoder on DATA's test split,
# the train split as the bank. Options: see pipelines/evaluate.sh --help.
set -euo pipefail
GSG_PROG=knn.sh exec bash "$(dirname "$0")/evaluate.sh" --mode knn "$@"
