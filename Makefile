# dltricks: every target sets up what it needs (a virtual environment in .venv/) first.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS ?= constraints.txt
# Empty CONSTRAINTS (GPU machines: `make install CONSTRAINTS=`) installs torch from the range.
PIP_CONSTRAINTS := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
STAMP := $(VENV)/.installed
ARGS ?=

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(PIP_CONSTRAINTS) -e '.[dev,sweep,search,track,wandb,ray]'
	touch $(STAMP)

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9_-]+:.*## / {printf "  make %-19s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: install
install: $(STAMP) ## create .venv and install dltricks with its dev tools

.PHONY: train
train: $(STAMP) ## run the embedded default experiment (ARGS="optimizer=adam ..." to override)
	$(BIN)/dltricks train $(ARGS)

.PHONY: test
test: $(STAMP) ## run the fast tests (on every core: pytest-xdist), the 10 slowest named
	$(BIN)/python -m pytest -q -n auto --durations=10 $(ARGS)

.PHONY: test-all
test-all: $(STAMP) ## run every test, the slow ones too (not the cluster ones)
	$(BIN)/python -m pytest -q -n auto --durations=10 -m "not cluster" $(ARGS)

.PHONY: test-cluster
test-cluster: $(STAMP) ## the sweeps on real engines: SLURM (as root), Ray, a shared Optuna study
	$(BIN)/python -m pytest -q --durations=0 -m cluster $(ARGS)

# ---------------------------------------------------------------- engines
.PHONY: slurm-up slurm-down ray-up ray-down
slurm-up: ## a one-node SLURM cluster here, partition `local` (Debian's slurm-wlm; as root)
	@cluster/slurm.sh up

slurm-down: ## stop it: no daemon, job or state left
	@cluster/slurm.sh down

RAY_PORT ?= 6379
ray-up: $(STAMP) ## a local Ray head node on 127.0.0.1; sweeps join it with RAY_ADDRESS=auto
	$(BIN)/ray start --head --node-ip-address=127.0.0.1 --port=$(RAY_PORT) \
		--include-dashboard=false --disable-usage-stats

ray-down: $(STAMP) ## stop every Ray process of this machine
	$(BIN)/ray stop --force

.PHONY: lint
lint: $(STAMP) ## ruff: lint and format check
	$(BIN)/ruff check dltricks hydra_plugins tests benchmarks examples
	$(BIN)/ruff format --check dltricks hydra_plugins tests benchmarks examples

.PHONY: format
format: $(STAMP) ## ruff: fix what it can and format
	$(BIN)/ruff check --fix dltricks hydra_plugins tests benchmarks examples
	$(BIN)/ruff format dltricks hydra_plugins tests benchmarks examples

.PHONY: sweep
sweep: $(STAMP) ## an example sweep on all cores (joblib): depth x residual x 2 seeds
	$(BIN)/dltricks train -m hydra/launcher=joblib model.depth=4,12 model.residual=false,true \
		seed=0,1 trainer.epochs=5 $(ARGS)

.PHONY: search
search: $(STAMP) ## a search (Optuna, TPE): the default optimizer's and L2's own spaces, 20 trials
	$(BIN)/dltricks train -m hydra/sweeper=search regularization=[l2] trainer.epochs=10 $(ARGS)

.PHONY: report
report: $(STAMP) ## report on the newest sweep or run under outputs/
	$(BIN)/dltricks report $(ARGS)

# ---------------------------------------------------------------- experiments
# Each reproduces a claim of the seed notes: a sweep, then the report (table, diagnosis,
# plots) in outputs/experiments/<name>/report. Re-running skips the jobs that finished.
EXP := outputs/experiments
DLT := $(BIN)/dltricks
EXPERIMENTS := degradation degradation_mlp vanishing_gradient init_stats optimizers compare_activations \
	regularization batchnorm schedules mnist1d_table transfer
.PHONY: experiments $(EXPERIMENTS)

experiments: $(EXPERIMENTS) ## run every CPU experiment in sequence (~90 min on 2 cores)

