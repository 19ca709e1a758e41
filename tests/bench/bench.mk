# bench.mk: `make bench` (issue 4) — in one run: conv2d GFLOP/s per cifar ResNet-18 layer
# (bench-conv, from conv.mk, when present), then one SimSiam step of lib/nn on the cifar recipe
# (bench_step.c) and the same step in PyTorch at its best (tests/bench/torch_step.py: 2 threads,
# channels_last, glibc mmap/trim thresholds raised), with the throughput and peak-memory ratios.
#   make bench [BENCH_BATCH=256 BENCH_STEPS=3 BENCH_WARMUP=1 BENCH_THREADS=2]
#   make bench-step          (the step comparison alone)
.PHONY: bench bench-step

BENCH_BATCH   ?= 256
BENCH_STEPS   ?= 3
BENCH_WARMUP  ?= 1
BENCH_THREADS ?= 2
BENCH_TORCH_ENV := GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184

bench: $(BUILD)/bench/bench_step
ifneq ($(wildcard tests/bench/conv.mk),)
	@$(MAKE) --no-print-directory bench-conv BUILD=$(BUILD)
endif
	@$(MAKE) --no-print-directory bench-step BUILD=$(BUILD)

bench-step: $(BUILD)/bench/bench_step
	@echo "== SimSiam step, cifar recipe, batch $(BENCH_BATCH), $(BENCH_THREADS) threads: lib/nn"
	@OMP_NUM_THREADS=$(BENCH_THREADS) $(BUILD)/bench/bench_step --batch $(BENCH_BATCH) --steps $(BENCH_STEPS) \
	    --warmup $(BENCH_WARMUP) | tee $(BUILD)/bench/bench_step.out
	@if /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null; then \
	    echo "== the same step in PyTorch (channels_last, $(BENCH_THREADS) threads, malloc thresholds raised)"; \
	    $(BENCH_TORCH_ENV) /usr/bin/python3 tests/bench/torch_step.py --batch $(BENCH_BATCH) --steps $(BENCH_STEPS) \
	        --warmup $(BENCH_WARMUP) --threads $(BENCH_THREADS) | tee $(BUILD)/bench/torch_step.out || exit 1; \
	    awk '/^RESULT engine_img_s=/ { split($$2, a, "="); split($$4, b, "="); e = a[2]; em = b[2] } \
	         /^RESULT torch_img_s=/  { split($$2, a, "="); split($$4, b, "="); t = a[2]; tm = b[2] } \
	         END { printf "== bench-step: lib/nn %.2f images/s, PyTorch %.2f images/s: ratio %.2fx (target >= 0.70x); " \
	               "peak RSS %d MiB vs %d MiB: ratio %.2fx (target <= 1.00x)\n", e, t, e / t, em, tm, em / tm }' \
	        $(BUILD)/bench/bench_step.out $(BUILD)/bench/torch_step.out; \
	else \
	    echo "== bench-step: PyTorch peer skipped: /usr/bin/python3 has no torch/torchvision (python3-torch, python3-torchvision)"; \
	fi
