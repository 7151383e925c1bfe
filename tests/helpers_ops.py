"""Shared helpers of the operations tests (schedules, concurrent loads, crash drills, CLI ops,
webserver): an environment pointing the pipeline at a sandbox API, the CLI in a real process, and
the invariants a warehouse must keep whatever happened to the run that wrote it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from aurion_pipeline.sqlmodels import load_project, run_tests
from aurion_pipeline.storage import lake
from aurion_sandbox import SandboxServer, sandbox_env, write_tenants_file

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
SQL_FOLDER = REPO / "dbt_like_sql"  # the repository's SQL project
SCHEMA_SQL = REPO / "aurion_pipeline" / "storage" / "schema.sql"  # the raw tables


def clean_env() -> dict[str, str]:
    """A copy of this process's environment without any AURION_ or DAGSTER_ variable (the caller's own
    settings must not leak into a pipeline started for a test)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AURION_", "DAGSTER_"))}


def pipeline_env(api: SandboxServer, root: Path, **extra: str) -> dict[str, str]:
    """The process environment of a pipeline run against `api`, with its data and Dagster home under `root`."""
    tenants_file = write_tenants_file(root / "tenants.yaml", api.tenants.values())
    env = clean_env()
    env.update(sandbox_env(api.tenants.values()))
    env.update(
        AURION_BASE_URL=api.base_url,
        AURION_TENANTS_FILE=str(tenants_file),
        AURION_DATA_DIR=str(root / "data"),
        AURION_START_DATE="2025-01-01",
        DAGSTER_HOME=str(root / "dagster_home"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def start_cli(env: Mapping[str, str], *args: str, log: Path, python: list[str] | None = None) -> subprocess.Popen:
    """`aurion-pipeline <args>` in its own process (its own process group), output to `log`."""
    command = python or [sys.executable, "-m", "aurion_pipeline.cli"]
    with open(log, "ab") as out:
        return subprocess.Popen(
            [*command, *args], env=dict(env), cwd=log.parent, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def run_cli(env: Mapping[str, str], *args: str, log: Path, timeout: float = 300) -> int:
    process = start_cli(env, *args, log=log)
    try:
        return process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120, interval: float = 0.05) -> None:
    """Poll until `condition()` holds; a wait, never an assertion about speed (the deadline only stops a hang)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_wheel(tmp_path: Path) -> Path:
    """A wheel of the project, built from a copy so the checkout gets no build/ folder."""
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".parse_cache.json*")  # a checkout's own cache
    for folder in ("aurion_pipeline", "aurion_sandbox", "dbt_like_sql"):
        shutil.copytree(REPO / folder, src / folder, ignore=ignore)
    for file in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / file, src / file)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"), str(src)],
        check=True, capture_output=True, timeout=240,
    )
    (wheel,) = (tmp_path / "dist").glob("aurion_pipeline-*.whl")
    return wheel


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def expected_usage(api: SandboxServer, start: date, end: date) -> dict[tuple[str, date], tuple[float, int]]:
    """What the warehouse must hold for [start, end] once loaded: the API's current figures, and
    (0, 0) for a day the API omits inside a loaded window."""
    expected = {}
    for profile in api.tenants.values():
        usage = api.usage(profile, start, end)
        for i, day in enumerate(days(start, end)):
            served = bool(usage.served[i])
            expected[(profile.name, day)] = (
                float(usage.voice_minutes[i]) if served else 0.0,
                int(usage.api_calls[i]) if served else 0,
            )
    return expected


def warehouse_usage(path: Path) -> dict[tuple[str, date], tuple[float, int]]:
    """(tenant, day) -> (voice_minutes, api_calls) of a warehouse or analyst file; fails on duplicates."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("select tenant, usage_date, voice_minutes, api_calls from raw.usage_daily").fetchall()
    finally:
        con.close()
    copies = Counter((t, d) for t, d, _, _ in rows)
    assert max(copies.values(), default=1) == 1, f"duplicate days: {[k for k, n in copies.items() if n > 1][:5]}"
    return {(t, d): (v, c) for t, d, v, c in rows}


def raw_test_failures(con: duckdb.DuckDBPyConnection, sql_dir: Path = SQL_FOLDER) -> list[str]:
    """The declared tests of the raw sources (dbt_like_sql/sources/*.yml and the tests/*.sql reading
    only raw tables) that fail on `con`, each with its offending rows; read-only connections work."""
    sources = load_project(sql_dir).declared_sources
    assert any(s.tests for s in sources), f"{sql_dir}/sources declares no raw test: nothing would be checked"
    return [
        f"{r.model} {r.name}: {r.failing_rows} offending rows, e.g. {list(r.sample)}"
        for source in sources for r in run_tests(con, source) if not r.passed
    ]


def assert_sound(data_dir: Path) -> dict[str, int]:
    """The invariants that must survive anything (a kill, two writers, a reader): the warehouse
    opens; no (tenant, day) twice; every loaded window complete and every row inside a loaded
    window (no partial window); every row equal to the lake's; every lake file readable."""
    warehouse, lake_dir = data_dir / "warehouse.duckdb", data_dir / "lake"
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        if not con.execute("select count(*) from duckdb_tables() where schema_name = 'raw'").fetchone()[0]:
            # The first writer was killed after creating the file, before its schema committed (one
            # transaction): nothing can have been loaded, and nothing else may be there.
            assert con.execute("select count(*) from duckdb_tables()").fetchone()[0] == 0
            assert not list((lake_dir / lake.USAGE_DIR).glob("usage_month=*/*.parquet"))
            return {"rows": 0, "lake_files": 0}
        failures = raw_test_failures(con)
        assert not failures, "; ".join(failures)
        outside = con.execute(
            """select count(*) from raw.usage_daily u where not exists (
                   select 1 from raw._load_log l where l.status = 'loaded' and l.tenant = u.tenant
                   and u.usage_date between l.window_start and l.window_end)"""
        ).fetchone()[0]
        assert outside == 0, f"{outside} rows outside every loaded window (a window committed without its log)"
        rows = con.execute("select count(*) from raw.usage_daily").fetchone()[0]
        files = sorted((lake_dir / lake.USAGE_DIR).glob("usage_month=*/*.parquet"))
        for f in files:
            pq.read_table(f)
        if files:
            differ = con.execute(
                """select count(*) from raw.usage_daily w anti join read_parquet(?, hive_partitioning = false) l
                   on l.tenant = w.tenant and l.usage_date = w.usage_date
                   and l.voice_minutes is not distinct from w.voice_minutes
                   and l.api_calls is not distinct from w.api_calls""",
                [[str(f) for f in files]],
            ).fetchone()[0]
            assert differ == 0, f"{differ} warehouse rows differ from the lake"
    finally:
        con.close()
    return {"rows": rows, "lake_files": len(files)}
