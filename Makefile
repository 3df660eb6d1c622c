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
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(PIP_CONSTRAINTS) -e '.[dev,sweep,search]'
	touch $(STAMP)

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: install
install: $(STAMP) ## create .venv and install dltricks with its dev tools

.PHONY: train
train: $(STAMP) ## run the embedded default experiment (ARGS="optimizer=adam ..." to override)
	$(BIN)/dltricks train $(ARGS)

.PHONY: test
test: $(STAMP) ## run the fast tests
	$(BIN)/python -m pytest -q $(ARGS)

.PHONY: test-all
test-all: $(STAMP) ## run every test, the slow ones too
	$(BIN)/python -m pytest -q -m "" $(ARGS)

.PHONY: lint
lint: $(STAMP) ## ruff: lint and format check
	$(BIN)/ruff check dltricks tests benchmarks
	$(BIN)/ruff format --check dltricks tests benchmarks

.PHONY: format
format: $(STAMP) ## ruff: fix what it can and format
	$(BIN)/ruff check --fix dltricks tests benchmarks
	$(BIN)/ruff format dltricks tests benchmarks

.PHONY: sweep
sweep: $(STAMP) ## an example sweep on all cores (joblib): depth x residual x 2 seeds
	$(BIN)/dltricks train -m hydra/launcher=joblib model.depth=4,12 model.residual=false,true \
		seed=0,1 trainer.epochs=5 $(ARGS)

.PHONY: search
search: $(STAMP) ## random search in log space (Optuna, TPE): lr and L2 strength, 20 trials
	$(BIN)/dltricks train -m hydra/sweeper=search regularization=[l2] trainer.epochs=10 $(ARGS)

.PHONY: report
report: $(STAMP) ## report on the newest sweep or run under outputs/
	$(BIN)/dltricks report $(ARGS)

.PHONY: clean
clean: ## remove outputs and caches (keeps .venv)
	rm -rf outputs/runs outputs/sweeps .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

.PHONY: distclean
distclean: clean ## also remove the virtual environment
	rm -rf $(VENV)
