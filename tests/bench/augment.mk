# augment.mk: `make bench-augment` — gsg-augment views/s (cifar and imagenet/JPEG recipes, 1 and 2
# threads) against torchvision's transforms on the same images, printed as ratios.
.PHONY: bench-augment
bench-augment: $(BUILD)/bench/bench_augment $(BUILD)/bin/gsg-augment
	@bash tests/bench/bench_augment.sh $(BUILD)

# `make bench-augcmp`: gsg's augmentation parameters and two-view cosine against torchvision's
# transforms on the same images (tests/bench/aug_compare.py; figures in docs/augmentation.md).
# AUGCMP_ARGS passes options to the script (default: 100000 parameter draws, 2000 images).
all: $(BUILD)/bench/aug_params
.PHONY: bench-augcmp
bench-augcmp: $(BUILD)/bench/aug_params $(BUILD)/bin/gsg-augment
	@/usr/bin/python3 tests/bench/aug_compare.py --build $(BUILD) $(AUGCMP_ARGS) | tee $(BUILD)/bench/augcmp.txt
