#!/usr/bin/env bash
# pipelines/gpu-check.sh: everything a GPU machine must tell us in one prepared run (`make gpu-check`, or
# `bash build/gpu-bundle/gpu-check` from the bundle of `make gpu-bundle`), every result under OUT
# (default results/gpu), so one run shows every failing op at once:
#   1. device   nvidia-smi, the bundle's manifest, the GPU libraries found: which file, which version
#               (device.txt); then build.txt: "using the bundle" (never a rebuild), or a build here
#   2. test     the CUDA-vs-CPU op table, step parity and runtime tests under GSG_REQUIRE_GPU=1: a skip
#               is a failure (test-gpu.txt); compute-sanitizer memcheck on the runtime test and the op
#               table when the tool exists (memcheck.txt)
#   3. bench    tests/bench/gpu_bench.sh, ours vs PyTorch (bench/table.md, bench/*.log)
#   4. train    the fmnist demo on cuda for GPU_TRAIN_MINUTES (train/table.md): SimSiam+GSG vs a random
#               encoder and raw pixels on the same k-NN split
# then summary.txt: one line per phase with its exit status and wall time. About 7-9 minutes (estimated
# by reading, never timed: GPU_BENCH_COMPILE=none and GPU_TRAIN_MINUTES=1 shorten it).
#   gpu-check.sh [--out DIR] [--phases "device test bench train"] [--cpu] [--pack] [--dry-run]
# --cpu   the rehearsal on a machine without a GPU: the same binaries, libraries, scripts and data, on
#         the CPU and tiny (skips allowed, one bench step of ours on the CPU and none of PyTorch, a
#         64-image training and k-NN): proves the bundle runs where it is unpacked, not the GPU.
# --pack  leave OUT as summary.txt, table-bench.md, table-train.md and logs.tar.gz (everything else),
#         for a machine that returns only a few files.
# The bundle: when this script runs from one (its folder has gpu-check and build/lib) it uses that build
# with build/lib first on LD_LIBRARY_PATH; from the repository, a bundle at GSG_BUNDLE (default
# build/gpu-bundle, or its .tar.gz, unpacked first) takes over the run. Without a bundle it builds when
# nvcc exists (needs the Debian packages) or uses the build in BUILD.
# cuBLAS, cuDNN and NCCL: GSG_CUDA_LIBDIR, then every site-packages/nvidia/*/lib of python3 (PyTorch's
# wheels: nvidia/cu13/lib with CUDA 13, nvidia/cublas/lib ... before), then the toolkit's lib64; all
# are exported as GSG_CUDA_LIBDIR and put on LD_LIBRARY_PATH. python3 is asked only for its site
# folders (no numpy, no torch import).
# Environment: BUILD (default build); GPU_TRAIN_MINUTES (2); GSG_GPU_DATA (Fashion-MNIST's IDX folder;
# default the bundle's data/fashion-mnist, /usr/share/datasets/fashion-mnist, carry/fashion-mnist).
# Exit status: 0 every phase passed, 1 a phase failed, 2 usage error.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=results/gpu phases="device test bench train" dry=0 cpu=0 pack=0
args=("$@")
while [ $# -gt 0 ]; do
    case $1 in
        --out) out=$2; shift 2 ;;
        --phases) phases=$2; shift 2 ;;
        --cpu) cpu=1; shift ;;
        --pack) pack=1; shift ;;
        --dry-run) dry=1; shift ;;
        -h|--help) sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu-check.sh: unknown option '$1'" >&2; echo "Try 'gpu-check.sh --help'." >&2; exit 2 ;;
    esac
done
for p in $phases; do
    case $p in device|test|bench|train) ;; *) echo "gpu-check.sh: --phases: unknown phase '$p' (device test bench train)" >&2; exit 2 ;; esac
