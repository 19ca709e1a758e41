# augment.mk: `make bench-augment` — gsg-augment views/s (cifar and imagenet/JPEG recipes, 1 and 2
# threads) against torchvision's transforms on the same images, printed as ratios.
.PHONY: bench-augment
bench-augment: $(BUILD)/bench/bench_augment $(BUILD)/bin/gsg-augment
	@bash tests/bench/bench_augment.sh $(BUILD)
