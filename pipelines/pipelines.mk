# pipelines/pipelines.mk: user-facing targets (included by the Makefile); `make help` lists them.
#   make demo                      a few minutes: train SimSiam+GSG, k-NN table vs random init and raw pixels
#   make train  [DATA RECIPE METHOD GSG EPOCHS BATCH SEED DEVICE OUT TRAIN_ARGS RESUME FORCE]
#   make knn    [CKPT=...|OUT=...]  k-NN of a checkpoint (default $(OUT)/ckpt.gsgt)
#   make linear [CKPT=...|OUT=...]  linear probe of a checkpoint
#   make experiment-gsg | experiment-no-predictor | experiment-batch-size [EPOCHS SEEDS QUICK=1 ...]
#   make report                    rebuild every experiment's table and plots from its runs
#   make long-runs [LONG_OUT LONG_ARGS]  the Fashion-MNIST result's long runs (docs/results.md §3), resumable
# Every target but report and help first runs `make deps` and builds the tools. No target
# replaces an earlier result unless FORCE=1; RESUME=1 continues an interrupted one.
DATA    ?= fashion-mnist
RECIPE  ?= fmnist
METHOD  ?= simsiam
GSG     ?=
EPOCHS  ?=
BATCH   ?= 256
SEED    ?= 0
SEEDS   ?= 0
DEVICE  ?= cpu
QUICK   ?= 0
RESUME  ?= 0
FORCE   ?= 0
OUT     ?= results/train
EXP_OUT ?= results
CKPT    ?= $(OUT)/ckpt.gsgt
# extra options for the scripts, e.g. TRAIN_ARGS="--limit 10000 --knn-every 1"
TRAIN_ARGS ?=
# extra gsg-eval options for knn / linear, e.g. EVAL_ARGS="-k 20 -t 0.07" or EVAL_ARGS="--solver ridge"
EVAL_ARGS  ?=
EXP_ARGS   ?=
# the long runs: results folder and pipelines/long-runs.sh options (runs, --epochs, --precision ...)
LONG_OUT   ?= results/long
LONG_ARGS  ?=

PIPE_ENV = BUILD=$(BUILD) GSG_BIN=$(abspath $(BUILD))/bin RESUME=$(RESUME) FORCE=$(FORCE)
PIPE_PREP = $(MAKE) --no-print-directory deps && $(MAKE) --no-print-directory tools
EXP_OPTS = --seeds "$(SEEDS)" --batch $(BATCH) --data $(DATA) --recipe $(RECIPE) --device $(DEVICE) --out $(EXP_OUT) \
           $(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(filter 1,$(QUICK)),--quick) $(EXP_ARGS)

.PHONY: demo train knn linear experiment-gsg experiment-no-predictor experiment-batch-size long-runs report help

demo:
	@t0=$$(date +%s.%N); $(PIPE_PREP) && GSG_DEMO_T0=$$t0 $(PIPE_ENV) bash pipelines/demo.sh --device $(DEVICE) --seed $(SEED)

train:
	@$(PIPE_PREP) && $(PIPE_ENV) bash pipelines/train.sh --data $(DATA) --recipe $(RECIPE) --method $(METHOD)$(if $(GSG), --gsg $(GSG)) --epochs $(or $(EPOCHS),10) --batch $(BATCH) --seed $(SEED) --device $(DEVICE) --out $(OUT) $(TRAIN_ARGS)

# an earlier evaluation of the checkpoint is replaced only when told (FORCE=1 or RESUME=1)
PIPE_KEEP = if [ -s "$(1)" ] && [ "$(FORCE)$(RESUME)" = 00 ]; then \
	    echo "make: $(1) exists: FORCE=1 evaluates again and replaces it" >&2; exit 1; fi

knn:
	@$(call PIPE_KEEP,$(dir $(CKPT))knn/knn.json)
	@$(PIPE_PREP) && $(PIPE_ENV) bash pipelines/knn.sh --ckpt $(CKPT) --data $(DATA) --recipe $(RECIPE) --device $(DEVICE) --out $(dir $(CKPT))knn --eval-args "$(EVAL_ARGS)"

linear:
	@$(call PIPE_KEEP,$(dir $(CKPT))linear/linear.json)
	@$(PIPE_PREP) && $(PIPE_ENV) bash pipelines/linear.sh --ckpt $(CKPT) --data $(DATA) --recipe $(RECIPE) --device $(DEVICE) --out $(dir $(CKPT))linear --eval-args "$(EVAL_ARGS)"

experiment-gsg experiment-no-predictor experiment-batch-size:
	@$(PIPE_PREP) && $(PIPE_ENV) bash pipelines/experiment.sh --name $(patsubst experiment-%,%,$@) $(EXP_OPTS)

# the Fashion-MNIST result: every run of docs/results.md §3, finished runs kept, unfinished ones resumed
long-runs:
	@$(PIPE_PREP) && $(PIPE_ENV) bash pipelines/long-runs.sh --out $(LONG_OUT) $(LONG_ARGS)

