"""`backfill` and `summary` from the command line: run the job quietly with progress, then print the
result block (stdout) and one line per thing that failed (stderr). The caller takes the exit code
from the outcome, and ends a run that succeeded with alerts/after_load.py."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import duckdb

from aurion_pipeline.cli.outcome import RunOutcome
from aurion_pipeline.cli.output import failure_lines, progress_shown, result_block
from aurion_pipeline.config import Settings
from aurion_pipeline.ops.periods import tenants_not_loaded_in_full
from aurion_pipeline.ops.status import CURRENT_ALERTS
from aurion_pipeline.storage import Warehouse

T = TypeVar("T")


def run_and_report(args: argparse.Namespace, settings: Settings) -> RunOutcome:
    from aurion_pipeline.cli import (
        runs,  # imports Dagster: only once every setting has been checked
    )

    runs.ensure_dagster_home(settings.dagster_home)
    quiet = not args.verbose
    with _dagster_warnings_hidden(quiet), _python_logs_shown(not quiet), progress_shown():
        if args.command == "backfill":
            outcome = runs.backfill(settings, args.start, args.end, tenants=args.tenant, only_missing=args.missing_only,
                                    commit_rows=args.commit_rows, quiet=quiet)
        else:
            outcome = runs.summary(settings, quiet=quiet)
    warehouse = Warehouse.of(settings)
    title = f"{args.command} {args.start}..{args.end}" if args.command == "backfill" else args.command
    block = result_block(title, outcome, current_alerts(warehouse), warehouse.analyst_path,
                         not_loaded=current_periods_not_loaded(warehouse))
    print("\n".join(block))
    for line in failure_lines(args.command, outcome):
        print(line, file=sys.stderr)
    return outcome


@contextmanager
def _dagster_warnings_hidden(quiet: bool) -> Iterator[None]:
    """Dagster's beta/preview warnings are for developers of the code location, not for its users."""
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        yield


@contextmanager
def _python_logs_shown(verbose: bool) -> Iterator[None]:
    """Warnings our modules and urllib3 log (a retry, a window not loaded) reach the result block as
    figures; they are printed as they happen only with -v. Without a handler Python would print them
    through its last-resort handler, so quiet runs give the root logger a null one."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr) if verbose else logging.NullHandler()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def current_alerts(warehouse: Warehouse) -> list[str]:
    """The billing alerts firing now, one line each, read from the analyst copy the run published."""
    rows = _read_analyst_copy(warehouse, lambda con: con.execute(CURRENT_ALERTS).fetchall())
    return [alert_line(*row) for row in rows]


def current_periods_not_loaded(warehouse: Warehouse) -> list[str]:
    """Tenants whose current period is not loaded in full (status lists the backfill)."""
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    return _read_analyst_copy(warehouse, lambda con: tenants_not_loaded_in_full(con, yesterday))


def _read_analyst_copy(warehouse: Warehouse, read: Callable[[duckdb.DuckDBPyConnection], list[T]]) -> list[T]:
    """What `read` finds in the analyst copy the run published; nothing when there is no copy or its
    models are not built yet (a run that failed before the models were built)."""
    try:
        con = warehouse.analyst_connection()
    except (FileNotFoundError, duckdb.Error):
        return []
    try:
        return read(con)
    except duckdb.Error:
        return []
    finally:
        con.close()


def alert_line(tenant: str, quota: str, basis: str, level: str, on: object) -> str:
    """A firing alert: reached since a day, or (forecast) expected to be reached on one."""
    return f"{tenant} {quota}: {level} ({basis}, {'expected' if basis == 'forecast' else 'since'} {on})"
