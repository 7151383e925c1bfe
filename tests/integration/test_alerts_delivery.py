"""Exactly-once delivery against real receivers on loopback, from a real analyst.duckdb holding the
alert views' columns (the SQL that computes them is tested with the models; here they are the input)."""

import subprocess
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import duckdb
import pytest
from alert_receivers import HttpReceiver, SmtpReceiver

from aurion_pipeline.alerts import log
from aurion_pipeline.alerts.cli import status_lines
from aurion_pipeline.alerts.deliver import deliver, send_test
from aurion_pipeline.config import load_settings

NOW = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
SECRET = "whsec-canary-5d1e"
PERIOD = (date(2026, 3, 1), date(2026, 3, 31))


def alert_row(level, pct, basis="actual", quota="voice_minutes"):
    return ("globex", *PERIOD, quota, level, {"warning": 1, "critical": 2, "overage": 3}[level], pct, basis,
            date(2026, 3, 12), 1000.0, True)


def write_analyst(data_dir, alerts, days_estimated: int | None = 0):
    """An analyst copy with these billing_alerts rows; days_estimated None: one published before
    usage_forecast had that column."""
    data_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(data_dir / "analyst.duckdb"))
    con.execute("create schema if not exists analytics")
    con.execute("""create or replace table analytics.billing_alerts (tenant varchar, period_start date, period_end date,
        quota_name varchar, alert_level varchar, severity int, threshold_pct double, basis varchar,
        first_reached_on date, quota double, is_current boolean)""")
    if alerts:
        con.executemany("insert into analytics.billing_alerts values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", alerts)
    con.execute("""create or replace table analytics.plan_utilization as select 'globex' as tenant,
        date '2026-03-01' as period_start, 'voice_minutes' as quota_name, 'professional' as plan, 962.5 as used,
        96.25 as pct_used""")
    con.execute("""create or replace table analytics.usage_forecast as select 'globex' as tenant,
        date '2026-03-01' as period_start, 'voice_minutes' as quota_name, 1510.0 as projected_total,
        1380.0 as projected_low, 1650.0 as projected_high, 151.0 as projected_pct,
        date '2026-03-21' as projected_exhaustion_date""")
    if days_estimated is not None:
        con.execute(f"alter table analytics.usage_forecast add column days_estimated integer default {days_estimated}")
    con.close()


@pytest.fixture
def receivers():
    webhook = HttpReceiver("webhook", secret=SECRET).start()
    slack = HttpReceiver("slack", path="/services/T0/B0/canaryslackpath").start()
    smtp = SmtpReceiver().start()
    yield webhook, slack, smtp
    for r in (webhook, slack, smtp):
        r.stop()


@pytest.fixture
def setup(tmp_path, receivers):
    webhook, slack, smtp = receivers
    path = tmp_path / "alerts.yaml"
    path.write_text(f"""channels:
  - {{name: ops, kind: webhook, url: "{webhook.url}", secret_env: HOOK_SECRET}}
  - {{name: team, kind: slack, url_env: SLACK_URL}}
  - {{name: mail, kind: email, host: 127.0.0.1, port: {smtp.port}, starttls: false, from: a@example.com,
      to: [b@example.com]}}
""")
    env = {"AURION_ALERTS_FILE": str(path), "AURION_DATA_DIR": str(tmp_path / "data"),
           "HOOK_SECRET": SECRET, "SLACK_URL": slack.url}
    settings = load_settings(env)
    write_analyst(settings.data_dir, [alert_row("warning", 80), alert_row("critical", 95)])
    return settings, env


def test_each_alert_reaches_each_channel_once_across_runs(setup, receivers):
    settings, env = setup
    webhook, slack, smtp = receivers
    first = deliver(settings, env, NOW)
    assert (first.found, first.sent, first.failed) == (6, 6, 0)
    write_analyst(settings.data_dir, [alert_row("warning", 80), alert_row("critical", 95), alert_row("overage", 100)])
    assert deliver(settings, env, NOW + timedelta(hours=1)).sent == 3  # only the new level
    assert deliver(settings, env, NOW + timedelta(hours=2)).sent == 0  # a re-run sends nothing
    for receiver in receivers:
        assert len(receiver.keys()) == 3 and len(set(receiver.keys())) == 3
    assert webhook.bad_signatures == 0
    assert webhook.keys() == [a["body"]["idempotency_key"] for a in webhook.accepted]
    assert set(webhook.keys()) == set(slack.keys()) == set(smtp.keys())


