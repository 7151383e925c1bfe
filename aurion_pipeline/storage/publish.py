"""The analyst copy: a read-only snapshot of the warehouse, swapped in atomically after each load.

Why a copy and not the warehouse itself: DuckDB lets one process write a file or many read it, never
both, so an idle analyst session on warehouse.duckdb would block every load. Analysts open
analyst.duckdb instead. A reader that has it open keeps the old inode when we rename a new copy over
it, so it always sees one consistent state, and the writer never waits for it.

Why not a byte copy: DuckDB 2.0 writes its own storage format (version 69), which DuckDB 1.x — the
CLI on PyPI, DBeaver's JDBC driver — refuses to open. The copy is written by DuckDB itself
(`COPY FROM DATABASE`) into a file attached with an older `STORAGE_VERSION`, so every client from
that version on can open it.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import duckdb

from aurion_pipeline.config import DEFAULT_ANALYST_STORAGE_VERSION

_VERSION = re.compile(r"^v\d+\.\d+\.\d+$")


def publish_analyst_copy(warehouse_path: Path, analyst_path: Path,
                         storage_version: str = DEFAULT_ANALYST_STORAGE_VERSION) -> Path:
    """Write a copy of a closed, checkpointed warehouse file in `storage_version`'s format to
    `analyst_path`, atomically. Call under the writer lock."""
    if not _VERSION.match(storage_version):
        raise ValueError(f"AURION_ANALYST_STORAGE_VERSION={storage_version!r} is not a DuckDB version such as v1.0.0")
    wal = warehouse_path.with_name(warehouse_path.name + ".wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise RuntimeError(f"{wal} is not empty: the warehouse was not checkpointed before publishing")
    for stale in analyst_path.parent.glob(f".{analyst_path.name}.*.tmp"):
        stale.unlink(missing_ok=True)  # left by a publisher killed mid-copy; we hold the writer lock
    tmp = analyst_path.with_name(f".{analyst_path.name}.{uuid.uuid4().hex}.tmp")
    try:
        copy_database(warehouse_path, tmp, storage_version)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, analyst_path)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
    return analyst_path


def copy_database(source: Path, target: Path, storage_version: str) -> None:
    """Every schema, table, view and macro of `source` into a new file `target` in `storage_version`'s format."""
    con = duckdb.connect()
    try:
        con.execute(f"attach {_quoted(source)} as src (read_only)")
        con.execute(f"attach {_quoted(target)} as dst (storage_version '{storage_version}')")
        con.execute("copy from database src to dst")
        con.execute("detach dst")  # checkpoints: the copy is whole on disk before it is renamed into place
    finally:
        con.close()


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
