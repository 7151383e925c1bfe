"""Fixtures shared by several test modules, and the test tiers.

Tiers are folders: `unit/` (pure code), `integration/` (real DuckDB files, Parquet and loopback HTTP
servers), `e2e/` (Dagster runs, the CLI in real processes, PostgreSQL, a browser). The default
`make test` runs unit and integration tests and the e2e tests marked `smoke`; every other e2e test
is `slow` and runs in `make test-slow` (and so in CI).
"""

import shutil
import uuid
from pathlib import Path

import pytest
import yaml
from helpers_ops import REPO
from pg import PG_URL_VAR, PostgresCluster, PostgresUnavailable, start_cluster

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


def storage_block(form: str, url: str) -> dict:
    """The two ways Dagster users write a PostgreSQL instance: a URL from the environment (ours; the
    fixture's names the driver, postgresql+psycopg2://) or the `postgres_db` fields (Dagster builds a
    bare postgresql:// from them: SQLAlchemy 2.1 would look for psycopg 3 there)."""
    if form == "postgres_url":
        return {"postgres": {"postgres_url": {"env": PG_URL_VAR}}}
    host_port, _, db_name = url.rsplit("@", 1)[1].partition("/")
    host, _, port = host_port.partition(":")
    return {"postgres": {"postgres_db": {"username": "postgres", "hostname": host, "port": int(port),
                                         "db_name": db_name}}}


@pytest.fixture
def pg_home(postgres, tmp_path, request):
    """A DAGSTER_HOME on a new, empty database of the session's server; its dagster.yaml is
    dagster_postgres.yaml with the storage block of the test's form."""
    form = getattr(request, "param", "postgres_url")
    url = postgres.create_database(f"dagster_{uuid.uuid4().hex[:12]}")
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = yaml.safe_load((REPO / "dagster_postgres.yaml").read_text())
    config["storage"] = storage_block(form, url)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home, url.replace("postgresql://", "postgresql+psycopg2://")
