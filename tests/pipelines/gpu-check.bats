#!/usr/bin/env bats
# The host parts of the GPU checks (issue 11): pipelines/gpu-check.sh and tests/bench/gpu_bench.sh plan
# their runs and refuse bad options; gpu_summary.py builds the table from RESULT lines and never invents a
# missing row; the two step drivers run on the CPU (our trainer, the PyTorch peer) and refuse cuda
# cleanly without a device; the bundle of `make gpu-bundle` passes its ldd proof and its CPU rehearsal runs
# from an empty folder (docs/gpu.md). What needs a GPU is `make gpu-check` on a GPU machine.
bats_require_minimum_version 1.5.0

setup() {
    R=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
    B=$R/${GSG_BUILD:-build}
    T=$BATS_TEST_TMPDIR
}

@test "gpu-check.sh --dry-run plans the four phases with time limits and result files" {
    run bash "$R/pipelines/gpu-check.sh" --dry-run --out "$T/g"
    [ "$status" -eq 0 ]
    [[ "$output" == *"would run device"*"device.txt"* ]]
    [[ "$output" == *"would run test"*"test-gpu.txt"*"tests/run.sh --gpu"* ]]
    [[ "$output" == *"would run test"*"memcheck.txt"* ]]
    [[ "$output" == *"would run bench"*"gpu_bench.sh --out $T/g/bench"* ]]
    [[ "$output" == *"would run train"*"train.txt"* ]]
    run bash "$R/pipelines/gpu-check.sh" --dry-run --phases "bench" --out "$T/g"
    [ "$status" -eq 0 ]
    [[ "$output" != *"would run train"* && "$output" == *"would run bench"* ]]
}

@test "gpu-check.sh: an unknown phase or option is a usage error" {
    run --separate-stderr bash "$R/pipelines/gpu-check.sh" --phases "test nope"
    [ "$status" -eq 2 ]
    [[ "$stderr" == *"unknown phase 'nope'"* ]]
    run --separate-stderr bash "$R/pipelines/gpu-check.sh" --bogus
    [ "$status" -eq 2 ]
}

@test "gpu_bench.sh --dry-run: ours in fp32 and bf16 (no graph row), PyTorch eager/amp, compile for gsg only" {
    run bash "$R/tests/bench/gpu_bench.sh" --dry-run --out "$T/b"
    [ "$status" -eq 0 ]
    [ "$(grep -c 'gpu_bench_step --recipe cifar --method gsg --batch 512' <<<"$output")" -eq 2 ]
    [ "$(grep -c 'gpu_bench_step --recipe fmnist --method simsiam --batch 256' <<<"$output")" -eq 2 ]
    [ "$(grep -c -- '--graph' <<<"$output")" -eq 0 ]
    [ "$(grep -c 'mode compile' <<<"$output")" -eq 2 ]
    [ "$(grep -c 'method simsiam.*mode compile' <<<"$output")" -eq 0 ]
    run bash "$R/tests/bench/gpu_bench.sh" --dry-run --compile none --recipes fmnist --out "$T/b"
    [ "$(grep -c 'mode compile' <<<"$output")" -eq 0 ]
    [ "$(grep -c 'recipe cifar' <<<"$output")" -eq 0 ]
    run bash "$R/tests/bench/gpu_bench.sh" --compile sometimes
    [ "$status" -eq 2 ]
}

