"""Runs of CLI processes that died: failed, so they neither look in progress for ever nor hold the
`duckdb_writer` pool.

An in-process run killed with -9 stays "in progress" (or, killed before it started, NOT_STARTED) in
the instance for ever: no run launcher watches it, so run monitoring cannot see it die, and it keeps
holding the duckdb_writer pool (the run queue waits for it). Each CLI run therefore tags its runs
with its process and, before starting, fails the runs of CLI processes on this host that are gone.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dagster as dg

_HOST_TAG, _PID_TAG = "aurion/host", "aurion/pid"
_UNFINISHED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED]


def process_tags() -> dict[str, str]:
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
    """Mark failed (and free the pool slots of) unfinished CLI runs whose process no longer exists."""
    records = instance.get_run_records(dg.RunsFilter(statuses=_UNFINISHED, tags={_HOST_TAG: socket.gethostname()}))
    dead = [r.dagster_run for r in records if not _alive(r.dagster_run.tags.get(_PID_TAG, ""))]
    for run in dead:
        instance.report_run_failed(run, f"the aurion-pipeline process {run.tags[_PID_TAG]} that ran this run is gone "
                                        "(killed?); windows it committed stay loaded, re-run to finish")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return [run.run_id for run in dead]
