# ops.mk: `make bench-ops` — batch norm, ReLU, add, pools, linear, cosine on cifar ResNet-18 shapes,
# ours (bench_ops) and PyTorch's (bench_ops_torch.py, when /usr/bin/python3 has torch) on the same list.
# BENCH_OPS_ARGS passes options (e.g. --reps 5).
.PHONY: bench-ops
bench-ops: $(BUILD)/bench/bench_ops
	@OMP_NUM_THREADS=$${OMP_NUM_THREADS:-$$(nproc)} $(BUILD)/bench/bench_ops $(BENCH_OPS_ARGS)
	@/usr/bin/python3 tests/bench/bench_ops_torch.py --threads $${OMP_NUM_THREADS:-$$(nproc)} $(BENCH_OPS_ARGS) || true