def test_the_webhook_body_is_signed_json_with_the_alert(setup, receivers):
    settings, env = setup
    webhook, slack, smtp = receivers
    deliver(settings, env, NOW)
    body = next(a["body"] for a in webhook.accepted if a["body"]["level"] == "critical")
    assert body["schema"] == "aurion.alert.v1" and body["kind"] == "threshold"
    assert (body["tenant"], body["quota"], body["basis"], body["threshold_pct"]) == ("globex", "voice_minutes",
                                                                                     "actual", 95)
    assert body["period"] == {"start": "2026-03-01", "end": "2026-03-31"} and body["pct_used"] == 96.2
    assert body["forecast"]["projected_exhaustion_date"] == "2026-03-21"
    text = next(a["body"]["text"] for a in slack.accepted if "critical" in a["body"]["text"])
    assert "globex" in text and "voice_minutes" in text and "96.2 %" in text
    mail = next(m for m in smtp.messages if "critical" in m["Subject"])
    assert mail.get_body(("plain",)) is not None and mail.get_body(("html",)) is not None


def test_a_forecast_alert_names_the_projected_exhaustion_date(setup, receivers):
    settings, env = setup
    write_analyst(settings.data_dir, [alert_row("overage", 100, basis="forecast")])
    deliver(settings, env, NOW)
    (text,) = [a["body"]["text"] for a in receivers[1].accepted]
    assert "forecast to reach 151.0 %" in text and "exhaustion date: 2026-03-21" in text


@pytest.mark.parametrize(("days_estimated", "said"), [
    (3, " 3 days of the period so far not loaded yet: estimated in the forecast, not in the use so far."),
    (0, None),
    (None, None),  # an analyst copy published before the column: delivered all the same, until the next load
])
def test_a_forecast_alert_says_how_many_days_of_the_period_it_estimated(setup, receivers, days_estimated, said):
    settings, env = setup
    write_analyst(settings.data_dir, [alert_row("overage", 100, basis="forecast")], days_estimated=days_estimated)
    assert deliver(settings, env, NOW).sent == 3
    webhook, slack, _ = receivers
    (body,) = [a["body"] for a in webhook.accepted]
    assert body["forecast"]["days_estimated"] == days_estimated
    (text,) = [a["body"]["text"] for a in slack.accepted]
    assert text.endswith(said) if said else "not loaded yet" not in text


def test_a_forecast_alert_before_any_day_of_its_period_is_loaded_says_so():
    """On a period's first day its forecast (as of the eve) may fire while its use is unknown: 'Used so far:
    ? (?)' told the reader nothing."""
    from aurion_pipeline.alerts.messages import text

    payload = {"kind": "threshold", "basis": "forecast", "tenant": "acme", "quota": "api_calls", "limit": 1000,
               "level": "warning", "threshold_pct": 80, "period": {"start": "2026-03-01", "end": "2026-03-31"},
               "forecast": {"projected_pct": 90.0}, "used": None, "pct_used": None}
    assert text(payload).endswith("The quota is not projected to run out. No day of the period is loaded yet.")


def test_a_forecast_that_falls_back_and_rises_again_does_not_fire_again(setup, receivers):
    settings, env = setup
    write_analyst(settings.data_dir, [alert_row("overage", 100, basis="forecast")])
    assert deliver(settings, env, NOW).sent == 3
    write_analyst(settings.data_dir, [])  # the projection fell back below 100 %
    assert deliver(settings, env, NOW + timedelta(days=1)).sent == 0
    write_analyst(settings.data_dir, [alert_row("overage", 100, basis="forecast")])  # and crossed again
    assert deliver(settings, env, NOW + timedelta(days=2)).sent == 0
    write_analyst(settings.data_dir, [alert_row("overage", 100, basis="actual")])  # then actual usage crossed it
    assert deliver(settings, env, NOW + timedelta(days=3)).sent == 3


