"""The Dagster definitions load with no API key set, and expose what the UI and schedules rely on."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from aurion_pipeline.definitions import defs

ROOT = Path(__file__).resolve().parents[1]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURION_")}
    return {**env, **extra}


def test_definitions_load_and_validate_with_no_key_set(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT, env=clean_env(DAGSTER_HOME=str(tmp_path)), capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_expected_assets_checks_jobs_and_schedules():
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw/usage_daily", "raw/usage_summary", "analytics/plan_utilization", "seeds/plan_tiers"} <= keys
    assert {j.name for j in defs.jobs} >= {"usage_job", "summary_job"}
    assert {s.name for s in defs.schedules} == {"daily_usage_schedule", "summary_schedule"}
    assert {s.name for s in defs.sensors} == {
        "refresh_models_after_failed_load", "deliver_alerts_after_load", "retry_alert_deliveries"}
    assert {j.name for j in defs.jobs} >= {"models_job"}
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert {"unique_tenant_day", "no_negative_usage", "no_gaps_in_loaded_windows"} <= checks


def test_usage_is_one_daily_utc_partitioned_asset_with_single_run_backfills():
    asset = defs.resolve_assets_def(dg.AssetKey(["raw", "usage_daily"]))
    assert isinstance(asset.partitions_def, dg.DailyPartitionsDefinition)
    assert asset.partitions_def.timezone == "UTC"
    assert asset.backfill_policy == dg.BackfillPolicy.single_run()
    partitioned = [a for a in defs.resolve_all_asset_specs() if a.partitions_def is not None]
    assert [a.key.to_user_string() for a in partitioned] == ["raw/usage_daily"]


def test_the_key_is_wired_as_an_env_var_not_a_value():
    from aurion_pipeline.defs.aurion_usage.resources import resources_from_env

    api = resources_from_env({"AURION_API_KEY": "ak_live_xyz"})["aurion_api"]
    assert isinstance(api.api_key, dg.EnvVar) and api.api_key == "AURION_API_KEY"
    assert "ak_live_xyz" not in repr(api)
