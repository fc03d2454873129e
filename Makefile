# transfer_lab — every target installs what it needs first (a .venv beside this file).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
RUN := $(PY) -m transfer_lab

.DEFAULT_GOAL := help
.PHONY: help install demo test test-fast lint format tensorboard clean bench \
	digits-yosinski digits-transferability cifar100-transferability digits-fraction \
	yosinski densenet-beta densenet-beta-k4 densenet-beta-k10 \
	wrn-beta imagenet100-beta freeze-depth fashion-fraction long-tail ood-transfer \
	natural-manmade slurm-sweep

help:  ## list the targets
	@grep -E '^[a-z][a-z0-9_-]*:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## make .venv with transfer_lab and the dev tools

demo: $(STAMP)  ## the offline β study on digits (32 jobs, a few minutes on 2 cores) and its report
	$(RUN) +experiment=digits_beta sweep

# Each study: its sweep, which writes its report at the end. Real datasets are read from data/
# (or DATA=/path); the studies' full schedules take GPU-days, digits-* take minutes on a CPU.
DATA ?=
DATA_ARG := $(if $(DATA),paths.data_dir=$(DATA),)

digits-yosinski: $(STAMP)  ## Yosinski's treatments × depth on digits (offline, minutes)
	$(RUN) +experiment=digits_yosinski sweep $(ARGS)
digits-transferability: $(STAMP)  ## only the sources of digits-yosinski, measured on B per stage (offline, minutes)
	$(RUN) +experiment=digits_transferability sweep $(ARGS)
cifar100-transferability: $(STAMP)  ## the sources of yosinski measured on B per stage
	$(RUN) +experiment=cifar100_transferability sweep $(DATA_ARG) $(ARGS)
digits-fraction: $(STAMP)  ## transfer vs scratch across B's budget on digits (offline, minutes)
	$(RUN) +experiment=digits_fraction sweep $(ARGS)
yosinski: $(STAMP)  ## Yosinski et al. 2014 on CIFAR-100 halves, both directions
	$(RUN) +experiment=yosinski sweep $(DATA_ARG) $(ARGS)
densenet-beta: $(STAMP)  ## CS6784: β on A with DenseNet-BC-100, CIFAR-100 halves
	$(RUN) +experiment=densenet_beta sweep $(DATA_ARG) $(ARGS)
densenet-beta-k4: $(STAMP)  ## CS6784 with K = 4 binary heads
	$(RUN) +experiment=densenet_beta_k4 sweep $(DATA_ARG) $(ARGS)
densenet-beta-k10: $(STAMP)  ## CS6784 with K = 10 binary heads
	$(RUN) +experiment=densenet_beta_k10 sweep $(DATA_ARG) $(ARGS)
wrn-beta: $(STAMP)  ## CS6784 with WRN-28-10
	$(RUN) +experiment=wrn_beta sweep $(DATA_ARG) $(ARGS)
imagenet100-beta: $(STAMP)  ## CS6784 on ImageNet-100 with DenseNet-121
	$(RUN) +experiment=imagenet100_beta sweep $(DATA_ARG) $(ARGS)
freeze-depth: $(STAMP)  ## CS6784's grid: all copied, frozen up to block X layer Y, β 0 vs 0.4
	$(RUN) +experiment=freeze_depth sweep $(DATA_ARG) $(ARGS)
fashion-fraction: $(STAMP)  ## Fashion-MNIST 5/5: transfer vs scratch at 5% … 100% of B
	$(RUN) +experiment=fashion_fraction sweep $(DATA_ARG) $(ARGS)
long-tail: $(STAMP)  ## CS6784: 60 images per class on B, β 0 vs 0.4
	$(RUN) +experiment=long_tail sweep $(DATA_ARG) $(ARGS)
ood-transfer: $(STAMP)  ## CS6784: CIFAR-100 A to CIFAR-10 / SVHN, β 0 vs 0.4
	$(RUN) +experiment=ood_transfer sweep $(DATA_ARG) $(ARGS)
natural-manmade: $(STAMP)  ## CS6784: CIFAR-100 natural → man-made, their grouping and ours
	$(RUN) +experiment=natural_manmade sweep $(DATA_ARG) $(ARGS)

# A study on SLURM with its driver a small job of its own (it prints how to follow it), e.g.
#   make slurm-sweep EXPERIMENT=wrn_beta ARGS="trainer=gpu hydra.launcher.gpus_per_node=1"
EXPERIMENT ?= digits_beta
slurm-sweep: $(STAMP)  ## EXPERIMENT=name on SLURM, the sweep's driver submitted as a job too (ARGS=…)
	$(RUN) +experiment=$(EXPERIMENT) sweep launcher=slurm hydra.launcher.driver=true $(DATA_ARG) $(ARGS)

test: $(STAMP)  ## the whole test suite, end-to-end runs included
	$(PY) -m pytest -q

test-fast: $(STAMP)  ## the tests not marked slow (seconds of tiny training at most)
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP)  ## what the machinery costs over plain PyTorch: table + benchmarks/results/*.json (<10 min on 2 cores)
	$(PY) benchmarks/run_all.py $(ARGS)

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