def test_a_receiver_that_was_down_gets_every_alert_when_back(setup, receivers, tmp_path):
    settings, env = setup
    down = HttpReceiver("webhook", secret=SECRET)  # not started: connection refused
    path = tmp_path / "down.yaml"
    path.write_text(f"channels:\n  - {{name: ops, kind: webhook, url: '{down.url}', secret_env: HOOK_SECRET}}\n")
    settings = replace(settings, alerts_file=path)
    first = deliver(settings, env, NOW)
    assert (first.sent, first.failed) == (0, 2)
    due = datetime.strptime(first.next_retry_at, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert due - NOW <= timedelta(minutes=1)
    assert "(retry now: aurion-pipeline alerts --deliver)" in status_lines(settings)[0]
    assert deliver(settings, env, NOW + timedelta(seconds=5)).sent == 0  # not due yet: not attempted
    down.start()
    try:
        assert deliver(settings, env, due).sent == 2
        assert deliver(settings, env, due + timedelta(hours=1)).sent == 0
    finally:
        down.stop()
    assert len(down.keys()) == 2 and down.requests == 2


@pytest.mark.parametrize("code", [429, 503])
def test_429_and_5xx_are_retried(setup, receivers, code):
    settings, env = setup
    webhook = receivers[0]
    webhook.answers.extend([code, code])
    report = deliver(settings, env, NOW)
    assert report.failed >= 1
    deliver(settings, env, NOW + timedelta(hours=2))
    assert sorted(a["body"]["level"] for a in webhook.accepted) == ["critical", "warning"]


def test_a_400_is_not_retried_and_shows_in_status(setup, receivers):
    settings, env = setup
    webhook = receivers[0]
    webhook.answers.append(400)
    first = deliver(settings, env, NOW)
    assert first.gave_up == 1
    deliver(settings, env, NOW + timedelta(hours=5))
    assert webhook.requests == 2 and len(webhook.accepted) == 1  # the rejected alert was never sent again
    status = "\n".join(status_lines(settings))
    assert "1 gave up (not retried)" in status and "HTTP 400" in status and "ops" in status
    assert "--deliver" not in status  # it would send nothing: gave_up rows are not retried


def test_given_up_deliveries_go_out_again_once_the_channel_is_fixed_and_only_on_request(setup, receivers):
    """A 404 (a wrong path in the URL) gives up; after the fix, --deliver alone sends nothing, and
    --retry-given-up sends them once, with their idempotency keys, unless older than the max age."""
    settings, env = setup
    webhook = receivers[0]
    webhook.answers.extend([404, 404])
    assert deliver(settings, env, NOW).gave_up == 2
    assert "alerts --retry-given-up" in status_lines(settings)[0]
    assert deliver(settings, env, NOW + timedelta(minutes=5)).sent == 0 and webhook.accepted == []

    late = replace(settings, alerts_max_age_hours=1)
    assert deliver(late, env, NOW + timedelta(hours=2), retry_given_up=True).requeued == 0  # too late to matter

    report = deliver(settings, env, NOW + timedelta(hours=2), retry_given_up=True)
    assert (report.requeued, report.sent) == (2, 2) and "2 given up retried, 2 sent" in report.line()
    assert sorted(a["body"]["level"] for a in webhook.accepted) == ["critical", "warning"]
    assert deliver(settings, env, NOW + timedelta(hours=3), retry_given_up=True).requeued == 0
    assert "--retry-given-up" not in status_lines(settings)[0]


def down_channel_file(tmp_path, name: str, down: HttpReceiver):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"channels:\n  - {{name: {name}, kind: webhook, url: '{down.url}', secret_env: HOOK_SECRET}}\n")
    return path


