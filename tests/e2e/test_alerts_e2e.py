"""End to end: a sandbox tenant driven over 80/95/100 % of its voice quota by three CLI loads, with a
webhook, a Slack-shaped and an SMTP receiver on loopback. Each alert reaches each channel exactly once,
through a receiver outage, a re-run of the same day and a `rebuild`; no secret lands anywhere."""

import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest
from alert_receivers import HttpReceiver, SmtpReceiver
from helpers_ops import pipeline_env

from aurion_sandbox import SandboxServer, TenantProfile, billing_period, daily_usage

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # nine CLI runs: minutes on a busy 2-core machine

WEBHOOK_SECRET = "canary-whsec-91c2e7"
SLACK_PATH = "/services/T01/B02/canary-slack-4b8d"
SMTP_PASSWORD = "canary-smtp-0d5f3a"
TODAY = datetime.now(UTC).date()
YESTERDAY = TODAY - timedelta(days=1)


def spiky_tenant() -> TenantProfile:
    """A professional tenant (1,000 voice minutes) whose period began about three weeks ago and who
    uses ~150 minutes a weekday: it crosses 80, 95 and 100 % within the loaded days."""
    anchor = min((TODAY - timedelta(days=21)).day, 28)
    return TenantProfile("spiky", anchor_day=anchor, base_voice_minutes=150, base_api_calls=500,
                         growth_per_month=0.0, zero_day_rate=0.0)


def crossing_days(tenant: TenantProfile):
    start, _ = billing_period(tenant.anchor_day, YESTERDAY)
    usage = daily_usage(tenant, start, YESTERDAY)
    cumulative = np.cumsum(usage.voice_minutes) / 1000 * 100
    days = [usage.days[np.argmax(cumulative >= pct)].astype(object) for pct in (80, 95, 100)]
    assert cumulative[-1] > 100, "the sandbox tenant must end above its quota"
    return start, days


def _failed_retries(data_dir: Path) -> list[str]:
    with sqlite3.connect(data_dir / "alert_deliveries.sqlite") as con:
        return [at for (at,) in con.execute(
            "select next_attempt_at from alert_deliveries where status = 'failed' and channel = 'ops'")]


def wait_until_retries_are_due(data_dir: Path, limit_s: float = 120) -> None:
    due = max(_failed_retries(data_dir), default=None)
    if due is not None:
        wait = (datetime.strptime(due, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
                - datetime.now(UTC)).total_seconds()
        assert wait <= limit_s, f"the first retry is due only in {wait:.0f} s"
        time.sleep(max(wait, 0) + 1)


def webhook_failed(data_dir: Path) -> bool:
    return bool(_failed_retries(data_dir))


def cli(env, *args):
    result = subprocess.run([sys.executable, "-m", "aurion_pipeline.cli", *args], env=env, capture_output=True,
                            text=True, timeout=600)
    return result


def test_each_alert_reaches_each_channel_once_through_outage_rerun_and_rebuild(tmp_path):
    tenant = spiky_tenant()
    period_start, (d80, d95, d100) = crossing_days(tenant)
    webhook = HttpReceiver("webhook", secret=WEBHOOK_SECRET)  # down for the first load
    slack = HttpReceiver("slack", path=SLACK_PATH).start()
    smtp = SmtpReceiver(user="aurion", password=SMTP_PASSWORD).start()
    alerts_file = tmp_path / "alerts.yaml"
    alerts_file.write_text(f"""channels:
  - name: ops
    kind: webhook
    url: {webhook.url}
    secret_env: AURION_WEBHOOK_SECRET
  - {{name: team, kind: slack, url_env: AURION_SLACK_URL}}
  - {{name: mail, kind: email, host: 127.0.0.1, port: {smtp.port}, starttls: false, username_env: SMTP_USER,
      password_env: SMTP_PASSWORD, from: aurion@example.com, to: [billing@example.com]}}
""")
    outputs = []
    with SandboxServer(tenants=[tenant]) as api:
        env = pipeline_env(api, tmp_path, AURION_ALERTS_FILE=str(alerts_file), AURION_WEBHOOK_SECRET=WEBHOOK_SECRET,
                           AURION_SLACK_URL=slack.url, SMTP_USER="aurion", SMTP_PASSWORD=SMTP_PASSWORD,
                           AURION_START_DATE=(period_start - timedelta(days=70)).isoformat())

        def run(*args):
            result = cli(env, *args)
            outputs.append(result.stdout + result.stderr)
            assert result.returncode == 0, result.stderr[-3000:]
            return result

        run("summary")
        first_day = (period_start - timedelta(days=60)).isoformat()
        run("backfill", "--start", first_day, "--end", d80.isoformat())
        assert webhook.requests == 0 and len(slack.accepted) >= 1  # the webhook was down; the others got theirs
        status = run("status").stdout
        assert "failing (retried)" in status and "ops" in status

        webhook.start()
        try:
            for end in sorted({max(d95, d80 + timedelta(days=1)), max(d100, d80 + timedelta(days=2)), YESTERDAY}):
                run("backfill", "--start", (end - timedelta(days=3)).isoformat(), "--end", end.isoformat())
            # The webhook's failed deliveries are retried when due (the first retry within a minute):
            # a fast machine runs the loads above before that, so deliver once they are due.
            wait_until_retries_are_due(Path(env["AURION_DATA_DIR"]))
            run("alerts", "--deliver")
            assert not webhook_failed(Path(env["AURION_DATA_DIR"])), "the webhook is back: every alert reached it"
            before = (len(webhook.accepted), len(slack.accepted), len(smtp.messages))
            run("backfill", "--start", (YESTERDAY - timedelta(days=3)).isoformat(), "--end", YESTERDAY.isoformat())
            run("rebuild")
            run("alerts", "--deliver")
            assert (len(webhook.accepted), len(slack.accepted), len(smtp.messages)) == before  # nothing re-sent
            listing = run("alerts").stdout
        finally:
            webhook.stop()
            slack.stop()
            smtp.stop()

    data = Path(env["AURION_DATA_DIR"])
    con = duckdb.connect(str(data / "analyst.duckdb"), read_only=True)
    expected = con.execute(
        "select count(*) from analytics.billing_alerts where is_current and tenant = 'spiky'"
    ).fetchall()[0][0]
    levels = {r[0] for r in con.execute("select alert_level from analytics.billing_alerts where is_current and "
                                        "basis = 'actual' and quota_name = 'voice_minutes'").fetchall()}
    con.close()
    assert levels == {"warning", "critical", "overage"}
    for receiver in (webhook, slack, smtp):
        keys = receiver.keys()
        assert len(keys) == len(set(keys)), "an alert reached a channel twice"
        assert len(keys) >= expected  # every current alert (forecast alerts since dropped stay delivered)
    assert set(webhook.keys()) == set(slack.keys()) == set(smtp.keys())
    assert webhook.bad_signatures == 0
    assert "sent" in listing

    canaries = [WEBHOOK_SECRET, SLACK_PATH.rsplit("/", 1)[1], SMTP_PASSWORD, tenant.api_key]
    sent = b"".join(a["raw"] for a in webhook.accepted + slack.accepted) + b"".join(smtp.raw)
    for canary in canaries:
        assert canary.encode() not in sent
        assert all(canary not in out for out in outputs)
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert canary.encode() not in path.read_bytes(), f"{canary[:6]}... found in {path}"
