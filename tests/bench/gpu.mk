# gpu.mk: `make bench-gpu` (issue 11 §4: ours vs PyTorch on the same GPU, tests/bench/gpu_bench.sh) and
# `make gpu-check` (test-gpu, bench-gpu and a short fmnist training on cuda, every result under
# GPU_OUT; pipelines/gpu-check.sh). Both need a CUDA device; without one they say so and fail.
#   make bench-gpu [GPU_OUT=results/gpu] [GPU_BENCH_STEPS=10]
#   make gpu-check [GPU_OUT=results/gpu] [GPU_TRAIN_MINUTES=2]
# With a bundle (make gpu-bundle: GPU_BUNDLE, default build/gpu-bundle, or its .tar.gz) gpu-check builds
# nothing: it runs the bundle's binaries (a bare GPU machine has no Debian packages to build with).
.PHONY: bench-gpu gpu-check

GPU_OUT          ?= results/gpu
GPU_BENCH_STEPS  ?= 10
GPU_TRAIN_MINUTES ?= 2

bench-gpu: $(BUILD)/bench/gpu_bench_step
	@BUILD=$(BUILD) bash tests/bench/gpu_bench.sh --out $(GPU_OUT)/bench --steps $(GPU_BENCH_STEPS)

GPU_CHECK_BUNDLE := $(wildcard $(or $(GPU_BUNDLE),build/gpu-bundle)/gpu-check $(or $(GPU_BUNDLE),build/gpu-bundle).tar.gz)
gpu-check: $(if $(GPU_CHECK_BUNDLE),,all)
	@BUILD=$(BUILD) GPU_TRAIN_MINUTES=$(GPU_TRAIN_MINUTES) $(if $(GPU_BUNDLE),GSG_BUNDLE=$(GPU_BUNDLE)) \
		bash pipelines/gpu-check.sh --out $(GPU_OUT)