def test_failing_deliveries_of_a_removed_channel_are_not_shown_or_scheduled_as_retried(setup, tmp_path):
    """Nothing sends the rows of a channel no longer in the file: they were counted 'failing (retried)'
    with a retry hint, and their retry time was announced as the next one due."""
    settings, env = setup
    down = HttpReceiver("webhook", secret=SECRET)  # never started: every send fails (retryable)
    old = replace(settings, alerts_file=down_channel_file(tmp_path, "old", down))
    assert deliver(old, env, NOW).failed == 2
    renamed = replace(settings, alerts_file=down_channel_file(tmp_path, "new", down))
    report = deliver(renamed, env, NOW + timedelta(seconds=5))  # 'new' fails too; its first retry is due later
    assert report.next_retry_at == log.stamp(NOW + timedelta(seconds=35))  # not old's, due 30 s after NOW
    log.open_log(settings.data_dir).execute("update alert_deliveries set status = 'sent' where channel = 'new'")
    status = status_lines(renamed)
    assert status[0] == "Alert deliveries: 2 sent, 2 for channels no longer in the alerts file (not sent)"
    assert sum("channel removed" in line for line in status) == 2 and "failing" not in "\n".join(status)


def test_status_names_an_alerts_file_that_cannot_be_used_and_still_shows_the_deliveries(setup, tmp_path):
    """`status` is where an operator looks: a file every delivering command refuses (exit 2) was passed over
    in silence there, while nothing could be delivered."""
    settings, env = setup
    down = HttpReceiver("webhook", secret=SECRET)
    assert deliver(replace(settings, alerts_file=down_channel_file(tmp_path, "ops", down)), env, NOW).failed == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("channels:\n  - {name: ops, kind: webhook, url: 'http://hooks.example.com/x', secret_env: S}\n")
    status = status_lines(replace(settings, alerts_file=bad))
    assert status[0].startswith("Alert channels: ") and "plain http" in status[0] and str(bad) in status[0]
    assert status[0].endswith("nothing is delivered until it is fixed")
    assert status[1].startswith("Alert deliveries: 2 failing (retried)") and "--deliver" not in status[1]
    # a threshold alert's date is its billing period's start, not the day it was reached
    assert sum("(period from 20" in line for line in status[2:]) == 2, status


def test_status_before_any_delivery_says_where_channels_come_from(tmp_path):
    """Nothing delivered yet: `status` says whether that is because no channels are given, and how the
    command at hand takes them (the demo ignores AURION_ALERTS_FILE, whose channels are a real deployment's)."""
    settings = load_settings({"AURION_DATA_DIR": str(tmp_path / "data")})
    assert status_lines(settings) == ["Alert deliveries: none yet (AURION_ALERTS_FILE not set)"]
    assert status_lines(settings, no_file="demo --alerts-file FILE sends them") == [
        "Alert deliveries: none yet (demo --alerts-file FILE sends them)"]
    path = tmp_path / "alerts.yaml"
    path.write_text("channels: [{name: ops, kind: slack, url_env: SLACK_URL}]\n")
    assert status_lines(replace(settings, alerts_file=path)) == ["Alert deliveries: none yet"]


def test_deliveries_not_made_within_the_max_age_are_given_up(setup, receivers, tmp_path):
    settings, env = setup
    down = HttpReceiver("webhook", secret=SECRET)
    path = tmp_path / "down.yaml"
    path.write_text(f"channels:\n  - {{name: ops, kind: webhook, url: '{down.url}', secret_env: HOOK_SECRET}}\n")
    settings = replace(settings, alerts_file=path, alerts_max_age_hours=2)
    deliver(settings, env, NOW)
    later = deliver(settings, env, NOW + timedelta(hours=3))
    assert later.sent == 0 and later.failed == 0
    con = log.open_log(settings.data_dir)
    assert log.counts(con) == {"gave_up": 2}
    con.close()


def test_a_test_message_reaches_the_channel_and_is_not_logged(setup, receivers):
    settings, env = setup
    assert send_test(settings, env, "ops").status == "sent"
    assert send_test(settings, env, "mail").status == "sent"
    assert receivers[0].accepted[0]["body"]["kind"] == "test" and receivers[0].bad_signatures == 0
    assert "test message" in receivers[2].messages[0]["Subject"]
    assert not log.log_path(settings.data_dir).exists()


def test_no_secret_in_payloads_or_the_log(setup, receivers):
    settings, env = setup
    receivers[0].answers.append(503)
    deliver(settings, env, NOW)
    deliver(settings, env, NOW + timedelta(hours=1))
    sent = b"".join(a["raw"] for a in receivers[0].accepted + receivers[1].accepted) + b"".join(receivers[2].raw)
    for canary in (SECRET.encode(), b"canaryslackpath"):
        assert canary not in sent
        assert canary not in log.log_path(settings.data_dir).read_bytes()


