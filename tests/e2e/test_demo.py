"""`aurion-pipeline demo` keeps its data and Dagster home apart from a real key's (./demo/ by default)
and says where they are."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from helpers_ops import clean_env

from aurion_pipeline.cli.demo import demo_env

API = SimpleNamespace(base_url="http://127.0.0.1:9")


@pytest.mark.parametrize(
    "env, root, data, home",
    [
        pytest.param({}, None, "demo/data", "demo/dagster_home", id="default: ./demo"),
        pytest.param({"AURION_DATA_DIR": "srv/d", "DAGSTER_HOME": "srv/h"}, None, "demo/data", "demo/dagster_home",
                     id="a real deployment's folders are not the demo's"),
        pytest.param({"AURION_DATA_DIR": "srv/d", "DAGSTER_HOME": "srv/h"}, "elsewhere", "elsewhere/data",
                     "elsewhere/dagster_home", id="--data-dir wins"),
    ],
)
def test_the_demo_folders_are_demo_unless_data_dir_says_otherwise(tmp_path, monkeypatch, env, root, data, home):
    monkeypatch.chdir(tmp_path)
    demo = demo_env(env, root, API, date(2026, 1, 1))
    assert Path(demo["AURION_DATA_DIR"]).resolve() == (tmp_path / data).resolve()
    assert Path(demo["DAGSTER_HOME"]).resolve() == (tmp_path / home).resolve()
    assert demo["AURION_BASE_URL"] == API.base_url
    assert Path(demo["AURION_TENANTS_FILE"]).resolve() == (tmp_path / data / "demo_tenants.yaml").resolve()
    assert Path(demo["AURION_TENANTS_FILE"]).is_file()
    assert (tmp_path / "demo").exists() is (data == "demo/data")  # nothing written where it was not asked
    assert not (tmp_path / "srv").exists()


def test_the_demo_sends_alerts_only_to_the_alerts_file_it_is_given(tmp_path):
    """AURION_ALERTS_FILE holds a real deployment's channels: sandbox tenants' alerts never go there."""
    real = {"AURION_ALERTS_FILE": "real_alerts.yaml"}
    assert "AURION_ALERTS_FILE" not in demo_env(real, str(tmp_path), API, date(2026, 1, 1))
    asked = demo_env(real, str(tmp_path), API, date(2026, 1, 1), alerts_file="try.yaml")
    assert asked["AURION_ALERTS_FILE"] == "try.yaml"


@pytest.mark.parametrize(
    "args, env, message",
    [
        pytest.param(["--days", "1000000"], {}, "argument --days: '1000000' is not a whole number (from 1 to 3660)",
                     id="days-beyond-the-sandbox"),
        pytest.param(["--days", "2", "--alerts-file", "alerts.yaml"], {}, "alerts.yaml", id="bad-alerts-file"),
    ],
)
def test_the_demo_refuses_bad_input_before_any_run(tmp_path, args, env, message):
    """As `backfill` does: exit 2 and one line, with nothing started (no data folder)."""
    (tmp_path / "alerts.yaml").write_text("channels: [{name: ops, kind: pigeon}]\n")
    cli = str(Path(sys.executable).with_name("aurion-pipeline"))
    result = subprocess.run([cli, "demo", *args], cwd=tmp_path, env={**clean_env(), **env}, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr[-2000:]
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "demo" / "data" / "warehouse.duckdb").exists()


@pytest.mark.slow
def test_the_demo_runs_in_its_own_folder_and_leaves_a_real_keys_folders_alone(tmp_path):
    """Also when a real deployment's settings are exported (docs/operations.md): its data directory,
    Dagster home and alert channels get nothing from the sandbox tenants."""
    (tmp_path / "real_alerts.yaml").write_text(
        "channels: [{name: ops, kind: webhook, url: 'http://127.0.0.1:9/hook', secret_env: REAL_SECRET}]\n")
    real = tmp_path / "srv"
    env = {**clean_env(), "AURION_DATA_DIR": str(real / "data"), "DAGSTER_HOME": str(real / "home"),
           "AURION_ALERTS_FILE": str(tmp_path / "real_alerts.yaml"), "REAL_SECRET": "s3cret-value"}
    cli = str(Path(sys.executable).with_name("aurion-pipeline"))
    result = subprocess.run([cli, "demo", "--days", "5"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not real.exists()
    assert "AURION_ALERTS_FILE is not used" in result.stdout
    assert "alerts:" not in result.stdout + result.stderr  # no delivery was attempted
    assert "Alert deliveries: none yet (demo --alerts-file FILE sends them)" in result.stdout
    assert (f"demo: data in {tmp_path / 'demo' / 'data'}, Dagster home {tmp_path / 'demo' / 'dagster_home'}"
            in result.stdout)
    assert " - dagster - " not in result.stdout + result.stderr
    forecast = result.stdout.split("Where each tenant will end the period")[1]
    assert "low-high: the 80 % interval, NULL until" in forecast  # the table's NULLs are explained under it
    assert not (tmp_path / "data").exists() and not (tmp_path / ".dagster_home").exists()
    con = duckdb.connect(str(tmp_path / "demo" / "data" / "analyst.duckdb"), read_only=True)
    try:
        assert con.execute("select count(distinct tenant) from raw.usage_daily").fetchone()[0] == 5
    finally:
        con.close()
