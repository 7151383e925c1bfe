"""The analyst copy: a read-only snapshot of the warehouse, swapped in atomically after each load.

Why a copy and not the warehouse itself: DuckDB lets one process write a file or many read it, never
both, so an idle analyst session on warehouse.duckdb would block every load. Analysts open
analyst.duckdb instead. A reader that has it open keeps the old inode when we rename a new copy over
it, so it always sees one consistent state, and the writer never waits for it.

The format: DuckDB 2.0 writes its own storage format, which DuckDB 1.x — the CLI on PyPI, DBeaver's
JDBC driver — refuses to open. A warehouse created by this version of the pipeline is already in the
analyst storage version (`connection.connect` creates it so), and its copy is a byte copy. Any other
warehouse (one created before, or a changed `AURION_ANALYST_STORAGE_VERSION`) is copied by DuckDB
itself (`COPY FROM DATABASE`) into a file attached with that `STORAGE_VERSION`: always right, but
slower (it re-encodes every table: ~2-4 s for a million rows, against milliseconds).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import struct
import tempfile
import uuid
from pathlib import Path

import duckdb

from aurion_pipeline.config import DEFAULT_ANALYST_STORAGE_VERSION

_VERSION = re.compile(r"^v\d+\.\d+\.\d+\Z")


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
        write_copy(warehouse_path, tmp, storage_version)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, analyst_path)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
    return analyst_path


def write_copy(source: Path, target: Path, storage_version: str) -> None:
    """`source` as a new file `target` that clients of `storage_version` open."""
    if format_number(source) == _format_number_of(storage_version):
        shutil.copyfile(source, target)
    else:
        copy_database(source, target, storage_version)


def format_number(path: Path) -> int | None:
    """The storage format number in a DuckDB file's header (64 for v1.0.0 and v1.1.x, 65 for v1.2, …)."""
    with open(path, "rb") as handle:
        header = handle.read(20)
    if len(header) < 20 or header[8:12] != b"DUCK":
        return None
    return struct.unpack("<Q", header[12:20])[0]


@functools.lru_cache(maxsize=4)
def _format_number_of(storage_version: str) -> int | None:
    """What DuckDB writes in the header of a file created in `storage_version` (asked, not tabulated)."""
    with tempfile.TemporaryDirectory() as scratch:
        probe = Path(scratch) / "probe.duckdb"
        con = duckdb.connect()
        try:
            con.execute(f"attach {_quoted(probe)} as probe (storage_version '{storage_version}')")
            con.execute("detach probe")
        finally:
            con.close()
        return format_number(probe)


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