def stand_in_load_job():
    """A job named like the usage job, whose one op does nothing: what the alert sensors watch."""
    import dagster as dg

    @dg.op
    def load():
        pass

    @dg.job(name="usage_job")
    def usage_job():
        load()

    return usage_job


@pytest.mark.slow  # imports the whole Dagster definitions (~10 s)
def test_the_sensor_delivers_after_a_successful_load_run(setup, receivers, monkeypatch):
    import dagster as dg

    from aurion_pipeline.defs.alerts.sensors import build_alert_sensors

    settings, env = setup
    for name, value in env.items():  # only the channels' secrets: the sensors use the settings they are given
        if name.startswith("AURION_"):
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)

    stand_in_load = stand_in_load_job()
    deliver_alerts_after_load, _ = build_alert_sensors(settings, stand_in_load, stand_in_load)
    with dg.DagsterInstance.ephemeral() as instance:
        result = stand_in_load.execute_in_process(instance=instance)
        context = dg.build_run_status_sensor_context(
            sensor_name="deliver_alerts_after_load", dagster_instance=instance, dagster_run=result.dagster_run,
            dagster_event=result.get_run_success_event(),
        )
        outcome = deliver_alerts_after_load(context)
    assert "6 new, 6 sent" in outcome.skip_message  # 2 alerts x 3 channels
    assert len(receivers[0].accepted) == 2 and len(receivers[1].accepted) == 2
    assert SECRET not in outcome.skip_message


def after_load_sensor_over(settings, *assets):
    """The after-load sensor in a code location of `assets` (and a stand-in load job), with its repository
    and the location's asset job, whose runs it is evaluated over as the daemon does."""
    import dagster as dg

    from aurion_pipeline.defs.alerts.sensors import build_alert_sensors

    usage_job = stand_in_load_job()
    sensor, _ = build_alert_sensors(settings, usage_job, usage_job)
    defs = dg.Definitions(assets=list(assets), jobs=[usage_job], sensors=[sensor])
    return sensor, defs.get_repository_def(), defs.get_implicit_global_asset_job_def()


@pytest.mark.slow  # imports the whole Dagster definitions (~10 s)
def test_the_sensor_delivers_after_an_asset_page_backfill_and_not_after_other_runs(setup, receivers, monkeypatch):
    """A backfill launched from an asset page runs as Dagster's own asset job, not as usage_job: the
    sensor watched only our jobs, so such loads never delivered alerts or refreshed the report. Ticks
    evaluated as the daemon does, over runs of the code location's asset job."""
    import dagster as dg


    settings, env = setup
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    monkeypatch.setenv("SLACK_URL", env["SLACK_URL"])

    @dg.asset(key=["raw", "usage_daily"])
    def usage_daily():
        pass

    @dg.asset(key=["host_project", "orders"])
    def orders():
        pass

    deliver_alerts_after_load, repository, asset_job = after_load_sensor_over(settings, usage_daily, orders)
    with dg.instance_for_test() as instance:
        def tick_after(asset, cursor):
            run = asset_job.execute_in_process(instance=instance, asset_selection=[asset.key])
            assert run.dagster_run.job_name == "__ASSET_JOB"
            context = dg.build_sensor_context(instance=instance, repository_def=repository, cursor=cursor)
            return deliver_alerts_after_load.evaluate_tick(context)

        first = deliver_alerts_after_load.evaluate_tick(
            dg.build_sensor_context(instance=instance, repository_def=repository))
        foreign = tick_after(orders, first.cursor)
        ours = tick_after(usage_daily, foreign.cursor)
    assert "loads none of our assets" in foreign.skip_message
    assert "6 new, 6 sent" in ours.skip_message  # 2 alerts x 3 channels
    assert len(receivers[0].accepted) == 2 and len(receivers[1].accepted) == 2


