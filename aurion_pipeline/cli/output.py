"""What a load prints: progress while it runs (stderr), and a result block when it ends (stdout).

Dagster's event log stays in the instance and the UI; `-v` also prints it. Progress comes from the
`aurion_pipeline.progress` records the ingest loop logs after each committed round: a `rich` bar on a
terminal, one plain line per round otherwise (a log file, CI, a pipe).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from aurion_pipeline.cli.outcome import LoadSummary, RunOutcome, SummaryLine
from aurion_pipeline.storage.errors import reload_command

PROGRESS_LOGGER = "aurion_pipeline.progress"
MAX_LISTED = 10  # rejected windows, alerts: beyond this, `status` and `sql` show the rest


class ProgressHandler(logging.Handler):
    """Draws each committed round of a load: a bar (windows done of all windows) on a terminal,
    else one line per round."""

    def __init__(self, stream: TextIO, tty: bool):
        super().__init__(logging.INFO)
        self.stream, self.bar, self.task = stream, None, None
        if tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("windows"), TimeElapsedColumn(), console=Console(file=stream),
                                transient=True)

    def emit(self, record: logging.LogRecord) -> None:
        info = getattr(record, "progress", None)
        if not isinstance(info, dict) or info.get("event") != "round":
            return
        text = (f"round {info['round']}/{info['rounds']}: {info['rows']} rows, "
                f"{info['tenants_done']}/{info['tenants']} tenants done")
        if self.bar is None:
            self.stream.write(f"  {text}, {info['windows']}/{info['windows_total']} windows done\n")
            self.stream.flush()
            return
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task(text, total=info["windows_total"])
        self.bar.update(self.task, description=text, completed=info["windows"], total=info["windows_total"])

    def close(self) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.stop()
        super().close()


@contextmanager
def progress_shown(stream: TextIO | None = None) -> Iterator[ProgressHandler]:
    """Attach the progress handler to `aurion_pipeline.progress` for the duration of a run (stderr
    as it is now, not as it was at import: a caller may have redirected it)."""
    stream = stream or sys.stderr
    logger = logging.getLogger(PROGRESS_LOGGER)
    handler = ProgressHandler(stream, tty=stream.isatty())
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()


def result_block(command: str, outcome: RunOutcome, alerts: list[str], analyst_path: Path,
                 not_loaded: Sequence[str] = ()) -> list[str]:
    """The lines a person reads after a load: what reached the warehouse, what did not and why,
    which alerts fire now, the tenants whose current period is not loaded in full (their use so far is
    unknown or too low, which the alerts cannot see), and where to look."""
    if outcome.exit_code == 0:
        verdict = "succeeded"
    elif not outcome.succeeded:
        verdict = "FAILED"
    elif outcome.all_loaded:  # only checks failed: the data is in, and some of it looks wrong
        verdict = "finished: everything loaded, but some checks failed (below)"
    else:
        verdict = "finished, but not everything was loaded (below)"
    lines = [f"{command}: run {outcome.run_id} {verdict}"]
    if outcome.load:
        lines += load_lines(outcome.load)
    if outcome.summaries:
        lines += summary_lines(outcome.summaries, outcome.load.tenants if outcome.load else None)
    if outcome.failed_checks:
        lines.append(f"  failed checks     {', '.join(outcome.failed_checks)}")
    if not_loaded:
        lines.append(f"  not loaded yet    days of the current period of {len(not_loaded)} tenant(s) "
                     f"({', '.join(not_loaded[:MAX_LISTED])}{', ...' if len(not_loaded) > MAX_LISTED else ''}): "
                     "their use so far is unknown or too low; aurion-pipeline status shows the backfill that "
                     "loads them")
    lines.append(f"  alerts firing     {len(alerts) or 'none'}")
    lines += [f"    {a}" for a in alerts[:MAX_LISTED]]
    if len(alerts) > MAX_LISTED:
        lines.append(f"    ... {len(alerts) - MAX_LISTED} more: aurion-pipeline status")
    lines.append(f"  analysts connect  {analyst_path} (read-only; or aurion-pipeline sql \"...\")")
    return lines


def load_lines(load: LoadSummary) -> list[str]:
    lines = [
        f"  tenants           {load.tenants}",
        f"  days in range     {load.days} "
        f"({load.rows} rows loaded, {load.filled_days} zero-filled day{'' if load.filled_days == 1 else 's'} "
        "the API omitted)",
        f"  requests          {load.requests} ({load.retries} retried)",
        f"  windows rejected  {load.failed_count or 'none'}",
        *rejected_window_lines(load),
    ]
    if load.dropped:
        lines.append(f"  rows dropped      {len(load.dropped)} (outside the window or exact repeats)")
    return [
        *lines,
        f"  values restated   {load.restated_values}"
        + (" (see raw.usage_restatements)" if load.restated_values else ""),
        f"  new fields        {', '.join(load.new_fields) or 'none'}"
        + (" (kept in _extra)" if load.new_fields else ""),
        f"  elapsed           {load.elapsed_s:.1f} s",
    ]


def rejected_window_lines(load: LoadSummary) -> list[str]:
    """Each window not loaded (tenant, window, reason), and the command that finishes them."""
    if not load.failed_count:
        return []
    lines = [f"    {w.tenant} {w.start}..{w.end}: {w.error}" for w in load.failed_windows[:MAX_LISTED]]
    if more := _unlisted(load, MAX_LISTED):
        lines.append(f"    ... {more} more: aurion-pipeline status")
    finish = reload_command(load.failed_days)
    lines.append(f"    the other windows are loaded; once the cause is fixed, finish with: {finish}")
    return lines


def _unlisted(load: LoadSummary, listed: int) -> int:
    """How many failed windows there are beyond the first `listed` of those the run named."""
    return load.failed_count - min(listed, len(load.failed_windows))


def summary_lines(summaries: tuple[SummaryLine, ...], tenants: int | None = None) -> list[str]:
    """Each snapshot taken; `tenants`: how many the run loaded (those not asked already had a snapshot of
    their current period). The figures are the vendor's, which count today so far: a loaded day total
    (plan_utilization) stops at yesterday."""
    captured = sum(1 for s in summaries if not s.error)
    current = tenants - len(summaries) if tenants is not None and tenants > len(summaries) else 0
    already = f"; {current} more already had one this period" if current else ""
    lines = [f"  summaries         {captured} of {len(summaries)} tenants{already} "
             "(the vendor's figures, today so far included)"]
    for s in summaries:
        if s.error:
            lines.append(f"    {s.tenant}: not captured: {s.error}")
            continue
        quotas = ", ".join(_quota(name, used, limit) for name, used, limit in s.quotas)
        lines.append(f"    {s.tenant}: {s.plan or '?'} ({s.billing_status or '?'}), "
                     f"period {s.period_start}..{s.period_end}: {quotas or 'no quotas'}")
    return lines


def _quota(name: str, used: float | None, limit: float | None) -> str:
    if used is None and limit is None:
        return f"{name} not reported"  # not "? (unlimited)": the summary said nothing about it
    used_text = "?" if used is None else _number(used)
    if limit is None:
        return f"{name} {used_text} (unlimited)"
    share = f" ({100 * used / limit:.0f}%)" if used is not None and limit else ""
    return f"{name} {used_text}/{_number(limit)}{share}"


def _number(value: float) -> str:
    """1926300 → "1926300", 250.46 → "250.5": no exponent, no float noise."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def failure_lines(command: str, outcome: RunOutcome) -> list[str]:
    """One line per window or summary that failed, and the run's own error: for stderr."""
    lines = []
    if outcome.load:
        lines += [f"aurion-pipeline {command}: not loaded: {w.tenant} {w.start}..{w.end}: {w.error}"
                  for w in outcome.load.failed_windows]
        if more := _unlisted(outcome.load, len(outcome.load.failed_windows)):
            lines.append(f"aurion-pipeline {command}: not loaded: {more} more windows "
                         "(aurion-pipeline status lists them)")
    lines += [f"aurion-pipeline {command}: no summary for {s.tenant}: {s.error}" for s in outcome.summaries if s.error]
    if outcome.error:
        lines.append(f"aurion-pipeline {command}: run {outcome.run_id} failed: {outcome.error}")
    return lines
