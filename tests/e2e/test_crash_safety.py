"""kill -9 drills: a CLI backfill killed at random moments and at chosen points (right after the lake
write, inside the load transaction, before and during the analyst-copy publish, inside the SQL models'
build) leaves no duplicate and no partial day or window, a warehouse that opens and a lake whose
files all read; the next run completes the range, and the killed run never blocks it.

The chosen points are real kills: a wrapper process patches one function to SIGKILL its own
process at that point, then runs the real CLI. Nothing is mocked after the kill."""

import random
import signal
import sys
import textwrap
import time
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
    run_cli,
    start_cli,
    wait_for,
    warehouse_usage,
)

from aurion_sandbox import SandboxServer
from aurion_sandbox.server import DETAILS_PATH

pytestmark = pytest.mark.slow

KILLABLE_CLI = textwrap.dedent(
    """
    import importlib, os, signal, sys
    point, nth, *argv = sys.argv[1:]
    nth, calls = int(nth), [0]

    def counted(original, before):
        def wrapper(*args, **kwargs):
            calls[0] += 1
            if before and calls[0] >= nth:
                os.kill(os.getpid(), signal.SIGKILL)
            result = original(*args, **kwargs)
            if not before and calls[0] >= nth:
                os.kill(os.getpid(), signal.SIGKILL)
            return result
        return wrapper

    def patch(module, name, before=False):
        module = importlib.import_module(module)
        setattr(module, name, counted(getattr(module, name), before))

    def half_copy(src, dst, *_):  # the analyst copy's temp file half written, then the kill
        with open(src, "rb") as s, open(dst, "wb") as d:
            d.write(s.read(os.path.getsize(src) // 2))
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "after-lake-write":
        patch("aurion_pipeline.storage.lake", "write_usage")
    elif point == "inside-load-transaction":
        patch("aurion_pipeline.storage.load", "_log_windows")
    elif point == "before-publish":
        patch("aurion_pipeline.storage.connection", "publish_analyst_copy", before=True)
    elif point == "mid-publish":
        publish = importlib.import_module("aurion_pipeline.storage.publish")
        publish.write_copy = counted(half_copy, before=False)
    elif point == "inside-models-build":
        patch("aurion_pipeline.sqlmodels.build", "_create_view")
    else:
        raise SystemExit(f"unknown kill point {point}")
    from aurion_pipeline.cli import main
    sys.exit(main(argv))
    """
)


def killable(point: str, nth: int) -> list[str]:
    return [sys.executable, "-c", KILLABLE_CLI, point, str(nth)]


def yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


def run_statuses(home: str) -> dict[str, str]:
    with dg.DagsterInstance.from_config(home) as instance:
        return {r.dagster_run.run_id: r.dagster_run.status.value for r in instance.get_run_records()}


def assert_complete(api: SandboxServer, data_dir: Path, start: date, end: date) -> None:
    expected = expected_usage(api, start, end)
    assert warehouse_usage(data_dir / "warehouse.duckdb") == expected
    assert warehouse_usage(data_dir / "analyst.duckdb") == expected
    assert_sound(data_dir)


def test_random_kills_during_a_backfill_never_leave_duplicates_or_partial_windows(tmp_path):
    end = yesterday()
    start = end - timedelta(days=59)  # 12 windows of 5 days per tenant
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    with SandboxServer(today=end + timedelta(days=1), latency_s=0.1) as api:
        # Every round its own commit (3 per run), so kills land between and inside several commits.
        env = pipeline_env(api, tmp_path, AURION_MAX_RANGE_DAYS="5", AURION_START_DATE=start.isoformat(),
                           AURION_COMMIT_SECONDS="0")
        total = 12 * len(api.tenants)
        killed = []
        for attempt in range(6):
            args = ["backfill", "--start", str(start), "--end", str(end)]
            served = len([r for r in api.requests if r.path == DETAILS_PATH])
            kill_after = rng.randint(1, total)  # the kill lands on or after that request: never after the run
            process = start_cli(env, *args, log=tmp_path / f"attempt-{attempt}.log")
            wait_for(
                lambda: len([r for r in api.requests if r.path == DETAILS_PATH]) - served >= kill_after  # noqa: B023
                or process.poll() is not None,  # noqa: B023 - wait_for calls it in this iteration
                f"{kill_after} requests of attempt {attempt} (seed {seed})", timeout=300,
            )
            time.sleep(rng.uniform(0, 0.3))  # so the kill also lands mid-commit, not only mid-fetch
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
            killed.append((attempt, kill_after, process.returncode))
            if (tmp_path / "data" / "warehouse.duckdb").exists():
                assert_sound(tmp_path / "data")

        print(f"seed {seed}: (attempt, killed after n requests, exit code) {killed}")
        assert all(code == -signal.SIGKILL for _, _, code in killed), f"a run ended before its kill (seed {seed})"
        code = run_cli(env, "backfill", "--start", str(start), "--end", str(end), "--missing-only",
                       log=tmp_path / "final.log", timeout=600)
        assert code == 0, (tmp_path / "final.log").read_text()[-3000:]
        assert_complete(api, tmp_path / "data", start, end)
        statuses = run_statuses(env["DAGSTER_HOME"])
        assert "STARTED" not in statuses.values(), "a killed run still shows as in progress"
        assert list(statuses.values()).count("SUCCESS") >= 1


def rows_since(path: Path, day: date) -> int:
    """Rows from `day` on in a DuckDB file, or in the lake if `path` is the lake folder."""
    con = duckdb.connect(":memory:") if path.is_dir() else duckdb.connect(str(path), read_only=True)
    lake_files = f"read_parquet('{path}/usage_daily/*/*.parquet', hive_partitioning = false)"
    source = lake_files if path.is_dir() else "raw.usage_daily"
    try:
        return con.execute(f"select count(*) from {source} where usage_date >= ?", [day]).fetchone()[0]
    finally:
        con.close()