@pytest.mark.slow  # writes 1,001 events
def test_a_host_run_with_many_materializations_before_ours_still_delivers(setup, receivers, monkeypatch):
    """The sensor read a run's first 1,000 materializations to find one of ours: a host asset that logged
    more before ours ran hid it. A run that selected assets says which, without reading its events."""
    import dagster as dg


    settings, env = setup
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    monkeypatch.setenv("SLACK_URL", env["SLACK_URL"])

    @dg.asset(key=["host_project", "orders"])
    def orders(context: dg.AssetExecutionContext):
        for i in range(1001):
            context.log_event(dg.AssetMaterialization(asset_key=["host_project", "order_shards", str(i)]))

    @dg.asset(key=["raw", "usage_daily"], deps=[orders])
    def usage_daily():
        pass

    deliver_alerts_after_load, repository, asset_job = after_load_sensor_over(settings, orders, usage_daily)
    with dg.instance_for_test() as instance:
        first = deliver_alerts_after_load.evaluate_tick(
            dg.build_sensor_context(instance=instance, repository_def=repository))
        asset_job.execute_in_process(instance=instance, asset_selection=[orders.key, usage_daily.key])
        tick = deliver_alerts_after_load.evaluate_tick(
            dg.build_sensor_context(instance=instance, repository_def=repository, cursor=first.cursor))
    assert "6 new, 6 sent" in tick.skip_message, tick.skip_message


@pytest.mark.slow  # imports the whole Dagster definitions (~10 s)
def test_the_retry_sensor_ignores_deliveries_of_a_removed_channel(setup, tmp_path, monkeypatch):
    """The sensor's own due query had no channel filter: a removed channel's failed rows woke a delivery
    cycle every minute. It now asks log.due, as deliver does."""
    import dagster as dg

    from aurion_pipeline.defs.alerts.sensors import build_alert_sensors

    stand_in_load = stand_in_load_job()
    settings, env = setup
    monkeypatch.setenv("HOOK_SECRET", SECRET)  # the sensor reads the channels' secrets from the environment
    down = HttpReceiver("webhook", secret=SECRET)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)  # the sensor asks what is due at the real now
    assert deliver(replace(settings, alerts_file=down_channel_file(tmp_path, "old", down)), env, an_hour_ago).failed
    renamed = replace(settings, alerts_file=down_channel_file(tmp_path, "new", down))
    _, retry_alert_deliveries = build_alert_sensors(renamed, stand_in_load, stand_in_load)
    with dg.DagsterInstance.ephemeral() as instance:
        outcome = retry_alert_deliveries(dg.build_sensor_context(instance=instance))
    assert outcome.skip_message == "nothing due"


def test_anomalies_are_delivered_once_per_tenant_day_metric_and_routed_by_basis(setup, receivers, tmp_path):
    settings, env = setup
    webhook, slack, _smtp = receivers
    con = duckdb.connect(str(settings.data_dir / "analyst.duckdb"))
    # The columns of dbt_like_sql's analytics.usage_anomalies, which lists only the days above its threshold.
    con.execute("""create table analytics.usage_anomalies as select * from (values
        ('globex', date '2026-03-18', 'api_calls', 52000.0, 8400.0, 0.12, 4650.0, 9.31, 6.0, 'spike', 56, 56),
        ('globex', date '2025-01-05', 'api_calls', 90000.0, 8000.0, 0.1, 800.0, 12.0, 6.0, 'spike', 56, 56))
        t(tenant, usage_date, metric, value, median, spread, scale, score, threshold, direction, history_days,
          spread_days)""")
    con.close()
    path = tmp_path / "routed.yaml"
    path.write_text(f"""channels:
  - {{name: ops, kind: webhook, url: "{webhook.url}", secret_env: HOOK_SECRET, bases: [anomaly]}}
  - {{name: team, kind: slack, url_env: SLACK_URL, bases: [actual], levels: [overage]}}
""")
    settings = replace(settings, alerts_file=path)
    assert deliver(settings, env, NOW).sent == 1  # the recent day; not last year's (older than the max age)
    assert deliver(settings, env, NOW + timedelta(hours=1)).sent == 0
    (body,) = [a["body"] for a in webhook.accepted]
    assert (body["kind"], body["basis"], body["metric"], body["usage_date"]) == ("anomaly", "anomaly", "api_calls",
                                                                               "2026-03-18")
    assert (body["value"], body["expected"], body["score"], body["direction"]) == (52000, 8400, 9.31, "spike")
    assert slack.accepted == []  # routed to actual overages only: neither the anomaly nor warning/critical


