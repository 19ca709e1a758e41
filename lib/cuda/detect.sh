#!/usr/bin/env bash
# detect.sh NVCC CC: print the linker flags for the CUDA runtime that NVCC belongs to, or one line
# "none: <why>" when no libcudart can be linked. Used by the Makefile (CUDA=auto|1).
# Looks where nvcc itself links from (nvcc --dryrun), then the usual install layouts; prefers the
# static runtime (binaries then need no libcudart.so where they run), and proves the choice with a
# test link, so a broken or partial toolkit turns the backend off instead of breaking the build.
set -u
nvcc=${1:?nvcc} cc=${2:-cc}
real=$(readlink -f "$nvcc") || { echo "none: $nvcc does not resolve"; exit 0; }
home=$(dirname "$(dirname "$real")")
dirs=$("$nvcc" --dryrun -x cu /dev/null -o /dev/null 2>&1 | sed -n 's/^#\$ LIBRARIES=//p' |
       tr ' ' '\n' | tr -d '"' | sed -n 's/^-L//p' | grep -v '/stubs$')
dirs="$dirs $home/targets/x86_64-linux/lib $home/lib64 $home/lib /usr/local/cuda/lib64
      /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu /usr/lib/cuda/lib64"
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
printf 'extern int cudaGetDeviceCount(int *);\nint main(void) { int n = 0; return cudaGetDeviceCount(&n) * 0; }\n' >"$tmp/t.c"
looked=""
for d in $dirs; do
  [ -d "$d" ] || continue
  d=$(readlink -f "$d"); case " $looked " in *" $d "*) continue ;; esac
  looked="$looked $d"
  cands=()
  [ -f "$d/libcudart_static.a" ] && cands+=("$d/libcudart_static.a -ldl -lrt -lpthread")
  so=$(ls "$d"/libcudart.so* 2>/dev/null | sort | head -n 1)
  [ -n "$so" ] && cands+=("-L$d -l:$(basename "$so") -Wl,-rpath,$d")
  for flags in "${cands[@]}"; do
    # shellcheck disable=SC2086
    if "$cc" "$tmp/t.c" -o "$tmp/t" $flags >/dev/null 2>&1; then echo "$flags"; exit 0; fi
  done
done
echo "none: no linkable libcudart next to $real (looked in:${looked:- nothing that exists})"
