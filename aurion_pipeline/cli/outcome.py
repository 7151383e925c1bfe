"""What one CLI run did, as data: built by `cli/run_events.py` from the run's events,
rendered by `cli/output.py`. No Dagster types here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class FailedWindow:
    """A window (dates inclusive) the run could not load, with the one-line reason."""

    tenant: str
    start: date
    end: date
    error: str


@dataclass(frozen=True)
class LoadSummary:
    """The usage load of a run: what reached the warehouse and what did not."""

    tenants: int
    days: int
    rows: int
    filled_days: int  # days the API omitted inside a loaded window, stored as explicit zeros
    requests: int  # details requests made, retries not counted
    retries: int  # extra attempts after a 429/5xx
    windows_loaded: int
    restated_values: int  # (day, metric) figures that changed since the last load
    new_fields: tuple[str, ...]
    dropped: tuple[str, ...]  # "tenant day: reason" of rows dropped (outside the window, exact repeats)
    failed_windows: tuple[FailedWindow, ...]  # the first ones (assets.SHOWN_FAILURES); `status` lists them all
    failed_count: int  # every window the run could not load
    failed_days: tuple[date, date] | None  # the first and last day of those windows
    elapsed_s: float


@dataclass(frozen=True)
class SummaryLine:
    """One tenant's /usage/summary snapshot taken by the run, or why it could not be taken."""

    tenant: str
    period_start: date | None
    period_end: date | None
    plan: str | None
    billing_status: str | None
    quotas: tuple[tuple[str, float | None, float | None], ...]  # (name, used, limit); limit None = unlimited
    error: str | None = None


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    succeeded: bool  # the Dagster run succeeded (failed windows and checks do not fail it)
    load: LoadSummary | None  # None when the run loaded no usage (summary runs, or it failed before)
    summaries: tuple[SummaryLine, ...]
    failed_checks: tuple[str, ...]  # "asset/key:check_name" of every failed ERROR-severity check
    error: str | None  # why the run failed, one line; None when it succeeded

    @property
    def all_loaded(self) -> bool:
        """Every window and summary the run asked for reached the warehouse."""
        return not (self.load and self.load.failed_count) and not any(s.error for s in self.summaries)

    @property
    def exit_code(self) -> int:
        """0: everything loaded; 1: the run failed, or some window, summary or ERROR check failed."""
        return 0 if self.succeeded and self.all_loaded and not self.failed_checks else 1
