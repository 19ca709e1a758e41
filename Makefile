# gsg — one entry point: all, test, test-gpu, bench, demo, deps, clean, print-config.
# Variables: CUDA=auto|0|1  MPI=auto|0|1  SAN=1 (ASan+UBSan build/san)  ARCH=native|x86-64-v3  DNNL=auto|0|1
SHELL := /bin/bash
.DEFAULT_GOAL := all

CC      ?= cc
ARCH    ?= native
CUDA    ?= auto
DNNL    ?= auto
MPI     ?= auto
SAN     ?= 0
NVCC    ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90

ifeq ($(SAN),1)
BUILD   ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT     := -O1 -g
else
BUILD   ?= build
SANFLAGS :=
OPT     := -O3 -g
endif

OPENBLAS_INC := $(firstword $(wildcard /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/openblas))
WARN    := -Wall -Wextra -Wshadow -Wswitch-enum -Werror -Wno-unused-parameter
CFLAGS  := -std=gnu11 $(OPT) -march=$(ARCH) -fopenmp $(WARN) $(SANFLAGS) -Ilib $(if $(OPENBLAS_INC),-I$(OPENBLAS_INC))
LDLIBS  := -lzstd -lturbojpeg -lpng -lz -lopenblas -lm -lpthread
LDFLAGS := -fopenmp $(SANFLAGS)

# ---- oneDNN detection (CPU convolutions) ----
HAVE_DNNL := $(shell test -f /usr/include/dnnl.h && echo 1 || echo 0)
ifeq ($(DNNL),auto)
USE_DNNL := $(HAVE_DNNL)
else
USE_DNNL := $(DNNL)
endif
ifeq ($(USE_DNNL),1)
CFLAGS  += -DGSG_HAVE_DNNL=1
LDLIBS  += -ldnnl
$(info ✓ oneDNN (libdnnl) → CPU convolutions through oneDNN)
else
$(info ✗ oneDNN not found → CPU convolutions through im2col + OpenBLAS)
endif

# ---- MPI detection (data-parallel ranks, lib/dist; docs/distributed.md) ----
MPICC_BIN := $(shell command -v mpicc 2>/dev/null)
HAVE_MPI  := $(if $(and $(MPICC_BIN),$(shell $(MPICC_BIN) --showme:compile 2>/dev/null)),1,0)
ifeq ($(MPI),auto)
USE_MPI := $(HAVE_MPI)
else
USE_MPI := $(MPI)
endif
ifeq ($(USE_MPI),1)
ifeq ($(HAVE_MPI),0)
$(error MPI=1 but Open MPI was not found (mpicc; Debian: libopenmpi-dev))
endif
MPI_CFLAGS := -DGSG_HAVE_MPI=1 $(shell $(MPICC_BIN) --showme:compile)
# as-needed: only the programs that use lib/dist (gsg-step, bench_mpi, tests) load libmpi
LDLIBS  += -Wl,--push-state,--as-needed $(shell $(MPICC_BIN) --showme:link) -Wl,--pop-state
$(info ✓ Open MPI (mpicc) → data-parallel ranks under mpirun/srun)
else
MPI_CFLAGS :=
$(info ✗ MPI not found or MPI=0 → one process only (a launch as several ranks fails with one line))
endif
$(BUILD)/obj/lib/dist/dist.o: CFLAGS += $(MPI_CFLAGS)
# nccl.c declares NCCL's few entry points itself (dlopen); with the header present it checks them
NCCL_H := $(firstword $(wildcard /usr/local/cuda/include/nccl.h /usr/include/nccl.h))
ifneq ($(NCCL_H),)
$(BUILD)/obj/lib/dist/nccl.o: CFLAGS += -DGSG_NCCL_HEADER=1 -I$(dir $(NCCL_H)) -Wno-shadow
endif