# tables and plots again from the runs in $(EXP_OUT)/<name>/ (nothing is trained or evaluated)
report:
	@found=0; for s in $(EXP_OUT)/*/settings.env; do \
	    [ -e "$$s" ] || continue; found=1; d=$$(dirname "$$s"); \
	    echo "== report: $$d"; \
	    GSG_BIN=$(abspath $(BUILD))/bin bash pipelines/experiment.sh --report --name "$$(basename "$$d")" --out $(EXP_OUT) >/dev/null || exit 1; \
	    echo "   $$d/table.md $$(ls $$d/*.png 2>/dev/null | tr '\n' ' ')"; \
	done; \
	if [ -d $(LONG_OUT)/runs ]; then found=1; echo "== report: $(LONG_OUT)"; \
	    GSG_BIN=$(abspath $(BUILD))/bin bash pipelines/long-runs.sh --table --out $(LONG_OUT) >/dev/null || exit 1; \
	    echo "   $(LONG_OUT)/table.md $(LONG_OUT)/curves.md $$(ls $(LONG_OUT)/*.png 2>/dev/null | tr '\n' ' ')"; fi; \
	[ $$found = 1 ] || { echo "report: no experiment in $(EXP_OUT)/ and no long runs in $(LONG_OUT)/ (run make experiment-gsg or make long-runs first)" >&2; exit 1; }

help:
	@echo 'gsg: make targets (variables as NAME=value on the command line)'
	@echo ''
	@echo 'Build and test:'
	@echo '  all (default)    libgsg, every tool and test into $(BUILD)/      CUDA=auto|0|1  DNNL=0  BUILD=dir'
	@echo '  test             installs what is missing, builds, runs every test: "N passed, N failed, N skipped"'
	@echo '  test-unit        the C unit tests only;   test-gpu: CPU-vs-CUDA parity (skips without a GPU)'
	@echo '  deps / deps-ref  the Debian packages (deps-ref adds PyTorch, torchvision for parity tests)'
	@echo '  print-config     detected features and flags;   clean: remove build/'
	@echo '  bench bench-step bench-gsg bench-ops bench-conv bench-io bench-augment   (tests/bench/)'
	@echo ''
	@echo 'Train and evaluate (progress on the terminal and in OUT/train.log; a checkpoint every epoch):'
	@echo '  demo             a few minutes of SimSiam+GSG on Fashion-MNIST, k-NN vs random init and raw pixels'
	@echo '  train            one run into OUT/: DATA=$(DATA) RECIPE=$(RECIPE) METHOD=simsiam|byol|simclr'
	@echo '                   GSG=on|off (default: on, with simclr off)'
	@echo '                   EPOCHS=10 BATCH=$(BATCH) SEED=$(SEED) DEVICE=cpu|cuda OUT=$(OUT)'
	@echo '                   TRAIN_ARGS: pipelines/train.sh options, e.g.'
	@echo '                     make train EPOCHS=2 OUT=runs/a TRAIN_ARGS="--limit 2048 --knn-every 1 --knn-bank 2000 --knn-test 500"'
	@echo '                     make train TRAIN_ARGS="--step-args \"--lr 0.1 --fix-pred-lr\" --threads 2"'
	@echo '  knn, linear      evaluate CKPT=$(CKPT) (k-NN k=200 T=0.1; linear probe)'
	@echo '                   EVAL_ARGS: gsg-eval options, e.g.'
	@echo '                     make knn CKPT=runs/a/ckpt.gsgt EVAL_ARGS="-k 20 -t 0.07"'
	@echo '                     make linear CKPT=runs/a/ckpt.gsgt EVAL_ARGS="--solver ridge"'
	@echo '  experiment-gsg | experiment-no-predictor | experiment-batch-size'
	@echo '                   into EXP_OUT/<name>/ (EXP_OUT=$(EXP_OUT)): SEEDS="0 1 2" EPOCHS= QUICK=1 (smoke run)'
	@echo '                   EXP_ARGS: pipelines/experiment.sh options, e.g. EXP_ARGS="--limit 10000 --step-args \"--width 8\""'
	@echo '  long-runs        the Fashion-MNIST result (docs/results.md): 50-epoch runs into LONG_OUT=$(LONG_OUT), resumable'
	@echo '                   LONG_ARGS: pipelines/long-runs.sh options, e.g. LONG_ARGS="simsiam-s0 --precision bf16"'
	@echo '  report           rebuild every experiment table.md and plots from its runs (trains nothing)'
	@echo ''
	@echo 'Runs already in OUT (or EXP_OUT/<name>) and earlier knn/linear results are never replaced silently:'
	@echo 'a target refuses them unless'
	@echo '  RESUME=1         continue from the last checkpoint (same settings; finished runs are kept)'
	@echo '  FORCE=1          replace them'
