"""The daily schedule: each tick asks for one run over yesterday plus the late-data lookback, and
running those ticks through Dagster against the sandbox API converges the warehouse to the final
figures while keeping the old ones in raw.usage_restatements."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import duckdb
import pytest
import yaml
from helpers_ops import REPO, days, expected_usage, pipeline_env, warehouse_usage

from aurion_pipeline.config import load_settings
from aurion_pipeline.definitions import defs
from aurion_pipeline.defs.aurion_usage.resources import resources_from_env
from aurion_pipeline.defs.aurion_usage.schedules import build_schedules
from aurion_pipeline.defs.names import Names
from aurion_sandbox import SandboxServer
from aurion_sandbox.server import DETAILS_PATH, SUMMARY_PATH

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def schedules(env: dict[str, str] | None = None) -> dict[str, dg.ScheduleDefinition]:
    """The schedules as definitions.py builds them, from the settings of `env` (default: os.environ)."""
    jobs = {job.name: job for job in defs.jobs}
    built = build_schedules(load_settings(env), Names(), jobs["usage_job"], jobs["summary_job"])
    return {schedule.name: schedule for schedule in built}


def tick(when: datetime, instance: dg.DagsterInstance | None = None):
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when)
    return schedules()["daily_usage_schedule"].evaluate_tick(context)


def at(day: date, hour: int = 1, minute: int = 15) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("lookback", "start"),
    [
        pytest.param("3", "2026-03-06", id="default-3-days-before-yesterday"),
        pytest.param("0", "2026-03-09", id="no-lookback-loads-yesterday-only"),
        pytest.param("10", "2026-02-27", id="long-lookback-is-still-one-run"),
    ],
)
def test_a_tick_asks_for_one_run_over_yesterday_and_the_lookback(monkeypatch, lookback, start):
    monkeypatch.setenv("AURION_LOOKBACK_DAYS", lookback)
    monkeypatch.setenv("AURION_START_DATE", "2025-01-01")
    result = tick(at(date(2026, 3, 10)))
    assert result.skip_message is None
    (request,) = result.run_requests
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == (start, "2026-03-09")
    assert request.run_key == "daily-2026-03-10"  # a re-evaluated tick never launches a second run


def test_a_tick_late_in_the_day_still_targets_the_day_before(monkeypatch):
    monkeypatch.setenv("AURION_LOOKBACK_DAYS", "3")
    (request,) = tick(at(date(2026, 3, 10), hour=23, minute=59)).run_requests
    assert request.tags[RANGE_END] == "2026-03-09"


def test_the_lookback_is_clamped_at_the_start_date(monkeypatch):
    monkeypatch.setenv("AURION_LOOKBACK_DAYS", "3")
    monkeypatch.setenv("AURION_START_DATE", "2026-03-08")
    (request,) = tick(at(date(2026, 3, 10))).run_requests
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2026-03-08", "2026-03-09")


@pytest.mark.parametrize(
    "tick_day",
    [pytest.param(date(2026, 3, 8), id="yesterday-is-before-start"), pytest.param(date(2026, 1, 1), id="long-before")],
)
def test_a_tick_before_the_start_date_is_skipped_with_a_reason(monkeypatch, tick_day):
    monkeypatch.setenv("AURION_START_DATE", "2026-03-08")
    result = tick(at(tick_day))
    assert not result.run_requests
    assert "AURION_START_DATE" in result.skip_message and "2026-03-08" in result.skip_message


def test_schedules_fire_in_utc_on_their_documented_crons():
    built = schedules({})
    daily, summary = built["daily_usage_schedule"], built["summary_schedule"]
    assert (daily.cron_schedule, daily.execution_timezone) == ("15 1 * * *", "UTC")
    assert (summary.cron_schedule, summary.execution_timezone) == ("0 */6 * * *", "UTC")
    assert daily.default_status == summary.default_status == dg.DefaultScheduleStatus.RUNNING


def test_crons_come_from_the_settings():
    built = schedules({"AURION_DAILY_CRON": "30 2 * * *", "AURION_SUMMARY_CRON": "0 * * * *"})
    assert built["daily_usage_schedule"].cron_schedule == "30 2 * * *"
    assert built["summary_schedule"].cron_schedule == "0 * * * *"
    aliases = schedules({"AURION_DAILY_CRON": "@daily", "AURION_SUMMARY_CRON": "@hourly"})  # as README says
    assert (aliases["daily_usage_schedule"].cron_schedule, aliases["summary_schedule"].cron_schedule) == (
        "@daily", "@hourly")


def run_tick(when: datetime, instance: dg.DagsterInstance, env: dict[str, str]) -> dg.RunRequest:
    """What the daemon does with a tick: evaluate the schedule, launch its job with the request's tags."""
    (request,) = tick(when, instance).run_requests
    result = defs.resolve_job_def("usage_job").execute_in_process(
        instance=instance, tags=request.tags, run_config=request.run_config or None,
        resources=resources_from_env(env), raise_on_error=False,
    )
    assert result.success
    assert [(c.check_name, c.passed) for c in result.get_asset_check_evaluations() if not c.passed] == []
    return request