@test "gpu_summary.py: ratios, TFLOP/s and the 200-epoch time from RESULT lines; missing rows stay '-'" {
    # synthetic input for the table logic (not a measurement)
    cat >"$T/r.txt" <<'EOF2'
RESULT ours recipe=cifar method=gsg precision=fp32 graph=0 batch=512 img_s=1000.00 step_ms=512 best_ms=500
RESULT ours recipe=cifar method=gsg precision=bf16 graph=0 batch=512 img_s=3000.00 step_ms=170 best_ms=160
RESULT ours recipe=cifar method=gsg precision=bf16 graph=0 batch=512 img_s=10.00 step_ms=51200 best_ms=51200
RESULT ours recipe=cifar method=gsg precision=bf16 graph=1 batch=512 img_s=9000.00 step_ms=57 best_ms=57
RESULT torch recipe=cifar method=gsg mode=amp batch=512 img_s=2500.00 step_ms=204.8 best_ms=200 flops_per_step=6860000000000
RESULT torch recipe=cifar method=gsg mode=compile batch=512 img_s=2000.00 step_ms=256 best_ms=250 flops_per_step=0
RESULT gemm bf16_tflops=700.0 device=X
some other line
EOF2
    run /usr/bin/python3 "$R/tests/bench/gpu_summary.py" "$T/r.txt"
    [ "$status" -eq 0 ]
    row=$(grep '^| cifar | gsg |' <<<"$output")
    # ours best 3000 vs AMP 2500 = 1.20x, vs compile 2000 = 1.50x; 6.86 TFLOP per step of 512 images
    # a repeated bf16 row (an eager --graph fallback) does not overwrite the first; graph=1 is not reported
    [[ "$row" == *"| 1000 | 3000 | - | 2500 | 2000 |"* ]]
    [[ "$output" == *"CUDA graph: not reported"* ]]
    [[ "$row" == *"1.20x (goal 1.0x)"*"1.50x (goal 1.2x)"* ]]
    [[ "$row" == *"40.2 (6 % of 700)"* ]]
    [[ "$row" == *"0.93 h"* ]]
    [[ "$output" == *"700.0 TFLOP/s"* ]]
    printf 'RESULT ours recipe=fmnist method=simsiam precision=fp32 graph=0 batch=256 img_s=50 step_ms=1 best_ms=1\n' >"$T/s.txt"
    run /usr/bin/python3 "$R/tests/bench/gpu_summary.py" "$T/s.txt"
    row=$(grep '^| fmnist | simsiam |' <<<"$output")
    [[ "$row" == *"| 50 | - | - | - | - | - | - | - |"* ]]
    [[ "$output" == *"not measured"* ]]
}

@test "gpu_bench_step: our trainer's step on the cpu prints a RESULT line; bad options exit 2" {
    run "$B/bench/gpu_bench_step" --device cpu --recipe fmnist --method gsg --batch 4 --steps 1 --warmup 0
    [ "$status" -eq 0 ]
    [[ "$output" == *"RESULT ours recipe=fmnist method=gsg precision=fp32 graph=0 batch=4 img_s="* ]]
    run --separate-stderr "$B/bench/gpu_bench_step" --precision fp8
    [ "$status" -eq 2 ]
    [[ "$stderr" == *"--precision"* ]]
    run --separate-stderr "$B/bench/gpu_bench_step" --method byol
    [ "$status" -eq 2 ]
}

