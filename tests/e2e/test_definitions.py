"""The Dagster definitions load with no API key set, and expose what the UI and schedules rely on."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from aurion_pipeline.definitions import defs

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURION_")}
    return {**env, **extra}


def test_definitions_load_and_validate_with_no_key_set(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT, env=clean_env(DAGSTER_HOME=str(tmp_path)), capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.smoke
def test_expected_assets_checks_jobs_and_schedules():
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw/usage_daily", "raw/usage_summary", "analytics/plan_utilization", "seeds/plan_tiers"} <= keys
    assert {j.name for j in defs.jobs} >= {"usage_job", "summary_job"}
    assert {s.name for s in defs.schedules} == {"daily_usage_schedule", "summary_schedule"}
    # A partial failure is a failing check, not a failed step: no repair job, no failure sensor.
    assert {s.name for s in defs.sensors} == {"deliver_alerts_after_load", "retry_alert_deliveries"}
    assert "models_job" not in {j.name for j in defs.jobs}
    checks = {(k.asset_key.to_user_string(), k.name) for k in defs.resolve_asset_graph().asset_check_keys}
    assert {("raw/usage_daily", name) for name in ("data_tests", "all_windows_loaded")} <= checks
    assert ("raw/usage_summary", "all_summaries_captured") in checks


@pytest.mark.smoke
def test_every_asset_is_in_a_group_of_ours_none_in_dagsters_default():
    groups = {spec.key.to_user_string(): spec.group_name for spec in defs.resolve_all_asset_specs()}
    assert groups["raw/tenant_plans"] == "raw"
    assert {group for group in groups.values()} == {"raw", "seeds", "analytics"}


@pytest.mark.smoke
def test_building_the_definitions_warns_about_nothing_we_chose():
    """`make dev` and every code-server load printed Dagster's beta warning for backfill_policy three times."""
    import warnings

    from aurion_pipeline.defs import build_defs

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_defs()
    assert [str(w.message) for w in caught if issubclass(w.category, dg.BetaWarning)] == []


def test_usage_is_one_daily_utc_partitioned_asset_with_single_run_backfills():
    asset = defs.resolve_assets_def(dg.AssetKey(["raw", "usage_daily"]))
    assert isinstance(asset.partitions_def, dg.DailyPartitionsDefinition)
    assert asset.partitions_def.timezone == "UTC"
    assert asset.backfill_policy == dg.BackfillPolicy.single_run()
    partitioned = [a for a in defs.resolve_all_asset_specs() if a.partitions_def is not None]
    assert [a.key.to_user_string() for a in partitioned] == ["raw/usage_daily"]


def test_the_key_stays_in_the_environment_the_resource_names_its_variable():
    from aurion_pipeline.defs.aurion_usage.resources import resources_from_env

    api = resources_from_env({"AURION_API_KEY": "ak_live_xyz", "AURION_TENANT": "solo"})["aurion_api"]
    assert [(t.name, t.api_key_env) for t in api.tenants] == [("solo", "AURION_API_KEY")]
    assert "ak_live_xyz" not in repr(api)


def test_build_defs_with_a_prefix_merges_into_a_project_that_has_the_same_names():
    from aurion_pipeline import build_defs
    from aurion_pipeline.config import load_settings

    @dg.asset(key=["raw", "usage_daily"])
    def their_usage():  # the host project's own asset under our unprefixed key
        return 1

    theirs = dg.Definitions(assets=[their_usage], resources={"warehouse": dg.ResourceDefinition.none_resource()})
    ours = build_defs(load_settings({"AURION_START_DATE": "2026-01-01"}), key_prefix="aurion")
    merged = dg.Definitions.merge(theirs, ours)
    keys = {k.to_user_string() for k in merged.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw/usage_daily", "aurion/raw/usage_daily", "aurion/analytics/plan_utilization"} <= keys
    assert not {k for k in keys if k.startswith(("analytics/", "seeds/"))}
    assert set(ours.resources) == {"aurion_aurion_api", "aurion_warehouse"}
    assert {j.name for j in ours.jobs} == {"aurion_usage_job", "aurion_summary_job"}
    assert {s.name for s in ours.schedules} == {"aurion_daily_usage_schedule", "aurion_summary_schedule"}
    assert {s.name for s in ours.sensors} == {"aurion_deliver_alerts_after_load", "aurion_retry_alert_deliveries"}
    children = merged.resolve_asset_graph().get(dg.AssetKey(["aurion", "raw", "usage_daily"])).child_keys
    assert children and all(key.path[0] == "aurion" for key in children)  # our models read our raw table
    assert not merged.resolve_asset_graph().get(dg.AssetKey(["raw", "usage_daily"])).child_keys
    usage_job = merged.resolve_job_def("aurion_usage_job")
    assert dg.AssetKey(["raw", "usage_daily"]) not in usage_job.asset_layer.selected_asset_keys
    merged.resolve_all_job_defs()  # every job resolves: no missing or clashing resource
