# pipelines/pipelines.mk: user-facing targets (included by the Makefile).
#   make demo                      a few minutes: train SimSiam+GSG, k-NN table vs random init and raw pixels
#   make train  [DATA RECIPE METHOD GSG EPOCHS BATCH SEED DEVICE OUT]
#   make knn    [CKPT=...|OUT=...]  k-NN of a checkpoint (default $(OUT)/ckpt.gsgt)
#   make linear [CKPT=...|OUT=...]  linear probe of a checkpoint
#   make experiment-gsg | experiment-no-predictor | experiment-batch-size [EPOCHS SEEDS QUICK=1 ...]
# Every target first runs `make deps` and builds the tools.
DATA    ?= fashion-mnist
RECIPE  ?= fmnist
METHOD  ?= simsiam
GSG     ?= on
EPOCHS  ?=
BATCH   ?= 256
SEED    ?= 0
SEEDS   ?= 0
DEVICE  ?= cpu
QUICK   ?= 0
OUT     ?= results/train
CKPT    ?= $(OUT)/ckpt.gsgt
# extra options for the scripts, e.g. TRAIN_ARGS="--limit 10000 --knn-every 1"
TRAIN_ARGS ?=
EVAL_ARGS  ?=
EXP_ARGS   ?=

PIPE_ENV = BUILD=$(BUILD) GSG_BIN=$(abspath $(BUILD))/bin
PIPE_PREP = $(MAKE) --no-print-directory deps && $(MAKE) --no-print-directory tools
EXP_OPTS = --seeds "$(SEEDS)" --batch $(BATCH) --data $(DATA) --recipe $(RECIPE) --device $(DEVICE) \
           $(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(filter 1,$(QUICK)),--quick) $(EXP_ARGS)

.PHONY: demo train knn linear experiment-gsg experiment-no-predictor experiment-batch-size

demo:
	@t0=$$(date +%s.%N); $(PIPE_PREP) && GSG_DEMO_T0=$$t0 $(PIPE_ENV) bash pipelines/demo.sh --device $(DEVICE) --seed $(SEED)

train:
	@$(PIPE_PREP) && $(PIPE_ENV) bash pipelines/train.sh --data $(DATA) --recipe $(RECIPE) --method $(METHOD) --gsg $(GSG) --epochs $(or $(EPOCHS),10) --batch $(BATCH) --seed $(SEED) --device $(DEVICE) --out $(OUT) $(TRAIN_ARGS)

knn:
	@$(PIPE_PREP) && $(PIPE_ENV) bash pipelines/knn.sh --ckpt $(CKPT) --data $(DATA) --recipe $(RECIPE) --device $(DEVICE) --out $(dir $(CKPT))knn $(EVAL_ARGS)

linear:
	@$(PIPE_PREP) && $(PIPE_ENV) bash pipelines/linear.sh --ckpt $(CKPT) --data $(DATA) --recipe $(RECIPE) --device $(DEVICE) --out $(dir $(CKPT))linear $(EVAL_ARGS)

experiment-gsg experiment-no-predictor experiment-batch-size:
	@$(PIPE_PREP) && $(PIPE_ENV) bash pipelines/experiment.sh --name $(patsubst experiment-%,%,$@) $(EXP_OPTS)
