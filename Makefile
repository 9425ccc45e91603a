# AlexNet, the executable book.  `make help` lists the targets.
#
#   make book    install, make the stand-in data, execute every notebook, build the site
#   make test    what CI runs (.ci/run): executed-notebook check, unit tests + nbval + verify results/ with two CPUs' kernels,
#                the dry run of course and paper, site, browser check
#
# Every command uses .venv/bin/... explicitly: nothing needs activating.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# One switch sizes every experiment: smoke (default), course, paper. See book/index.md.
ALEXNET_PROFILE ?= smoke
export ALEXNET_PROFILE
export PYTHONHASHSEED := 0

# This machine's pip.conf makes pip warn that some of its keys "are ignored"; drop that noise.
PIP_FILTER := sed -u '/is ignored/d'
header = @printf '\n\033[1m==> %s\033[0m  (%s)\n' "$(1)" "$$(date +%T)"

.PHONY: help install sysdeps data vendor execute book site results dry-run test clean

help:  ## list the targets
	@echo "AlexNet, the executable book (ALEXNET_PROFILE=$(ALEXNET_PROFILE))"
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  make \1\t\2/' | expand -t 16
	@echo
	@echo "  PY=python3.11 make install    choose the interpreter that creates .venv"
	@echo "  ALEXNET_PROFILE=course make book    a bigger run (one GPU, real CIFAR-10 and Imagenette)"

install: $(STAMP)  ## create .venv and install requirements.txt + alexnet_lib (editable)

$(STAMP): requirements.txt pyproject.toml
	$(call header,install: $(VENV) from requirements.txt)
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -r requirements.txt 2>&1 | $(PIP_FILTER)
	$(BIN)/python -m pip install -e . --no-deps 2>&1 | $(PIP_FILTER)
	@# Notebooks run on this venv's interpreter: tools/execute_notebooks.py and nbval
	@# (--nbval-current-env) start the kernel with .venv/bin/python, whatever kernels exist elsewhere.
	$(BIN)/python -c "import alexnet_lib, ipykernel, nbval, jupyter_book, playwright; print('install: ok,', alexnet_lib.__file__)"
	@touch $@

sysdeps:  ## Debian packages: chromium (browser check), dataset-fashion-mnist (real data offline)
	@if [ -x /usr/bin/chromium ] && [ -d /usr/share/datasets/fashion-mnist ]; then \
	    echo "sysdeps: chromium and dataset-fashion-mnist already installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "sysdeps: apt-get install -y chromium dataset-fashion-mnist"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q chromium dataset-fashion-mnist \
	    || { apt-get update -q && apt-get install -y -q chromium dataset-fashion-mnist; } \
	    || echo "sysdeps: WARNING: apt-get failed; install chromium yourself (the browser check needs it;" \
	            "CHROMIUM=/path/to/chrome overrides) -- Fashion-MNIST then comes from torchvision's download"; \
	else \
	    echo "sysdeps: not root or no apt-get: nothing installed. For everything to work, install"; \
	    echo "         chromium (make test's browser check; or set CHROMIUM=/path/to/chrome) and, on"; \
	    echo "         Debian/Ubuntu, dataset-fashion-mnist (otherwise torchvision downloads Fashion-MNIST)."; \
	fi

data: install  ## make the stand-in datasets, prepare the stand-in store, unpack Fashion-MNIST under data/
	$(call header,data: stand-in and Fashion-MNIST ($(ALEXNET_PROFILE)))
	$(BIN)/python -m alexnet_lib.data.standin
	$(BIN)/python -m alexnet_lib.data.fashion_mnist
	@# under smoke: the stand-in store (the chapters) and real Fashion-MNIST at 256x256 (results/alexnet224, verify)
	@if [ "$(ALEXNET_PROFILE)" = smoke ]; then $(BIN)/python -m alexnet_lib.data.prepare && \
	    ALEXNET_IMAGENET=fashion-mnist $(BIN)/python -m alexnet_lib.data.prepare; fi

vendor:  ## fetch MathJax and the widget JavaScript from npm into _vendor/ (for an offline site)
	@tools/vendor_js.sh

execute: install  ## execute every notebook in _toc.yml in place (ALEXNET_PROFILE; smoke: as make test re-runs them)
	$(call header,execute: notebooks under ALEXNET_PROFILE=$(ALEXNET_PROFILE))
	$(BIN)/python tools/execute_notebooks.py

