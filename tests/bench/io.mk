# make bench-io: the tensor stream writer and reader against the zstd CLI, through pipes, at the
# default level, on 1 GiB of u8 image data (Fashion-MNIST tiled) and 1 GiB of smooth f32 activations.
#   BENCH_IO_BYTES=268435456 make bench-io    a quicker run
#   BENCH_IO_LEVEL=3 / BENCH_IO_WORKERS=1     another level / zstd worker threads in our writer
.PHONY: bench-io
bench-io: $(BUILD)/bench/bench_io
	@BENCH_IO=$(BUILD)/bench/bench_io bash tests/bench/io.sh
