# promptlib — two commands: `make run` and `make test`.
# Each creates .venv on first use and is quick when already set up (stamp files track what was installed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test check lint typecheck pytest bench reliability install-dev install-all clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Core + dev tools: the headless core and its tests, without the ML stack.
$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[dev]'
	@touch $@

# Everything, the ML extra included (torch from the local wheels through pip, never uv). The test suite needs it:
# the renderer and semantic-search tests build tiny models with torch, diffusers and open_clip.
$(VENV)/.stamp-all: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[all,dev]'
	@touch $@ $(VENV)/.stamp-dev

install-dev: $(VENV)/.stamp-dev
install-all: $(VENV)/.stamp-all

run: $(VENV)/.stamp-all
	$(BIN)/promptlib init --quiet
	$(BIN)/promptlib tui

lint: $(VENV)/.stamp-all
	$(BIN)/ruff check promptlib tests migrations benchmarks
	$(BIN)/ruff format --check promptlib tests migrations benchmarks

typecheck: $(VENV)/.stamp-all
	$(BIN)/mypy

pytest: $(VENV)/.stamp-all
	$(BIN)/pytest

test: lint typecheck pytest

check: test

# The long reliability runs (docs/RELIABILITY.md): >= 1,000 SIGKILLs, >= 100,000 fuzz inputs, two writers x 10,000
# changes, racing migrations. About an hour on 2 cores; figures go to $(RELIABILITY_OUT)/*.json. The short versions
# run in `make test`. Knobs: PROMPTLIB_KILLS, PROMPTLIB_FUZZ_INPUTS, PROMPTLIB_CHANGES, PROMPTLIB_MIGRATION_ROUNDS.
RELIABILITY_OUT ?= build/reliability
reliability: $(VENV)/.stamp-dev
	PROMPTLIB_RELIABILITY_OUT=$(RELIABILITY_OUT) $(BIN)/pytest tests/reliability --run-slow

bench: $(VENV)/.stamp-all
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache
