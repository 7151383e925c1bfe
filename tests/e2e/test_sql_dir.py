"""AURION_SQL_DIR: your own copy of the SQL folder is what Dagster and `rebuild` build, and an install
from a wheel (not a checkout) finds the copy of dbt_like_sql/ shipped inside the package."""

import importlib.util
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import dagster as dg
import pytest
from helpers_ops import build_wheel

from aurion_pipeline.cli import main

ROOT = Path(__file__).resolve().parents[2]


def fresh_definitions() -> dg.Definitions:
    """`aurion_pipeline.definitions` executed anew, as `dagster dev` would on start, without replacing the
    imported one."""
    spec = importlib.util.find_spec("aurion_pipeline.definitions")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.defs


def test_a_model_added_to_your_own_folder_becomes_an_asset(tmp_path, monkeypatch):
    mine = shutil.copytree(ROOT / "dbt_like_sql", tmp_path / "my_sql")
    (mine / "models" / "analytics" / "my_extra.sql").write_text("select plan from seeds.plan_tiers\n")
    monkeypatch.setenv("AURION_SQL_DIR", str(mine))
    keys = fresh_definitions().resolve_asset_graph().get_all_asset_keys()
    assert {dg.AssetKey(["analytics", "my_extra"]), dg.AssetKey(["analytics", "plan_utilization"])} <= keys


def test_rebuild_with_a_bad_sql_dir_fails_before_touching_the_warehouse(tmp_path, monkeypatch):
    for name, value in {"AURION_SQL_DIR": str(tmp_path / "missing"), "AURION_DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(name, value)
    assert main(["rebuild"]) == 2  # the settings are refused before rebuild starts
    assert not (tmp_path / "data").exists()


@pytest.mark.smoke
def test_pyproject_lists_every_subpackage():
    """The packages are listed, not found (the SQL folder is mapped in), so a new subpackage must be added."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(d.relative_to(ROOT).parts)
        for top in ("aurion_pipeline", "aurion_sandbox")
        for d in [ROOT / top, *(ROOT / top).rglob("*")]
        if d.is_dir() and any(d.glob("*.py"))
    }
    assert listed == on_disk | {"aurion_pipeline._sql"}


def test_an_install_from_the_wheel_finds_the_packaged_sql_folder(tmp_path):
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    repo_files = {f"aurion_pipeline/_sql/{p.relative_to(ROOT / 'dbt_like_sql').as_posix()}"
                  for p in (ROOT / "dbt_like_sql").rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")}
    assert repo_files <= names
    assert "aurion_pipeline/storage/schema.sql" in names

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import aurion_pipeline, aurion_pipeline.config as c, aurion_pipeline.sqlmodels as m; "
        "print(aurion_pipeline.__file__); print(c.sql_folder({})); print(len(m.load_project(c.sql_folder({})).models))"
    )
    package, found, models = subprocess.run(
        [sys.executable, "-c", script], cwd=elsewhere, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()
    assert Path(package).is_relative_to(site), "imported the checkout, not the unpacked wheel"
    assert Path(found) == site / "aurion_pipeline" / "_sql"
    assert (Path(found) / "models" / "analytics" / "plan_utilization.sql").is_file()
    assert int(models) == len(list((ROOT / "dbt_like_sql" / "models").rglob("*.sql")))
