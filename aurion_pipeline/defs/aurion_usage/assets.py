"""Raw assets: Aurion usage in daily partitions, and summary snapshots. Orchestration only.

A window or tenant that fails is data, not a failed step: the asset materializes what it committed,
the failure goes to raw._load_log and to an ERROR-severity check on the asset (`all_windows_loaded`,
`all_summaries_captured`), and the SQL models downstream still build in the same run.
"""

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg

from aurion_pipeline import ingest
from aurion_pipeline.defs.aurion_usage.resources import AurionApiResource, WarehouseResource
from aurion_pipeline.defs.names import WRITER_POOL, Names
from aurion_pipeline.storage import Warehouse
from aurion_pipeline.storage.load import tenants_without_current_summary

ALL_WINDOWS_LOADED = "all_windows_loaded"
ALL_SUMMARIES_CAPTURED = "all_summaries_captured"
SHOWN_FAILURES = 100  # failures named in a check's metadata; raw._load_log keeps them all


class UsageLoadConfig(dg.Config):
    tenants: list[str] = []  # noqa: RUF012 - a pydantic field: each config gets its own copy
    """Load only these tenants (default: every configured tenant)."""
    only_missing: bool = False
    """Fetch only the days not loaded for a tenant: never loaded, or whose latest attempt failed (finish a
    failed backfill cheaply: the days of the windows `status` lists)."""
    commit_rows: int = 0
    """Commit window rounds together once they hold this many tenant-days, however long that takes
    (0: the resource's `commit_seconds` decides). Speeds up big backfills from a fast API; a kill
    then loses at most one such batch."""


class SummaryConfig(dg.Config):
    tenants: list[str] = []  # noqa: RUF012 - a pydantic field: each config gets its own copy
    """Snapshot only these tenants (default: every configured tenant); a `--tenant` load sets it, so it
    never calls, or needs the key of, a tenant it was not asked for."""
    only_without_current_period: bool | None = None
    """Ignored, kept so runs stored before it was dropped can be re-executed (Dagster refuses a run config
    with a field the job no longer has). Which tenants are asked now follows from the run's selection."""


@dataclass(frozen=True)
class RawAssets:
    usage_daily: dg.AssetsDefinition
    usage_summary: dg.AssetsDefinition
    tenant_plans: dg.AssetSpec


def build_raw_assets(names: Names, partitions_def: dg.PartitionsDefinition) -> RawAssets:
    return RawAssets(_usage_daily(names, partitions_def), _usage_summary(names), _tenant_plans(names))


def _tenant_plans(names: Names) -> dg.AssetSpec:
    """Declared so the SQL models' dependency on it sits in the raw group, not in Dagster's "default"."""
    return dg.AssetSpec(
        key=names.asset_key("raw.tenant_plans"), group_name=names.name("raw"), kinds={"duckdb"},
        description="The plans declared in the tenants file (`plan:`), rewritten by every load of "
                    "raw/usage_daily; a tenant's summary snapshot overrides its declared plan.",
    )


