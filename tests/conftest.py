"""Fixtures shared by several test modules, and the test tiers.

Tiers are folders: `unit/` (pure code), `integration/` (real DuckDB files, Parquet and loopback HTTP
servers), `e2e/` (Dagster runs, the CLI in real processes, PostgreSQL, a browser). The default
`make test` runs unit and integration tests and the e2e tests marked `smoke`; every other e2e test
is `slow` and runs in `make test-slow` (and so in CI).
"""

import shutil
from pathlib import Path

import pytest
from helpers_ops import REPO
from pg import PostgresCluster, PostgresUnavailable, start_cluster

E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(E2E) and not item.get_closest_marker("smoke"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def postgres() -> PostgresCluster:
    """A throwaway PostgreSQL server for the whole session (tests/pg.py), stopped and removed at the end.
    Skipped, saying why, only when the server binaries are not installed."""
    try:
        cluster = start_cluster()
    except PostgresUnavailable as exc:
        pytest.skip(f"no PostgreSQL server to test against: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture
def sqlite_home(tmp_path, monkeypatch) -> Path:
    """A DAGSTER_HOME with the project's dagster.yaml (the default SQLite instance), for this test only."""
    shutil.copyfile(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    return tmp_path