# ---- CUDA detection ----
ifeq ($(CUDA),auto)
USE_CUDA := $(if $(NVCC),1,0)
else
USE_CUDA := $(CUDA)
endif
ifeq ($(USE_CUDA),1)
ifeq ($(NVCC),)
$(error CUDA=1 but nvcc was not found)
endif
# Where the runtime library lives differs between toolkit layouts: lib/cuda/detect.sh asks nvcc and
# proves the choice with a test link. With CUDA=auto a toolkit without a linkable runtime turns the
# backend off (the kernels are still compiled, `make cuda-check`); with CUDA=1 it is an error.
CUDA_LINK := $(shell bash lib/cuda/detect.sh '$(NVCC)' '$(CC)')
ifneq ($(filter none:%,$(firstword $(CUDA_LINK))),)
ifeq ($(CUDA),1)
$(error CUDA=1 but the CUDA runtime cannot be linked: $(CUDA_LINK))
endif
$(info ✗ nvcc found, but $(CUDA_LINK) → CUDA backend off; kernels compile-checked only)
USE_CUDA := 0
CUDA_CHECK := 1
endif
endif
ifeq ($(USE_CUDA),1)
NVCC_VER  := $(shell $(NVCC) --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
$(info ✓ nvcc $(NVCC_VER) → CUDA backend on ($(firstword $(CUDA_LINK))))
CFLAGS  += -DGSG_HAVE_CUDA=1
LDLIBS  += $(CUDA_LINK) -lstdc++ -ldl
CU_SRC  := $(wildcard lib/cuda/*.cu)
else
ifneq ($(CUDA_CHECK),1)
$(info ✗ nvcc not found or CUDA=0 → CUDA backend off (--device cuda fails with one line))
endif
CU_SRC  :=
endif
# cuBLAS and cuDNN are loaded at run time (dlopen, lib/cuda/runtime.cu); the toolkit's library folder is the
# default place to look (GSG_CUDA_LIBDIR overrides), so tools start fast and need them only for --device cuda.
CUDA_LIBDIR ?= $(if $(NVCC),$(realpath $(dir $(realpath $(NVCC)))../lib64))
NVFLAGS := -O3 -std=c++17 $(CUDA_ARCH) -Ilib -Xcompiler -Wall,-Wextra,-Werror,-Wno-unused-parameter,-fPIC \
           -DGSG_CUDA_LIBDIR_DEFAULT='"$(CUDA_LIBDIR)"'
CU_CHECK_OBJ := $(if $(CUDA_CHECK),$(patsubst %.cu,$(BUILD)/check/%.cu.o,$(wildcard lib/cuda/*.cu)))

LIB_C   := $(filter-out lib/cuda/stubs.c,$(wildcard lib/*/*.c))
ifneq ($(USE_CUDA),1)
LIB_C   += lib/cuda/stubs.c
endif
LIB_OBJ := $(LIB_C:%.c=$(BUILD)/obj/%.o) $(CU_SRC:%.cu=$(BUILD)/obj/%.cu.o)
LIBGSG  := $(BUILD)/libgsg.a

TOOLS_SRC := $(wildcard tools/gsg-*.c)
TOOLS   := $(TOOLS_SRC:tools/%.c=$(BUILD)/bin/%)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNITS   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
GPU_SRC := $(wildcard tests/gpu/test_*.c)
GPUS    := $(GPU_SRC:tests/gpu/%.c=$(BUILD)/tests/gpu_%)
BENCH_SRC := $(wildcard tests/bench/bench_*.c) tests/bench/gpu_bench_step.c
BENCHES := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

.PHONY: all lib tools units cuda-check deps deps-ref test test-unit test-gpu clean print-config

all: $(TOOLS) $(UNITS) $(GPUS) $(BENCHES) $(CU_CHECK_OBJ)
lib: $(LIBGSG)
tools: $(TOOLS)
units: $(UNITS)

