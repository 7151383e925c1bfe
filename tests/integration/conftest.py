"""Fixtures shared by several integration test modules (a module's own fixture of the same name wins)."""

import duckdb
import pytest
from helpers_ops import free_port
from sqlproj_data import load_small_warehouse

from aurion_pipeline.storage import Warehouse


@pytest.fixture
def con(tmp_path):
    """A warehouse file with the raw tables and a small good day of usage (acme and beta)."""
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    load_small_warehouse(con)
    yield con
    con.close()


@pytest.fixture
def wh(tmp_path) -> Warehouse:
    """A Warehouse (lake and DuckDB files) under a data folder of this test's own."""
    return Warehouse(tmp_path / "data", lock_timeout_s=5)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound once to pick it, then released)."""
    return free_port()
