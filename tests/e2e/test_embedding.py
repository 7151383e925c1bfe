"""Embedding: a separate Dagster project, with its own assets and resources, adds ours with one call
to `aurion_pipeline.build_defs(key_prefix=...)` and materializes a partition range against the sandbox."""

import json
import os
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import pytest
from helpers_ops import build_wheel

from aurion_sandbox import DEFAULT_TENANTS, SandboxServer, sandbox_env, write_tenants_file

TENANTS = DEFAULT_TENANTS[:2]
HOST_DEFINITIONS = '''
import dagster as dg

from aurion_pipeline import build_defs
from aurion_pipeline.config import load_settings


@dg.asset(key=["raw", "usage_daily"], required_resource_keys={"warehouse"})
def their_own_usage(context):  # the host's own asset and resource, under the names we use unprefixed
    return context.resources.warehouse


defs = dg.Definitions.merge(
    dg.Definitions(assets=[their_own_usage], resources={"warehouse": "the host's own warehouse"}),
    build_defs(load_settings(), key_prefix="aurion"),
)
'''


@pytest.mark.slow
def test_a_separate_project_embeds_our_definitions_under_a_prefix_and_loads_a_partition_range(tmp_path):
    site = tmp_path / "site"  # this package, installed from its wheel, not the checkout
    zipfile.ZipFile(build_wheel(tmp_path)).extractall(site)
    project = tmp_path / "host"
    (project / "host_project").mkdir(parents=True)
    (project / "host_project" / "__init__.py").write_text("")
    (project / "host_project" / "definitions.py").write_text(HOST_DEFINITIONS)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "host-project"\nversion = "0.1.0"\ndependencies = ["aurion-pipeline"]\n\n'
        '[tool.dagster]\nmodule_name = "host_project.definitions"\n'
    )
    today = datetime.now(UTC).date()
    start, end = today - timedelta(days=10), today - timedelta(days=1)
    with SandboxServer(tenants=TENANTS, today=today) as api:
        env = {
            "PATH": os.environ["PATH"], "PYTHONPATH": f"{site}{os.pathsep}{project}",
            **sandbox_env(TENANTS), "AURION_BASE_URL": api.base_url,
            "AURION_TENANTS_FILE": str(write_tenants_file(tmp_path / "tenants.yaml", TENANTS)),
            "AURION_DATA_DIR": str(tmp_path / "data"), "AURION_START_DATE": (today - timedelta(days=30)).isoformat(),
            "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        }
        (tmp_path / "dagster_home").mkdir()
        where = subprocess.run([sys.executable, "-c", "import aurion_pipeline; print(aurion_pipeline.__file__)"],
                               env=env, cwd=project, capture_output=True, text=True, check=True).stdout.strip()
        assert where.startswith(str(site)), where
        tags = {"dagster/asset_partition_range_start": start.isoformat(),
                "dagster/asset_partition_range_end": end.isoformat()}
        run = subprocess.run(
            [sys.executable, "-m", "dagster", "job", "execute", "-m", "host_project.definitions",
             "-j", "aurion_usage_job", "--tags", json.dumps(tags)],
            env=env, cwd=project, capture_output=True, text=True, timeout=600,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        details = [r for r in api.requests if r.path.endswith("/details")]
    assert sorted(r.tenant for r in details) == sorted(t.name for t in TENANTS)  # 10 days: one window each

    con = duckdb.connect(str(tmp_path / "data" / "analyst.duckdb"), read_only=True)
    try:
        loaded = con.execute("select tenant, count(*) from raw.usage_daily group by all order by 1").fetchall()
        planned = con.execute("select count(distinct tenant) from analytics.plan_utilization where plan is not null"
                              ).fetchone()[0]
    finally:
        con.close()
    assert loaded == [(t.name, 10) for t in sorted(TENANTS, key=lambda t: t.name)]
    assert planned == len(TENANTS)  # the models ran in the same run, on the summaries it took

    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        ours = instance.get_materialized_partitions(dg.AssetKey(["aurion", "raw", "usage_daily"]))
        theirs = instance.get_latest_materialization_event(dg.AssetKey(["raw", "usage_daily"]))
    assert ours == {(start + timedelta(days=i)).isoformat() for i in range(10)}
    assert theirs is None  # the host's own asset of the same unprefixed name was not touched
