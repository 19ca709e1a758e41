# gpu-bundle.mk: `make gpu-bundle` (issue 19): a portable CUDA build packed with everything a bare GPU
# machine lacks into one git-ignored folder, GPU_BUNDLE (default build/gpu-bundle): see
# pipelines/gpu-bundle.sh and docs/gpu.md. The build is separate from build/ (GPU_BUNDLE_BUILD, default
# build/portable): ARCH=x86-64-v3 (AVX2: any H100/H200 host; a native Zen 5 build could SIGILL there),
# CUDA=1, MPI=0 (one GPU process; no libmpi), DNNL=0 (CPU convolutions through im2col + OpenBLAS; keeps
# libdnnl's ~100 MiB out). The CUDA runtime is linked statically (lib/cuda/detect.sh).
#   make gpu-bundle [GPU_BUNDLE=build/gpu-bundle] [GPU_BUNDLE_TAR=0]
# GPU_BUNDLE_TAR=1 (the default) also writes GPU_BUNDLE.tar.gz: the folder is over 64 MiB (OpenBLAS with
# every CPU kernel, the data), the archive under it: carry the archive, gpu-check unpacks it.
.PHONY: gpu-bundle

GPU_BUNDLE       ?= build/gpu-bundle
GPU_BUNDLE_BUILD ?= build/portable
GPU_BUNDLE_ARCH  ?= x86-64-v3
GPU_BUNDLE_TAR   ?= 1

# what the bundle carries (not `all`: the unit tests and benches stay in build/)
GPU_BUNDLE_TARGETS = tools $(patsubst tests/gpu/%.c,$(GPU_BUNDLE_BUILD)/tests/gpu_%,$(wildcard tests/gpu/test_*.c)) \
                     $(GPU_BUNDLE_BUILD)/bench/gpu_bench_step

gpu-bundle:
	@$(MAKE) --no-print-directory $(GPU_BUNDLE_TARGETS) BUILD=$(GPU_BUNDLE_BUILD) ARCH=$(GPU_BUNDLE_ARCH) CUDA=1 MPI=0 DNNL=0
	@mkdir -p $(GPU_BUNDLE_BUILD) && $(MAKE) --no-print-directory -s print-config BUILD=$(GPU_BUNDLE_BUILD) ARCH=$(GPU_BUNDLE_ARCH) CUDA=1 MPI=0 DNNL=0 \
		>$(GPU_BUNDLE_BUILD)/config.txt 2>/dev/null
	@bash pipelines/gpu-bundle.sh --build $(GPU_BUNDLE_BUILD) --out $(GPU_BUNDLE) $(if $(filter 1,$(GPU_BUNDLE_TAR)),--tar)
