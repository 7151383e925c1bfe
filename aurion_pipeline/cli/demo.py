"""`aurion-pipeline demo`: the whole product on a built-in sandbox API, no key needed.

Starts the sandbox on loopback, backfills the last N days through Dagster (the same job a real
deployment runs), snapshots the summaries, and prints where each tenant stands.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aurion_pipeline.alerts.cli import after_load
from aurion_pipeline.cli import runs as orchestrate
from aurion_pipeline.ops import status as report
from aurion_pipeline.ops.query import print_query
from aurion_pipeline.config import load_settings
from aurion_sandbox import DEFAULT_TENANTS, SandboxServer, sandbox_env, write_tenants_file

STANDING = """
select tenant, plan, quota_name, round(used, 1) as used, quota, round(pct_used, 1) as pct_used, alert_level
from analytics.plan_utilization
where period_start <= current_date and period_end >= current_date
order by tenant, quota_name
"""

FORECAST = """
select tenant, quota_name, days_elapsed || '/' || days_in_period as day, round(projected_total) as projected,
       round(projected_low) as low, round(projected_high) as high, quota, projected_alert_level,
       projected_exhaustion_date
from analytics.usage_forecast
where quota is not null
order by tenant, quota_name
"""


DEFAULT_ROOT = Path("demo")  # apart from ./data and ./.dagster_home, which a real key uses


def demo_env(env: Mapping[str, str], root: str | None) -> dict[str, str]:
    """The demo's data directory and Dagster home: under `--data-dir` (default ./demo), unless
    AURION_DATA_DIR / DAGSTER_HOME say otherwise. A real key's ./data is never touched."""
    base = Path(root).expanduser().resolve() if root else DEFAULT_ROOT.resolve()
    return {
        **env,
        "AURION_DATA_DIR": str(base / "data") if root or not env.get("AURION_DATA_DIR") else env["AURION_DATA_DIR"],
        "DAGSTER_HOME": str(base / "dagster_home") if root or not env.get("DAGSTER_HOME") else env["DAGSTER_HOME"],
    }


def run_demo(env: Mapping[str, str], *, days: int = 90, root: str | None = None, verbose: bool = False) -> int:
    today = datetime.now(timezone.utc).date()
    start, end = today - timedelta(days=days), today - timedelta(days=1)
    env = demo_env(env, root)
    settings = load_settings(env)  # the user's other settings are checked before the sandbox starts
    print(f"demo data in {settings.data_dir}, Dagster home {settings.dagster_home} (make clean removes ./demo)")
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)  # Dagster's instance is found only through it
    orchestrate.ensure_dagster_home(settings.dagster_home)
    with SandboxServer(today=today) as api:
        tenants_file = write_tenants_file(settings.data_dir.parent / "tenants.yaml", DEFAULT_TENANTS)
        os.environ.update(sandbox_env(DEFAULT_TENANTS))
        os.environ.update(
            AURION_BASE_URL=api.base_url,
            AURION_TENANTS_FILE=str(tenants_file),
            AURION_START_DATE=min(settings.start_date, start).isoformat(),
            AURION_DATA_DIR=str(settings.data_dir),
        )
        print(f"sandbox Aurion API at {api.base_url}; backfilling {start}..{end} through Dagster ...")
        # The backfill also snapshots every tenant's summary (none exists yet), so every view is populated.
        outcome = orchestrate.backfill(load_settings(), start, end)
        if outcome.exit_code:
            print(f"demo backfill failed: {outcome.error or 'some windows or summaries were not loaded'}")
            return 1
        print(f"backfill: run {outcome.run_id} succeeded")
        print(f"requests served by the sandbox: {len(api.requests)}")
    after_load(settings, os.environ)  # delivers alerts when AURION_ALERTS_FILE is set; writes report.html
    report.print_status(settings)
    print("\nWhere each tenant stands this billing period (analytics.plan_utilization)")
    print_query(settings, STANDING, "table")
    print("\nWhere each tenant will end the period (analytics.usage_forecast)")
    print_query(settings, FORECAST, "table")
    print(f"\nReport (open in a browser, works offline): {settings.data_dir / 'report.html'}")
    print(f"\nQuery it yourself: AURION_DATA_DIR={settings.data_dir} aurion-pipeline sql "
          "\"select * from analytics.billing_alerts\"")
    return 0
