"""One usage load, start to finish, without Dagster: fetch → normalize → lake → warehouse.

Dagster assets and the benchmarks call this; it knows nothing of partitions or run storage.
Work goes in rounds of windows (each window at most `max_range_days`): a round holds the next
`requests_per_tenant` windows of every tenant, fetched concurrently, and is committed to the lake and
the warehouse on its own, so a failure or a kill loses at most the round in flight and never what
other tenants or rounds loaded. The next round is fetched while the current one is committed, so the
API's latency hides the commit.
`commit_rows` (off by default) lets a big backfill commit several rounds at once: each commit has a
fixed cost (writer session, month-file rewrites, checkpoint) that dominates when the API answers fast;
a kill then loses at most the batch in flight, never part of a day or window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import pyarrow as pa

from aurion_pipeline.storage import lake
from aurion_pipeline.source.client import AurionClient
from aurion_pipeline.source.errors import AuthError, AurionApiError, ScopeError
from aurion_pipeline.source.redact import redact
from aurion_pipeline.source.windows import chunk_window
from aurion_pipeline.transform.summary import normalize_summary
from aurion_pipeline.config import DEFAULT_REQUESTS_PER_TENANT
from aurion_pipeline.transform.usage import RawWindow, normalize_details
from aurion_pipeline.storage import Warehouse
from aurion_pipeline.storage.load import Window, append_summary, load_usage, log_failures, missing_days

log = logging.getLogger(__name__)


@dataclass
class UsageReport:
    """What one load did, for run metadata and the CLI."""

    windows_loaded: int = 0
    rows: int = 0
    filled_days: int = 0
    restated_values: int = 0
    requests: int = 0
    new_fields: set[str] = field(default_factory=set)
    dropped: list[str] = field(default_factory=list)
    failures: list[tuple[Window, str]] = field(default_factory=list)

    def failure_lines(self) -> list[str]:
        return [f"{w.tenant} {w.start}..{w.end}: {error}" for w, error in self.failures]


def plan_windows(
    tenants: Sequence[str], start: date, end: date, max_range_days: int,
    skip: Callable[[str], list[date]] | None = None,
) -> dict[str, list[Window]]:
    """Each tenant's windows: the range cut into ≤ max_range_days, or only its missing days if `skip` says so."""
    if skip is None:
        chunks = chunk_window(start, end, max_range_days)
        return {t: [Window(t, a, b) for a, b in chunks] for t in tenants}
    return {t: [Window(t, a, b) for a, b in _runs_of_days(skip(t), max_range_days)] for t in tenants}


def _runs_of_days(days: list[date], max_len: int) -> list[tuple[date, date]]:
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and (day - runs[-1][1]).days == 1 and (day - runs[-1][0]).days < max_len:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def load_usage_range(
    clients: Mapping[str, AurionClient], warehouse: Warehouse, start: date, end: date, *,
    max_range_days: int, max_workers: int, run_id: str, only_missing: bool = False, commit_rows: int = 0,
    requests_per_tenant: int = DEFAULT_REQUESTS_PER_TENANT,
) -> UsageReport:
    """Load [start, end] for every tenant in `clients`; failures are recorded, never fatal to the others.

    Rounds are committed one by one, or (with `commit_rows` > 0) gathered until they hold at least
    that many tenant-days and committed together."""
    skip = None
    if only_missing:
        with warehouse.writer() as con:
            skip = missing_days(con, sorted(clients), start, end).__getitem__
    rounds = _rounds(plan_windows(sorted(clients), start, end, max_range_days, skip), requests_per_tenant)
    report = UsageReport()
    dead: dict[str, str] = {}
    pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="aurion-fetch")
    try:
        pending = _start_round(pool, clients, rounds[0], dead) if rounds else None
        batch: list = []
        skipped: list[tuple[Window, str]] = []
        for i in range(len(rounds)):
            fetched, more_skipped = _finish_round(pending, dead)
            batch += fetched
            skipped += more_skipped
            # Fetch the next round while this one is committed.
            pending = _start_round(pool, clients, rounds[i + 1], dead) if i + 1 < len(rounds) else None
            if pending is None or _batch_full(batch, commit_rows):
                _commit_windows(batch, warehouse, run_id, report, skipped, publish=pending is None)
                batch, skipped = [], []
    finally:
        # On an error, do not wait for the next round's requests: nothing would commit them.
        pool.shutdown(wait=False, cancel_futures=True)
    report.requests = sum(c.requests_made for c in clients.values())
    if not rounds:
        with warehouse.writer(publish=True):
            pass
    return report


