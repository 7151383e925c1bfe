"""`make clean` removes the demo's folder and nothing a real key wrote (README, "Commands")."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_clean_removes_the_demo_and_keeps_a_real_keys_data(tmp_path):
    kept = ["data/warehouse.duckdb", ".dagster_home/dagster.yaml", ".dagster_home_postgres/dagster.yaml"]
    for name in [*kept, "demo/data/warehouse.duckdb"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")

    subprocess.run(["make", "-s", "-f", str(ROOT / "Makefile"), "-C", str(tmp_path), "clean"], check=True,
                   capture_output=True)

    assert not (tmp_path / "demo").exists()
    assert [name for name in kept if not (tmp_path / name).exists()] == []
