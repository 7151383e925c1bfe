"""Normalize and commit: fetched windows become one lake write and one warehouse transaction."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa

from aurion_pipeline.config import DEFAULT_COMMIT_SECONDS
from aurion_pipeline.ingest.fetch import Failed, Fetched, FetchResult
from aurion_pipeline.source.redact import redact
from aurion_pipeline.storage import Warehouse, lake
from aurion_pipeline.storage.load import Window, load_usage, log_failures, replace_declared_plans
from aurion_pipeline.transform.usage import RawWindow, normalize_details

log = logging.getLogger("aurion_pipeline.ingest")
# About one round of 4 windows at 1,000 tenants: a batch's fetched rows stay in memory until committed.
MAX_BATCH_TENANT_DAYS = 100_000


@dataclass(frozen=True)
class CommitPolicy:
    """When fetched rounds are committed. Each commit has a fixed cost (writer session, month-file
    rewrites, checkpoint) that dominates when the API answers fast, so rounds are gathered: by default
    until the batch's first round has waited `interval_s` seconds or the batch holds
    `MAX_BATCH_TENANT_DAYS` (its rows stay in memory until committed); a kill loses at most that batch,
    never part of a window. With `min_tenant_days` (`--commit-rows`), until the batch holds that many,
    however long it takes. `interval_s=0` commits every round."""

    interval_s: float = DEFAULT_COMMIT_SECONDS
    min_tenant_days: int = 0

    def is_full(self, batch: Sequence[FetchResult], waited_s: float) -> bool:
        days = sum(_days(r.window) for r in batch)
        if self.min_tenant_days > 0:
            return days >= self.min_tenant_days
        return waited_s >= self.interval_s or days >= MAX_BATCH_TENANT_DAYS


def _days(window: Window) -> int:
    return (window.end - window.start).days + 1


@dataclass(frozen=True)
class Normalized:
    """Fetched windows as one typed table, the windows it covers, and the windows that failed."""

    table: pa.Table
    accepted: tuple[Window, ...]
    failed: tuple[Failed, ...]
    filled_days: int
    new_fields: tuple[str, ...]
    dropped: tuple[str, ...]


def normalize(results: Sequence[FetchResult]) -> Normalized:
    fetched = [r for r in results if isinstance(r, Fetched)]
    normalized = normalize_details([RawWindow(r.window.tenant, r.window.start, r.window.end, r.rows) for r in fetched])
    # A rejected payload may quote a key: reasons and dropped rows are redacted before they go anywhere.
    rejected = {(r.tenant, r.start): Failed(Window(r.tenant, r.start, r.end), redact(r.error))
                for r in normalized.rejected}
    return Normalized(
        table=normalized.table,
        accepted=tuple(r.window for r in fetched if (r.window.tenant, r.window.start) not in rejected),
        failed=(*(r for r in results if isinstance(r, Failed)), *rejected.values()),
        filled_days=normalized.filled_days,
        new_fields=normalized.new_fields,
        dropped=tuple(redact(f"{d.tenant} {d.day}: {d.reason}") for d in normalized.dropped),
    )


@dataclass(frozen=True)
class Committed:
    """What one commit wrote."""

    windows: int
    windows_loaded: int
    rows: int
    restated_values: int
    filled_days: int
    new_fields: tuple[str, ...]
    dropped: tuple[str, ...]
    failed: tuple[Failed, ...]


def commit(
    results: Sequence[FetchResult], warehouse: Warehouse, run_id: str, *, publish: bool,
    declared_plans: Mapping[str, str | None] | None = None,
) -> Committed:
    """Write the windows of `results` to the lake and the warehouse in one transaction, and log the
    failed ones (so `status` and `--missing-only` see every window not loaded). `publish` refreshes
    the analyst copy from the same writer session; `declared_plans` (the tenants file's) are stored
    in it too, so a load takes the writer lock only to commit, never before it fetches."""
    batch = normalize(results)
    with warehouse.writer(publish=publish) as con:
        if declared_plans is not None:
            replace_declared_plans(con, declared_plans)
        lake.write_usage(warehouse.lake_dir, lake.with_run_id(batch.table, run_id))
        loaded = load_usage(con, warehouse.lake_dir, batch.accepted, run_id)
        log_failures(con, [(f.window, f.error) for f in batch.failed], run_id)
    for failed in batch.failed:
        log.warning("not loaded: %s %s..%s: %s", failed.window.tenant, failed.window.start, failed.window.end,
                    failed.error)
    return Committed(
        windows=len(results), windows_loaded=len(batch.accepted), rows=loaded.rows,
        restated_values=loaded.restated_values, filled_days=batch.filled_days, new_fields=batch.new_fields,
        dropped=batch.dropped, failed=batch.failed,
    )
