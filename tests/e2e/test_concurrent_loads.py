"""Several processes on one data directory: two loads of different windows at once, and analysts
reading the analyst copy while a load runs. Real processes, real DuckDB files, the sandbox API.

The overlap is forced, not hoped for: the test holds the writer lock until both loads have fetched
their first window, so both are waiting to commit when it lets go."""

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from helpers_ops import (
    REPO,
    assert_sound,
    expected_usage,
    pipeline_env,
    start_cli,
    wait_for,
    warehouse_usage,
)

from aurion_pipeline.definitions import defs
from aurion_pipeline.defs.aurion_usage.partitions import partition_range_tags
from aurion_pipeline.defs.aurion_usage.resources import resources_from_env
from aurion_pipeline.ingest import load_usage_range
from aurion_pipeline.storage.connection import writer_lock
from aurion_sandbox import SandboxServer
from aurion_sandbox.server import DETAILS_PATH

# A load without Dagster (pipeline.load_usage_range), as one OS process: what the asset runs.
PIPELINE_LOAD = textwrap.dedent(
    """
    import sys
    from datetime import date
    from pathlib import Path
    from aurion_pipeline.defs.aurion_usage.resources import resources_from_env
    from aurion_pipeline.ingest import load_usage_range

    start, end = (date.fromisoformat(d) for d in sys.argv[1:3])
    resources = resources_from_env()
    report = load_usage_range(
        resources["aurion_api"].get_clients(), resources["warehouse"].warehouse, start, end,
        max_range_days=resources["aurion_api"].max_range_days, max_workers=4, run_id=sys.argv[3],
    )
    sys.exit(1 if report.failures else 0)
    """
)


def first_round_fetched(api: SandboxServer, *starts: date) -> bool:
    asked = [r.start_date for r in api.requests if r.path == DETAILS_PATH]
    return all(asked.count(s.isoformat()) == len(api.tenants) for s in starts)


def two_windows(today: date) -> tuple[tuple[date, date], tuple[date, date]]:
    """Two adjacent 40-day windows ending yesterday (a backfill may not reach today)."""
    yesterday = today - timedelta(days=1)
    return (yesterday - timedelta(days=79), yesterday - timedelta(days=40)), (yesterday - timedelta(days=39), yesterday)


def loaded_runs(data_dir: Path) -> dict[str, set[tuple[str, date, date]]]:
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "select _run_id, tenant, window_start, window_end from raw._load_log where status = 'loaded'"
        ).fetchall()
    finally:
        con.close()
    runs: dict[str, set] = {}
    for run_id, *window in rows:
        runs.setdefault(run_id, set()).add(tuple(window))
    return runs


def test_two_processes_loading_different_windows_at_once_both_succeed(tmp_path):
    today = datetime.now(UTC).date()
    (a_start, a_end), (b_start, b_end) = two_windows(today)
    with SandboxServer(today=today) as api:
        env = pipeline_env(api, tmp_path, AURION_MAX_RANGE_DAYS="10", AURION_LOCK_TIMEOUT_SECONDS="600")
        data_dir = tmp_path / "data"
        with writer_lock(data_dir, timeout_s=5):
            loads = [
                subprocess.Popen([sys.executable, "-c", PIPELINE_LOAD, str(s), str(e), name], env=env, cwd=tmp_path)
                for s, e, name in ((a_start, a_end, "load-a"), (b_start, b_end, "load-b"))
            ]
            wait_for(lambda: first_round_fetched(api, a_start, b_start) or any(p.poll() is not None for p in loads),
                     "both loads to fetch their first window")
        codes = [p.wait(timeout=600) for p in loads]
        assert codes == [0, 0]
        assert warehouse_usage(data_dir / "analyst.duckdb") == expected_usage(api, a_start, b_end)
        assert_sound(data_dir)
        runs = loaded_runs(data_dir)
        assert {len(runs["load-a"]), len(runs["load-b"])} == {4 * len(api.tenants)}  # 40 days / 10, per tenant


