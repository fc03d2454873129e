# transfer_lab — every target installs what it needs first (a .venv beside this file).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
RUN := $(PY) -m transfer_lab

.DEFAULT_GOAL := help
.PHONY: help install demo test test-fast lint format tensorboard clean bench gpu-check fashion-data \
	example-own-images \
	slurm-sweep $(EXPERIMENTS)

help:  ## list the targets
	@{ grep -E '^[a-z][a-z0-9_-]*:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'; \
	  for f in $(EXPERIMENT_FILES); do \
	    printf '%s\t%s\n' "$$(basename $$f .yaml | tr _ -)" \
	      "$$(sed -n '/^# @package/d; /^#/{s/^# *//p;q;}' $$f)"; \
	  done; } | expand -t 26 | awk '{ print (length($$0) > 118 ? substr($$0, 1, 117) "…" : $$0) }'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,timm]'
	@touch $(STAMP)

install: $(STAMP)  ## make .venv with transfer_lab and the dev tools

# One thread unless OMP_NUM_THREADS says otherwise: the sums' order follows the thread count, so
# this is what prints docs/results/digits.md's numbers again (and the cheapest on a busy machine).
demo: $(STAMP)  ## the offline β study on digits (32 sources, then 32 targets, one thread; minutes), its report
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(RUN) +experiment=digits_beta sweep

# Each study: its sweep, which writes its report at the end. Real datasets are read from data/
# (or DATA=/path); the studies' full schedules take GPU-days, digits-* take minutes on a CPU.
# One target per conf/experiment/NAME.yaml, named NAME with _ as -; `make help` shows the
# first comment line of each file.
DATA ?=
DATA_ARG := $(if $(DATA),paths.data_dir=$(DATA),)
EXPERIMENT_FILES := $(sort $(wildcard conf/experiment/*.yaml))
EXPERIMENTS := $(subst _,-,$(basename $(notdir $(EXPERIMENT_FILES))))

$(EXPERIMENTS): %: $(STAMP)
	$(RUN) +experiment=$(subst -,_,$@) sweep $(DATA_ARG) $(ARGS)

# The real Fashion-MNIST: Debian's package where apt is there (installed when we are root),
# else torchvision's download into data/ (needs a network). data=fashion_mnist finds either.
FASHION_DEBIAN := /usr/share/datasets/fashion-mnist
fashion-data:  ## get the real Fashion-MNIST: Debian's dataset-fashion-mnist, else torchvision's download
	@if [ -f $(FASHION_DEBIAN)/t10k-labels-idx1-ubyte.gz ]; then \
	  echo "Fashion-MNIST is installed in $(FASHION_DEBIAN) (Debian's dataset-fashion-mnist)"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null \
	  && echo "Fashion-MNIST installed in $(FASHION_DEBIAN) (Debian's dataset-fashion-mnist)"; \
	elif command -v apt-get >/dev/null; then \
	  echo "Fashion-MNIST is not installed; run: sudo apt-get install dataset-fashion-mnist" >&2; exit 2; \
	else \
	  $(MAKE) --no-print-directory $(STAMP) && \
	  $(PY) -c 'from transfer_lab.data.datasets.fashion_mnist import load_fashion_mnist as f; f("data", download=True)' \
	  && echo "Fashion-MNIST downloaded into data/FashionMNIST/raw/"; \
	fi

# The worked example of "Your network, your data" (README): a LeNet trained on Fashion-MNIST's A
# half (fashion_fraction_cpu's source) saved as a plain state_dict, B's classes as PNGs, then the
# layer curve and the measures from that file on that folder, all in own_images/.
OWN := own_images
example-own-images: $(STAMP)  ## the README's worked example: your weights file + a folder of PNGs → the layer curve (~15 min on 2 cores)
	$(RUN) +experiment=fashion_fraction_cpu data.root=$(FASHION_DEBIAN) only_source=true \
	  transfer.arm=A4B+ data.fraction=0.05 data.split_seed=0 hydra.run.dir=$(OWN)/source
	$(PY) examples/own_images.py weights $(OWN)/source $(OWN)/model.pt
	$(PY) examples/own_images.py export $(FASHION_DEBIAN) $(OWN)/source $(OWN)/pngs
	$(RUN) backbone=lenet source.weights=$(OWN)/model.pt data=image_folder data.root=$(OWN)/pngs \
	  data.source_classes=0 measures.enabled=true target.epochs=30 \
	  transfer.arm=baseB,A1B,A2B,A3B,A4B,A1B+,A2B+,A3B+,A4B+ hydra.sweep.dir=$(OWN)/sweep sweep

# A study on SLURM with its driver a small job of its own (it prints how to follow it), e.g.
#   make slurm-sweep EXPERIMENT=wrn_beta ARGS="trainer=gpu hydra.launcher.gpus_per_node=1"
EXPERIMENT ?= digits_beta
slurm-sweep: $(STAMP)  ## EXPERIMENT=name on SLURM, the sweep's driver submitted as a job too (ARGS=…)
	$(RUN) +experiment=$(EXPERIMENT) sweep launcher=slurm hydra.launcher.driver=true $(DATA_ARG) $(ARGS)

test: $(STAMP)  ## the whole test suite, end-to-end runs included
	$(PY) -m pytest -q

test-fast: $(STAMP)  ## the ~950 tests not marked slow: about 3 minutes on 2 quiet cores (173 s measured), longer on a busy machine
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP)  ## what the machinery costs over plain PyTorch: table + benchmarks/results/*.json (<10 min on 2 cores)
	$(PY) benchmarks/run_all.py $(ARGS)

gpu-check: $(STAMP)  ## on a GPU: images/s bf16 vs fp32, the 100-epoch Fashion job, parallel workers (<8 min; ARGS=--dry-run on a CPU)
	$(PY) benchmarks/gpu_check.py $(ARGS)

lint: $(STAMP)  ## ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)  ## ruff format and autofix
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Every sweep's log tree is multirun/<date>/<time>/tensorboard/<number>-<arm>-…-split<s>/target
# and source-…/source; a single run's is outputs/<date>/<time>/tensorboard/<arm>-…/{source,target}.
# LOGDIR=<a sweep or run folder> serves its tensorboard/ folder, so runs are named
# 007-A3B+-beta0.4-split1/target, not tensorboard/007-…; the address colours runs by β
# (TensorBoard's "Color runs by regex", docs/tensorboard.md).
TENSORBOARD_ALL := --logdir_spec sweeps:multirun,runs:outputs
TENSORBOARD_DIR = $(if $(wildcard $(LOGDIR)/tensorboard),$(LOGDIR)/tensorboard,$(LOGDIR))
TENSORBOARD_URL := http://127.0.0.1:6006/?runColorGroup=regex:beta%28%5B0-9.%5D%2B%29\#timeseries
tensorboard: $(STAMP)  ## serve TensorBoard over every sweep and run (LOGDIR=multirun/<date>/<time> for one)
	@echo "open $(TENSORBOARD_URL) (runs coloured by β)"
	$(VENV)/bin/tensorboard $(if $(LOGDIR),--logdir $(TENSORBOARD_DIR),$(TENSORBOARD_ALL)) --host 127.0.0.1 --port 6006

clean:  ## remove sweeps, runs, the source cache and build leftovers (keeps .venv)
	rm -rf multirun/2* outputs .cache build dist .pytest_cache .ruff_cache $(OWN)
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
