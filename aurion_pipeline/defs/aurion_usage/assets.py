"""Raw assets: Aurion usage in daily partitions, and summary snapshots. Orchestration only."""

from datetime import timedelta

import dagster as dg

from aurion_pipeline import ingest
from aurion_pipeline.defs.aurion_usage.partitions import daily_partitions
from aurion_pipeline.defs.aurion_usage.resources import AurionApiResource, WarehouseResource

WRITER_POOL = "duckdb_writer"


class UsageLoadConfig(dg.Config):
    tenants: list[str] = []
    """Load only these tenants (default: every configured tenant)."""
    only_missing: bool = False
    """Skip days a previous run already loaded for a tenant (finish a failed backfill cheaply)."""
    commit_rows: int = 0
    """Commit window rounds together until they hold this many tenant-days (0: commit every round).
    Speeds up big backfills from a fast API; a kill then loses at most one such batch."""


@dg.asset(
    key=["raw", "usage_daily"],
    group_name="raw",
    partitions_def=daily_partitions(),
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WRITER_POOL,
    kinds={"duckdb", "parquet"},
    description="Daily Aurion usage per tenant (llm_tokens flattened); one row per loaded (tenant, day).",
)
def usage_daily(
    context: dg.AssetExecutionContext, config: UsageLoadConfig, aurion_api: AurionApiResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    window = context.partition_time_window
    start, end = window.start.date(), (window.end - timedelta(days=1)).date()
    with aurion_api.clients(config.tenants) as clients:
        report = ingest.load_usage_range(
            clients, warehouse.warehouse, start, end, max_range_days=aurion_api.max_range_days,
            max_workers=aurion_api.max_workers, run_id=context.run_id, only_missing=config.only_missing,
            commit_rows=config.commit_rows, requests_per_tenant=aurion_api.requests_per_tenant,
        )
    window_label = f"{start}..{end}"
    metadata = {
        "window": window_label,
        "tenants": len(clients),
        "rows": report.rows,
        "details_requests": report.requests,
        "windows_loaded": report.windows_loaded,
        "filled_zero_days": report.filled_days,
        "restated_values": report.restated_values,
        "new_fields": dg.MetadataValue.json(sorted(report.new_fields)),
        "dropped_rows": dg.MetadataValue.json(report.dropped[:50]),
    }
    if report.failures:
        lines = report.failure_lines()
        raise dg.Failure(
            description=f"{len(lines)} window(s) not loaded (others were): {lines[0]}",
            metadata={**metadata, "failed_windows": dg.MetadataValue.json(lines[:100])},
        )
    # Dagster copies materialization metadata onto every partition of a range run (1,096 for a
    # 3-year backfill), so the run's report is one observation and each partition names its run window.
    context.log_event(dg.AssetObservation(asset_key=context.asset_key, metadata=metadata))
    return dg.MaterializeResult(metadata={"window": window_label})


@dg.asset(
    key=["raw", "usage_summary"],
    group_name="raw",
    pool=WRITER_POOL,
    kinds={"duckdb", "parquet"},
    description="Snapshots of /usage/summary: billing period, plan, status, used/limit per quota.",
)
def usage_summary(
    context: dg.AssetExecutionContext, aurion_api: AurionApiResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    with aurion_api.clients() as clients:
        report = ingest.load_summaries(
            clients, warehouse.warehouse, max_workers=aurion_api.max_workers, run_id=context.run_id
        )
    if report.failures:
        tenant, error = report.failures[0]
        raise dg.Failure(
            description=f"summary failed for {len(report.failures)} tenant(s) (others were saved): {tenant}: {error}",
            metadata={"failed_tenants": dg.MetadataValue.json([f"{t}: {e}" for t, e in report.failures])},
        )
    return dg.MaterializeResult(metadata={"snapshots": report.snapshots})
