# One command each: `make demo` (set up + run the pipeline on the sandbox API), `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# `make dev` and the CLI share this instance; the demo keeps its own under ./demo/.
DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# `make dev` seeds $(DAGSTER_HOME) with this instance config when it has none; `make dev-postgres`
# uses dagster_postgres.yaml in its own home (docs/deployment.md).
INSTANCE_CONFIG ?= dagster.yaml
PG_DAGSTER_HOME ?= $(CURDIR)/.dagster_home_postgres

.PHONY: setup demo lint test coverage test-slow browsers dev dev-postgres postgres-url bench bench-quick clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup  # data and Dagster home in ./demo/, apart from a real key's ./data
	$(BIN)/aurion-pipeline demo

# Ruff with the rules in pyproject.toml ([tool.ruff]); CI runs it before the tests.
lint: setup
	$(BIN)/ruff check .

# Both cores: the tiers are independent files (tmp dirs, free ports), so files are spread over two workers.
test: setup
	$(BIN)/python -m pytest -n 2 --dist loadfile

# Line coverage of the package over the default suite (in-process code; the CLI's subprocesses are not counted).
coverage: setup
	$(BIN)/python -m pytest -n 2 --dist loadfile --cov=aurion_pipeline --cov=aurion_sandbox --cov-report=term:skip-covered

# The report's browser tests need Debian's chromium; without it (and without apt) they skip, saying why.
browsers:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) || \
	  echo "chromium could not be installed; tests/integration/test_report.py's browser tests will be skipped"

test-slow: setup browsers
	$(BIN)/python -m pytest -m slow

dev: setup
	mkdir -p $(DAGSTER_HOME)
	test -f $(DAGSTER_HOME)/dagster.yaml || cp $(INSTANCE_CONFIG) $(DAGSTER_HOME)/dagster.yaml
	@cmp -s $(INSTANCE_CONFIG) $(DAGSTER_HOME)/dagster.yaml || echo "note: $(DAGSTER_HOME)/dagster.yaml differs from ./$(INSTANCE_CONFIG); kept (copy it over to use the project's instance config)"
	@echo "note: Dagster warns below that ./dagster.yaml is not used: expected, it reads its copy in $(DAGSTER_HOME)"
	env $$($(BIN)/python -m aurion_pipeline.defs.dev_env) DAGSTER_HOME=$(DAGSTER_HOME) $(WITH_SIGINT) $(BIN)/dagster dev -w workspace.yaml

# `dagster dev` gives SIGTERM whatever SIGINT does. A script's background job (`make dev &`) inherits
# SIGINT ignored, so a `kill` would be ignored too and leave the webserver and daemon running: restore
# SIGINT's default before Dagster starts (a shell cannot: it keeps signals ignored at its start).
WITH_SIGINT = $(BIN)/python -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])'

# The same, on the PostgreSQL instance of dagster_postgres.yaml (runs, events and schedules in the
# database at $$AURION_DAGSTER_PG_URL; `python tests/pg.py` starts a throwaway local one).
dev-postgres: INSTANCE_CONFIG = dagster_postgres.yaml
dev-postgres: DAGSTER_HOME = $(PG_DAGSTER_HOME)
dev-postgres: postgres-url dev

postgres-url:
	@test -n "$$AURION_DAGSTER_PG_URL" || { echo "make dev-postgres: set AURION_DAGSTER_PG_URL to your Dagster database, e.g. postgresql://dagster:PASSWORD@HOST:5432/dagster (python tests/pg.py starts a local throwaway one and prints it)" >&2; exit 2; }

bench: setup
	$(BIN)/python bench/run_all.py

bench-quick: setup
	$(BIN)/python bench/run_all.py --quick

# The demo's folder only. ./data, .dagster_home and .dagster_home_postgres hold a real key's warehouse and
# run history (the CLI's and `make dev`'s defaults): delete those by hand, knowing what they hold.
clean:
	rm -rf demo
