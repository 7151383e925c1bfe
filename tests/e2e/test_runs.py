"""How the CLI runs jobs: the exit code a `RunOutcome` gives, and the runs of dead CLI processes."""

import socket
import subprocess
import sys
import uuid
from datetime import date

import dagster as dg
import pytest

from aurion_pipeline.cli.outcome import FailedWindow, LoadSummary, RunOutcome, SummaryLine
from aurion_pipeline.cli.stale_runs import fail_runs_of_dead_processes, process_tags


def load(failed=()) -> LoadSummary:
    return LoadSummary(tenants=1, days=2, rows=2, filled_days=0, requests=1, retries=0, windows_loaded=1,
                       restated_values=0, new_fields=(), dropped=(), failed_windows=tuple(failed),
                       failed_count=len(failed),
                       failed_days=(failed[0].start, failed[-1].end) if failed else None, elapsed_s=1.0)


WINDOW = FailedWindow("acme", date(2026, 1, 1), date(2026, 1, 31), "API key rejected (401)")
SNAPSHOT = SummaryLine("acme", date(2026, 1, 1), date(2026, 1, 31), "pro", "active", (("api_calls", 5.0, 10.0),))


@pytest.mark.smoke
@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        pytest.param(RunOutcome("r", True, load(), (SNAPSHOT,), (), None), 0, id="all-loaded"),
        pytest.param(RunOutcome("r", True, None, (SNAPSHOT,), (), None), 0, id="summary-run"),
        pytest.param(RunOutcome("r", True, load([WINDOW]), (), ("raw/usage_daily:all_windows_loaded",), None), 1,
                     id="a-failed-window"),
        pytest.param(RunOutcome("r", True, load([WINDOW]), (), (), None), 1,
                     id="a-failed-window-even-without-its-check"),
        pytest.param(RunOutcome("r", True, load(), (SummaryLine("acme", None, None, None, None, (), "boom"),),
                                (), None),
                     1, id="a-failed-summary"),
        pytest.param(RunOutcome("r", True, load(), (), ("analytics/plan_utilization:data_tests",), None), 1,
                     id="a-failed-error-check"),
        pytest.param(RunOutcome("r", False, None, (), (), "raw__usage_daily: disk full"), 1, id="the-run-failed"),
    ],
)
def test_exit_code_is_0_only_when_everything_loaded(outcome, code):
    assert outcome.exit_code == code


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def add_run(instance: dg.DagsterInstance, status: dg.DagsterRunStatus, tags: dict[str, str]) -> str:
    run_id = str(uuid.uuid4())
    instance.add_run(dg.DagsterRun(job_name="usage_job", run_id=run_id, status=status, tags=tags))
    return run_id


@pytest.mark.parametrize(
    "status",
    # QUEUED too is failed, but only a run launcher queues runs (Dagster refuses a queued run without
    # one), never the CLI's in-process runs, so it cannot be set up here.
    [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED],
)
def test_runs_of_a_dead_cli_process_are_failed_whatever_state_they_stopped_in(status):
    host = socket.gethostname()
    with dg.instance_for_test() as instance:
        dead = add_run(instance, status, {"aurion/host": host, "aurion/pid": f"{dead_pid()}:"})
        alive = add_run(instance, status, process_tags())
        other_host = add_run(instance, status, {"aurion/host": host + "-elsewhere", "aurion/pid": f"{dead_pid()}:"})
        assert fail_runs_of_dead_processes(instance) == [dead]
        statuses = {run_id: instance.get_run_by_id(run_id).status for run_id in (dead, alive, other_host)}
    assert statuses == {dead: dg.DagsterRunStatus.FAILURE, alive: status, other_host: status}
