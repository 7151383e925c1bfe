"""The production instance: Dagster's storage in PostgreSQL (dagster_postgres.yaml, or any `storage:
postgres:` block a Dagster user writes) with every CLI command, event batching turned on by our runs,
and `make dev-postgres`. A real PostgreSQL server: the session fixture `postgres` (tests/pg.py)."""

import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value
from helpers_ops import REPO, clean_env, expected_usage, free_port, pipeline_env, run_cli, wait_for, warehouse_usage
from pg import PG_URL_VAR as URL_VAR
from test_webserver import daemons_healthy, location, make_dev

from aurion_sandbox import SandboxServer

USAGE = dg.AssetKey(["raw", "usage_daily"])
YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)


def open_instance(home: Path, url: str, monkeypatch) -> dg.DagsterInstance:
    monkeypatch.setenv(URL_VAR, url)
    return dg.DagsterInstance.from_config(str(home))


def partition_status(instance: dg.DagsterInstance) -> dict[str, set[str]]:
    """What the UI shows per partition: the asset status cache the webserver reads."""
    partitions_def = dg.DailyPartitionsDefinition(start_date="2025-01-01", timezone="UTC")
    cached = get_and_update_asset_status_cache_value(instance, USAGE, partitions_def)
    return {
        "materialized": set(cached.deserialize_materialized_partition_subsets(partitions_def).get_partition_keys()),
        "failed": set(cached.deserialize_failed_partition_subsets(partitions_def).get_partition_keys()),
        "in progress": set(cached.deserialize_in_progress_partition_subsets(partitions_def).get_partition_keys()),
    }


def planned_events(instance: dg.DagsterInstance) -> int:
    return len(instance.fetch_planned_materializations(USAGE, limit=10_000).records)


@pytest.mark.slow
@pytest.mark.parametrize("pg_home", ["postgres_url", "postgres_db"], indirect=True)
def test_every_cli_command_works_on_a_postgres_instance(pg_home, tmp_path, monkeypatch):
    home, url = pg_home
    start = YESTERDAY - timedelta(days=39)  # 40 days: 2 windows of at most 31 per tenant
    with SandboxServer(today=YESTERDAY + timedelta(days=1)) as api:
        env = pipeline_env(api, tmp_path, DAGSTER_HOME=str(home), **{URL_VAR: url})
        for command in (["backfill", "--start", str(start), "--end", str(YESTERDAY)], ["summary"], ["status"],
                        ["sql", "select count(*) as days from raw.usage_daily", "--format", "csv"], ["rebuild"]):
            log = tmp_path / f"{command[0]}.log"
            assert run_cli(env, *command, log=log) == 0, log.read_text()[-3000:]
        assert warehouse_usage(tmp_path / "data" / "analyst.duckdb") == expected_usage(api, start, YESTERDAY)
        tenant_days = 40 * len(api.tenants)
    assert (tmp_path / "sql.log").read_text().split()[-1] == str(tenant_days)  # the sql command answered

    assert not (home / "history").exists() and not list(home.rglob("*.db"))  # nothing fell back to SQLite
    with open_instance(home, url, monkeypatch) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        runs = {r.dagster_run.job_name: r.dagster_run.status for r in instance.get_run_records()}
        assert runs == {"usage_job": dg.DagsterRunStatus.SUCCESS, "summary_job": dg.DagsterRunStatus.SUCCESS}
        days = {(start + timedelta(days=i)).isoformat() for i in range(40)}
        # batched and with one planned event for the range, every loaded partition still shows materialized
        assert partition_status(instance) == {"materialized": days, "failed": set(), "in progress": set()}
        assert instance.get_materialized_partitions(USAGE) == days
        assert planned_events(instance) == 1  # DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS was on


