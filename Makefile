# transfer_lab — every target installs what it needs first (a .venv beside this file).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
RUN := $(PY) -m transfer_lab

.DEFAULT_GOAL := help
.PHONY: help install demo test test-fast lint format tensorboard clean

help:  ## list the targets
	@grep -E '^[a-z][a-z0-9_-]*:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## make .venv with transfer_lab and the dev tools

demo: $(STAMP)  ## the offline β study on digits (16 jobs, about 2 minutes on 2 cores) and its report
	$(RUN) +experiment=digits_beta sweep

test: $(STAMP)  ## the whole test suite, end-to-end runs included
	$(PY) -m pytest -q

test-fast: $(STAMP)  ## the tests that train nothing
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)  ## ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)  ## ruff format and autofix
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Every sweep's log tree is multirun/<date>/<time>/tensorboard/<job>/{source,target}; a single
# run's is outputs/<date>/<time>/tensorboard/run/{source,target}.
TENSORBOARD_ALL := --logdir_spec sweeps:multirun,runs:outputs
tensorboard: $(STAMP)  ## serve TensorBoard over every sweep and run (LOGDIR=multirun/<date>/<time> for one)
	$(VENV)/bin/tensorboard $(if $(LOGDIR),--logdir $(LOGDIR),$(TENSORBOARD_ALL)) --host 127.0.0.1 --port 6006

clean:  ## remove sweeps, runs, the source cache and build leftovers (keeps .venv)
	rm -rf multirun/2* outputs .cache build dist .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
