"""What a load prints: progress while it runs, and a result block at the end."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aurion_pipeline.config import Settings


def run_and_report(args: argparse.Namespace, settings: Settings) -> int:
    from aurion_pipeline.cli import runs

    runs.ensure_dagster_home(Path(settings.dagster_home))
    if args.command == "backfill":
        outcome = runs.backfill(settings, args.start, args.end, tenants=args.tenant, only_missing=args.missing_only,
                                commit_rows=args.commit_rows)
    else:
        outcome = runs.summary(settings)
    return print_outcome(outcome, args.command)


def print_outcome(outcome, command: str) -> int:
    """One line per failed window or summary, then the run's verdict; returns the exit code."""
    for window in outcome.load.failed_windows if outcome.load else ():
        print(f"aurion-pipeline {command}: not loaded: {window.tenant} {window.start}..{window.end}: {window.error}",
              file=sys.stderr)
    for line in outcome.summaries:
        if line.error:
            print(f"aurion-pipeline {command}: no summary for {line.tenant}: {line.error}", file=sys.stderr)
    if outcome.error:
        print(f"aurion-pipeline {command}: run {outcome.run_id} failed: {outcome.error}", file=sys.stderr)
    elif outcome.exit_code == 0:
        print(f"aurion-pipeline {command}: run {outcome.run_id} succeeded")
    return outcome.exit_code