HDRS := $(wildcard lib/*/*.h)

$(BUILD)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.cu.o: %.cu $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  NVCC  $<"
	@$(NVCC) $(NVFLAGS) -c $< -o $@

# Compile-only objects when the toolkit cannot link a runtime (CUDA=auto): CUDA code must compile
# everywhere nvcc exists.
$(BUILD)/check/%.cu.o: %.cu $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  NVCC  $< (compile check)"
	@$(NVCC) $(NVFLAGS) -c $< -o $@

# Every .cu compiles wherever nvcc exists: with the backend on they are part of libgsg (built by `all`,
# hence by `make test`), otherwise compile-only objects.
cuda-check: $(CU_CHECK_OBJ) $(CU_SRC:%.cu=$(BUILD)/obj/%.cu.o)

$(LIBGSG): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "  AR    $@"
	@rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/%: tools/%.c $(LIBGSG) $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  LD    $@"
	@$(CC) $(CFLAGS) $< -o $@ $(LDFLAGS) $(LIBGSG) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/check.h $(LIBGSG) $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  LD    $@"
	@$(CC) $(CFLAGS) -Itests/unit $< -o $@ $(LDFLAGS) $(LIBGSG) $(LDLIBS)

# Test fixture writers (images without Python imaging libraries), used by the bats files.
FIXTURES := $(BUILD)/tests/fixture-img
all: $(FIXTURES)
$(BUILD)/tests/fixture-img: tests/lib/fixture_img.c $(LIBGSG) $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  LD    $@"
	@$(CC) $(CFLAGS) $< -o $@ $(LDFLAGS) $(LIBGSG) $(LDLIBS)

$(BUILD)/tests/gpu_%: tests/gpu/%.c tests/unit/check.h $(LIBGSG) $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  LD    $@"
	@$(CC) $(CFLAGS) -Itests/unit $< -o $@ $(LDFLAGS) $(LIBGSG) $(LDLIBS)

$(BUILD)/bench/%: tests/bench/%.c $(LIBGSG) $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  LD    $@"
	@$(CC) $(CFLAGS) $< -o $@ $(LDFLAGS) $(LIBGSG) $(LDLIBS)

# Make fragments: each area adds its targets in its own file (bench-io, bench-augment, pipelines, ...).
-include $(sort $(wildcard pipelines/*.mk tests/bench/*.mk))
include tests/fuzz/fuzz.mk

# The vector features the build targets (-march=$(ARCH), from the compiler's own macros) and the CPU it
# runs on: a native build uses every feature of this CPU and may stop with SIGILL elsewhere; ARCH=x86-64-v3
# (AVX2 + FMA) runs on every x86-64 CPU of the last decade (README "Building for other machines").
TARGET_FEATURES = $(shell echo | $(CC) -march=$(ARCH) -dM -E - 2>/dev/null | grep -oE '__(SSE4_2|AVX|AVX2|FMA|F16C|AVX512[A-Z0-9_]*|AMX_[A-Z0-9]*|AVXVNNI)__' | sed 's/__//g' | tr 'A-Z' 'a-z' | sort | tr '\n' ' ')
CPU_NAME = $(shell sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
CPU_FEATURES = $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | tr ' ' '\n' | grep -xE 'avx2|fma|avx512f|avx512bw|avx512vl|avx512_bf16|avx512_vnni|avx512_vp2intersect|amx_bf16|amx_tile' | tr '\n' ' ')

print-config:
	@echo "ARCH=$(ARCH)"
	@echo "TARGET_FEATURES=$(TARGET_FEATURES)"
	@echo "CPU=$(CPU_NAME) ($(strip $(CPU_FEATURES)))"
	@echo "CC=$(CC)"
	@echo "CFLAGS=$(CFLAGS)"
	@echo "LDLIBS=$(LDLIBS)"
	@echo "CUDA=$(USE_CUDA) NVCC=$(NVCC)"
	@echo "DNNL=$(USE_DNNL)"
	@echo "CPU_BF16=$(if $(and $(filter 1,$(USE_DNNL)),$(filter avx512_bf16 amx_bf16,$(CPU_FEATURES))),yes,no) (--precision bf16 on the CPU: oneDNN and AVX512_BF16 or AMX-BF16)"
	@echo "MPI=$(USE_MPI)"
	@echo "BUILD=$(BUILD)"

deps:
	@bash pipelines/deps.sh

deps-ref:
	@bash pipelines/deps.sh --reference

# Unit tests (C) + bats (tools, pipelines), one summary line at the end.
test: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) bash tests/run.sh

test-unit: units
	@BUILD=$(BUILD) bash tests/run.sh --unit-only

test-gpu: all
	@BUILD=$(BUILD) bash tests/run.sh --gpu

clean:
	rm -rf build
