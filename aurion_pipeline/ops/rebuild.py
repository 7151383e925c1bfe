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

from aurion_pipeline.config import Settings, declared_plans
from aurion_pipeline.storage import StorageError, Warehouse, errors, lake
from aurion_pipeline.storage.connection import writer_lock
from aurion_pipeline.storage.errors import reload_command, usage_month_of
from aurion_pipeline.storage.load import replace_declared_plans
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
    Exit 0 when everything was rebuilt; 1 when days loaded before are missing (lake files moved aside
    or removed) or the SQL models could not be built."""
    warehouse = Warehouse.of(settings)
    moved_warehouse = _move_aside_if_unreadable(warehouse)
    moved: list[MovedAside] = []  # lake files, from both attempts below: each says how to reload its days
    try:
        rows, lost, models_error = _rebuild_into(warehouse, settings, moved)
    except (StorageError, duckdb.Error) as exc:
        # A file whose header and catalog are sound opens; a damaged block fails only once it is read.
        if moved_warehouse or not _is_damaged_database(exc):
            raise
        with writer_lock(warehouse.data_dir, warehouse.lock_timeout_s):
            moved_warehouse = _move_warehouse_aside(warehouse)
        rows, lost, models_error = _rebuild_into(warehouse, settings, moved)
    if moved_warehouse:
        print(f"{warehouse.path} could not be read; moved it to {moved_warehouse}", file=sys.stderr)
    for item in moved:
        print(f"moved unreadable lake file {item.original} ({item.reason}) to {item.moved_to.name}: {item.advice()}",
              file=sys.stderr)
    removed = _not_in_moved_months(lost, moved)
    if removed:
        print(f"{_days_text(removed)} loaded before are not in the lake any more (files removed?): "
              f"reload them with `{reload_command((min(r[1] for r in removed), max(r[2] for r in removed)))}`",
              file=sys.stderr)
    models = (f"SQL models NOT rebuilt ({models_error}); fix them, then run `aurion-pipeline rebuild` again"
              if models_error else f"rebuilt the SQL models of {settings.sql_dir}/")
    print(f"rebuilt raw.usage_daily ({rows} rows) and raw.usage_summary from {warehouse.lake_dir}; {models}")
    return 1 if moved or removed or models_error else 0


def _rebuild_into(warehouse: Warehouse, settings: Settings, moved: list[MovedAside]) -> tuple[int, list, str | None]:
    """The raw tables from the lake, then the models; the lake files moved aside are added to `moved`."""
    with warehouse.writer(publish=True) as con:
        moved += move_aside_unreadable_lake_files(warehouse.lake_dir)
        rows, lost = rebuild_from_lake(con, warehouse.lake_dir)
        _restore_declared_plans(con, settings)
        return rows, lost, _rebuild_models(con, settings.sql_dir)


def _restore_declared_plans(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """raw.tenant_plans is not in the lake: a recreated warehouse takes the tenants file's plans, as the
    next load would write them; a surviving one keeps its own, whatever this shell's tenants file says."""
    if con.execute("select count(*) from raw.tenant_plans").fetchone()[0] == 0:
        replace_declared_plans(con, declared_plans(settings.tenants))


def _is_damaged_database(exc: BaseException) -> bool:
    """DuckDB found a block of the database file damaged: its own words for it, which no query's, lake
    file's or disk's error uses (a healthy warehouse moved aside would lose its load log)."""
    text = str(exc).lower()
    return "corrupt database file" in text or "does not match stored checksum" in text


def move_aside_unreadable_lake_files(lake_dir: Path) -> list[MovedAside]:
    """Rename every lake file that cannot be read to `<file>.corrupt-<UTC stamp>`. Under the writer lock."""
    files = [*lake.usage_files(lake_dir), *lake.summary_files(lake_dir)]
    return [MovedAside(path, _move_aside(path, "corrupt"), reason) for path, reason in lake.unreadable_files(files)]


def _move_aside(path: Path, why: str) -> Path:
    """Rename `path` to `<path>.<why>-<UTC time>` (never delete what a user may want back); the new path."""
    target = path.with_name(f"{path.name}.{why}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}")
    path.rename(target)
    return target


def _not_in_moved_months(lost: list[tuple[str, date, date]], moved: list[MovedAside]) -> list[tuple[str, date, date]]:
    """The runs of lost days that no moved-aside file explains (its own line already says how to reload)."""
    months = [m.month for m in moved if m.month]
    return [run for run in lost if not any(first <= run[1] and run[2] <= last for first, last in months)]


def _days_text(runs: list[tuple[str, date, date]]) -> str:
    """'12 days of acme (2026-10-01..2026-10-12)' or 'N days of M tenants (the first three runs, ...)'."""
    days = sum((last - first).days + 1 for _, first, last in runs)
    tenants = sorted({tenant for tenant, _, _ in runs})
    shown = ", ".join(f"{tenant} {first}..{last}" for tenant, first, last in runs[:3])
    more = ", ..." if len(runs) > 3 else ""
    return f"{days} day(s) of {len(tenants)} tenant(s) ({shown}{more})"


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
            if errors.is_disk_failure(exc):  # no permission: the file may be fine, and is not ours to move
                raise errors.duckdb_failure(warehouse.path, exc, "opening it") from None
        return _move_warehouse_aside(warehouse)


def _move_warehouse_aside(warehouse: Warehouse) -> Path:
    """The warehouse file (and its WAL) renamed to `.broken-<time>`; under the writer lock."""
    target = _move_aside(warehouse.path, "broken")
    wal = warehouse.path.with_name(warehouse.path.name + ".wal")
    if wal.exists():
        wal.rename(target.with_name(target.name + ".wal"))
    return target


def _rebuild_models(con: duckdb.DuckDBPyConnection, folder: Path) -> str | None:
    """Build the SQL models; None when they were built, else why not (one line)."""
    from aurion_pipeline.sqlmodels import SqlProjectError, build, load_project

    try:
        build(con, load_project(folder))
    except (SqlProjectError, duckdb.Error) as exc:
        return first_line(exc)
    return None