# (kill point, at its nth call, windows of the killed range then in the warehouse / in the lake,
#  whether the analyst copy still shows the state before the killed run)
KILL_POINTS = [
    pytest.param("after-lake-write", 2, 1, 2, True, id="after-the-lake-write-before-the-warehouse-load"),
    pytest.param("inside-load-transaction", 2, 1, 2, True, id="inside-the-delete-insert-transaction"),
    pytest.param("before-publish", 1, 3, 3, True, id="after-the-commit-before-the-analyst-copy"),
    pytest.param("mid-publish", 1, 3, 3, True, id="halfway-through-copying-the-analyst-copy"),
    # The copy is published once, after the models: a kill inside their build leaves analysts on the old one.
    pytest.param("inside-models-build", 3, 3, 3, True, id="inside-the-sql-models-transaction"),
]


@pytest.mark.parametrize(("point", "nth", "in_warehouse", "in_lake", "analyst_old"), KILL_POINTS)
def test_a_kill_at_a_chosen_point_leaves_a_sound_warehouse_and_the_rerun_completes(
    tmp_path, point, nth, in_warehouse, in_lake, analyst_old
):
    end = yesterday()
    first, start = end - timedelta(days=29), end - timedelta(days=14)  # the killed range: 3 windows of 5 days
    with SandboxServer(today=end + timedelta(days=1)) as api:
        # One window per tenant per round, each its own commit, so the killed range is 3 commits and the
        # points are countable (the random-kill drill above runs with the default rounds and interval).
        env = pipeline_env(api, tmp_path, AURION_MAX_RANGE_DAYS="5", AURION_START_DATE=first.isoformat(),
                           AURION_REQUESTS_PER_TENANT="1", AURION_COMMIT_SECONDS="0")
        data_dir = tmp_path / "data"
        assert run_cli(env, "backfill", "--start", str(first), "--end", str(start - timedelta(days=1)),
                       log=tmp_path / "setup.log") == 0
        before = warehouse_usage(data_dir / "analyst.duckdb")

        victim = start_cli(env, "backfill", "--start", str(start), "--end", str(end),
                           log=tmp_path / "killed.log", python=killable(point, nth))
        assert victim.wait(timeout=300) == -signal.SIGKILL, (tmp_path / "killed.log").read_text()[-3000:]

        assert_sound(data_dir)
        window_rows = 5 * len(api.tenants)
        assert rows_since(data_dir / "warehouse.duckdb", start) == in_warehouse * window_rows
        assert rows_since(data_dir / "lake", start) == in_lake * window_rows
        analyst = warehouse_usage(data_dir / "analyst.duckdb")
        assert analyst == (before if analyst_old else warehouse_usage(data_dir / "warehouse.duckdb"))
        assert bool(list(data_dir.glob(".analyst.duckdb.*.tmp"))) == (point == "mid-publish")

        code = run_cli(env, "backfill", "--start", str(start), "--end", str(end), log=tmp_path / "rerun.log")
        assert code == 0, (tmp_path / "rerun.log").read_text()[-3000:]
        assert_complete(api, data_dir, first, end)
        assert not list(data_dir.glob(".analyst.duckdb.*.tmp")), "a half-written copy is cleaned up"
        con = duckdb.connect(str(data_dir / "analyst.duckdb"), read_only=True)
        try:
            # The views analysts read are built over the finished load: every tenant, up to the last day.
            assert con.execute(
                "select count(distinct tenant), max(usage_date) from analytics.usage_daily"
            ).fetchone() == (len(api.tenants), end)
        finally:
            con.close()
        statuses = sorted(run_statuses(env["DAGSTER_HOME"]).values())
        assert statuses == ["FAILURE", "SUCCESS", "SUCCESS"], "the killed run is marked failed by the next CLI run"


def test_a_killed_run_holding_an_op_pool_slot_does_not_block_the_next_run(tmp_path):
    """With `granularity: op` (not ours, but one edit away) a killed in-process run keeps its
    duckdb_writer slot for ever and Dagster's next run would wait on it for ever; the CLI frees it."""
    end = yesterday()
    start = end - timedelta(days=9)
    with SandboxServer(today=end + timedelta(days=1)) as api:
        env = pipeline_env(api, tmp_path, AURION_MAX_RANGE_DAYS="5", AURION_START_DATE=start.isoformat())
        home = Path(env["DAGSTER_HOME"])
        home.mkdir()
        config = yaml.safe_load((REPO / "dagster.yaml").read_text())
        config["concurrency"]["pools"]["granularity"] = "op"
        (home / "dagster.yaml").write_text(yaml.safe_dump(config))

        victim = start_cli(env, "backfill", "--start", str(start), "--end", str(end),
                           log=tmp_path / "killed.log", python=killable("after-lake-write", 1))
        assert victim.wait(timeout=300) == -signal.SIGKILL
        with dg.DagsterInstance.from_config(str(home)) as instance:
            held = instance.event_log_storage.get_concurrency_info("duckdb_writer")
            assert held.slot_count == 1 and len(held.claimed_slots) == 1, "the killed run holds the only slot"

        code = run_cli(env, "backfill", "--start", str(start), "--end", str(end), log=tmp_path / "rerun.log",
                       timeout=300)
        assert code == 0, (tmp_path / "rerun.log").read_text()[-3000:]
        assert_complete(api, tmp_path / "data", start, end)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert instance.event_log_storage.get_concurrency_info("duckdb_writer").claimed_slots == []
        assert sorted(run_statuses(str(home)).values()) == ["FAILURE", "SUCCESS"]
