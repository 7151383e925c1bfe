"""Jobs: a usage load (with the summary snapshots it lacks) and a summary refresh, each followed by
the SQL models in the same run, which publish the analyst copy once at the end."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from aurion_pipeline.defs.aurion_usage.assets import RawAssets, SummaryConfig
from aurion_pipeline.defs.names import Names


def build_jobs(
    names: Names, raw: RawAssets, models: dg.AssetsDefinition
) -> tuple[dg.UnresolvedAssetJobDefinition, ...]:
    """(usage_job, summary_job). Every job rebuilds all seeds and views after its load (cheap: views,
    small CSVs), so a view never binds to a seed or model that a narrower selection skipped."""
    sql_models = dg.AssetSelection.assets(models)
    usage_job = dg.define_asset_job(
        names.name("usage_job"),
        selection=dg.AssetSelection.assets(raw.usage_daily, raw.usage_summary) | sql_models,
        description="Load a range of daily usage partitions and a summary snapshot for each tenant without one "
        "for its current billing period, then refresh the SQL models.",
    )
    summary_job = dg.define_asset_job(
        names.name("summary_job"),
        selection=dg.AssetSelection.assets(raw.usage_summary) | sql_models,
        description="Snapshot /usage/summary for every tenant, then refresh the SQL models.",
    )
    return usage_job, summary_job


def usage_job_config(
    usage_summary: dg.AssetsDefinition, tenants: Sequence[str] = (), **ops: dg.Config
) -> dg.RunConfig:
    """The usage job's run config: the summary step asks only `tenants` (default: all; of those, only
    the ones without a current snapshot, as in every usage load); plus `ops` (keyed by an asset's op
    name, `assets_def.node_def.name`)."""
    summary = {usage_summary.node_def.name: SummaryConfig(tenants=list(tenants))}
    return dg.RunConfig(ops={**summary, **ops})
