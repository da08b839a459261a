# Two entry points: `make demo` (the main job on embedded defaults) and `make test` (the suite).
# Each creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SGD ?= ../shared/datasets/sgd/dev
TAPE ?= data/tapes/sgd
CLUSTERS ?= 1024

.PHONY: install demo test test-all bench clean

$(BIN)/glyph-dist: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# the CPU build of torch first, so that no CUDA wheels are pulled in
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[cpu,dev]"
	touch $@

install: $(BIN)/glyph-dist

# The main job: corpus -> tape -> context efficiency -> Phase-5 data sets -> the Phase-5 experiment
# on Ray Tune (summary table, plots, docs/PHASE-5-RESULTS.md).
demo: install
	$(BIN)/glyph-dist data corpus --sgd $(SGD) --out data/corpus
	test -f $(TAPE)/LATEST || $(BIN)/glyph-dist tape build --corpus data/corpus/sgd_train.jsonl --out $(TAPE) --clusters $(CLUSTERS)
	$(BIN)/glyph-dist tape efficiency --tape $(TAPE) --corpus data/corpus/sgd_heldout.jsonl --out reports/fgt_efficiency
	$(BIN)/glyph-dist data prepare --sgd $(SGD) --out data
	$(BIN)/glyph-dist run experiments/phase5.yaml tape=$(TAPE)

test: install
	$(BIN)/pytest -q

test-all: install
	$(BIN)/pytest -q --run-slow

bench: install
	$(BIN)/pip install --quiet -e ".[cpu,dev,bench]"
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
