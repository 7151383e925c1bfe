"""Schedules: a daily load of yesterday plus a late-data lookback, and summary snapshots."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from aurion_pipeline.config import Settings
from aurion_pipeline.defs.aurion_usage.partitions import partition_range_tags
from aurion_pipeline.defs.names import Names


def daily_tick_range(tick_day: date, lookback_days: int, first_day: date) -> tuple[date, date] | None:
    """Yesterday plus the `lookback_days` before it, because recent figures keep growing until final."""
    end = tick_day - timedelta(days=1)
    start = max(end - timedelta(days=lookback_days), first_day)
    return (start, end) if start <= end else None


def build_schedules(settings: Settings, names: Names, usage_job, summary_job) -> list[dg.ScheduleDefinition]:

    @dg.schedule(
        name=names.name("daily_usage_schedule"),
        job=usage_job,
        cron_schedule=settings.daily_cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Daily: load yesterday and re-fetch the {settings.lookback_days} days before it "
        "(AURION_LOOKBACK_DAYS) in one run.",
    )
    def daily_usage_schedule(context: dg.ScheduleEvaluationContext):
        tick_day = context.scheduled_execution_time.date()
        window = daily_tick_range(tick_day, settings.lookback_days, settings.start_date)
        if window is None:
            return dg.SkipReason(f"{tick_day} is before AURION_START_DATE {settings.start_date}")
        return dg.RunRequest(run_key=f"daily-{tick_day.isoformat()}", tags=partition_range_tags(*window))

    summary_schedule = dg.ScheduleDefinition(
        name=names.name("summary_schedule"),
        job=summary_job,
        cron_schedule=settings.summary_cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Snapshot billing period, plan, status and quotas (AURION_SUMMARY_CRON).",
    )
    return [daily_usage_schedule, summary_schedule]
