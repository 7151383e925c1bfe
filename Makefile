# One command each: `make demo` (set up + run the pipeline on the sandbox API), `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup demo test test-slow dev bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/aurion-pipeline demo

test: setup
	$(BIN)/python -m pytest

test-slow: setup
	$(BIN)/python -m pytest -m slow

dev: setup
	mkdir -p $(DAGSTER_HOME)
	test -f $(DAGSTER_HOME)/dagster.yaml || cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	@cmp -s dagster.yaml $(DAGSTER_HOME)/dagster.yaml || echo "note: $(DAGSTER_HOME)/dagster.yaml differs from ./dagster.yaml; kept (copy it over to use the project's instance config)"
	$(BIN)/dagster dev -w workspace.yaml

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf data .dagster_home
