# promptlib — two commands: `make run` and `make test`.
# Each creates .venv on first use and is quick when already set up (stamp files track what was installed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test check lint typecheck pytest bench install-dev install-all clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Core + dev tools: enough for the whole test suite.
$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[dev]'
	@touch $@

# Everything, the ML extra included (torch from the local wheels through pip, never uv).
$(VENV)/.stamp-all: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[all,dev]'
	@touch $@

install-dev: $(VENV)/.stamp-dev
install-all: $(VENV)/.stamp-all

run: $(VENV)/.stamp-all
	$(BIN)/promptlib init --quiet
	$(BIN)/promptlib tui

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check promptlib tests migrations benchmarks
	$(BIN)/ruff format --check promptlib tests migrations benchmarks

typecheck: $(VENV)/.stamp-dev
	$(BIN)/mypy

pytest: $(VENV)/.stamp-dev
	$(BIN)/pytest

test: lint typecheck pytest

check: test

bench: $(VENV)/.stamp-dev
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache
