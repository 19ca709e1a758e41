# tests/fuzz/fuzz.mk: libFuzzer harnesses for every reader of outside bytes (included by the Makefile).
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="npy idx"]   build with clang (-fsanitize=fuzzer,address,undefined,
#        into build/fuzz) and run each harness for FUZZ_SECONDS, continuing past crashes (fork mode);
#        new inputs are merged (minimised; the seed-* files stay) into tests/fuzz/corpus/<harness>/, crashes, OOMs and
#        timeouts land in tests/fuzz/crashes/<harness>/; a summary per harness goes to build/fuzz/report.txt
#   make fuzz-seeds      rewrite the seed inputs (tests/fuzz/mkseeds.c) into tests/fuzz/corpus/
# Without clang nothing here is needed: `make test` runs the corpora and crashes as regression tests
# through tests/fuzz/driver.c, built with the normal compiler as $(BUILD)/tests/test_fuzz_<harness>.

FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES   := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_HDRS    := $(wildcard tests/fuzz/*.h)
FUZZ_REGRESS := $(FUZZ_NAMES:%=$(BUILD)/tests/test_fuzz_%)

all: $(FUZZ_REGRESS)
units: $(FUZZ_REGRESS)

$(BUILD)/tests/test_fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/driver.c $(FUZZ_HDRS) $(LIBGSG) $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  LD    $@"
	@$(CC) $(CFLAGS) -Itests/fuzz -DFUZZ_NAME='"$*"' tests/fuzz/driver.c $< -o $@ $(LDFLAGS) $(LIBGSG) $(LDLIBS)

$(BUILD)/fuzz-tools/mkseeds: tests/fuzz/mkseeds.c $(FUZZ_HDRS) $(LIBGSG) $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  LD    $@"
	@$(CC) $(CFLAGS) -Itests/fuzz $< -o $@ $(LDFLAGS) $(LIBGSG) $(LDLIBS)

.PHONY: fuzz fuzz-run deps-fuzz fuzz-build fuzz-seeds
fuzz-seeds: $(BUILD)/fuzz-tools/mkseeds
	@$(BUILD)/fuzz-tools/mkseeds tests/fuzz/corpus

# ---- libFuzzer (clang) ----
FUZZ_CC      ?= $(firstword $(shell command -v clang-14 clang 2>/dev/null))
FUZZ_DIR     := build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_LDLIBS  := -lzstd -lturbojpeg -lpng -lz -lopenblas -lm -lpthread $(if $(filter 1,$(USE_DNNL)),-ldnnl)
# memory: a reader may not allocate 1 GiB at once nor reach 2 GiB; one input may take 30 s
FUZZ_OPTS    ?= -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=30 -close_fd_mask=3
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_DIR)/bin/fuzz_%)

fuzz-build: $(FUZZ_BINS)

# the library, built by this Makefile itself with clang into build/fuzz/lib (FUZZ_INNER: no rules from here)
ifneq ($(FUZZ_INNER),1)
$(FUZZ_DIR)/libgsg-fuzz.a: $(LIB_C) $(HDRS)
	@test -n "$(FUZZ_CC)" || { echo "make fuzz: clang not found (apt-get install clang-14 libclang-rt-14-dev)"; exit 1; }
	@$(MAKE) --no-print-directory lib FUZZ_INNER=1 BUILD=$(FUZZ_DIR)/lib CC=$(FUZZ_CC) SAN=0 CUDA=0 MPI=0 OPT="-O1 -g" \
	    WARN="-Wall -Wno-unused-parameter" SANFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" >/dev/null
	@cp $(FUZZ_DIR)/lib/libgsg.a $@

$(FUZZ_DIR)/bin/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_HDRS) $(FUZZ_DIR)/libgsg-fuzz.a
	@mkdir -p $(dir $@)
	@echo "  FUZZ  $@"
	@$(FUZZ_CC) -std=gnu11 -O1 -g -march=$(ARCH) -fopenmp -fsanitize=fuzzer $(FUZZ_SAN) -Ilib -Itests/fuzz \
	    $(if $(OPENBLAS_INC),-I$(OPENBLAS_INC)) $< -o $@ $(FUZZ_DIR)/libgsg-fuzz.a $(FUZZ_LDLIBS)

fuzz: deps-fuzz
	@$(MAKE) --no-print-directory fuzz-run FUZZ_CC=$(firstword $(shell command -v clang-14 clang 2>/dev/null) clang-14)

deps-fuzz:
	@bash pipelines/deps.sh --fuzz

fuzz-run: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/bin/fuzz_%)
	@: > $(FUZZ_DIR)/report.txt
	@set -e; for t in $(FUZZ_TARGETS); do \
	    corpus=tests/fuzz/corpus/$$t; crashes=tests/fuzz/crashes/$$t; new=$(FUZZ_DIR)/new/$$t; min=$(FUZZ_DIR)/min/$$t; \
	    mkdir -p $$corpus $$crashes $$new; rm -rf $$min; mkdir -p $$min; \
	    echo "fuzz $$t: $(FUZZ_SECONDS) s"; \
	    OMP_NUM_THREADS=1 $(FUZZ_DIR)/bin/fuzz_$$t $(FUZZ_OPTS) -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
	        -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$$crashes/ $$new $$corpus >$(FUZZ_DIR)/$$t.log 2>&1 || true; \
	    OMP_NUM_THREADS=1 $(FUZZ_DIR)/bin/fuzz_$$t $(FUZZ_OPTS) -merge=1 $$min $$corpus $$new >$(FUZZ_DIR)/$$t.merge.log 2>&1 || true; \
	    if [ -n "$$(ls -A $$min)" ]; then find $$corpus -type f ! -name "seed-*" -delete; cp $$min/* $$corpus/; fi; \
	    execs=$$(grep -o '#[0-9]*' $(FUZZ_DIR)/$$t.log | tail -1 | tr -d '#'); \
	    cov=$$(grep -o 'cov: [0-9]*' $(FUZZ_DIR)/$$t.log | tail -1); \
	    printf '%-12s execs %-9s %-10s corpus %3d files %7d bytes, crashes %d\n' $$t "$${execs:-?}" "$${cov:-cov: ?}" \
	        $$(ls $$corpus | wc -l) $$(cat $$corpus/* | wc -c) $$(ls $$crashes | wc -l) | tee -a $(FUZZ_DIR)/report.txt; \
	done
endif
