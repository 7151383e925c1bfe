"""One usage load, start to finish: plan → fetch → normalize → commit, in rounds.

A round holds the next `requests_per_tenant` windows of every tenant, fetched concurrently. Rounds are
gathered into batches (`CommitPolicy`: by default whatever arrived within `commit_seconds`), each
committed on its own, so a failure or a kill loses at most the batch in flight and never what other
tenants or batches loaded. The next round is fetched while a batch is committed, so the API's latency
hides the commit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from functools import partial

from aurion_pipeline.config import DEFAULT_COMMIT_SECONDS, DEFAULT_REQUESTS_PER_TENANT
from aurion_pipeline.ingest.commit import CommitPolicy, Committed, commit
from aurion_pipeline.ingest.fetch import Failed, FetchResult, RoundFetcher, refused_keys
from aurion_pipeline.ingest.plan import last_round_of_each_tenant, plan_rounds, plan_windows
from aurion_pipeline.source.client import AurionClient
from aurion_pipeline.storage import Warehouse
from aurion_pipeline.storage.load import Window, missing_days, replace_declared_plans

progress_log = logging.getLogger("aurion_pipeline.progress")


@dataclass(frozen=True)
class UsageReport:
    """What one load did, for run metadata and the CLI."""

    tenants: int = 0
    days: int = 0
    windows_loaded: int = 0
    rows: int = 0
    filled_days: int = 0
    restated_values: int = 0
    requests: int = 0
    retries: int = 0
    new_fields: frozenset[str] = frozenset()
    dropped: tuple[str, ...] = ()
    failures: tuple[Failed, ...] = field(default=())

    def plus(self, done: Committed) -> UsageReport:
        return replace(
            self, windows_loaded=self.windows_loaded + done.windows_loaded, rows=self.rows + done.rows,
            filled_days=self.filled_days + done.filled_days,
            restated_values=self.restated_values + done.restated_values,
            new_fields=self.new_fields | set(done.new_fields), dropped=self.dropped + done.dropped,
            failures=self.failures + done.failed,
        )

    def failure_lines(self) -> list[str]:
        return [f"{f.window.tenant} {f.window.start}..{f.window.end}: {f.error}" for f in self.failures]


def load_usage_range(
    clients: Mapping[str, AurionClient], warehouse: Warehouse, start: date, end: date, *,
    max_range_days: int, max_workers: int, run_id: str, only_missing: bool = False, commit_rows: int = 0,
    requests_per_tenant: int = DEFAULT_REQUESTS_PER_TENANT, commit_seconds: float = DEFAULT_COMMIT_SECONDS,
    publish: bool = True, declared_plans: Mapping[str, str | None] | None = None,
) -> UsageReport:
    """Load [start, end] for every tenant in `clients`; failed windows are reported (and logged in
    raw._load_log), never fatal to the others. Fetched rounds are committed at least every
    `commit_seconds` (0: every round), or with `commit_rows` > 0 once they hold that many tenant-days.
    `publish` refreshes the analyst copy at the end (off when a later step, such as the SQL models,
    publishes it). `declared_plans` (tenant -> plan from the tenants file) are stored with every commit."""
    tenants = sorted(clients)
    missing = None
    if only_missing:
        with warehouse.writer() as con:
            missing = missing_days(con, tenants, start, end)
    rounds = plan_rounds(plan_windows(tenants, start, end, max_range_days, missing), requests_per_tenant)
    report = UsageReport(tenants=len(tenants), days=(end - start).days + 1)
    commit_batch = partial(commit, warehouse=warehouse, run_id=run_id, declared_plans=declared_plans)
    with RoundFetcher(clients, max_workers) as fetcher:
        report = _load_rounds(rounds, fetcher, commit_batch, CommitPolicy(commit_seconds, commit_rows), publish, report)
    if not rounds and (publish or declared_plans is not None):
        with warehouse.writer(publish=publish) as con:
            if declared_plans is not None:
                replace_declared_plans(con, declared_plans)
    requests = sum(c.requests_made for c in clients.values())
    return replace(report, requests=requests, retries=sum(c.attempts for c in clients.values()) - requests)


def _load_rounds(
    rounds: list[tuple[Window, ...]], fetcher: RoundFetcher, commit_batch: Callable[..., Committed],
    policy: CommitPolicy, publish: bool, report: UsageReport,
) -> UsageReport:
    """Fetch round i+1 while round i commits; a tenant whose key was refused is not asked again."""
    progress = _Progress(rounds, report.tenants)
    refused: dict[str, str] = {}
    batch: list[FetchResult] = []
    batch_started = 0.0
    pending = fetcher.start(rounds[0], refused) if rounds else None
    for i in range(len(rounds)):
        results = pending.results()
        refused |= refused_keys(results)
        batch_started = batch_started if batch else time.monotonic()
        batch += results
        pending = fetcher.start(rounds[i + 1], refused) if i + 1 < len(rounds) else None
        if pending is None or policy.is_full(batch, time.monotonic() - batch_started):
            report = report.plus(commit_batch(batch, publish=publish and pending is None))
            progress.committed(i, len(batch), report.rows)
            batch = []
    return report


class _Progress:
    """The `aurion_pipeline.progress` records a CLI draws its progress from: one per commit."""

    def __init__(self, rounds, tenants: int):
        self.rounds, self.tenants = len(rounds), tenants
        self.windows_total = sum(len(r) for r in rounds)
        self.last_round = sorted(last_round_of_each_tenant(rounds).values())
        self.windows = 0

    def committed(self, round_index: int, windows: int, rows: int) -> None:
        self.windows += windows
        done = sum(1 for last in self.last_round if last <= round_index)
        info = {"event": "round", "round": round_index + 1, "rounds": self.rounds, "windows": self.windows,
                "windows_total": self.windows_total, "rows": rows, "tenants_done": done, "tenants": self.tenants}
        progress_log.info("round %d/%d committed: %d/%d windows, %d rows, %d/%d tenants done",
                          round_index + 1, self.rounds, self.windows, self.windows_total, rows, done, self.tenants,
                          extra={"progress": info})