done
case $out in /*) ;; *) out="$PWD/$out" ;; esac   # the run may continue from the bundle's folder

# ---- which build: this bundle, a bundle beside the repository, or the repository's build ----
bundle=""
if [ -x "$here/gpu-check" ] && [ -d "$here/build/lib" ]; then
    bundle=$here
elif [ "$dry" = 0 ]; then
    b=${GSG_BUNDLE:-$here/build/gpu-bundle}
    case $b in /*) ;; *) b="$here/$b" ;; esac
    if [ ! -x "$b/gpu-check" ] && [ -f "$b.tar.gz" ]; then
        echo "== gpu-check: unpacking $b.tar.gz"
        mkdir -p "$(dirname "$b")" && tar -C "$(dirname "$b")" -xzf "$b.tar.gz" || { echo "gpu-check: cannot unpack $b.tar.gz" >&2; exit 1; }
    fi
    if [ -x "$b/gpu-check" ] && [ -d "$b/build/lib" ]; then
        echo "== gpu-check: using the bundle $b (no build here)"
        exec bash "$b/pipelines/gpu-check.sh" "${args[@]}" --out "$out"
    fi
fi
cd "$here"
if [ -n "$bundle" ]; then
    BUILD=build
    export LD_LIBRARY_PATH="$bundle/build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    data_default="$bundle/data/fashion-mnist"
else
    BUILD=${BUILD:-build}
    data_default=""
fi
mkdir -p "$out"
summary="$out/summary.txt"
: >"$summary"
minutes=${GPU_TRAIN_MINUTES:-2}

# ---- cuBLAS / cuDNN / NCCL: GSG_CUDA_LIBDIR, PyTorch's wheels, the toolkit ----
wheel_dirs() {   # every site-packages/nvidia/*/lib of each python3 found, colon-separated
    local py seen=""
    for py in ${GSG_PYTHON:-} python3 /usr/bin/python3 /usr/local/bin/python3; do
        command -v "$py" >/dev/null 2>&1 || continue
        "$py" - 2>/dev/null <<'PY' || true
import glob, os, site
roots = []
try:
    roots += site.getsitepackages()
except Exception:
    pass
try:
    roots.append(site.getusersitepackages())
except Exception:
    pass
for r in roots:
    for d in sorted(glob.glob(os.path.join(r, "nvidia", "*", "lib"))):
        print(d)
PY
    done | while read -r d; do case ":$seen:" in *":$d:"*) ;; *) seen="$seen:$d"; echo "$d" ;; esac; done
}
libdirs=${GSG_CUDA_LIBDIR:-}
for d in $(wheel_dirs) $(dirname "$(readlink -f "$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)")")/../lib64 /usr/local/cuda/lib64; do
    [ -d "$d" ] || continue
    d=$(cd "$d" && pwd -P)
    case ":$libdirs:" in *":$d:"*) ;; *) libdirs="${libdirs:+$libdirs:}$d" ;; esac
done
if [ -n "$libdirs" ]; then
    export GSG_CUDA_LIBDIR=$libdirs
    export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$libdirs"
fi
# a GPU run never passes by skipping
[ "$cpu" = 1 ] || export GSG_REQUIRE_GPU=1

# phase NAME LIMIT_S LOG CMD...: run one phase under a time limit, record its status
phase() {
    local name=$1 lim=$2 log=$3; shift 3
    case " $phases " in *" $name "*) ;; *) return 0 ;; esac
    if [ "$dry" = 1 ]; then echo "would run $name (limit ${lim}s, log $log): $*"; return 0; fi
    echo "== gpu-check: $name: $*"
    local t0=$SECONDS
    timeout "$lim" bash -c '"$@"' _ "$@" >"$log" 2>&1   # the steps are exported shell functions
    local rc=$?
    local why=""
    [ $rc -eq 124 ] && why=" (timed out after ${lim}s)"
    printf '%-8s rc=%d %4ds%s  %s\n' "$name" "$rc" $((SECONDS - t0)) "$why" "${log#"$out"/}" | tee -a "$summary"
    tail -n 5 "$log" | sed 's/^/    /'
    return 0
}

device_info() {
    nvidia-smi || { echo "nvidia-smi: not available"; [ "$cpu" = 1 ] || echo "(no GPU driver: every GPU phase will fail)"; }
    if [ -n "$bundle" ]; then echo "bundle: $bundle"; else echo "bundle: none (the build in $BUILD)"; fi
    [ -n "$bundle" ] && sed -n '1,12p' "$bundle/MANIFEST.txt"
    echo "GSG_CUDA_LIBDIR=${GSG_CUDA_LIBDIR:-}"
    echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
    echo "GSG_REQUIRE_GPU=${GSG_REQUIRE_GPU:-0}"
    command -v nvcc && nvcc --version | tail -n 2
    # which file each library came from, and its version (no device needed)
    "$BUILD/tests/gpu_test_cuda_runtime" | grep '^#' || true
}

