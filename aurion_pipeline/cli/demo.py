"""`aurion-pipeline demo`: the whole product on a built-in sandbox API, no key needed.

Starts the sandbox on loopback, backfills the last N days through Dagster (the same job a real
deployment runs), snapshots the summaries, and prints where each tenant stands.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from aurion_pipeline.alerts.cli import preflight, print_after_load
from aurion_pipeline.cli.loads import run_and_report
from aurion_pipeline.config import load_settings, require_api_keys
from aurion_pipeline.ops import status
from aurion_pipeline.ops.query import print_query
from aurion_sandbox import (
    DEFAULT_TENANTS,
    SandboxServer,
    sandbox_env,
    write_tenants_file,
)

STANDING = """
select tenant, plan, quota_name, round(used, 1) as used, quota, round(pct_used, 1) as pct_used, alert_level
from analytics.plan_utilization
where is_current
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


def demo_env(env: Mapping[str, str], root: str | None, api: SandboxServer, start: date,
             alerts_file: str | None = None) -> dict[str, str]:
    """The environment the demo's settings are read from: the user's, pointed at the sandbox, with the
    data directory and Dagster home under `--data-dir` (default ./demo). AURION_DATA_DIR, DAGSTER_HOME and
    AURION_ALERTS_FILE are a real deployment's (docs/operations.md has operators export them): the demo
    never writes its sandbox tenants there or sends their alerts to its channels, unless `alerts_file`
    (`--alerts-file`) asks for alerts. The sandbox's tenants file goes into the data directory."""
    base = Path(root).expanduser().resolve() if root else DEFAULT_ROOT.resolve()
    data_dir = base / "data"
    first = min(start, date.fromisoformat(env["AURION_START_DATE"])) if env.get("AURION_START_DATE") else start
    demo = {name: value for name, value in env.items() if name != "AURION_ALERTS_FILE"}
    if alerts_file:
        demo["AURION_ALERTS_FILE"] = alerts_file
    return {
        **demo,
        **sandbox_env(DEFAULT_TENANTS),
        "AURION_BASE_URL": api.base_url,
        "AURION_TENANTS_FILE": str(write_tenants_file(data_dir / "demo_tenants.yaml", DEFAULT_TENANTS)),
        "AURION_START_DATE": first.isoformat(),
        "AURION_DATA_DIR": str(data_dir),
        "DAGSTER_HOME": str(base / "dagster_home"),
    }


def run_demo(env: Mapping[str, str], *, days: int = 90, root: str | None = None, alerts_file: str | None = None,
             verbose: bool = False) -> int:
    today = datetime.now(UTC).date()
    start, end = today - timedelta(days=days), today - timedelta(days=1)
    with SandboxServer(today=today) as api:
        demo = demo_env(env, root, api, start, alerts_file)
        settings = load_settings(demo)
        require_api_keys(settings, demo)
        preflight(settings, demo)  # a bad --alerts-file stops the demo too, before the run
        cleaned = " (`make clean` removes ./demo)" if settings.data_dir == DEFAULT_ROOT.resolve() / "data" else ""
        print(f"demo: data in {settings.data_dir}, Dagster home {settings.dagster_home}{cleaned}")
        if env.get("AURION_ALERTS_FILE") and not alerts_file:
            print("demo: AURION_ALERTS_FILE is not used (the demo's tenants are the sandbox's); "
                  "--alerts-file FILE sends their alerts to that file's channels")
        print(f"demo: sandbox Aurion API at {api.base_url}; backfilling {start}..{end} through Dagster ...")
        # Settings are passed explicitly. Only what is read from the environment by design goes there:
        # the keys (public sandbox strings), read when a client is built like every key, and DAGSTER_HOME,
        # through which Dagster finds its instance.
        os.environ.update(sandbox_env(DEFAULT_TENANTS), DAGSTER_HOME=str(settings.dagster_home))
        # One backfill: it also snapshots every tenant's summary (none exists yet), so every view is populated.
        backfill = argparse.Namespace(command="backfill", start=start, end=end, tenant=[], missing_only=False,
                                      commit_rows=0, verbose=verbose)
        outcome = run_and_report(backfill, settings)
        if outcome.exit_code:
            return outcome.exit_code
        print(f"requests served by the sandbox: {len(api.requests)}")
    print_after_load(settings, demo)  # delivers alerts with --alerts-file; writes report.html
    status.print_status(settings, no_file="demo --alerts-file FILE sends them")
    print("\nWhere each tenant stands this billing period (analytics.plan_utilization)")
    print_query(settings, STANDING, "table")
    print("\nWhere each tenant will end the period (analytics.usage_forecast)")
    print_query(settings, FORECAST, "table")
    print("day: of the billing period; low-high: the 80 % interval, NULL until enough complete periods\n"
          "before this one can calibrate it (docs/forecasting.md, \"Demo data\")")
    print(f"\nQuery it yourself: AURION_DATA_DIR={settings.data_dir} aurion-pipeline sql "
          "\"select * from analytics.billing_alerts\"")
    return 0
