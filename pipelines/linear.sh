#!/usr/bin/env bash
# pipelines/linear.sh: linear probe of one encoder (train split -> test split).
# Options: see pipelines/evaluate.sh --help (e.g. --eval-args "--solver ridge").
set -euo pipefail
GSG_PROG=linear.sh exec bash "$(dirname "$0")/evaluate.sh" --mode linear "$@"
