"""Dagster wiring, one folder per integration: `aurion_usage/` (the Aurion source: resources,
partitions, raw assets, checks, jobs, schedules) and `analytics/` (the SQL models as assets), put
together by `build_defs`."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import dagster as dg

from aurion_pipeline.config import Settings, load_settings
from aurion_pipeline.defs.alerts.sensors import build_alert_sensors
from aurion_pipeline.defs.analytics.models import build_models_asset
from aurion_pipeline.defs.aurion_usage.assets import build_raw_assets
from aurion_pipeline.defs.aurion_usage.checks import build_source_checks
from aurion_pipeline.defs.aurion_usage.jobs import build_jobs
from aurion_pipeline.defs.aurion_usage.partitions import daily_partitions
from aurion_pipeline.defs.aurion_usage.resources import resources_from_settings
from aurion_pipeline.defs.aurion_usage.schedules import build_schedules
from aurion_pipeline.defs.names import Names
from aurion_pipeline.sqlmodels import load_project


def build_defs(
    settings: Settings | None = None, *, key_prefix: str | Sequence[str] | None = None, schedules: bool = True,
) -> dg.Definitions:
    """Everything aurion-pipeline gives Dagster: resources, assets, checks, jobs, schedules and the
    alert sensors (which deliver alerts after each successful load).

    `settings`: one `aurion_pipeline.config.Settings` (default: `load_settings()` from AURION_*
    variables). `key_prefix` (e.g. "aurion"): put in front of every asset key (`aurion/raw/usage_daily`)
    and, joined with `_`, of every resource, job, schedule, sensor and group name (`aurion_warehouse`,
    `aurion_usage_job`), so the result merges into an existing project with `dg.Definitions.merge`.
    `schedules=False` leaves the two schedules out (a host project that schedules its own runs).
    """
    settings = load_settings() if settings is None else settings
    names = Names.of(key_prefix)
    with warnings.catch_warnings():
        # Single-run backfills are what load a range in one run; Dagster marks the parameter beta and
        # warned about it three times on every start of `make dev` and every code-server load.
        warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
        raw = build_raw_assets(names, daily_partitions(settings.start_date))
        project = load_project(settings.sql_dir)
        models = build_models_asset(project, names=names)
    usage_job, summary_job = build_jobs(names, raw, models)
    return dg.Definitions(
        assets=[raw.usage_daily, raw.usage_summary, raw.tenant_plans, models],
        asset_checks=build_source_checks(project, names, [raw.usage_daily, raw.usage_summary]),
        jobs=[usage_job, summary_job],
        schedules=build_schedules(settings, names, usage_job, summary_job) if schedules else [],
        sensors=build_alert_sensors(settings, usage_job, summary_job, names),
        resources={names.name(key): resource for key, resource in resources_from_settings(settings).items()},
    )
