# nitrogen: every job the project does, from a fresh clone.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-out
BENCH_OUT ?= bench.json
# make corpus: about 10 minutes of video over every game, with a fixed seed; the real
# input-overlay presets beside the repo join the built-in skins when they are there.
CORPUS_DIR ?= corpus
CORPUS_MINUTES ?= 10
CORPUS_SEED ?= 0
CORPUS_TEMPLATES ?= $(wildcard ../shared/overlays/input-overlay)

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

.PHONY: corpus
corpus: $(STAMP)
	tools/make-corpus --minutes $(CORPUS_MINUTES) --out $(CORPUS_DIR) --seed $(CORPUS_SEED) \
		$(addprefix --templates ,$(CORPUS_TEMPLATES))

# make parser: train an extract-actions parser by a fixed schedule (the same network on
# any machine): three networks, seeds 0, 1 and 2, one after another, that read together
# (2 cores, about 40 minutes on a quiet machine; the ../shared presets join the built-in
# skins) into parser-out/, not over the shipped one: the README says why.
PARSER_OUT ?= parser-out/parser
.PHONY: parser
parser: $(STAMP)
	tools/train-parser --steps 6000 --workers 2 --seed 0 --members 3 \
		--templates ../shared/overlays/input-overlay \
		--holdout builtin/switch,builtin/snes,ds3,f710,hitbox,nes-pixel,snes -o $(PARSER_OUT)

clean:
	rm -rf $(DEMO_DIR) $(BENCH_OUT) parser-out .pytest_cache .ruff_cache