book: install sysdeps data vendor  ## install + data + execute the notebooks + build the site
	@$(MAKE) execute
	@$(MAKE) site

results: install data  ## re-run every full-size experiment into results/ (hours on 2 CPU cores), then the claims page
	$(call header,results: every experiment at its full size (python -m alexnet_lib.experiments list shows them))
	$(BIN)/python -m alexnet_lib.experiments run --size full
	$(BIN)/python -m alexnet_lib.experiments claims

# Every chapter under course and under paper, top to bottom, at tiny sizes (ALEXNET_DRY_RUN=1) on
# format-exact copies of their archives, in _build/dry-run/ (tools/dry_run.py); then one chapter
# alone in a fresh venv, as on a hosted Jupyter, its first cell installing the book from this
# checkout's HEAD (tools/check_hosted.py).
dry-run: install data  ## every chapter under course and paper at tiny sizes on format-exact archives; a chapter alone in a fresh venv
	$(call header,dry-run: every chapter under course and paper (ALEXNET_DRY_RUN=1), on format-exact copies of their archives)
	$(BIN)/python tools/dry_run.py
	$(call header,dry-run: a chapter alone in a fresh virtual environment, as on a hosted Jupyter)
	$(BIN)/python tools/check_hosted.py

site: install vendor  ## build _build/html from the notebooks' stored outputs (warnings are errors)
	$(call header,site: jupyter-book build (-W: a warning fails the build))
	@# --all: Sphinx re-reads only changed pages otherwise, so a warning from an unchanged page is
	@# not repeated and a second build "succeeds". Execution is off, so a full build is quick.
	$(BIN)/jupyter-book build . -W -n --keep-going --all
	@echo "site: open _build/html/index.html"

# `override`: the stored outputs are smoke outputs, so the checks always run under smoke.
# The unit tests and nbval run with this CPU's kernels and with an older CPU's (oneDNN/ATen/MKL
# switches), one thread each, side by side (tools/two_cpus.py): an output that holds only on the
# machine that stored it fails here. nbval runs the notebooks on the CPU even where a GPU is
# present (CUDA_VISIBLE_DEVICES=): the stored outputs are CPU outputs. README.md, "Stored outputs".
NBVAL := CUDA_VISIBLE_DEVICES= $(BIN)/pytest -q --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg -p no:cacheprovider
# nbval in two halves of about equal time, so that the runs share the cores evenly; 11 and 12 stay
# together (§6.1 reuses the checkpoint §6 trains in the run's own ALEXNET_RUNS).
NBVAL_FIRST := book/0[1-9]_*.ipynb
NBVAL_LAST := book/[1-9][0-9]_*.ipynb
UNIT := $(BIN)/pytest -q tests -p no:cacheprovider
# Each stored full result in results/: its first run's first epoch again, compared (minutes).
VERIFY := CUDA_VISIBLE_DEVICES= $(BIN)/python -m alexnet_lib.experiments verify
test: override ALEXNET_PROFILE := smoke
test: install sysdeps data vendor  ## what CI runs: every check, under the smoke profile, with two CPUs' kernels
	$(call header,test 1/5: every notebook stored executed, top to bottom, without errors, its first cell the hosted one)
	$(BIN)/python tools/check_notebooks.py
	$(BIN)/python tools/hosted_cell.py --check
	$(call header,test 2/5: unit tests (pytest tests) and nbval (re-execute the notebooks on the CPU and compare with the stored outputs) and verify results/ (re-run each stored result's first epoch) with this CPU's kernels and an older CPU's)
	$(BIN)/python tools/two_cpus.py "$(UNIT)" "$(NBVAL) $(NBVAL_LAST)" "$(NBVAL) $(NBVAL_FIRST)" "$(VERIFY)"
	$(call header,test 3/5: the dry run of course and paper, and a chapter alone as on a hosted Jupyter)
	@$(MAKE) dry-run
	$(call header,test 4/5: build the site)
	@$(MAKE) site
	$(call header,test 5/5: open every page in headless Chromium)
	$(BIN)/python tools/check_site.py
	@echo; echo "test: all checks passed"

clean:  ## remove _build/ and _vendor/ (keeps .venv/ and data/)
	rm -rf _build _vendor
