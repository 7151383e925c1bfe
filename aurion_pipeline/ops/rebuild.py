"""`rebuild`: the way back from a lost or broken warehouse, and from broken lake files.

The warehouse is a function of the Parquet lake, so it can always be made again from it. A lake
file that cannot be read (empty, truncated, corrupt) is moved aside — renamed, never deleted — so
the rest of the lake still rebuilds, and the days it held are reported with the command that
loads them again.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from aurion_pipeline.config import Settings
from aurion_pipeline.storage import Warehouse, lake
from aurion_pipeline.storage.connection import writer_lock
from aurion_pipeline.storage.errors import reload_command, usage_month_of
from aurion_pipeline.storage.rebuild import rebuild_from_lake
from aurion_pipeline.text import first_line


@dataclass(frozen=True)
class MovedAside:
    """A lake file that could not be read, and where it now is."""

    original: Path
    moved_to: Path
    reason: str

    @property
    def month(self) -> tuple[date, date] | None:
        """The usage month the file held, or None for a summary file."""
        return usage_month_of(self.original)

    def advice(self) -> str:
        if self.month is None:
            return "the summary snapshots it held are gone; take a new one with `aurion-pipeline summary`"
        return f"reload its days with `{reload_command(self.month)}`"


def rebuild(settings: Settings) -> int:
    """Recreate the warehouse from the lake: the raw tables, then the SQL models, then the analyst copy.
    Exit 0 when everything was rebuilt, 1 when lake files had to be moved aside (their days are missing)."""
    warehouse = Warehouse.of(settings)
    moved_warehouse = _move_aside_if_unreadable(warehouse)
    if moved_warehouse:
        print(f"{warehouse.path} could not be opened; moved it to {moved_warehouse}", file=sys.stderr)
    with warehouse.writer(publish=True) as con:
        moved = move_aside_unreadable_lake_files(warehouse.lake_dir)
        _forget_loads_of(con, moved)
        rows = rebuild_from_lake(con, warehouse.lake_dir)
        models = _rebuild_models(con, settings.sql_dir)
    for item in moved:
        print(f"moved unreadable lake file {item.original} ({item.reason}) to {item.moved_to.name}: {item.advice()}",
              file=sys.stderr)
    print(f"rebuilt raw.usage_daily ({rows} rows) and raw.usage_summary from {warehouse.lake_dir}; {models}")
    return 1 if moved else 0


def move_aside_unreadable_lake_files(lake_dir: Path) -> list[MovedAside]:
    """Rename every lake file that cannot be read to `<file>.corrupt-<UTC stamp>`. Under the writer lock."""
    files = [*lake.usage_files(lake_dir), *lake.summary_files(lake_dir)]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    moved = []
    for path, reason in lake.unreadable_files(files):
        target = path.with_name(f"{path.name}.corrupt-{stamp}")
        path.rename(target)
        moved.append(MovedAside(path, target, reason))
    return moved


def _forget_loads_of(con: duckdb.DuckDBPyConnection, moved: list[MovedAside]) -> None:
    """The days of a moved-aside month are no longer loaded: drop the load-log windows touching them,
    so `status` shows them as gaps and `backfill --missing-only` fetches them (days of those windows
    outside the month are still in the lake, and the rebuild logs them again)."""
    for first, last in {m.month for m in moved if m.month}:
        con.execute("delete from raw._load_log where status = 'loaded' and window_start <= ? and window_end >= ?",
                    [last, first])


def _move_aside_if_unreadable(warehouse: Warehouse) -> Path | None:
    if not warehouse.path.exists():
        return None
    with writer_lock(warehouse.data_dir, warehouse.lock_timeout_s):
        try:
            duckdb.connect(str(warehouse.path)).close()
            return None
        except duckdb.Error as exc:
            if "lock" in str(exc).lower():
                return None  # held by another process: the writer below waits for it and names it
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = warehouse.path.with_name(f"{warehouse.path.name}.broken-{stamp}")
        warehouse.path.rename(target)
        wal = warehouse.path.with_name(warehouse.path.name + ".wal")
        if wal.exists():
            wal.rename(target.with_name(target.name + ".wal"))
        return target


def _rebuild_models(con: duckdb.DuckDBPyConnection, folder: Path) -> str:
    from aurion_pipeline.sqlmodels import SqlProjectError, build, load_project

    try:
        built = build(con, load_project(folder))
    except (SqlProjectError, duckdb.Error) as exc:
        return f"SQL models NOT rebuilt ({first_line(exc)}); the next load rebuilds them"
    return f"rebuilt {len(built)} seeds and views of {folder}/"