def test_the_alerts_command_lists_sends_and_tests(setup, receivers, tmp_path, capsys):
    from aurion_pipeline.alerts.cli import run_alerts_command

    settings, env = setup
    assert run_alerts_command(settings, env, deliver_now=False, test=None) == 0
    listed = capsys.readouterr().out
    assert "6 pending" in listed and receivers[0].requests == 0  # listing records, never sends
    assert run_alerts_command(settings, env, deliver_now=True, test=None) == 0
    assert "6 sent" in capsys.readouterr().out
    down = HttpReceiver("webhook", secret=SECRET)
    path = tmp_path / "down.yaml"
    path.write_text(f"channels:\n  - {{name: ops, kind: webhook, url: '{down.url}', secret_env: HOOK_SECRET}}\n")
    assert run_alerts_command(replace(settings, alerts_file=path), env, deliver_now=False, test="ops") == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "could not connect" in error[0]


@pytest.mark.parametrize("answer", [503, 400], ids=["failed, retried later", "gave up"])
def test_alerts_deliver_exits_1_when_a_send_of_this_attempt_did_not_go_through(setup, receivers, answer, capsys):
    from aurion_pipeline.alerts.cli import run_alerts_command

    settings, env = setup
    receivers[0].answers.append(answer)  # the webhook refuses its first alert; the other sends go through
    assert run_alerts_command(settings, env, deliver_now=True, test=None) == 1
    assert "5 sent" in capsys.readouterr().out
    assert run_alerts_command(settings, env, deliver_now=True, test=None) == 0  # nothing due, nothing failed


