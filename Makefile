# nitrogen: every job the project does, from a fresh clone.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-out
BENCH_OUT ?= bench.json

.PHONY: install test demo bench lint clean

install: $(STAMP)

# torch first, pinned: an unpinned torch pulls gigabytes of CUDA.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check nitrogen_cli tests tools
	$(BIN)/ruff format --check nitrogen_cli tests tools

demo: $(STAMP)
	tools/demo $(DEMO_DIR)

bench: $(STAMP)
	$(BIN)/python tools/bench.py -o $(BENCH_OUT)

clean:
	rm -rf $(DEMO_DIR) $(BENCH_OUT) .pytest_cache .ruff_cache