def _rounds(plan: dict[str, list[Window]], per_tenant: int) -> list[list[Window]]:
    """Round r: windows r*k .. r*k+k-1 of every tenant, ordered window by window so that a pool shared
    by many tenants keeps about one request per tenant in flight, and a lone tenant keeps k."""
    depth = max((len(ws) for ws in plan.values()), default=0)
    return [
        [ws[i] for i in range(first, first + per_tenant) for ws in plan.values() if i < len(ws)]
        for first in range(0, depth, per_tenant)
    ]


def _batch_full(batch: list, commit_rows: int) -> bool:
    return commit_rows <= 0 or sum((w.end - w.start).days + 1 for w, _ in batch) >= commit_rows


_Pending = tuple[list[tuple[Window, Future]], list[tuple[Window, str]]]


def _start_round(pool: ThreadPoolExecutor, clients: Mapping[str, AurionClient], windows: list[Window],
                 dead: dict[str, str]) -> _Pending:
    """Submit the round's fetches; windows of tenants whose key already failed are skipped (and logged)."""
    started = [(w, pool.submit(_fetch, clients[w.tenant], w)) for w in windows if w.tenant not in dead]
    return started, [(w, dead[w.tenant]) for w in windows if w.tenant in dead]


def _finish_round(pending: _Pending, dead: dict[str, str]) -> tuple[list, list[tuple[Window, str]]]:
    """Wait for the round's responses; a key the API refused marks its tenant dead for later rounds."""
    started, skipped = pending
    fetched = [future.result() for _, future in started]
    dead.update({w.tenant: str(exc) for w, exc in fetched if isinstance(exc, (AuthError, ScopeError))})
    return fetched, skipped


def _fetch(client: AurionClient, window: Window) -> tuple[Window, list[dict] | AurionApiError]:
    try:
        return window, client.get_details(window.start, window.end)
    except AurionApiError as exc:
        return window, exc


def _commit_windows(
    fetched, warehouse: Warehouse, run_id: str, report: UsageReport, skipped: list[tuple[Window, str]],
    *, publish: bool = False,
) -> None:
    """Write fetched windows in one transaction; `skipped` are windows of tenants whose key already
    failed (logged as failed too, so `status` and `--missing-only` see every window not loaded).
    The last commit publishes the analyst copy from the same writer session."""
    ok = [RawWindow(w.tenant, w.start, w.end, rows) for w, rows in fetched if not isinstance(rows, Exception)]
    failures = [*skipped, *((w, str(exc)) for w, exc in fetched if isinstance(exc, Exception))]
    normalized = normalize_details(ok)
    failures += [(Window(r.tenant, r.start, r.end), r.error) for r in normalized.rejected]
    failures = [(w, redact(error)) for w, error in failures]  # a rejected payload may quote a key
    rejected = {(r.tenant, r.start) for r in normalized.rejected}
    accepted = [Window(w.tenant, w.start, w.end) for w in ok if (w.tenant, w.start) not in rejected]
    table = lake.with_run_id(normalized.table, run_id)
    with warehouse.writer(publish=publish) as con:
        lake.write_usage(warehouse.lake_dir, table)
        loaded = load_usage(con, warehouse.lake_dir, accepted, run_id)
        log_failures(con, failures, run_id)
    for window, error in failures:
        log.warning("not loaded: %s %s..%s: %s", window.tenant, window.start, window.end, error)
    report.windows_loaded += len(accepted)
    report.rows += loaded.rows
    report.restated_values += loaded.restated_values
    report.filled_days += normalized.filled_days
    report.new_fields.update(normalized.new_fields)
    report.dropped += [redact(f"{d.tenant} {d.day}: {d.reason}") for d in normalized.dropped]
    report.failures += failures


@dataclass
class SummaryReport:
    snapshots: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)


def load_summaries(clients: Mapping[str, AurionClient], warehouse: Warehouse, *, max_workers: int, run_id: str) -> SummaryReport:
    """Snapshot /usage/summary for every tenant and append the snapshots to the lake and the warehouse."""
    captured_at = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="aurion-summary") as pool:
        results = list(pool.map(lambda t: _summary(t, clients[t], captured_at), sorted(clients)))
    report = SummaryReport(failures=[(t, redact(str(r))) for t, r in results if isinstance(r, Exception)])
    tables = [r for _, r in results if not isinstance(r, Exception)]
    if tables:
        table = lake.with_run_id(pa.concat_tables(tables), run_id)
        with warehouse.writer(publish=True) as con:
            path = lake.write_summary(warehouse.lake_dir, table, captured_at.date().isoformat(), run_id)
            report.snapshots = append_summary(con, path)
    return report


def _summary(tenant: str, client: AurionClient, captured_at: datetime):
    try:
        return tenant, normalize_summary(tenant, client.get_summary(), captured_at)
    except (AurionApiError, ValueError) as exc:
        return tenant, exc
