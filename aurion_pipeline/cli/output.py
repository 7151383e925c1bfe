"""What a load prints: progress while it runs, and a result block at the end."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aurion_pipeline.config import Settings


def run_and_report(args: argparse.Namespace, settings: Settings) -> int:
    from aurion_pipeline.cli import runs
    from aurion_pipeline.cli.runs import failure_reason

    runs.ensure_dagster_home(Path(settings.dagster_home))
    if args.command == "backfill":
        result = runs.backfill(args.start, args.end, args.tenant, args.missing_only, commit_rows=args.commit_rows)
    else:
        result = runs.run_load("summary_job")
    if result.success:
        print(f"aurion-pipeline {args.command}: run {result.run_id} succeeded")
        return 0
    print(f"aurion-pipeline {args.command}: run {result.run_id} failed: {failure_reason(result)}", file=sys.stderr)
    return 1
