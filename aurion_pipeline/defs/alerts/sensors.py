"""Sensors that deliver alerts: after each successful load (so `make dev` with the daemon delivers on
schedule), and every minute for retries that have come due. Both refresh nothing else in Dagster: a
delivery is recorded in the delivery log, never in run storage, and a tick's message holds counts only."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import dagster as dg

from aurion_pipeline.alerts import log
from aurion_pipeline.alerts.after_load import after_load
from aurion_pipeline.alerts.deliver import SEND_BUDGET_S, channels_of, deliver
from aurion_pipeline.config import Settings
from aurion_pipeline.defs.names import Names


def build_alert_sensors(
    settings: Settings, usage_job, summary_job, names: Names = Names()
) -> list[dg.SensorDefinition]:
    """The two alert sensors, watching the given load jobs (built by `aurion_pipeline.build_defs` with the
    settings the definitions were built from: channel secrets are read from the environment at send time)."""

    our_jobs = {usage_job.name, summary_job.name}

    def loads_ours(context: dg.RunStatusSensorContext) -> bool:
        """One of our jobs, or a run that materialized an asset of ours: a backfill launched from an asset
        page runs as Dagster's own asset job, which a list of monitored jobs would miss."""
        run = context.dagster_run
        if run.job_name in our_jobs:
            return True
        if run.asset_selection is not None:  # an asset job's run names what it selected: no events to read
            return any(names.owns(key) for key in run.asset_selection)
        records = context.instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=1000).records
        return any(names.owns(r.event_log_entry.dagster_event.asset_key) for r in records)

    # Every job of the code location is watched (asset-page backfills included) and the run is checked
    # in the body: a host project that embeds our definitions has runs of its own.
    @dg.run_status_sensor(
        name=names.name("deliver_alerts_after_load"),
        run_status=dg.DagsterRunStatus.SUCCESS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="After a successful load (our jobs, or a backfill of our assets from an asset page): "
        "deliver new alerts to the channels of AURION_ALERTS_FILE (exactly once per channel) and refresh "
        "$AURION_DATA_DIR/report.html.",
    )
    def deliver_alerts_after_load(context: dg.RunStatusSensorContext):
        if not loads_ours(context):
            return dg.SkipReason(f"run {context.dagster_run.run_id[:8]} loads none of our assets")
        done = after_load(settings, os.environ)
        delivery = [line for line in (done.delivered, done.not_delivered) if line]
        report = f"report {'refreshed' if done.report else 'not refreshed (see the log)'}"
        return dg.SkipReason("; ".join([f"after run {context.dagster_run.run_id[:8]}", *delivery, report]))

    @dg.sensor(
        name=names.name("retry_alert_deliveries"),
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Every minute: send alert deliveries still pending, and failed ones whose retry is due "
        "(backoff from 30 s).",
    )
    def retry_alert_deliveries(context: dg.SensorEvaluationContext):
        if settings.alerts_file is None or not log.log_path(settings.data_dir).exists():
            return dg.SkipReason("no alerts file or nothing delivered yet")
        names = [c.name for c in channels_of(settings)]
        con = log.open_log(settings.data_dir)
        try:
            waiting = log.due(con, names, datetime.now(UTC))
        finally:
            con.close()
        if not waiting:
            return dg.SkipReason("nothing due")
        return dg.SkipReason(deliver(settings, os.environ, budget_s=SEND_BUDGET_S).line())

    return [deliver_alerts_after_load, retry_alert_deliveries]