def _usage_daily(names: Names, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    key = names.asset_key("raw.usage_daily")

    @dg.asset(
        key=key, group_name=names.name("raw"), partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(), pool=WRITER_POOL, kinds={"duckdb", "parquet"},
        required_resource_keys={names.aurion_api, names.warehouse},
        check_specs=[dg.AssetCheckSpec(ALL_WINDOWS_LOADED, asset=key,
                                       description="Every window this run asked for was loaded; "
                                                   "names those that were not.")],
        description="Daily Aurion usage per tenant (llm_tokens flattened); one row per loaded (tenant, day).",
    )
    def usage_daily(context: dg.AssetExecutionContext, config: UsageLoadConfig) -> dg.MaterializeResult:
        api: AurionApiResource = getattr(context.resources, names.aurion_api)
        warehouse = getattr(context.resources, names.warehouse).warehouse
        window = context.partition_time_window
        start, end = window.start.date(), (window.end - timedelta(days=1)).date()
        with api.clients(config.tenants) as clients:
            report = ingest.load_usage_range(
                clients, warehouse, start, end, max_range_days=api.max_range_days, max_workers=api.max_workers,
                run_id=context.run_id, only_missing=config.only_missing, commit_rows=config.commit_rows,
                requests_per_tenant=api.requests_per_tenant, commit_seconds=api.commit_seconds,
                publish=not models_follow(context), declared_plans=api.declared_plans(),
            )
        label = f"{start}..{end}"
        # Dagster copies materialization metadata onto every partition of a range run (1,096 for a
        # 3-year backfill), so the run's report is one observation and each partition names its run window.
        context.log_event(dg.AssetObservation(asset_key=key, metadata=load_report_metadata(report, label)))
        return dg.MaterializeResult(metadata={"window": label}, check_results=[_windows_check(report)])

    return usage_daily


def load_report_metadata(report: ingest.UsageReport, window: str) -> dict[str, object]:
    return {
        "window": window,
        "tenants": report.tenants,
        "days": report.days,
        "rows": report.rows,
        "details_requests": report.requests,
        "retries": report.retries,
        "windows_loaded": report.windows_loaded,
        "failed_windows": len(report.failures),
        "filled_zero_days": report.filled_days,
        "restated_values": report.restated_values,
        "new_fields": dg.MetadataValue.json(sorted(report.new_fields)),
        "dropped_rows": dg.MetadataValue.json(list(report.dropped[:50])),
        "dropped_count": len(report.dropped),
    }


def _windows_check(report: ingest.UsageReport) -> dg.AssetCheckResult:
    """The run's failed windows as check metadata: their number, the first SHOWN_FAILURES of them and the
    days they span. The CLI reads its result block from here, so it never waits for the writer lock
    after a run (another load may hold it by then)."""
    failures = sorted(report.failures, key=lambda f: (f.window.tenant, f.window.start))
    failed = [{"tenant": f.window.tenant, "window": f"{f.window.start}..{f.window.end}", "error": f.error}
              for f in failures]
    span = f"{min(f.window.start for f in failures)}..{max(f.window.end for f in failures)}" if failures else None
    return dg.AssetCheckResult(
        check_name=ALL_WINDOWS_LOADED, passed=not failed, severity=dg.AssetCheckSeverity.ERROR,
        description=f"{len(failed)} window(s) not loaded (the others were); re-run with --missing-only"
        if failed else f"all {report.windows_loaded} window(s) loaded",
        metadata={"failed_windows": len(failed), "failures": dg.MetadataValue.json(failed[:SHOWN_FAILURES]),
                  "failed_days": dg.MetadataValue.text(span or "")},
    )


def _usage_summary(names: Names) -> dg.AssetsDefinition:
    key = names.asset_key("raw.usage_summary")

    @dg.asset(
        key=key, group_name=names.name("raw"), pool=WRITER_POOL, kinds={"duckdb", "parquet"},
        backfill_policy=dg.BackfillPolicy.single_run(),  # runs in the usage job's partition-range runs
        required_resource_keys={names.aurion_api, names.warehouse},
        check_specs=[dg.AssetCheckSpec(ALL_SUMMARIES_CAPTURED, asset=key,
                                       description="Every tenant asked for was snapshotted; "
                                                   "names those that were not.")],
        description="Snapshots of /usage/summary: billing period, plan, status, used/limit per quota.",
    )
    def usage_summary(context: dg.AssetExecutionContext, config: SummaryConfig) -> dg.MaterializeResult:
        api: AurionApiResource = getattr(context.resources, names.aurion_api)
        warehouse: WarehouseResource = getattr(context.resources, names.warehouse)
        with api.clients(config.tenants) as clients:
            if _beside_a_usage_load(context, names):
                lacking = _tenants_lacking_a_current_summary(warehouse.warehouse, sorted(clients))
                clients = {t: clients[t] for t in lacking}
            report = ingest.load_summaries(clients, warehouse.warehouse, max_workers=api.max_workers,
                                           run_id=context.run_id, publish=not models_follow(context))
        metadata = {"snapshots": len(report.snapshots),
                    "captured": dg.MetadataValue.json([asdict(s) for s in report.snapshots]),
                    "failed": dg.MetadataValue.json([{"tenant": t, "error": e} for t, e in report.failures])}
        return dg.MaterializeResult(metadata=metadata, check_results=[_summaries_check(report)])

    return usage_summary


def _beside_a_usage_load(context: dg.AssetExecutionContext, names: Names) -> bool:
    """Whether this run loads daily usage too (the usage job, its schedule, a backfill of both assets):
    then only tenants without a snapshot of today's billing period are asked (a first load answers plan
    questions; later loads ask the API nothing more). Alone, or in summary_job, every tenant is. Read
    from the run's own selection, not from run config, which Dagster drops from partition-range runs
    launched without it (every daily tick snapshotted every tenant)."""
    return names.asset_key("raw.usage_daily") in context.job_def.asset_layer.selected_asset_keys


def _summaries_check(report: ingest.SummaryReport) -> dg.AssetCheckResult:
    failed = [{"tenant": tenant, "error": error} for tenant, error in report.failures]
    return dg.AssetCheckResult(
        check_name=ALL_SUMMARIES_CAPTURED, passed=not failed, severity=dg.AssetCheckSeverity.ERROR,
        description=f"summary failed for {len(failed)} tenant(s) (the others were saved)"
        if failed else f"{len(report.snapshots)} snapshot(s) captured",
        metadata={"failed_tenants": len(failed), "failures": dg.MetadataValue.json(failed[:SHOWN_FAILURES])},
    )


def models_follow(context: dg.AssetExecutionContext) -> bool:
    """Whether assets downstream of this step (the SQL models) are built later in the same run: then
    they publish the analyst copy, once, at the end; otherwise this step publishes it."""
    layer = context.job_def.asset_layer
    graph, in_run = layer.asset_graph, layer.selected_asset_keys
    seen, todo = set(), list(context.selected_asset_keys)
    while todo:
        for child in graph.get(todo.pop()).child_keys - seen:
            seen.add(child)
            todo.append(child)
    return bool(seen & in_run)


def _tenants_lacking_a_current_summary(warehouse: Warehouse, tenants: list[str]) -> list[str]:
    """Read from the analyst copy, which never waits for a writer: a backfill asks this before it
    fetches, while another load may hold the warehouse. A copy not yet published lacks them all."""
    if not warehouse.analyst_path.exists():
        return tenants
    con = warehouse.analyst_connection()
    try:
        return tenants_without_current_summary(con, tenants, datetime.now(UTC).date())
    finally:
        con.close()