build_if_needed() {
    if [ -n "$bundle" ]; then
        echo "using the bundle $bundle: no build on this machine"
        [ -x "$BUILD/tests/gpu_test_cuda_ops" ] && [ -x "$BUILD/bench/gpu_bench_step" ]
    elif [ -x "$BUILD/tests/gpu_test_cuda_ops" ] && [ -x "$BUILD/bench/gpu_bench_step" ] && [ "${GPU_CHECK_REBUILD:-0}" != 1 ]; then
        echo "using the build in $BUILD (GPU_CHECK_REBUILD=1 rebuilds)"
    elif command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
        make --no-print-directory -j"$(nproc)" all BUILD="$BUILD"
    else
        echo "gpu-check: no bundle, no nvcc and no build in $BUILD (make gpu-bundle on the build machine)"; return 1
    fi
}

memcheck() {
    local cs
    cs=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null) || {
        echo "compute-sanitizer not found: memcheck not run"; return 0; }
    "$cs" --tool memcheck --error-exitcode 3 "$BUILD/tests/gpu_test_cuda_runtime" &&
        "$cs" --tool memcheck --error-exitcode 3 "$BUILD/tests/gpu_test_cuda_ops"
}

cpu_bench() {   # --cpu: the bench binary's GSG step (4 views: the widest path) once on the CPU
    "$BUILD/bench/gpu_bench_step" --device cpu --recipe fmnist --method gsg --batch 4 --steps 1 --warmup 0
}

train_demo() {
    local data=${GSG_GPU_DATA:-}
    if [ -z "$data" ]; then
        for d in $data_default /usr/share/datasets/fashion-mnist carry/fashion-mnist; do
            [ -f "$d/train-images-idx3-ubyte.gz" ] || [ -f "$d/train-images-idx3-ubyte" ] && { data=$d; break; }
        done
    fi
    [ -n "$data" ] || { echo "gpu-check: no Fashion-MNIST (set GSG_GPU_DATA or carry carry/fashion-mnist)"; return 1; }
    if [ "$cpu" = 1 ]; then
        PATH="$PWD/$BUILD/bin:$PATH" GSG_BIN="$PWD/$BUILD/bin" DEMO_LIMIT=64 DEMO_BANK=128 DEMO_TEST=64 DEMO_BATCH=16 DEMO_EPOCHS=1 \
            bash pipelines/demo.sh --device cpu --data "$data" --minutes 0 --out "$out/train"
    else
        PATH="$PWD/$BUILD/bin:$PATH" GSG_BIN="$PWD/$BUILD/bin" DEMO_LIMIT=60000 DEMO_BANK=60000 DEMO_TEST=10000 DEMO_BATCH=256 \
            DEMO_EPOCHS=20 bash pipelines/demo.sh --device cuda --data "$data" --minutes "$minutes" --out "$out/train"
    fi
}

export -f device_info build_if_needed memcheck cpu_bench train_demo
export BUILD out minutes bundle cpu data_default
phase device 60 "$out/device.txt" device_info
phase device 600 "$out/build.txt" build_if_needed
phase test 240 "$out/test-gpu.txt" env BUILD="$BUILD" bash tests/run.sh --gpu
if [ "$cpu" = 1 ]; then
    phase bench 120 "$out/bench.txt" cpu_bench
else
    phase test 240 "$out/memcheck.txt" memcheck
    phase bench 420 "$out/bench.txt" env BUILD="$BUILD" bash tests/bench/gpu_bench.sh --out "$out/bench" --steps 5 --warmup 2 \
        --compile "${GPU_BENCH_COMPILE:-gsg}"
fi
phase train $((minutes * 60 + 240)) "$out/train.txt" train_demo
[ "$dry" = 1 ] && exit 0
echo "== gpu-check: summary ($summary)"
cat "$summary"
if [ "$pack" = 1 ]; then
    # a few files back: the summary, the two tables, one archive of every log
    [ -f "$out/bench/table.md" ] && cp "$out/bench/table.md" "$out/table-bench.md"
    [ -f "$out/train/table.md" ] && cp "$out/train/table.md" "$out/table-train.md"
    (cd "$out" && find . -mindepth 1 -maxdepth 1 ! -name summary.txt ! -name 'table-*.md' ! -name logs.tar.gz -printf '%P\n' |
        tar -czf logs.tar.gz -T - && find . -mindepth 1 -maxdepth 1 ! -name summary.txt ! -name 'table-*.md' ! -name logs.tar.gz -exec rm -rf {} +)
    echo "== gpu-check: packed into $out: $(cd "$out" && ls | tr '\n' ' ')"
fi
! grep -qv ' rc=0 ' "$summary"