@pytest.mark.slow
def test_a_failed_window_is_named_by_status_and_by_the_check_though_no_partition_is_marked_failed(
        pg_home, tmp_path, monkeypatch):
    """With one planned event per run, Dagster marks no partition failed; which days failed must be
    in our own load log, in the `all_windows_loaded` check and in `status`, day by day."""
    home, url = pg_home
    start = YESTERDAY - timedelta(days=39)
    days = {start + timedelta(days=i) for i in range(40)}
    with SandboxServer(today=YESTERDAY + timedelta(days=1)) as api:
        broken = sorted(api.tenants)[0]
        api.corrupt(broken, "bad_shape")  # every details answer for this tenant is unusable
        env = pipeline_env(api, tmp_path, DAGSTER_HOME=str(home), **{URL_VAR: url})
        log = tmp_path / "backfill.log"
        assert run_cli(env, "backfill", "--start", str(start), "--end", str(YESTERDAY), log=log) == 1
        status_log = tmp_path / "status.log"
        run_cli(env, "status", log=status_log)
        loaded = warehouse_usage(tmp_path / "data" / "analyst.duckdb")
        healthy = {k: v for k, v in expected_usage(api, start, YESTERDAY).items() if k[0] != broken}
    assert loaded == healthy  # every other tenant's days are in

    assert days_named(status_log.read_text(), broken) == days, status_log.read_text()
    with open_instance(home, url, monkeypatch) as instance:
        (check,) = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(USAGE, "all_windows_loaded"), limit=1)
        assert check.status == AssetCheckExecutionRecordStatus.FAILED
        failures = check.event.dagster_event.asset_check_evaluation_data.metadata["failures"].value
        assert {f["tenant"] for f in failures} == {broken}
        assert set().union(*(days_of(f["window"]) for f in failures)) == days
        assert partition_status(instance)["failed"] == set()  # the trade-off: the UI marks nothing failed


def days_of(window: str) -> set[date]:
    first, last = (date.fromisoformat(d) for d in window.split(".."))
    return {first + timedelta(days=i) for i in range((last - first).days + 1)}


def days_named(status: str, tenant: str) -> set[date]:
    """Every day of the windows `status` names on the lines of `tenant` (nothing of it is loaded, so
    its only date ranges are its failed windows)."""
    named = set()
    for line in status.splitlines():
        if line.strip().startswith(tenant + " "):
            for window in re.findall(r"\d{4}-\d{2}-\d{2}\.\.\d{4}-\d{2}-\d{2}", line):
                named |= days_of(window)
    return named


@pytest.mark.slow
def test_make_dev_postgres_runs_the_webserver_and_daemon_on_the_postgres_instance(postgres, tmp_path, monkeypatch):
    url = postgres.create_database(f"dagster_{uuid.uuid4().hex[:12]}")
    home = tmp_path / "pg_home"
    port = free_port()
    env = clean_env()
    env.update(PG_DAGSTER_HOME=str(home), DAGSTER_CLI_DEV_PORT=str(port), DAGSTER_CLI_DEV_HOST="127.0.0.1",
               AURION_DATA_DIR=str(tmp_path / "data"), **{URL_VAR: url})
    with make_dev("dev-postgres", env, port, tmp_path / "dev.log"):
        assert location(port)["locationOrLoadError"]["__typename"] == "RepositoryLocation"
        wait_for(lambda: daemons_healthy(port, {"SCHEDULER", "QUEUED_RUN_COORDINATOR", "MONITORING"}),
                 "the daemon to report healthy", timeout=240, interval=1)
    assert (home / "dagster.yaml").read_text() == (REPO / "dagster_postgres.yaml").read_text()
    assert not list(home.rglob("*.db"))
    with open_instance(home, url, monkeypatch) as instance:  # the heartbeats are in PostgreSQL
        assert {"SCHEDULER", "QUEUED_RUN_COORDINATOR"} <= set(instance.get_daemon_heartbeats())


