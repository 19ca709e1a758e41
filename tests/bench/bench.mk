# bench.mk: `make bench` (issues 4 and 18) — one run, every row: one SimSiam training step of lib/nn
# (bench_step.c) and the same step in PyTorch at its best (torch_step.py: explicit threads,
# channels_last, glibc mmap/trim thresholds raised), each in fp32 and in bf16 (gsg: oneDNN bf16
# convolutions; PyTorch: autocast), for the cifar and the fmnist recipe, in one table: images/s,
# peak RSS, GFLOP/s, % of the measured fp32 FMA peak (bench_peak.c) and the gsg/PyTorch ratios at
# equal precision, medians over BENCH_ROUNDS rounds in which the sides alternate. The driver is
# tests/bench/bench.py; the table also goes to $(BUILD)/bench/bench.md, each run's output to
# $(BUILD)/bench/logs/. bf16 rows read "n/a (CPU has no native bf16)" on a CPU without AVX512_BF16 or
# AMX-BF16; PyTorch rows "skipped (no torch)" when /usr/bin/python3 has no torch (make deps-ref).
#   make bench [BENCH_BATCH=256 BENCH_STEPS=3 BENCH_WARMUP=1 BENCH_THREADS=2 BENCH_ROUNDS=3
#               BENCH_RECIPES="cifar fmnist" BENCH_PRECISIONS="fp32 bf16" BENCH_PEAK_SECONDS=1]
#   make bench-step          (the same as make bench; kept for old command lines)
#   make bench-peak          (the FMA peak alone)
# The per-layer convolution benchmark that `make bench` used to run first is `make bench-conv` (conv.mk).
.PHONY: bench bench-step bench-peak

BENCH_BATCH   ?= 256
BENCH_STEPS   ?= 3
BENCH_WARMUP  ?= 1
BENCH_THREADS ?= 2
BENCH_ROUNDS  ?= 3
BENCH_RECIPES ?= cifar fmnist
BENCH_PRECISIONS ?= fp32 bf16
BENCH_PEAK_SECONDS ?= 1

bench: $(BUILD)/bench/bench_step $(BUILD)/bench/bench_peak
	@/usr/bin/python3 tests/bench/bench.py --build $(BUILD) --batch $(BENCH_BATCH) --steps $(BENCH_STEPS) \
	    --warmup $(BENCH_WARMUP) --threads $(BENCH_THREADS) --rounds $(BENCH_ROUNDS) --recipes "$(BENCH_RECIPES)" \
	    --precisions "$(BENCH_PRECISIONS)" --peak-seconds $(BENCH_PEAK_SECONDS)

bench-step: bench

bench-peak: $(BUILD)/bench/bench_peak
	@OMP_NUM_THREADS=$(BENCH_THREADS) $(BUILD)/bench/bench_peak --seconds $(BENCH_PEAK_SECONDS)
