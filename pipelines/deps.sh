#!/usr/bin/env bash
# pipelines/deps.sh: install the Debian packages gsg needs when they are missing.
#   --reference   also the reference/peer packages (PyTorch, torchvision) used by
#                 parity tests and benchmarks (tests skip with a reason without them)
#   --fuzz        also clang and its libFuzzer runtime (`make fuzz`)
set -euo pipefail
pkgs=(build-essential zstd libzstd-dev libturbojpeg0-dev libpng-dev zlib1g-dev libopenblas-openmp-dev
      librandom123-dev libdnnl-dev bats python3-numpy python3-zstandard dataset-fashion-mnist gnuplot-nox time
      libopenmpi-dev openmpi-bin)
if [ "${1:-}" = "--reference" ]; then pkgs+=(python3-torch python3-torchvision); fi
if [ "${1:-}" = "--fuzz" ]; then pkgs+=(clang-14 libclang-rt-14-dev); fi
missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then missing+=("$p"); fi
done
if [ "${#missing[@]}" -eq 0 ]; then echo "deps: all ${#pkgs[@]} packages present"; exit 0; fi
echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: not root; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: installed ${#missing[@]} packages"
