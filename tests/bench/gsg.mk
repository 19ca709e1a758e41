# gsg.mk: the GSG step benchmark and the no-predictor ablation (engineer "train").
#   make bench-gsg [GSG_BENCH_BATCH=128 GSG_BENCH_STEPS=2 GSG_BENCH_THREADS=2]
#     SimSiam vs SimSiam+GSG steps of gsg-step's library on the cifar recipe, the share of the
#     GSG selection in the step, and the same two steps in PyTorch (docs/algorithm.md §4) as a ratio.
#   make ablation-no-predictor [ABL_IMAGES=10000 ABL_BATCH=256 ABL_EPOCHS=10 ABL_WIDTH=16 ...]
#     plain SimSiam vs SimSiam+GSG without a predictor on Fashion-MNIST, same data, same budget:
#     loss, effective rank of the projections, std of normalised z and cos between views,
#     averaged over the last epoch (metrics in $(ABL_DIR)/{simsiam,gsg}.jsonl), then k-NN top-1
#     (k=200, T=0.1) of each final encoder, a random encoder and raw pixels on the same
#     $(ABL_IMAGES)-image bank and $(ABL_TEST)-image test split (chance is 10%).
.PHONY: bench-gsg ablation-no-predictor

GSG_BENCH_BATCH   ?= 128
GSG_BENCH_STEPS   ?= 2
GSG_BENCH_THREADS ?= 2

bench-gsg: $(BUILD)/bench/bench_gsg
	@$(BUILD)/bench/bench_gsg --batch $(GSG_BENCH_BATCH) --steps $(GSG_BENCH_STEPS) --threads $(GSG_BENCH_THREADS) | tee $(BUILD)/bench/bench_gsg.out
	@set -- $$(sed -n 's/^RESULT simsiam_img_s=\([0-9.]*\) gsg_img_s=\([0-9.]*\)/\1 \2/p' $(BUILD)/bench/bench_gsg.out); \
	MALLOC_MMAP_THRESHOLD_=2000000000 MALLOC_TRIM_THRESHOLD_=2000000000 \
	/usr/bin/python3 tests/bench/bench_gsg.py --batch $(GSG_BENCH_BATCH) --steps $(GSG_BENCH_STEPS) \
	    --threads $(GSG_BENCH_THREADS) --c-simsiam $$1 --c-gsg $$2

ABL_IMAGES  ?= 10000
ABL_BATCH   ?= 256
ABL_EPOCHS  ?= 10
ABL_WIDTH   ?= 16
ABL_PROJ    ?= 512
ABL_LR      ?= 0.06
ABL_DIR     ?= $(BUILD)/ablation
ABL_THREADS ?= 2
ABL_TEST    ?= 2000

ablation-no-predictor: $(BUILD)/bin/gsg-augment $(BUILD)/bin/gsg-step
	@mkdir -p $(ABL_DIR)
	@spe=$$(( $(ABL_IMAGES) / $(ABL_BATCH) )); \
	for tag in simsiam gsg; do \
	    m=$$([ $$tag = gsg ] && echo --gsg); \
	    echo "== no-predictor $$tag: $(ABL_IMAGES) Fashion-MNIST images, batch $(ABL_BATCH), $(ABL_EPOCHS) epochs ($$spe steps each)"; \
	    $(BUILD)/bin/gsg-augment --recipe fmnist --views 4 --batch $(ABL_BATCH) --epochs $(ABL_EPOCHS) \
	        --limit $(ABL_IMAGES) --seed 1 --threads 1 \
	    | $(BUILD)/bin/gsg-step --recipe fmnist --width $(ABL_WIDTH) --proj-dim $(ABL_PROJ) --no-predictor $$m \
	        --lr $(ABL_LR) --epochs $(ABL_EPOCHS) --steps-per-epoch $$spe --seed 1 --threads $(ABL_THREADS) \
	        --metrics $(ABL_DIR)/$$tag.jsonl --ckpt $(ABL_DIR)/$$tag.gsgt --progress || exit 1; \
	done; \
	for tag in simsiam gsg; do \
	    /usr/bin/python3 -c 'import json, sys; rows = [json.loads(l) for l in open(sys.argv[1])]; n = int(sys.argv[2]); \
	        last = rows[-n:]; m = lambda k: sum(r[k] for r in last) / len(last); \
	        print("%-8s last epoch: loss %.4f  erank_z %.2f  std_z*sqrt(D) %.3f  cos_views %.4f" % \
	              (sys.argv[3], m("loss"), m("erank_z"), m("std_z") * float(sys.argv[4]) ** 0.5, m("cos_views")))' \
	        $(ABL_DIR)/$$tag.jsonl $$spe $$tag $(ABL_PROJ); \
	done; \
	for enc in "--ckpt $(ABL_DIR)/simsiam.gsgt" "--ckpt $(ABL_DIR)/gsg.gsgt" "--like $(ABL_DIR)/gsg.gsgt" "--pixels"; do \
	    bash pipelines/knn.sh $$enc --bank-limit $(ABL_IMAGES) --test-limit $(ABL_TEST) \
	        --out $(ABL_DIR)/knn --cache $(ABL_DIR)/plain --label "k-NN $$enc" || exit 1; \
	done
