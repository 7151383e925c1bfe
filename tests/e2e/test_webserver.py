"""The deployment: dagster.yaml is valid for the installed Dagster and gives the writer pool a limit
of 1; `make dev` starts the webserver and the daemon against workspace.yaml with no API key set, and
the webserver's GraphQL API shows the code location with our assets, checks, jobs and schedules;
`dg launch --partition-range` backfills a range in one run."""

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.instance.config import PoolGranularity, dagster_instance_config
from helpers_ops import REPO, VENV_BIN, clean_env, expected_usage, free_port, pipeline_env, wait_for, warehouse_usage

from aurion_pipeline.definitions import defs
from aurion_sandbox import SandboxServer
from aurion_sandbox.server import DETAILS_PATH


@pytest.fixture
def instance_home(tmp_path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    return home


def test_dagster_yaml_has_only_keys_the_installed_dagster_accepts(instance_home):
    config, _ = dagster_instance_config(str(instance_home))  # validates against the schema; unknown keys raise
    ours = yaml.safe_load((REPO / "dagster.yaml").read_text())

    def paths(d, prefix=()):
        for key, value in d.items():
            yield (*prefix, key)
            if isinstance(value, dict):
                yield from paths(value, (*prefix, key))

    for path in paths(ours):
        node = config
        for key in path:
            node = node[key]
        assert node is not None, f"{'.'.join(path)} was dropped by Dagster's config loading"


def test_the_instance_from_dagster_yaml_limits_the_writer_pool_to_one_run_and_monitors_runs(instance_home):
    with dg.DagsterInstance.from_config(str(instance_home)) as instance:
        pools = instance.get_concurrency_config().pool_config
        assert (pools.pool_granularity, pools.default_pool_limit) == (PoolGranularity.RUN, 1)
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 4
        assert instance.run_monitoring_enabled and instance.run_retries_enabled
        assert instance.event_log_storage.get_concurrency_info("duckdb_writer").limit == 1
        assert not instance.run_retries_retry_on_asset_or_op_failure


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.load(response)
    assert "errors" not in body, body["errors"]
    return body["data"]


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


LOCATION = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus
    locationOrLoadError { __typename
      ... on PythonError { message }
      ... on RepositoryLocation { repositories {
          jobs { name }
          schedules { name cronSchedule executionTimezone scheduleState { status } }
          sensors { name sensorState { status } }
          assetNodes { assetKey { path } isPartitioned
                       assetChecksOrError { ... on AssetChecks { checks { name } } } }
      } } } } } } }
