"""`aurion-pipeline`: demo, backfill, summary, sql, status, rebuild. Failures exit non-zero with one line."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from aurion_pipeline.source.errors import AurionApiError
from aurion_pipeline.config import ConfigError, load_settings
from aurion_pipeline.storage import StorageError, WarehouseLockedError


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date; use YYYY-MM-DD") from None


def _tenant_days(value: str) -> int:
    try:
        if int(value) >= 0:
            return int(value)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of tenant-days (0 or more)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aurion-pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="backfill the built-in sandbox API through Dagster and show where tenants stand")
    demo.add_argument("--days", type=int, default=90, help="days to backfill, ending yesterday (default 90)")
    backfill = sub.add_parser("backfill", help="load a range of days through Dagster (one run, chunked requests)")
    backfill.add_argument("--start", type=_date, required=True)
    backfill.add_argument("--end", type=_date, required=True, help="last day to load, inclusive")
    backfill.add_argument("--tenant", action="append", default=[], help="only this tenant (repeatable)")
    backfill.add_argument("--missing-only", action="store_true", help="skip days already loaded (finish a failed run)")
    backfill.add_argument(
        "--commit-rows", type=_tenant_days, default=0, metavar="N",
        help="commit rounds of windows together once they hold N tenant-days (default 0: commit every round); "
        "faster for big backfills from a fast API; a kill loses at most one batch, which --missing-only refetches",
    )
    sub.add_parser("summary", help="snapshot /usage/summary for every tenant through Dagster")
    sql = sub.add_parser("sql", help="query the analyst copy (read-only; never blocks a load)")
    sql.add_argument("query")
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    sub.add_parser("status", help="loaded range, gaps, failures, last loads and current alerts per tenant")
    sub.add_parser("rebuild", help="rebuild the warehouse's raw tables from the Parquet lake")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (ConfigError, AurionApiError, WarehouseLockedError, FileNotFoundError) as exc:
        print(f"aurion-pipeline {args.command}: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:  # one line naming the file and the fix; 2 when the data dir is not writable
        print(f"aurion-pipeline {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"aurion-pipeline {args.command}: interrupted; re-run to complete (loads are idempotent)", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    from aurion_pipeline.cli import runs as orchestrate
    from aurion_pipeline.ops import status as report

    if args.command == "demo":
        from aurion_pipeline.cli.demo import run_demo

        return run_demo(days=args.days)
    settings = load_settings()
    if args.command in ("backfill", "summary"):
        orchestrate.ensure_dagster_home(Path(".dagster_home"))
        if args.command == "backfill":
            result = orchestrate.backfill(
                args.start, args.end, args.tenant, args.missing_only, commit_rows=args.commit_rows
            )
        else:
            result = orchestrate.run_load("summary_job")
        return _finish(result, args.command)
    if args.command == "sql":
        return report.print_query(settings, args.query, args.format)
    if args.command == "status":
        return report.print_status(settings)
    from aurion_pipeline.ops.rebuild import rebuild

    return rebuild(settings)


def _finish(result, command: str) -> int:
    from aurion_pipeline.cli.runs import failure_reason

    if result.success:
        print(f"aurion-pipeline {command}: run {result.run_id} succeeded")
        return 0
    print(f"aurion-pipeline {command}: run {result.run_id} failed: {failure_reason(result)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
