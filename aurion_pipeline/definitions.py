"""The one Dagster `Definitions` of aurion-pipeline. Loads with no API key set."""

import os

import dagster as dg

from aurion_pipeline.config import sql_folder
from aurion_pipeline.defs.aurion_usage.assets import usage_daily, usage_summary
from aurion_pipeline.defs.aurion_usage.checks import raw_usage_checks
from aurion_pipeline.defs.alerts.sensors import alert_sensors
from aurion_pipeline.defs.analytics.models import build_model_defs
from aurion_pipeline.defs.aurion_usage.resources import resources_from_env
from aurion_pipeline.defs.instance_tuning import tune_event_batching
from aurion_pipeline.defs.aurion_usage.schedules import (
    daily_usage_schedule,
    models_job,
    refresh_models_after_failed_load,
    summary_job,
    summary_schedule,
    usage_job,
)

tune_event_batching(os.environ)  # a run worker the daemon launched imports this before it executes

defs = dg.Definitions.merge(
    dg.Definitions(
        assets=[usage_daily, usage_summary],
        asset_checks=[raw_usage_checks],
        jobs=[usage_job, summary_job, models_job],
        schedules=[daily_usage_schedule, summary_schedule],
        sensors=[refresh_models_after_failed_load, *alert_sensors],
        resources=resources_from_env(),
    ),
    build_model_defs(sql_folder()),
)