"""

INSTANCE = """
{ instance {
    poolConfig { poolGranularity defaultPoolLimit }
    concurrencyLimit(concurrencyKey: "duckdb_writer") { limit }
    runQueueConfig { maxConcurrentRuns }
    daemonHealth { allDaemonStatuses { daemonType healthy required } }
} }
"""


def location(port: int) -> dict:
    (entry,) = graphql(port, LOCATION)["workspaceOrError"]["locationEntries"]
    return entry


def daemons_healthy(port: int, kinds: set[str]) -> bool:
    statuses = graphql(port, INSTANCE)["instance"]["daemonHealth"]["allDaemonStatuses"]
    return kinds <= {s["daemonType"] for s in statuses if s["healthy"]}


@pytest.mark.slow
def test_make_dev_serves_the_code_location_and_runs_the_daemon(instance_home, tmp_path):
    port = free_port()
    env = clean_env()
    env.update(DAGSTER_HOME=str(instance_home), DAGSTER_CLI_DEV_PORT=str(port), DAGSTER_CLI_DEV_HOST="127.0.0.1",
               AURION_DATA_DIR=str(tmp_path / "data"))  # and no AURION_API_KEY: the definitions load without one
    with make_dev("dev", env, port, tmp_path / "dev.log"):
        entry = location(port)
        assert entry["name"] == "aurion_pipeline"
        loaded = entry["locationOrLoadError"]
        assert loaded["__typename"] == "RepositoryLocation", loaded
        (repo,) = loaded["repositories"]

        assets = {"/".join(a["assetKey"]["path"]): a for a in repo["assetNodes"]}
        expected = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
        assert expected <= set(assets)
        assert {"raw/usage_daily", "raw/usage_summary", "analytics/billing_alerts",
                "analytics/plan_utilization"} <= set(assets)
        assert assets["raw/usage_daily"]["isPartitioned"] and not assets["raw/usage_summary"]["isPartitioned"]
        checks = {(key, c["name"]) for key, a in assets.items() for c in a["assetChecksOrError"].get("checks", [])}
        raw_checks = ("data_tests", "all_windows_loaded")
        assert {("raw/usage_daily", name) for name in raw_checks} <= checks
        assert len(checks) == len(list(defs.resolve_asset_graph().asset_check_keys))

        assert {"usage_job", "summary_job"} <= {j["name"] for j in repo["jobs"]}
        assert "models_job" not in {j["name"] for j in repo["jobs"]}  # a partial load no longer needs a repair run
        sensors = {s["name"] for s in repo["sensors"]}
        assert "refresh_models_after_failed_load" not in sensors
        schedules = {s["name"]: s for s in repo["schedules"]}
        assert schedules["daily_usage_schedule"]["cronSchedule"] == "15 1 * * *"
        assert schedules["summary_schedule"]["cronSchedule"] == "0 */6 * * *"
        assert {s["scheduleState"]["status"] for s in schedules.values()} == {"RUNNING"}

        instance = graphql(port, INSTANCE)["instance"]
        assert instance["poolConfig"] == {"poolGranularity": "run", "defaultPoolLimit": 1}
        assert instance["concurrencyLimit"]["limit"] == 1
        assert instance["runQueueConfig"]["maxConcurrentRuns"] == 4
        wait_for(lambda: daemons_healthy(port, {"SCHEDULER", "QUEUED_RUN_COORDINATOR", "MONITORING"}),
                 "the daemon's scheduler, run queue and run monitoring to report healthy", timeout=240, interval=1)


@contextmanager
def make_dev(target: str, env: dict, port: int, log: Path) -> Iterator[subprocess.Popen]:
    """`make <target>` (dev or dev-postgres) running until the block ends, its webserver answering on
    `port` and the code location loaded; then every process it started is stopped (`stop_group`)."""
    with open(log, "wb") as out:
        # -o: use the venv this test runs in; never reinstall from inside a test
        # Started as a script's background job is (`make dev &`): with SIGINT ignored, which every child
        # inherits. SIGTERM must stop it all the same.
        dev = subprocess.Popen(["make", "-o", ".venv/.installed", target], cwd=REPO, env=env, stdout=out,
                               stderr=subprocess.STDOUT, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        wait_for(lambda: answers(port) or dev.poll() is not None, "the webserver to answer", timeout=240, interval=0.5)
        assert dev.poll() is None, log.read_text()[-3000:]
        wait_for(lambda: location(port)["loadStatus"] == "LOADED", "the code location to load", timeout=240,
                 interval=0.5)
        yield dev
    finally:
        stop_group(dev)


def group_alive(pgid: int) -> list[str]:
    return subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout.split()


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the whole process group (make, dagster dev, webserver, daemon, code server) and wait
    until every one of them has exited; SIGKILL what is left after a minute, and fail."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        wait_for(lambda: process.poll() is not None and not group_alive(process.pid), "`make dev` to shut down",
                 timeout=60, interval=0.5)
    except TimeoutError:
        leftovers = group_alive(process.pid)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise AssertionError(f"processes of `make dev` still running a minute after SIGTERM: {leftovers}") from None

@pytest.mark.slow
@pytest.mark.parametrize(
    "target",
    [pytest.param(["--assets", "raw/usage_daily"], id="the raw asset"),
     pytest.param(["--job", "usage_job"], id="the job with its SQL models")],
)
def test_dg_launch_loads_a_partition_range_in_one_run(tmp_path, instance_home, target):
    end = datetime.now(UTC).date() - timedelta(days=1)
    start = end - timedelta(days=20)
    with SandboxServer(today=end + timedelta(days=1)) as api:
        env = pipeline_env(api, tmp_path, AURION_MAX_RANGE_DAYS="10", AURION_START_DATE=start.isoformat(),
                           DAGSTER_HOME=str(instance_home))
        launched = subprocess.run(
            [str(VENV_BIN / "dg"), "launch", *target, "--partition-range", f"{start}...{end}"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
        )
        assert launched.returncode == 0, launched.stderr[-3000:]
        assert warehouse_usage(tmp_path / "data" / "analyst.duckdb") == expected_usage(api, start, end)
        asked = [r for r in api.requests if r.path == DETAILS_PATH]
        assert len(asked) == 3 * len(api.tenants)  # ⌈21 days / 10⌉ per tenant: one run, not one per day
    with dg.DagsterInstance.from_config(str(instance_home)) as instance:
        (run,) = instance.get_run_records()
        assert run.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        assert run.dagster_run.tags["dagster/asset_partition_range_start"] == str(start)
        key = dg.AssetKey(["raw", "usage_daily"])
        assert len(instance.get_materialized_partitions(key)) == 21
