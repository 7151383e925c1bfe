"""Running our jobs through Dagster from the command line, against the instance in $DAGSTER_HOME,
so the UI shows what the CLI materialized."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path

import dagster as dg

from aurion_pipeline.config import ConfigError
from aurion_pipeline.defs.instance_tuning import tune_event_batching

_INSTANCE_CONFIG = Path(__file__).resolve().parents[2] / "dagster.yaml"


def ensure_dagster_home(default: Path) -> Path:
    """Use $DAGSTER_HOME, or `default`; seed it with the project's dagster.yaml if it has none."""
    home = Path(os.environ.get("DAGSTER_HOME") or default).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    if not (home / "dagster.yaml").exists() and _INSTANCE_CONFIG.exists():
        tmp = home / f".dagster.yaml.{os.getpid()}.tmp"  # renamed into place: a concurrent CLI never reads half a file
        shutil.copyfile(_INSTANCE_CONFIG, tmp)
        os.replace(tmp, home / "dagster.yaml")
    return home


def _defs() -> dg.Definitions:
    from aurion_pipeline.definitions import defs  # imported late: settings come from the env set by the caller

    return defs


def run_load(name: str, *, tags: dict[str, str] | None = None, run_config: dict | None = None):
    """Run a load job; if it failed part-way, rebuild the SQL models so what it committed reaches
    analysts (the daemon's `refresh_models_after_failed_load` sensor does the same for UI runs)."""
    result = run_job(name, tags=tags, run_config=run_config)
    if not result.success:
        run_job("models_job")
    return result


def run_job(name: str, *, tags: dict[str, str] | None = None, run_config: dict | None = None):
    """Execute a job in this process against the persistent instance; returns the result."""
    job = _defs().resolve_job_def(name)
    tune_event_batching(os.environ)  # before the run is created: its planned events are batched too
    with open_instance() as instance:
        fail_runs_of_dead_processes(instance)
        tags = {**(tags or {}), **_process_tags()}
        return job.execute_in_process(instance=instance, tags=tags, run_config=run_config, raise_on_error=False)


@contextmanager
def open_instance() -> Iterator[dg.DagsterInstance]:
    """The instance in $DAGSTER_HOME. Opening a fresh one creates its SQLite storage; two processes
    doing that at once both create and stamp the schema and can leave it unopenable ("more than one
    head present"), so opening is serialized on a lock file beside it."""
    with open(Path(os.environ["DAGSTER_HOME"]) / ".aurion-instance.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = dg.DagsterInstance.get()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    with instance:
        yield instance


# An in-process run killed with -9 stays "in progress" in the instance for ever: no run launcher
# watches it, so run monitoring cannot see it die, and it keeps holding the duckdb_writer pool
# (the run queue waits for it). Each CLI run therefore tags its runs with its process and, before
# starting, fails the runs of CLI processes on this host that are gone.
_HOST_TAG, _PID_TAG = "aurion/host", "aurion/pid"


def _process_tags() -> dict[str, str]:
    return {_HOST_TAG: socket.gethostname(), _PID_TAG: f"{os.getpid()}:{_process_start(os.getpid())}"}


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks (Linux; "" if it is gone or a zombie), so a recycled
    pid is not taken for the old process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return ""
    return "" if fields[0] in ("Z", "X") else fields[19]


def _alive(tag: str) -> bool:
    pid, _, started = tag.partition(":")
    if not pid.isdigit():
        return True  # not ours to judge
    if started:
        return _process_start(int(pid)) == started
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def fail_runs_of_dead_processes(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed (and free the pool slots of) in-progress CLI runs whose process no longer exists."""
    records = instance.get_run_records(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED],
                      tags={_HOST_TAG: socket.gethostname()})
    )
    dead = [r.dagster_run for r in records if not _alive(r.dagster_run.tags.get(_PID_TAG, ""))]
    for run in dead:
        instance.report_run_failed(run, f"the aurion-pipeline process {run.tags[_PID_TAG]} that ran this run is gone "
                                        "(killed?); windows it committed stay loaded, re-run to finish")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return [run.run_id for run in dead]


def backfill(start: date, end: date, tenants: list[str], only_missing: bool, *, commit_rows: int = 0):
    if start > end:
        raise ConfigError(f"--start {start} is after --end {end}")
    first = _defs().resolve_assets_def(["raw", "usage_daily"]).partitions_def.get_first_partition_key()
    if start.isoformat() < first:
        raise ConfigError(f"--start {start} is before the first partition {first}; lower AURION_START_DATE")
    if end >= datetime.now(timezone.utc).date():
        raise ConfigError(f"--end {end} is not a complete UTC day yet; the latest partition is yesterday")
    load = {"tenants": tenants, "only_missing": only_missing, "commit_rows": commit_rows}
    config = {"ops": {"raw__usage_daily": {"config": load}}}
    tags = {"dagster/asset_partition_range_start": start.isoformat(), "dagster/asset_partition_range_end": end.isoformat()}
    return run_load("usage_job", tags=tags, run_config=config)


def failure_reason(result) -> str:
    """The first failure's message as one line, for the CLI's exit."""
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            user = error.cause if error and error.cause else error
            lines = [line for line in (user.message if user else "").splitlines() if line.strip()]
            return lines[0].strip() if lines else "step failed"
    return "run failed"
