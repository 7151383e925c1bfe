# One command each: `make demo` (set up + run the pipeline on the sandbox API), `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# `make dev` and the CLI share this instance; the demo keeps its own under ./demo/.
DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup demo test test-slow dev bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup  # data and Dagster home in ./demo/, apart from a real key's ./data
	$(BIN)/aurion-pipeline demo

test: setup
	$(BIN)/python -m pytest

test-slow: setup
	$(BIN)/python -m pytest -m slow

dev: setup
	mkdir -p $(DAGSTER_HOME)
	test -f $(DAGSTER_HOME)/dagster.yaml || cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	@cmp -s dagster.yaml $(DAGSTER_HOME)/dagster.yaml || echo "note: $(DAGSTER_HOME)/dagster.yaml differs from ./dagster.yaml; kept (copy it over to use the project's instance config)"
	DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/dagster dev -w workspace.yaml

bench: setup
	$(BIN)/python bench/run_all.py

clean:  # the demo's folder, and the default data and Dagster home of the CLI
	rm -rf demo data .dagster_home
