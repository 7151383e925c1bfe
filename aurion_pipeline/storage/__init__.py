"""The DuckDB warehouse and the Parquet lake beside it, under one data directory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from aurion_pipeline.config import (
    DEFAULT_ANALYST_STORAGE_VERSION,
    DEFAULT_DUCKDB_MEMORY_LIMIT,
    DEFAULT_LOCK_TIMEOUT_S,
    Settings,
)
from aurion_pipeline.storage.connection import WarehouseLockedError, connect, open_writer
from aurion_pipeline.storage.errors import StorageError

__all__ = ["StorageError", "Warehouse", "WarehouseLockedError"]


@dataclass(frozen=True)
class Warehouse:
    """Where the data lives: `<data_dir>/lake/` (Parquet), `warehouse.duckdb` (the one writer's file)
    and `analyst.duckdb` (the read-only copy analysts open, written in `analyst_storage_version`'s
    format so that older DuckDB clients open it too)."""

    data_dir: Path
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
    memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    analyst_storage_version: str = DEFAULT_ANALYST_STORAGE_VERSION

    @classmethod
    def of(cls, settings: Settings) -> Warehouse:
        """The warehouse the settings name: every command and step that is not a Dagster resource opens it so."""
        return cls(settings.data_dir, settings.lock_timeout_s, settings.duckdb_memory_limit,
                   settings.analyst_storage_version)

    @property
    def path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def analyst_path(self) -> Path:
        return self.data_dir / "analyst.duckdb"

    @contextmanager
    def writer(self, *, publish: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection under the writer lock; `publish` refreshes the analyst copy on success."""
        with open_writer(
            self.data_dir, self.path, self.lock_timeout_s, publish_to=self.analyst_path if publish else None,
            memory_limit=self.memory_limit, storage_version=self.analyst_storage_version,
        ) as con:
            yield con

    def analyst_connection(self) -> duckdb.DuckDBPyConnection:
        """A read-only connection to the analyst copy: never blocks a load."""
        if not self.analyst_path.exists():
            raise FileNotFoundError(
                f"no analyst copy at {self.analyst_path} yet: run a load first (aurion-pipeline backfill or demo)"
            )
        return connect(self.analyst_path, read_only=True, timeout_s=self.lock_timeout_s)
