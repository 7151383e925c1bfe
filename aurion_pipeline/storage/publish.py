"""The analyst copy: a read-only snapshot of the warehouse, swapped in atomically after each load.

Why a copy and not the warehouse itself: DuckDB lets one process write a file or many read it, never
both, so an idle analyst session on warehouse.duckdb would block every load. Analysts open
analyst.duckdb instead. A reader that has it open keeps the old inode when we rename a new copy over
it, so it always sees one consistent state, and the writer never waits for it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

def publish_analyst_copy(warehouse_path: Path, analyst_path: Path) -> Path:
    """Copy a closed, checkpointed warehouse file to `analyst_path` atomically. Call under the writer lock."""
    wal = warehouse_path.with_name(warehouse_path.name + ".wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise RuntimeError(f"{wal} is not empty: the warehouse was not checkpointed before publishing")
    for stale in analyst_path.parent.glob(f".{analyst_path.name}.*.tmp"):
        stale.unlink(missing_ok=True)  # left by a publisher killed mid-copy; we hold the writer lock
    tmp = analyst_path.with_name(f".{analyst_path.name}.{uuid.uuid4().hex}.tmp")
    try:
        shutil.copyfile(warehouse_path, tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, analyst_path)
    finally:
        tmp.unlink(missing_ok=True)
    return analyst_path