@test "gpu_bench_step --device cuda without a GPU fails with one line" {
    if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then skip "a GPU is present"; fi
    run --separate-stderr "$B/bench/gpu_bench_step" --recipe fmnist --batch 4 --steps 1
    [ "$status" -eq 1 ]
    [ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
    [[ "$stderr" == "gpu_bench_step: "*"CUDA"* ]]
}

@test "gpu_torch_step.py: the PyTorch peer's GSG step runs on the cpu; without a GPU the cuda run skips (77)" {
    /usr/bin/python3 -c 'import torch' 2>/dev/null || skip "no torch in /usr/bin/python3"
    run /usr/bin/python3 "$R/tests/bench/gpu_torch_step.py" --device cpu --recipe fmnist --method gsg --mode eager \
        --batch 4 --steps 1 --warmup 0
    [ "$status" -eq 0 ]
    [[ "$output" == *"RESULT torch recipe=fmnist method=gsg mode=eager batch=4 img_s="* ]]
    if ! /usr/bin/python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
        run /usr/bin/python3 "$R/tests/bench/gpu_torch_step.py" --recipe fmnist
        [ "$status" -eq 77 ]
    fi
}

@test "tests/gpu/test_step_gpu.c: its harness, built against the CPU itself, compares and passes (distance 0)" {
    cd "$R"
    local cflags libs
    cflags=$(make -s --no-print-directory print-config BUILD="${GSG_BUILD:-build}" | sed -n 's/^CFLAGS=//p')
    libs=$(make -s --no-print-directory print-config BUILD="${GSG_BUILD:-build}" | sed -n 's/^LDLIBS=//p')
    cc $cflags -Itests/unit -DSTEP_TEST_DEV=GSG_DEV_CPU tests/gpu/test_step_gpu.c -o "$T/step_self" -fopenmp "$B/libgsg.a" $libs
    run -0 "$T/step_self"
    [ "$(grep -c '^PASS' <<<"$output")" -eq 5 ]
    # the CPU's own spread (the tolerance's base) is measured, not zero; the self-distance is 0
    # (the rounding floor, parameters nudged by one ulp, is measured too: never 0, even without oneDNN)
    grep -Eq 'CPU spread [0-9.]*[1-9][0-9.e-]* \(convolutions [0-9.e-]+, rounding floor [0-9.]*[1-9][0-9.e-]*\), CUDA 0, lr x1.2 [0-9.e-]+ \(margin [0-9.e+]+\)$' <<<"$output"
}

@test "gpu-check.sh --cpu --pack: the rehearsal's phases, and a result folder of a few files" {
    run bash "$R/pipelines/gpu-check.sh" --dry-run --cpu --out "$T/c"
    [ "$status" -eq 0 ]
    [[ "$output" == *"would run bench"*"cpu_bench"* ]]
    [[ "$output" != *"memcheck"* && "$output" != *"gpu_bench.sh"* ]]
}

# The bundle (issue 19): self-contained, proven with ldd, and its CPU rehearsal runs from an empty folder
# under a clean environment. The portable build itself (make gpu-bundle: nvcc for every kernel) is too
# slow for this suite, so the case packs the bundle of `make gpu-bundle` when one exists, else packs
# the suite's own build with the same script (same packing, same proof; its extra libraries, oneDNN and
# MPI, are copied like the rest).
@test "gpu-bundle.sh: every bundled binary resolves inside the bundle; gpu-check --cpu runs from a copy in an empty folder" {
    [ -x "$B/tests/gpu_test_cuda_runtime" ] || skip "no GPU test binaries in $B"
    ls /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz >/dev/null 2>&1 || skip "no Fashion-MNIST"
    if [ -x "$R/build/gpu-bundle/gpu-check" ]; then
        src=$R/build/gpu-bundle
    else
        run bash "$R/pipelines/gpu-bundle.sh" --build "$B" --out "$T/packed/gpu-bundle"
        [ "$status" -eq 0 ] || { echo "$output"; false; }
        src=$T/packed/gpu-bundle
    fi
    e=$(mktemp -d "$T/empty.XXXX")
    cp -a "$src" "$e/b"
    # the ldd proof on the copy: LD_LIBRARY_PATH = its build/lib alone, a clean environment
    run bash "$R/pipelines/gpu-bundle.sh" --check "$e/b"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"in the bundle"*", 0 elsewhere or not at all"* ]]
    grep -q 'ldd proof' "$e/b/MANIFEST.txt"
    # no bundled script names the repository it was packed from
    ! grep -rIlF -- "$R" "$e/b/pipelines" "$e/b/tests" "$e/b/gpu-check"
    # the rehearsal, from the copy, with nothing of this shell's environment
    cd "$e"
    run env -i HOME="$T" PATH=/usr/bin:/bin bash b/gpu-check --cpu --pack --out "$e/out"
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$(grep -c ' rc=0 ' "$e/out/summary.txt")" -eq 5 ]   # device, build, test, bench, train
    [ -f "$e/out/logs.tar.gz" ] && [ -f "$e/out/table-train.md" ]
    [ "$(ls "$e/out" | wc -l)" -le 8 ]
    tar -xzf "$e/out/logs.tar.gz" -C "$e/out" device.txt test-gpu.txt
    grep -q "bundle: $e/b" "$e/out/device.txt"
    grep -q '^# libraries: cuBLAS .* from /.*cuDNN 9' "$e/out/device.txt"
    grep -q '^PASS gpu_libraries_found' "$e/out/test-gpu.txt" || grep -q 'gpu_test_cuda_runtime' "$e/out/test-gpu.txt"
}

@test "tests/run.sh --gpu under GSG_REQUIRE_GPU=1: a skip is a failure; without it, a skip is reported" {
    [ -x "$B/tests/gpu_test_cuda_ops" ] || skip "no GPU test binaries in $B"
    if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then skip "a GPU is present"; fi
    run -1 env GSG_REQUIRE_GPU=1 "$B/tests/gpu_test_cuda_ops"
    [[ "$output" == *"FAIL elementwise_and_relu: would skip"*"GSG_REQUIRE_GPU=1"* ]]
    [[ "$output" != *"SKIP "* ]]
    run -0 env -u GSG_REQUIRE_GPU "$B/tests/gpu_test_cuda_ops"
    [[ "$output" == *"SKIP elementwise_and_relu"* ]]
    cd "$R"
    run env GSG_REQUIRE_GPU=1 BUILD="${GSG_BUILD:-build}" bash tests/run.sh --gpu
    [ "$status" -ne 0 ]
    [[ "$output" == *" 0 passed"*"failed"* || "$output" == *"failed:"* ]]
}