@pytest.mark.slow
def test_two_cli_backfills_sharing_a_dagster_home_both_succeed_and_lose_nothing(tmp_path):
    today = datetime.now(UTC).date()
    (a_start, a_end), (b_start, b_end) = two_windows(today)
    with SandboxServer(today=today, latency_s=0.05) as api:
        env = pipeline_env(api, tmp_path, AURION_MAX_RANGE_DAYS="10", AURION_LOCK_TIMEOUT_SECONDS="600",
                           AURION_START_DATE=a_start.isoformat())
        data_dir = tmp_path / "data"
        with writer_lock(data_dir, timeout_s=5):
            cli = [
                start_cli(env, "backfill", "--start", str(s), "--end", str(e), log=tmp_path / f"{name}.log")
                for s, e, name in ((a_start, a_end, "a"), (b_start, b_end, "b"))
            ]
            wait_for(lambda: first_round_fetched(api, a_start, b_start) or any(p.poll() is not None for p in cli),
                     "both backfills to fetch their first window", timeout=300)
        codes = [p.wait(timeout=600) for p in cli]
        logs = {name: (tmp_path / f"{name}.log").read_text()[-3000:] for name in "ab"}
        assert codes == [0, 0], logs
        assert warehouse_usage(data_dir / "analyst.duckdb") == expected_usage(api, a_start, b_end)
        assert_sound(data_dir)
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            runs = instance.get_run_records()
            assert sorted(r.dagster_run.status.value for r in runs) == ["SUCCESS", "SUCCESS"]
            assert {r.dagster_run.run_id for r in runs} == set(loaded_runs(data_dir))


# Open the Dagster instance the way the CLI does, as soon as a start file appears.
OPEN_INSTANCE = textwrap.dedent(
    """
    import os, sys, time
    from aurion_pipeline.cli.runs import open_instance
    open(sys.argv[2], "w").close()
    while not os.path.exists(sys.argv[1]):
        time.sleep(0.001)
    with open_instance() as instance:
        instance.get_run_records(limit=1)
    """
)


def test_cli_processes_creating_a_fresh_dagster_home_at_once_leave_it_usable(tmp_path):
    """Two first runs on a new DAGSTER_HOME would both create Dagster's SQLite storage and could
    stamp its schema twice, leaving an instance nothing can open; the CLI serializes that."""
    go = tmp_path / "go"
    homes = [tmp_path / f"home{i}" for i in range(2)]  # unguarded, about half of such pairs broke the instance
    processes = []
    for home in homes:
        home.mkdir()
        env = {**os.environ, "DAGSTER_HOME": str(home)}
        processes += [
            subprocess.Popen([sys.executable, "-c", OPEN_INSTANCE, str(go), str(home / f".ready{i}")], env=env)
            for i in range(2)
        ]
    wait_for(lambda: all(len(list(h.glob(".ready*"))) == 2 for h in homes), "every process to import Dagster")
    go.touch()  # all of them open their instance at once
    assert [p.wait(timeout=120) for p in processes] == [0] * len(processes)
    for home in homes:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert instance.get_run_records() == []
        versions = sqlite3.connect(home / "history" / "runs.db").execute("select * from alembic_version").fetchall()
        assert len(versions) == 1


# An analyst session: open the analyst copy read-only, query, record what it saw; `held` keeps one
# connection (an idle DBeaver tab), `reopen` connects afresh each time (a notebook re-running a cell).
READER = textwrap.dedent(
    """
    import duckdb, json, os, sys, time
    path, mode, out, stop = sys.argv[1:5]
    held = duckdb.connect(path, read_only=True) if mode == "held" else None
    with open(out, "a") as log:
        while not os.path.exists(stop):
            con = held or duckdb.connect(path, read_only=True)
            total, distinct = con.execute(
                "select count(*), count(distinct (tenant, usage_date)) from raw.usage_daily").fetchone()
            per_tenant = con.execute(
                "select tenant, count(*), min(usage_date)::varchar, max(usage_date)::varchar "
                "from raw.usage_daily group by tenant order by tenant").fetchall()
            windows = con.execute("select count(*) from raw._load_log where status = 'loaded'").fetchone()[0]
            if held is None:
                con.close()
            log.write(json.dumps({"rows": total, "distinct": distinct, "tenants": per_tenant, "windows": windows})
                      + "\\n")
            log.flush()
            time.sleep(0.01)  # leave the loader some CPU
    """
)


