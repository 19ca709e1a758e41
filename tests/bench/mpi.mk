# mpi.mk: `make bench-mpi` (docs/distributed.md) — the data-parallel SimSiam step of the cifar recipe
# (tests/bench/bench_mpi.c, synthetic views, global batch BENCH_MPI_BATCH) as 1 rank x 2 threads and
# as 2 ranks x 1 thread (mpirun on this machine), alternated BENCH_MPI_ROUNDS times; the medians of
# each configuration and the share of the 2-rank step spent in collectives. Run it alone.
.PHONY: bench-mpi
BENCH_MPI_BATCH  ?= 256
BENCH_MPI_STEPS  ?= 3
BENCH_MPI_ROUNDS ?= 2
BENCH_MPI_ARGS   ?=
MPIRUN_ENV := OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

bench-mpi: $(BUILD)/bench/bench_mpi
	@command -v mpirun >/dev/null || { echo "bench-mpi: mpirun not found (make deps installs openmpi-bin)"; exit 1; }
	@echo "== bench-mpi: cifar SimSiam step, global batch $(BENCH_MPI_BATCH), on $$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) ($$(nproc) cores)"
	@rm -f $(BUILD)/bench/bench_mpi.out
	@for i in $$(seq $(BENCH_MPI_ROUNDS)); do \
	    echo "-- round $$i: 1 rank x 2 threads"; \
	    OMP_NUM_THREADS=2 $(BUILD)/bench/bench_mpi --batch $(BENCH_MPI_BATCH) --steps $(BENCH_MPI_STEPS) $(BENCH_MPI_ARGS) \
	        | tee -a $(BUILD)/bench/bench_mpi.out || exit 1; \
	    echo "-- round $$i: 2 ranks x 1 thread (mpirun --bind-to core)"; \
	    $(MPIRUN_ENV) mpirun --oversubscribe --bind-to core -np 2 -x OMP_NUM_THREADS=1 $(BUILD)/bench/bench_mpi \
	        --batch $(BENCH_MPI_BATCH) --steps $(BENCH_MPI_STEPS) $(BENCH_MPI_ARGS) | tee -a $(BUILD)/bench/bench_mpi.out || exit 1; \
	done
	@/usr/bin/python3 -c 'import re, statistics as s, sys; \
	r = [dict(kv.split("=") for kv in l.split()[1:]) for l in open(sys.argv[1]) if l.startswith("RESULT")]; \
	g = lambda n, k: s.median(float(x[k]) for x in r if x["ranks"] == n); \
	print("== bench-mpi: 1 rank x 2 threads %.2f images/s; 2 ranks x 1 thread %.2f images/s (%.2fx), collectives %.1f%% of the 2-rank step, of which the gradient all-reduce (%.1f MiB) %.3f s" \
	      % (g("1", "img_s"), g("2", "img_s"), g("2", "img_s") / g("1", "img_s"), 100 * g("2", "comm_share"), g("2", "allreduce_mb"), g("2", "grad_s")))' \
	    $(BUILD)/bench/bench_mpi.out