# The README's figures: EXPERIMENT/FIGURE of its report (outputs/experiments/EXPERIMENT/report/
# FIGURE.png) = the name it gets in docs/
FIGURES := degradation/curves=degradation degradation_mlp/curves=degradation_mlp \
	vanishing_gradient/layer_gradients=vanishing_gradient init_stats/layer_activations=init_stats \
	optimizers/profiles=optimizers optimizers/lr_sensitivity=optimizers_lr \
	compare_activations/profiles=compare_activations regularization/sensitivity=regularization \
	batchnorm/sensitivity=batchnorm schedules/curves=schedules mnist1d_table/curves=mnist1d_table \
	transfer/curves=transfer
.PHONY: figures
figures: ## copy each experiment's figure into docs/, for the README (after make experiments)
	@for f in $(FIGURES); do \
		src=$${f%%=*}; \
		cp -v $(EXP)/$${src%%/*}/report/$${src#*/}.png docs/$${f#*=}.png || exit 1; \
	done

degradation: $(STAMP) ## ResNet-20 vs 56, plain vs residual: deeper plain nets train worse
	$(DLT) train -m experiment=degradation $(ARGS)
	$(DLT) report $(EXP)/$@ --by model.depth,model.residual --out $(EXP)/$@/report

degradation_mlp: $(STAMP) ## the same with MLPs: the 56-layer plain MLP collapses to chance
	$(DLT) train -m experiment=degradation_mlp $(ARGS)
	$(DLT) report $(EXP)/$@ --by model.depth,model.residual --out $(EXP)/$@/report

vanishing_gradient: $(STAMP) ## sigmoid vs tanh vs relu: per-layer gradient norms by depth
	$(DLT) train -m experiment=vanishing_gradient $(ARGS)
	$(DLT) report $(EXP)/$@ --by activation --layers --out $(EXP)/$@/report

init_stats: $(STAMP) ## cs231n's init table: activation std per layer at initialization
	$(DLT) train -m experiment=init_stats activation=tanh init=gaussian init.std=0.01,1.0 $(ARGS)
	$(DLT) train -m experiment=init_stats activation=tanh,relu init=xavier init.gain=1.0 $(ARGS)
	$(DLT) train -m experiment=init_stats activation=relu init=he $(ARGS)
	$(DLT) report $(EXP)/$@ --by activation,init,init.std --layers --out $(EXP)/$@/report

# A comparison as the field's benchmarks make one (dltricks versus): per option and problem,
# the defaults over 3 seeds, an 8-trial quasi-random study of its own space, the best re-run
# over 3 seeds; the report (tables, performance profiles, lr sensitivity) in .../report.
VERSUS := --budget 8 --seeds 3 hydra/launcher=stacked
optimizers: $(STAMP) ## eight optimizers on four problems: defaults, tuned, re-run over seeds (versus)
	$(DLT) versus optimizer=sgd,momentum,nesterov,adam,adamw,rmsprop,nadam,radam \
		--problems digits_mlp,spirals_mlp,teacher_mlp,mnist1d_mlp $(VERSUS) --out $(EXP)/$@ $(ARGS)
	$(DLT) report $(EXP)/$@ --format markdown --out $(EXP)/$@/report

compare_activations: $(STAMP) ## five activations on two problems, each with its lr tuned (versus)
	$(DLT) versus activation=relu,leaky_relu,elu,tanh,sigmoid --problems digits_mlp,mnist1d_mlp \
		$(VERSUS) --out $(EXP)/$@ $(ARGS)
	$(DLT) report $(EXP)/$@ --format markdown --out $(EXP)/$@/report

regularization: $(STAMP) ## noisy labels: each regularizer trades train error for test error
	$(DLT) train -m experiment=regularization 'regularization=[],[dropout],[early_stopping]' $(ARGS)
	$(DLT) train -m experiment=regularization regularization=[l2] regularization.l2.lambda=0.01 $(ARGS)
	$(DLT) train -m experiment=regularization regularization=[l1] regularization.l1.lambda=0.3 \
		regularization.l1.proximal=true $(ARGS)
	$(DLT) train -m experiment=regularization regularization=[augment] regularization.augment.noise_std=1.0 $(ARGS)
	$(DLT) report $(EXP)/$@ --by regularization --metric train_err,test_err,sparsity,zero_weights \
		--x regularization --out $(EXP)/$@/report

batchnorm: $(STAMP) ## with and without BN across learning rates and inits
	$(DLT) train -m experiment=batchnorm $(ARGS)
	$(DLT) report $(EXP)/$@ --by norm,init,trainer.lr_scale --x trainer.lr_scale \
		--metric train_err,best_val_err,test_err --out $(EXP)/$@/report

schedules: $(STAMP) ## constant, step, cosine, one-cycle, SGDR, with and without warm-up
	$(DLT) train -m experiment=schedules $(ARGS)
	$(DLT) report $(EXP)/$@ --by schedule,schedule.warmup_steps --out $(EXP)/$@/report

mnist1d_table: $(STAMP) ## logistic regression, MLP, CNN, GRU on MNIST-1D (the paper's table)
	$(DLT) train -m experiment=mnist1d_table name=logistic model=mlp model.depth=2 activation=linear $(ARGS)
	$(DLT) train -m experiment=mnist1d_table name=mlp model=mlp model.depth=3 model.width=100 $(ARGS)
	$(DLT) train -m experiment=mnist1d_table name=cnn model=convnet model.depth=8 norm=batch $(ARGS)
	$(DLT) train -m experiment=mnist1d_table name=gru model=rnn model.hidden=6 model.bidirectional=true \
		model.readout=all regularization=[grad_clip] $(ARGS)
	$(DLT) report $(EXP)/$@ --by name --metric train_err,test_err,params,wall_s --out $(EXP)/$@/report

# The target domain: a new draw of MNIST-1D, sheared, shifted and noisier, 200 examples
FINETUNE := experiment=transfer data.load.seed=7 data.train_size=200 data.load.shear_scale=1.5 \
	data.load.max_translation=60 data.load.corr_noise_scale=0.5
transfer: $(STAMP) ## pretrain on MNIST-1D, fine-tune on 200 examples: frozen vs scratch
	$(DLT) train experiment=transfer hydra.run.dir=$(EXP)/$@/pretrain $(ARGS) || test -f $(EXP)/$@/pretrain/checkpoint.pt
	$(DLT) train -m $(FINETUNE) name=scratch $(ARGS)
	$(DLT) train -m $(FINETUNE) name=pretrained transfer.init_from=$(abspath $(EXP))/$@/pretrain \
		transfer.freeze=0,2,7 $(ARGS)
	$(DLT) report $(EXP)/$@/finetune --by name,transfer.freeze --metric train_err,test_err \
		--x transfer.freeze --out $(EXP)/$@/report

.PHONY: bench
bench: $(STAMP) ## benchmarks: loop vs hand-written, threads, batching, start-up, sweeps, report (4-10 min)
	$(BIN)/python benchmarks/bench.py $(ARGS)

# On a CUDA machine: `make install CONSTRAINTS=` first (torch from the range: a CUDA build),
# or GPU_PYTHON=python3 for a Python that already has CUDA torch and dltricks' requirements.
GPU_PYTHON ?= $(BIN)/python
.PHONY: gpu-check
gpu-check: $(if $(filter $(BIN)/python,$(GPU_PYTHON)),$(STAMP)) ## on a GPU: CUDA tests, bf16+compile ResNet, bit-for-bit resume, GPU bench (<5 min)
	$(GPU_PYTHON) benchmarks/gpu_check.py

.PHONY: clean
clean: ## remove outputs and caches (keeps .venv)
	rm -rf outputs/runs outputs/sweeps .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

.PHONY: distclean
distclean: clean ## also remove the virtual environment
	rm -rf $(VENV)