def observations(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def state(data_dir: Path) -> dict:
    con = duckdb.connect(str(data_dir / "analyst.duckdb"), read_only=True)
    try:
        per_tenant = con.execute(
            "select tenant, count(*), min(usage_date)::varchar, max(usage_date)::varchar "
            "from raw.usage_daily group by tenant order by tenant").fetchall()
        windows = con.execute("select count(*) from raw._load_log where status = 'loaded'").fetchone()[0]
    finally:
        con.close()
    rows = sum(n for _, n, _, _ in per_tenant)
    return {"rows": rows, "distinct": rows, "tenants": [list(t) for t in per_tenant], "windows": windows}


def test_analysts_holding_the_analyst_copy_never_block_a_load_and_see_whole_states(tmp_path, monkeypatch):
    today = datetime.now(UTC).date()
    (a_start, a_end), (b_start, b_end) = two_windows(today)
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    with SandboxServer(today=today, latency_s=0.02) as api, dg.instance_for_test(overrides=config) as instance:
        env = pipeline_env(api, tmp_path, AURION_MAX_RANGE_DAYS="10", AURION_LOCK_TIMEOUT_SECONDS="10")
        for name, value in env.items():
            if name.startswith("AURION_"):
                monkeypatch.setenv(name, value)
        data_dir = tmp_path / "data"
        usage_job = defs.resolve_job_def("usage_job")

        def load(start: date, end: date):
            return usage_job.execute_in_process(instance=instance, tags=partition_range_tags(start, end),
                                                resources=resources_from_env(env),
                                                raise_on_error=False)

        resources = resources_from_env(env)
        first = load_usage_range(  # the state analysts start from, loaded without Dagster (quicker)
            resources["aurion_api"].get_clients(), resources["warehouse"].warehouse, a_start, a_end,
            max_range_days=10, max_workers=4, run_id="first",
        )
        assert not first.failures
        before = state(data_dir)

        stop = tmp_path / "stop"
        logs = {mode: tmp_path / f"reader-{mode}.jsonl" for mode in ("held", "reopen")}
        readers = [
            subprocess.Popen(
                [sys.executable, "-c", READER, str(data_dir / "analyst.duckdb"), mode, str(log), str(stop)]
            )
            for mode, log in logs.items()
        ]
        try:
            wait_for(lambda: all(observations(log) for log in logs.values()), "both readers to query once")
            second = load(b_start, b_end)  # 4 windows per tenant, each committed while the readers query
            assert second.success
            assert [c.check_name for c in second.get_asset_check_evaluations() if not c.passed] == []
            after = state(data_dir)
            seen_before_end = len(observations(logs["reopen"]))
            wait_for(lambda: len(observations(logs["reopen"])) > seen_before_end, "a read after the load")
        finally:
            stop.touch()
            for reader in readers:
                reader.wait(timeout=60)

        assert [r.returncode for r in readers] == [0, 0]
        assert after["rows"] == before["rows"] * 2 and after != before
        held, reopened = observations(logs["held"]), observations(logs["reopen"])
        assert all(seen == before for seen in held), "a held session keeps the snapshot it opened"
        assert all(seen in (before, after) for seen in reopened), [s for s in reopened if s not in (before, after)][:1]
        assert reopened[0] == before and reopened[-1] == after
        assert warehouse_usage(data_dir / "analyst.duckdb") == expected_usage(api, a_start, b_end)
