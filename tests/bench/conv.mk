# conv.mk: `make bench-conv` — conv2d GFLOP/s per ResNet-18 layer, oneDNN vs im2col + OpenBLAS.
# BENCH_CONV_ARGS passes options (e.g. --net cifar --reps 5 --batch 256).
.PHONY: bench-conv
bench-conv: $(BUILD)/bench/bench_conv
	@OMP_NUM_THREADS=$${OMP_NUM_THREADS:-$$(nproc)} $(BUILD)/bench/bench_conv $(BENCH_CONV_ARGS)
