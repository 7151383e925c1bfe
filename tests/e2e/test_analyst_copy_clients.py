"""The analyst copy opens in the DuckDB clients analysts actually have: DuckDB 1.5 (the newest CLI on
PyPI, and the generation DBeaver's JDBC driver ships) cannot read DuckDB 2.0's own storage format,
so the copy is written in an older one. Proven in a separate virtual environment with DuckDB 1.5
from PyPI (made once, cached under ~/.cache/aurion-pipeline), against a copy published by a real
load of the sandbox through Dagster: every analytics view returns rows there, and every analytics
relation, stored table or view, holds as many rows there as in this DuckDB."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from helpers_ops import REPO, pipeline_env

from aurion_pipeline.definitions import defs
from aurion_pipeline.defs.aurion_usage.resources import resources_from_env
from aurion_sandbox import SandboxServer

pytestmark = pytest.mark.slow

CACHE = Path.home() / ".cache" / "aurion-pipeline"
VENV = CACHE / "duckdb15-venv"
DUCKDB_1X = ("duckdb>=1.5,<1.6", "duckdb-cli>=1.5,<1.6")  # the Python package and the CLI
TODAY = datetime.now(UTC).date()  # as the demo: views about "this period" follow the real calendar

# The analytics schema's relations, stored tables and views alike.
RELATIONS = ("select table_name, table_type = 'VIEW' from information_schema.tables "
             "where table_schema = 'analytics' order by 1")

EVERY_RELATION = textwrap.dedent(
    f"""
    import json, sys
    import duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    relations = con.execute("{RELATIONS}").fetchall()
    rows = {{name: con.execute(f'select count(*) from analytics."{{name}}"').fetchone()[0] for name, _ in relations}}
    views = [name for name, is_view in relations if is_view]
    print(json.dumps({{"version": duckdb.__version__, "rows": rows, "views": views}}))
    """
)


def row_counts(path: Path) -> dict[str, int]:
    """Every analytics relation's row count, as this DuckDB reads the copy."""
    with duckdb.connect(str(path), read_only=True) as con:
        return {name: con.execute(f'select count(*) from analytics."{name}"').fetchone()[0]
                for name, _ in con.execute(RELATIONS).fetchall()}


@pytest.fixture(scope="module")
def duckdb15() -> Path:
    """The python of a virtualenv holding DuckDB 1.5.x, made on first use and kept."""
    python = VENV / "bin" / "python"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "duckdb15-venv.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test sessions at once build it once
        marker, wanted = VENV / ".installed", " ".join(DUCKDB_1X)
        if not marker.exists() or marker.read_text() != wanted:
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
            done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *DUCKDB_1X],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                pytest.skip(f"could not install {wanted} from PyPI: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
            marker.write_text(wanted)
    return python


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """analyst.duckdb after a summary and a 90-day backfill of the sandbox's demo tenants, through Dagster."""
    root = tmp_path_factory.mktemp("analyst_copy")
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    start, end = TODAY - timedelta(days=90), TODAY - timedelta(days=1)
    tags = {"dagster/asset_partition_range_start": start.isoformat(),
            "dagster/asset_partition_range_end": end.isoformat()}
    with SandboxServer(today=TODAY) as api, pytest.MonkeyPatch.context() as mp, \
            dg.instance_for_test(overrides=config) as instance:
        env = pipeline_env(api, root, AURION_START_DATE=start.isoformat())
        for name, value in env.items():
            mp.setenv(name, value)
        for job, kwargs in (("summary_job", {}), ("usage_job", {"tags": tags})):
            result = defs.resolve_job_def(job).execute_in_process(
                instance=instance, resources=resources_from_env(env), raise_on_error=False, **kwargs)
            assert result.success, job
    return root / "data" / "analyst.duckdb"


def test_duckdb_1_5_reads_every_analytics_table_and_view_as_this_duckdb_does(duckdb15, published):
    done = subprocess.run([str(duckdb15), "-c", EVERY_RELATION, str(published)], capture_output=True, text=True)

    assert done.returncode == 0, done.stderr.strip().splitlines()[-1:]
    answer = json.loads(done.stdout)
    assert answer["version"].startswith("1.5.")
    assert answer["views"], "no analytics view in the copy"
    assert answer["rows"] == row_counts(published)
    assert {view: answer["rows"][view] for view in answer["views"] if answer["rows"][view] == 0} == {}
    for table in ("plan_utilization", "usage_forecast", "forecast_projection"):  # what analysts read first
        assert answer["rows"][table] > 0, table


def test_the_duckdb_1_5_cli_opens_the_analyst_copy_read_only_and_every_relation_answers(duckdb15, published):
    expected = row_counts(published)
    query = " union all ".join(f"select '{name}' as relation, count(*) as n from analytics.\"{name}\""
                               for name in expected)
    cli = duckdb15.parent / "duckdb"

    version = subprocess.run([str(cli), "--version"], capture_output=True, text=True).stdout
    done = subprocess.run([str(cli), "-readonly", "-json", str(published), "-c", query], capture_output=True, text=True)

    assert version.startswith("v1.5."), version
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1:]
    assert {r["relation"]: r["n"] for r in json.loads(done.stdout)} == expected


def test_the_same_copy_still_opens_in_this_duckdb(published):
    with duckdb.connect(str(published), read_only=True) as con:
        views = con.execute("select count(*) from duckdb_views() where schema_name = 'analytics'").fetchone()[0]
        assert views > 0
        assert con.execute("select count(*) from raw.usage_daily").fetchone()[0] > 0
