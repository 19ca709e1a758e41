# gpu.mk: `make bench-gpu` (issue 11 §4: ours vs PyTorch on the same GPU, tests/bench/gpu_bench.sh) and
# `make gpu-check` (test-gpu, bench-gpu and a short fmnist training on cuda, every result under
# GPU_OUT; pipelines/gpu-check.sh). Both need a CUDA device; without one they say so and fail.
#   make bench-gpu [GPU_OUT=results/gpu] [GPU_BENCH_STEPS=10]
#   make gpu-check [GPU_OUT=results/gpu] [GPU_TRAIN_MINUTES=2]
.PHONY: bench-gpu gpu-check

GPU_OUT          ?= results/gpu
GPU_BENCH_STEPS  ?= 10
GPU_TRAIN_MINUTES ?= 2

bench-gpu: $(BUILD)/bench/gpu_bench_step
	@BUILD=$(BUILD) bash tests/bench/gpu_bench.sh --out $(GPU_OUT)/bench --steps $(GPU_BENCH_STEPS)

gpu-check: all
	@BUILD=$(BUILD) GPU_TRAIN_MINUTES=$(GPU_TRAIN_MINUTES) bash pipelines/gpu-check.sh --out $(GPU_OUT)
