"""Jobs and schedules: a daily load of yesterday plus a late-data lookback, and summary snapshots."""

from __future__ import annotations

import os
from datetime import date, timedelta

import dagster as dg

from aurion_pipeline.config import load_settings
from aurion_pipeline.defs.aurion_usage.assets import usage_daily, usage_summary

# Every job rebuilds all seeds and views after its load (cheap: views, small CSVs), so a view never
# binds to a seed or model that a narrower selection skipped, and analysts always get the current SQL.
SQL_MODELS = dg.AssetSelection.groups("seeds", "analytics")
usage_job = dg.define_asset_job(
    "usage_job",
    selection=dg.AssetSelection.assets(usage_daily) | SQL_MODELS,
    description="Load a range of daily usage partitions, then refresh the SQL models downstream.",
)
# A load that fails for one tenant or window still commits the others, but Dagster skips the steps
# downstream of a failed step, so stored models (forecast_by_day is a table) would lag the raw data.
models_job = dg.define_asset_job(
    "models_job",
    selection=SQL_MODELS,
    description="Rebuild seeds and SQL models alone (run after a load that failed part-way).",
)
summary_job = dg.define_asset_job(
    "summary_job",
    selection=dg.AssetSelection.assets(usage_summary) | SQL_MODELS,
    description="Snapshot /usage/summary for every tenant, then refresh the SQL models downstream.",
)


def daily_tick_range(tick_day: date, lookback_days: int, first_day: date) -> tuple[date, date] | None:
    """Yesterday plus the `lookback_days` before it, because recent figures keep growing until final."""
    end = tick_day - timedelta(days=1)
    start = max(end - timedelta(days=lookback_days), first_day)
    return (start, end) if start <= end else None


@dg.schedule(
    job=usage_job,
    cron_schedule=os.environ.get("AURION_DAILY_CRON", "15 1 * * *"),
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily: load yesterday and re-fetch the last AURION_LOOKBACK_DAYS days in one run.",
)
def daily_usage_schedule(context: dg.ScheduleEvaluationContext):
    settings = load_settings()
    tick_day = context.scheduled_execution_time.date()
    window = daily_tick_range(tick_day, settings.lookback_days, settings.start_date)
    if window is None:
        return dg.SkipReason(f"{tick_day} is before AURION_START_DATE {settings.start_date}")
    start, end = (d.isoformat() for d in window)
    return dg.RunRequest(
        run_key=f"daily-{tick_day.isoformat()}",
        tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
    )


summary_schedule = dg.ScheduleDefinition(
    name="summary_schedule",
    job=summary_job,
    cron_schedule=os.environ.get("AURION_SUMMARY_CRON", "0 */6 * * *"),
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Snapshot billing period, plan, status and quotas (AURION_SUMMARY_CRON, default every 6 hours).",
)


@dg.run_failure_sensor(
    name="refresh_models_after_failed_load",
    monitored_jobs=[usage_job, summary_job],
    request_job=models_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rebuild the SQL models after a load run failed, so what it did commit reaches analysts.",
)
def refresh_models_after_failed_load(context: dg.RunFailureSensorContext):
    return dg.RunRequest(run_key=f"after-{context.dagster_run.run_id}")
