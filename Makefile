# lucidnn: `make demo` trains the demo model, `make test` runs the test suite.
# Both create the virtual environment .venv themselves; a fresh machine needs only Python and pip.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
PYTEST_ARGS ?=

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch is pinned and installed before anything else, so no dependency can pull a multi-GB CUDA build
$(VENV)/.test-deps: pyproject.toml | $(BIN)/python
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[test,dev]'
	touch $@

$(VENV)/.demo-deps: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[digits,plot]'
	touch $@

demo: $(VENV)/.demo-deps
	$(BIN)/lucidnn train mlp --data digits --epochs 20 --out runs/demo

test: $(VENV)/.test-deps
	@echo "lucidnn: $$(cat src/lucidnn/*.py src/lucidnn/*/*.py | wc -l) lines in src/, $$(cat $$(find tests -name '*.py') | wc -l) in tests/"
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

bench: $(VENV)/.test-deps
	$(BIN)/python benchmarks/bench_mlp.py
	$(BIN)/python benchmarks/bench_cnn.py
	$(BIN)/python benchmarks/bench_rnn.py

lint: $(VENV)/.test-deps
	$(BIN)/ruff check src tests examples

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build dist src/*.egg-info