def use_env(monkeypatch, env: dict[str, str]) -> None:
    """The process environment holds exactly `env`'s settings and secrets (for `cli.main`)."""
    import os

    for name in [n for n in os.environ if n.startswith(("AURION_", "DAGSTER_")) or n in ("HOOK_SECRET", "SLACK_URL")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_a_test_message_needs_only_its_channel_secret_and_the_listing_none(setup, receivers, monkeypatch, capfd):
    """Both required every channel's secret: an unset Slack URL stopped a test of the webhook, and the
    listing, which sends nothing."""
    from aurion_pipeline.cli import main

    _settings, env = setup
    use_env(monkeypatch, {k: v for k, v in env.items() if k != "SLACK_URL"})
    assert main(["alerts", "--test", "ops"]) == 0, capfd.readouterr().err
    assert receivers[0].accepted[0]["body"]["kind"] == "test"
    assert main(["alerts"]) == 0, capfd.readouterr().err
    assert "6 pending" in capfd.readouterr().out
    assert main(["alerts", "--test", "team"]) == 2  # the channel tested still needs its secret
    (line,) = capfd.readouterr().err.strip().splitlines()
    assert "SLACK_URL" in line and "is not set" in line


def test_retry_given_up_from_the_command_line(setup, receivers, monkeypatch, capfd):
    from aurion_pipeline.cli import main

    _settings, env = setup
    use_env(monkeypatch, env)
    receivers[0].answers.extend([404, 404])
    assert main(["alerts", "--deliver"]) == 1  # two gave up
    capfd.readouterr()
    assert main(["alerts", "--retry-given-up"]) == 0, capfd.readouterr().err
    assert "alerts: 0 new, 2 given up retried, 2 sent" in capfd.readouterr().out
    assert len(receivers[0].accepted) == 2


def test_the_listing_does_not_wait_for_a_running_delivery(setup, capsys):
    """It recorded new alerts under the delivery lock, so it waited behind alerts --deliver (up to the
    lock timeout, then failed); readers never wait: it lists the log as it is and says why."""
    import time

    from aurion_pipeline.alerts.cli import run_alerts_command
    from aurion_pipeline.alerts.deliver import delivery_lock

    settings, env = setup
    settings = replace(settings, lock_timeout_s=3)
    deliver(settings, env, NOW)
    capsys.readouterr()
    with delivery_lock(settings):  # a delivery cycle in another process, as far as flock is concerned
        started = time.monotonic()
        assert run_alerts_command(settings, env, deliver_now=False, test=None) == 0
        elapsed = time.monotonic() - started
    out = capsys.readouterr().out
    assert elapsed < 1.5 and "a delivery is running" in out and "6 sent" in out


def test_an_unset_secret_names_the_alerts_file_like_every_other_bad_file_line(setup, monkeypatch, capfd):
    from aurion_pipeline.cli import main

    settings, env = setup
    use_env(monkeypatch, {k: v for k, v in env.items() if k != "HOOK_SECRET"})
    assert main(["alerts", "--deliver"]) == 2
    (line,) = capfd.readouterr().err.strip().splitlines()
    assert f"AURION_ALERTS_FILE ({settings.alerts_file}): channel 'ops'" in line and "HOOK_SECRET" in line


def test_sends_left_over_when_the_time_budget_runs_out_stay_due(setup, receivers):
    settings, env = setup
    assert deliver(settings, env, NOW, budget_s=0).sent == 0  # recorded, nothing started
    con = log.open_log(settings.data_dir)
    assert log.counts(con) == {"pending": 6}
    con.close()
    assert deliver(settings, env, NOW).sent == 6


def test_after_a_cli_load_a_stalled_receiver_holds_it_up_no_longer_than_the_send_budget(
        setup, receivers, tmp_path, capsys, monkeypatch):
    """The CLI's after-load delivery had no budget (the sensor's was 35 s): a receiver answering slowly
    held a 3-s backfill for minutes. It now shares the sensor's budget; the rest stays due."""
    from aurion_pipeline.alerts import after_load
    from aurion_pipeline.alerts.cli import print_after_load

    settings, env = setup
    webhook = receivers[0]
    webhook.delay_s = 1.0
    path = tmp_path / "slow.yaml"
    path.write_text(f"channels:\n  - {{name: ops, kind: webhook, url: '{webhook.url}', secret_env: HOOK_SECRET}}\n")
    monkeypatch.setattr(after_load, "SEND_BUDGET_S", 0.5, raising=False)  # its 35 s, shortened for the test
    print_after_load(replace(settings, alerts_file=path), env)
    out = capsys.readouterr().out
    assert "1 sent" in out and "1 not attempted in time, left for the next run" in out and "alerts --deliver" in out
    con = log.open_log(settings.data_dir)
    assert log.counts(con) == {"sent": 1, "pending": 1}
    con.close()


def test_after_a_load_an_unset_secret_is_one_line_and_does_not_raise(setup, capsys):
    from aurion_pipeline.alerts.cli import print_after_load

    settings, env = setup
    print_after_load(settings, {k: v for k, v in env.items() if k != "HOOK_SECRET"})
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert "alerts not delivered" in line and "HOOK_SECRET" in line and "alerts --deliver" in line


@pytest.fixture
def tls_files(tmp_path):
    cert, key = tmp_path / "relay.pem", tmp_path / "relay.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return str(cert), str(key)


@pytest.mark.parametrize("trusted", [True, False], ids=["ca_file trusts the relay", "unknown certificate refused"])
def test_email_over_starttls_verifies_the_relay_before_logging_in(setup, tmp_path, tls_files, trusted):
    from aurion_pipeline.alerts.channels import load_channels
    from aurion_pipeline.alerts.senders import send

    relay = SmtpReceiver(user="aurion", password="canary-smtp-pw", tls=tls_files).start()
    try:
        ca = f", ca_file: {tls_files[0]}" if trusted else ""
        path = tmp_path / "mail.yaml"
        path.write_text(f"channels:\n  - {{name: mail, kind: email, host: 127.0.0.1, port: {relay.port}, "
                        f"username_env: U, password_env: P, from: a@example.com, to: b@example.com{ca}}}\n")
        (channel,) = load_channels(path)
        payload = {"kind": "test", "channel": "mail", "idempotency_key": "aurion-test-1"}
        outcome = send(channel, {"username": "aurion", "password": "canary-smtp-pw"}, payload)
    finally:
        relay.stop()
    if trusted:
        assert outcome.status == "sent" and len(relay.messages) == 1
    else:
        assert outcome.status == "failed" and "did not verify" in outcome.error and relay.messages == []
