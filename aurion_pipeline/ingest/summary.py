"""Summary snapshots: /usage/summary for each tenant, appended to the lake and the warehouse."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from aurion_pipeline.source.client import AurionClient
from aurion_pipeline.source.errors import AurionApiError
from aurion_pipeline.source.redact import redact
from aurion_pipeline.storage import Warehouse, lake
from aurion_pipeline.storage.load import append_summary
from aurion_pipeline.transform.summary import normalize_summary

QUOTAS = ("voice_minutes", "api_calls", "storage_mb")


@dataclass(frozen=True)
class Snapshot:
    """What one tenant's snapshot says: its billing period, plan, status and (quota, used, limit)."""

    tenant: str
    period_start: str | None
    period_end: str | None
    plan: str | None
    billing_status: str | None
    quotas: tuple[tuple[str, float | None, float | None], ...]


@dataclass(frozen=True)
class SummaryReport:
    snapshots: tuple[Snapshot, ...] = ()
    failures: tuple[tuple[str, str], ...] = ()  # (tenant, one-line reason)


def load_summaries(
    clients: Mapping[str, AurionClient], warehouse: Warehouse, *, max_workers: int, run_id: str, publish: bool = True,
) -> SummaryReport:
    """Snapshot /usage/summary for every tenant in `clients`; a tenant that fails is reported, the
    others are saved."""
    captured_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="aurion-summary") as pool:
        results = list(pool.map(lambda t: _summary(t, clients[t], captured_at), sorted(clients)))
    tables = [r for _, r in results if isinstance(r, pa.Table)]
    if tables:
        table = lake.with_run_id(pa.concat_tables(tables), run_id)
        with warehouse.writer(publish=publish) as con:
            path = lake.write_summary(warehouse.lake_dir, table, captured_at.date().isoformat(), run_id)
            append_summary(con, path)
    elif publish:
        with warehouse.writer(publish=True):
            pass
    return SummaryReport(
        snapshots=tuple(_snapshot(row) for table in tables for row in table.to_pylist()),
        failures=tuple((t, redact(str(r))) for t, r in results if not isinstance(r, pa.Table)),
    )


def _summary(tenant: str, client: AurionClient, captured_at: datetime) -> tuple[str, pa.Table | Exception]:
    try:
        return tenant, normalize_summary(tenant, client.get_summary(), captured_at)
    except (AurionApiError, ValueError) as exc:
        return tenant, exc


def _snapshot(row: dict) -> Snapshot:
    def text(value) -> str | None:
        return None if value is None else str(value)

    return Snapshot(
        tenant=row["tenant"], period_start=text(row["period_start"]), period_end=text(row["period_end"]),
        plan=row["plan"], billing_status=row["billing_status"],
        quotas=tuple((q, row.get(f"{q}_used"), row.get(f"{q}_limit")) for q in QUOTAS),
    )