def test_make_dev_postgres_without_a_database_url_says_what_to_set():
    env = {k: v for k, v in os.environ.items() if k != URL_VAR}
    done = subprocess.run(["make", "-o", ".venv/.installed", "dev-postgres"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"set {URL_VAR}" in done.stderr
    assert "dagster dev" not in done.stdout


def sessions_opened(url: str) -> int:
    """Connections ever opened to the URL's database (PostgreSQL counts them in pg_stat_database)."""
    import psycopg2

    database = url.rsplit("/", 1)[1]
    con = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with con.cursor() as cursor:
            cursor.execute("select sessions from pg_stat_database where datname = %s", [database])
            return cursor.fetchone()[0]
    finally:
        con.close()


@pytest.mark.slow
def test_a_cli_run_reuses_its_postgres_connections_instead_of_opening_one_per_event(pg_home, monkeypatch):
    """dagster-postgres opens a connection per event and query unless told to pool; a 3-year
    backfill then opened ~530 of them (5.7 s of a 30 s profiled run). The CLI's instance keeps them open."""
    from aurion_pipeline.cli.runs import open_instance as cli_instance

    home, url = pg_home
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv(URL_VAR, url)
    days = dg.DailyPartitionsDefinition(start_date="2025-01-01", timezone="UTC")

    @dg.asset(partitions_def=days, backfill_policy=dg.BackfillPolicy.single_run())
    def noop() -> None:
        return None

    job = dg.Definitions(assets=[noop], jobs=[dg.define_asset_job("noop_job", selection=[noop])]
                         ).resolve_job_def("noop_job")
    with cli_instance():
        pass  # creates the instance's tables: not what is measured
    before = sessions_opened(url)
    with cli_instance() as instance:
        result = job.execute_in_process(instance=instance, tags={
            "dagster/asset_partition_range_start": "2025-01-01", "dagster/asset_partition_range_end": "2025-03-31"})
        assert result.success
    wait_for(lambda: sessions_opened(url) > before, "the run's sessions to be counted", timeout=10, interval=0.2)
    opened = sessions_opened(url) - before - 1  # minus the counting session
    # Opening the instance checks each storage's tables (a few sessions); the run itself then needs
    # about one per storage, however many events it writes (one per partition here: 90).
    assert 0 < opened <= 20, f"{opened} connections for one run of 90 partitions"


@pytest.mark.slow
@pytest.mark.parametrize("pg_home", ["postgres_url", "postgres_db"], indirect=True)
def test_on_the_cli_instance_a_postgres_run_asks_no_schema_question_twice(pg_home, monkeypatch):
    """Untuned, dagster-postgres reflects the schema on every materialization (162 questions, 1.1 s of
    a 6.3 s 3-year backfill); the CLI's instance remembers each yes, with either storage block."""
    from catalog_queries import catalog_queries_per_run

    from aurion_pipeline.cli.runs import open_instance as cli_instance

    home, url = pg_home
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv(URL_VAR, url)
    with cli_instance() as instance:
        assert catalog_queries_per_run(instance, (2, 20)) == [0, 0]
    with dg.DagsterInstance.get() as untuned:  # the cost removed: questions in every run, however warm
        assert min(catalog_queries_per_run(untuned, (2, 20))) > 0


@pytest.mark.slow  # Dagster retries the connection for ~12 s before it gives up
def test_a_postgres_instance_that_cannot_be_reached_is_one_line_and_exit_2(tmp_path):
    """A wrong port (or host, or database): Dagster says "too many retries for DB connection" after
    a 50-line traceback; the CLI says why in one line, and never shows the URL's password."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster_postgres.yaml").read_text())
    env = {**clean_env(), "DAGSTER_HOME": str(home), "AURION_DATA_DIR": str(tmp_path / "data"),
           "AURION_API_KEY": "ak_test_key", URL_VAR: f"postgresql://dagster:pw0canary@127.0.0.1:{free_port()}/dagster"}
    cli = str(Path(sys.executable).with_name("aurion-pipeline"))
    result = subprocess.run([cli, "backfill", "--start", str(YESTERDAY), "--end", str(YESTERDAY)], env=env,
                            capture_output=True, text=True, timeout=180)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-3000:]
    assert "could not be opened" in lines[0] and "refused" in lines[0].lower(), lines[0]
    assert "pw0canary" not in result.stdout + result.stderr
