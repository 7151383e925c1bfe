"""Fixtures shared by several test modules."""

import pytest
from pg import PostgresCluster, PostgresUnavailable, start_cluster


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
