#!/usr/bin/env bash
# pipelines/gpu-check.sh: everything issue 11 needs from a GPU machine in one prepared run (`make gpu-check`),
# every result written under OUT (default results/gpu), so one run shows every failing op at once:
#   1. device   nvidia-smi, driver, the libraries found (device.txt)
#   2. test-gpu the CUDA-vs-CPU op table and runtime tests (test-gpu.txt), then compute-sanitizer memcheck
#               on the runtime test and the op table when the tool exists (memcheck.txt)
#   3. bench    tests/bench/gpu_bench.sh, ours vs PyTorch (bench/table.md, bench/*.log)
#   4. train    the fmnist demo on cuda for GPU_TRAIN_MINUTES (train/table.md): SimSiam+GSG vs a random
#               encoder and raw pixels on the same k-NN split
# then summary.txt: one line per phase with its exit status and wall time. About 8-12 minutes (estimated
# by reading, never timed: GPU_BENCH_COMPILE=none and GPU_TRAIN_MINUTES=1 shorten it).
#   gpu-check.sh [--out DIR] [--phases "device test bench train"] [--dry-run]
# Environment: BUILD (default build); GPU_TRAIN_MINUTES (2); GSG_GPU_DATA (Fashion-MNIST's IDX folder;
# default /usr/share/datasets/fashion-mnist, else carry/fashion-mnist); GSG_CUDA_LIBDIR (where cuBLAS and
# cuDNN are; default: the toolkit's lib64, else the nvidia-* wheels of the python that has torch).
# Without nvcc on the machine, carry a build made elsewhere (build/bin, build/tests, build/bench).
# Exit status: 0 every phase passed, 1 a phase failed, 2 usage error.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
out=results/gpu phases="device test bench train" dry=0
while [ $# -gt 0 ]; do
    case $1 in
        --out) out=$2; shift 2 ;;
        --phases) phases=$2; shift 2 ;;
        --dry-run) dry=1; shift ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu-check.sh: unknown option '$1'" >&2; echo "Try 'gpu-check.sh --help'." >&2; exit 2 ;;
    esac
done
for p in $phases; do
    case $p in device|test|bench|train) ;; *) echo "gpu-check.sh: --phases: unknown phase '$p' (device test bench train)" >&2; exit 2 ;; esac
done
mkdir -p "$out"
summary="$out/summary.txt"
: >"$summary"
minutes=${GPU_TRAIN_MINUTES:-2}

# cuBLAS / cuDNN: the toolkit's, else the wheels PyTorch brought (nvidia-cublas-*, nvidia-cudnn-*)
if [ -z "${GSG_CUDA_LIBDIR:-}" ] && ! ls /usr/local/cuda/lib64/libcudnn.so.9 >/dev/null 2>&1; then
    for py in /usr/bin/python3 python3; do
        d=$("$py" - 2>/dev/null <<'PY'
import importlib, os
dirs = []
for m in ("nvidia.cublas", "nvidia.cudnn", "nvidia.cuda_runtime"):
    try:
        mod = importlib.import_module(m)
        for p in list(getattr(mod, "__path__", [])):
            if os.path.isdir(os.path.join(p, "lib")):
                dirs.append(os.path.join(p, "lib"))
    except Exception:
        pass
print(":".join(dirs))
PY
)
        if [ -n "$d" ]; then export GSG_CUDA_LIBDIR=$d; export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; break; fi
    done
fi

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
    printf '%-8s rc=%d %4ds%s  %s\n' "$name" "$rc" $((SECONDS - t0)) "$why" "$log" | tee -a "$summary"
    tail -n 5 "$log" | sed 's/^/    /'
    return 0
}

device_info() {
    nvidia-smi || echo "nvidia-smi: not available"
    echo "GSG_CUDA_LIBDIR=${GSG_CUDA_LIBDIR:-}"
    command -v nvcc && nvcc --version | tail -n 2
    make --no-print-directory print-config BUILD="$BUILD" 2>&1 | grep -i cuda
}

build_if_needed() {
    if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
        make --no-print-directory -j"$(nproc)" all BUILD="$BUILD"
    elif [ -x "$BUILD/tests/gpu_test_cuda_ops" ] && [ -x "$BUILD/bench/gpu_bench_step" ]; then
        echo "no nvcc here: using the carried build in $BUILD"
    else
        echo "gpu-check: no nvcc and no carried build in $BUILD (carry build/bin, build/tests, build/bench)"; return 1
    fi
}

memcheck() {
    local cs
    cs=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null) || {
        echo "compute-sanitizer not found: memcheck not run"; return 0; }
    "$cs" --tool memcheck --error-exitcode 3 "$BUILD/tests/gpu_test_cuda_runtime" &&
        "$cs" --tool memcheck --error-exitcode 3 "$BUILD/tests/gpu_test_cuda_ops"
}

train_demo() {
    local data=${GSG_GPU_DATA:-}
    if [ -z "$data" ]; then
        for d in /usr/share/datasets/fashion-mnist carry/fashion-mnist; do
            [ -f "$d/train-images-idx3-ubyte.gz" ] || [ -f "$d/train-images-idx3-ubyte" ] && { data=$d; break; }
        done
    fi
    [ -n "$data" ] || { echo "gpu-check: no Fashion-MNIST (set GSG_GPU_DATA or carry carry/fashion-mnist)"; return 1; }
    PATH="$PWD/$BUILD/bin:$PATH" DEMO_LIMIT=60000 DEMO_BANK=60000 DEMO_TEST=10000 DEMO_BATCH=256 DEMO_EPOCHS=20 \
        bash pipelines/demo.sh --device cuda --data "$data" --minutes "$minutes" --out "$out/train"
}

export -f device_info build_if_needed memcheck train_demo
export BUILD out minutes
phase device 60 "$out/device.txt" device_info
phase device 600 "$out/build.txt" build_if_needed
phase test 240 "$out/test-gpu.txt" env BUILD="$BUILD" bash tests/run.sh --gpu
phase test 240 "$out/memcheck.txt" memcheck
phase bench 420 "$out/bench.txt" env BUILD="$BUILD" bash tests/bench/gpu_bench.sh --out "$out/bench" --steps 5 --warmup 2 \
    --compile "${GPU_BENCH_COMPILE:-gsg}"
phase train $((minutes * 60 + 240)) "$out/train.txt" train_demo
[ "$dry" = 1 ] && exit 0
echo "== gpu-check: summary ($summary)"
cat "$summary"
! grep -qv ' rc=0 ' "$summary"