def restatements(data_dir) -> dict[tuple[str, date, str], tuple[float, float]]:
    con = duckdb.connect(str(data_dir / "analyst.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "select tenant, usage_date, metric, old_value, new_value from raw.usage_restatements"
        ).fetchall()
    finally:
        con.close()
    return {(t, d, m): (old, new) for t, d, m, old, new in rows}


def test_daily_ticks_converge_to_revised_figures_and_record_what_moved(tmp_path, monkeypatch):
    first_tick, second_tick = date(2026, 3, 10), date(2026, 3, 11)
    instance_config = yaml.safe_load((REPO / "dagster.yaml").read_text())  # the deployment's instance config
    with SandboxServer(today=second_tick - timedelta(days=1)) as api, \
            dg.instance_for_test(overrides=instance_config) as instance:
        env = pipeline_env(api, tmp_path, AURION_LOOKBACK_DAYS="3", AURION_MAX_RANGE_DAYS="31")
        for name, value in env.items():  # the schedule reads settings, the clients read keys, at run time
            if name.startswith("AURION_"):
                monkeypatch.setenv(name, value)
        data_dir = tmp_path / "data"

        run_tick(at(first_tick), instance, env)
        details = [r for r in api.requests if r.path == DETAILS_PATH]
        assert sorted((r.tenant, r.start_date, r.end_date) for r in details) == [
            (t, "2026-03-06", "2026-03-09") for t in sorted(api.tenants)
        ]
        before = expected_usage(api, date(2026, 3, 6), date(2026, 3, 9))
        assert warehouse_usage(data_dir / "analyst.duckdb") == before

        # Late-arriving usage: the API's last three days (03-08 .. 03-10) grow after the first tick.
        api.revise("acme", factor=1.5, last_days=3)
        api.revise("umbrella", factor=1.2, last_days=3)
        seen = len(api.requests)

        run_tick(at(second_tick), instance, env)
        details = [r for r in api.requests[seen:] if r.path == DETAILS_PATH]
        assert sorted((r.tenant, r.start_date, r.end_date) for r in details) == [
            (t, "2026-03-07", "2026-03-10") for t in sorted(api.tenants)
        ], "one details request per tenant per tick, lookback included"

        final = expected_usage(api, date(2026, 3, 6), date(2026, 3, 10))
        assert warehouse_usage(data_dir / "analyst.duckdb") == final
        assert warehouse_usage(data_dir / "warehouse.duckdb") == final

        moved = restatements(data_dir)
        revised_days = [(t, d) for t in ("acme", "umbrella") for d in days(date(2026, 3, 8), date(2026, 3, 9))]
        for tenant, day in revised_days:
            assert moved[(tenant, day, "voice_minutes")] == pytest.approx(
                (before[(tenant, day)][0], final[(tenant, day)][0])
            )
            assert moved[(tenant, day, "api_calls")] == pytest.approx(
                (before[(tenant, day)][1], final[(tenant, day)][1])
            )
        assert {(t, d) for t, d, _ in moved} == set(revised_days), (
            "only re-fetched days whose figures changed are restated (not 03-07, unchanged; not 03-10, new)"
        )

        usage_key = dg.AssetKey(["raw", "usage_daily"])
        loaded_days = {d.isoformat() for d in days(date(2026, 3, 6), date(2026, 3, 10))}
        assert instance.get_materialized_partitions(usage_key) == loaded_days


def test_a_daily_tick_snapshots_only_the_tenants_without_a_current_summary(tmp_path, monkeypatch):
    """The first tick snapshots every tenant (none has a summary); the next asks /usage/summary nothing.
    The daemon launches a tick's run with no run config, and the job's default config, which used to
    carry this, is dropped from partition-range runs: every tick snapshotted every tenant."""
    today = datetime.now(UTC).date()
    with SandboxServer(today=today) as api, dg.instance_for_test() as instance:
        env = pipeline_env(api, tmp_path, AURION_LOOKBACK_DAYS="1")
        for name, value in env.items():
            if name.startswith("AURION_"):
                monkeypatch.setenv(name, value)
        run_tick(at(today), instance, env)
        assert sorted(r.tenant for r in api.requests if r.path == SUMMARY_PATH) == sorted(api.tenants)
        seen = len(api.requests)
        run_tick(at(today), instance, env)
        assert [r.tenant for r in api.requests[seen:] if r.path == SUMMARY_PATH] == []
        assert len([r for r in api.requests[seen:] if r.path == DETAILS_PATH]) == len(api.tenants)
