"""What the CLI prints around a load: progress lines while it runs, a result block at the end, one line
per failure, and Dagster's event log only with -v."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from aurion_pipeline.cli import main
from aurion_pipeline.cli.outcome import FailedWindow, LoadSummary, RunOutcome, SummaryLine
from aurion_pipeline.cli.output import PROGRESS_LOGGER, ProgressHandler, failure_lines, progress_shown, result_block
from aurion_pipeline.storage import lake
from aurion_sandbox import DEFAULT_TENANTS, SandboxServer, sandbox_env, write_tenants_file

LOAD = LoadSummary(
    tenants=2, days=90, rows=180, filled_days=4, requests=6, retries=1, windows_loaded=5, restated_values=3,
    new_fields=("sms_count",), dropped=(), elapsed_s=12.34,
    failed_windows=(FailedWindow("initech", date(2026, 1, 1), date(2026, 1, 31),
                                 "401: key rejected; check AURION_KEY_INITECH"),),
    failed_count=1, failed_days=(date(2026, 1, 1), date(2026, 1, 31)),
)
OUTCOME = RunOutcome(run_id="r1", succeeded=True, load=LOAD, summaries=(), failed_checks=(), error=None)
CLEAN = RunOutcome(run_id="r0", succeeded=True,
                   load=replace(LOAD, failed_windows=(), failed_count=0, failed_days=None),
                   summaries=(), failed_checks=(), error=None)


@pytest.mark.parametrize(
    "outcome, verdict",
    [
        pytest.param(CLEAN, "run r0 succeeded", id="all loaded"),
        pytest.param(OUTCOME, "run r1 finished, but not everything was loaded (below)", id="a window failed"),
        pytest.param(replace(CLEAN, failed_checks=("analytics/plan_utilization:data_tests",)),
                     "run r0 finished: everything loaded, but some checks failed (below)", id="only a check failed"),
        pytest.param(replace(OUTCOME, succeeded=False, error="boom"), "run r1 FAILED", id="the run failed"),
    ],
)
def test_the_first_line_says_whether_everything_was_loaded(outcome, verdict):
    assert result_block("backfill", outcome, [], Path("a.duckdb"))[0] == f"backfill: {verdict}"


def test_the_result_block_reports_every_figure_of_the_load():
    text = "\n".join(result_block("backfill", OUTCOME, ["acme voice_minutes: overage (actual, since 2026-01-20)"],
                                  Path("/srv/data/analyst.duckdb")))
    for expected in ["tenants           2", "days in range     90 (180 rows loaded, 4 zero-filled",
                     "requests          6 (1 retried)", "windows rejected  1",
                     "initech 2026-01-01..2026-01-31: 401: key rejected",
                     "finish with: aurion-pipeline backfill --start 2026-01-01 --end 2026-01-31 --missing-only",
                     "values restated   3",
                     "new fields        sms_count", "elapsed           12.3 s", "alerts firing     1",
                     "acme voice_minutes: overage", "analysts connect  /srv/data/analyst.duckdb"]:
        assert expected in text, expected


def test_a_forecast_alert_is_expected_on_a_day_an_actual_one_reached_since_one():
    from aurion_pipeline.cli.loads import alert_line

    assert alert_line("hooli", "api_calls", "forecast", "warning", "2026-12-20") == (
        "hooli api_calls: warning (forecast, expected 2026-12-20)")
    assert alert_line("acme", "voice_minutes", "actual", "overage", "2026-01-20") == (
        "acme voice_minutes: overage (actual, since 2026-01-20)")


def test_the_zero_filled_count_agrees_with_its_noun():
    lines = "\n".join(result_block("backfill", replace(OUTCOME, load=replace(LOAD, filled_days=1)), [],
                                   Path("a.duckdb")))
    assert "1 zero-filled day the API omitted" in lines


def test_the_summary_count_says_how_many_tenants_already_had_a_snapshot_and_whose_figures_these_are():
    """A backfill of 3 tenants asks only those without a current-period snapshot: '2 of 2 tenants' under
    'tenants 3' did not add up; and the vendor's figures (today so far) differ from the loaded days'."""
    summaries = tuple(SummaryLine(t, date(2026, 1, 1), date(2026, 1, 31), "professional", "active", ())
                      for t in ("acme", "globex"))
    block = result_block("backfill", replace(CLEAN, load=replace(CLEAN.load, tenants=3), summaries=summaries), [],
                         Path("a.duckdb"))
    assert ("  summaries         2 of 2 tenants; 1 more already had one this period "
            "(the vendor's figures, today so far included)") in block


def test_dropped_rows_are_counted_after_the_rejected_windows():
    lines = result_block("backfill", replace(OUTCOME, load=replace(LOAD, dropped=("acme 2026-02-01: outside",))), [],
                         Path("a.duckdb"))
    rejected = next(i for i, line in enumerate(lines) if line.startswith("  windows rejected"))
    assert lines[rejected + 1].startswith("    initech 2026-01-01..2026-01-31")
    assert lines[rejected + 3] == "  rows dropped      1 (outside the window or exact repeats)"


def test_a_summary_prints_what_it_captured_per_tenant_and_what_it_could_not():
    summaries = (
        SummaryLine("acme", date(2026, 1, 1), date(2026, 1, 31), "professional", "active",
                    (("voice_minutes", 250.5, 1000.0), ("storage_mb", 12.0, None), ("api_calls", 1926300.0, None))),
        SummaryLine("initech", None, None, None, None, (), error="401: key rejected"),
    )
    outcome = RunOutcome("r2", True, None, summaries, (), None)
    text = "\n".join(result_block("summary", outcome, [], Path("a.duckdb")))
    assert "summaries         1 of 2 tenants" in text
    assert "acme: professional (active), period 2026-01-01..2026-01-31: voice_minutes 250.5/1000 (25%), " \
           "storage_mb 12 (unlimited), api_calls 1926300 (unlimited)" in text
    assert "initech: not captured: 401: key rejected" in text
    quiet = SummaryLine("hooli", date(2026, 1, 1), date(2026, 1, 31), "starter", "active",
                        (("voice_minutes", None, None),))
    text = "\n".join(result_block("summary", replace(outcome, summaries=(quiet,)), [], Path("a.duckdb")))
    assert "voice_minutes not reported" in text
    assert failure_lines("summary", outcome) == ["aurion-pipeline summary: no summary for initech: 401: key rejected"]


def test_a_failed_run_is_one_line_per_failed_window_and_one_for_the_run():
    outcome = RunOutcome("r3", False, LOAD, (), (), "raw__usage_daily: disk full")
    assert failure_lines("backfill", outcome) == [
        "aurion-pipeline backfill: not loaded: initech 2026-01-01..2026-01-31: "
        "401: key rejected; check AURION_KEY_INITECH",
        "aurion-pipeline backfill: run r3 failed: raw__usage_daily: disk full",
    ]


def test_windows_beyond_those_the_run_names_are_counted_and_the_finishing_command_spans_them_all():
    """The run's check names the first 100 failed windows; the block counts every one and finishes them all."""
    named = tuple(FailedWindow(f"t{i:03}", date(2026, 1, 1), date(2026, 1, 31), "503: unavailable") for i in range(12))
    load = replace(LOAD, failed_windows=named, failed_count=150, failed_days=(date(2025, 1, 1), date(2026, 3, 31)))
    outcome = replace(OUTCOME, load=load)
    lines = result_block("backfill", outcome, [], Path("a.duckdb"))
    rejected = next(i for i, line in enumerate(lines) if line.startswith("  windows rejected"))
    assert lines[rejected] == "  windows rejected  150"
    assert [line.split()[0] for line in lines[rejected + 1:rejected + 11]] == [f"t{i:03}" for i in range(10)]
    assert lines[rejected + 11] == "    ... 140 more: aurion-pipeline status"
    assert lines[rejected + 12].endswith("finish with: aurion-pipeline backfill --start 2025-01-01 --end 2026-03-31 "
                                         "--missing-only")
    errors = failure_lines("backfill", outcome)
    assert len(errors) == 13 and errors[11].startswith("aurion-pipeline backfill: not loaded: t011 ")
    assert errors[12] == "aurion-pipeline backfill: not loaded: 138 more windows (aurion-pipeline status lists them)"


def test_progress_is_one_plain_line_per_committed_round_off_a_terminal():
    stream = io.StringIO()
    logger = logging.getLogger(PROGRESS_LOGGER)
    with progress_shown(stream):
        for i in (1, 2):
            logger.info("round committed", extra={"progress": {
                "event": "round", "round": i, "rounds": 2, "windows": 5 * i, "windows_total": 10, "rows": 100 * i,
                "tenants_done": 0 if i == 1 else 5, "tenants": 5}})
    logger.info("after the run", extra={"progress": {"event": "round"}})  # handler gone: nothing drawn
    assert stream.getvalue().splitlines() == [
        "  round 1/2: 100 rows, 0/5 tenants done, 5/10 windows done",
        "  round 2/2: 200 rows, 5/5 tenants done, 10/10 windows done",
    ]


@pytest.fixture(scope="module")
def api():
    with SandboxServer() as server:
        yield server


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """One data folder and Dagster home for the module: the definitions read the environment once."""
    return tmp_path_factory.mktemp("cli_output")


@pytest.fixture
def sandbox_env_vars(api, root, monkeypatch):
    return use_sandbox(api, root, monkeypatch)


def use_sandbox(api, tmp_path, monkeypatch):
    """The sandbox's tenants and keys in the environment, with data and Dagster home in `tmp_path`."""
    for name in [n for n in os.environ if n.startswith(("AURION_", "DAGSTER_"))]:
        monkeypatch.delenv(name)
    env = {**sandbox_env(DEFAULT_TENANTS), "AURION_BASE_URL": api.base_url,
           "AURION_TENANTS_FILE": str(write_tenants_file(tmp_path / "tenants.yaml", DEFAULT_TENANTS)),
           "AURION_DATA_DIR": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path / "home"),
           "AURION_START_DATE": "2025-01-01"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return api


DAGSTER_LOG_LINE = " - dagster - "


@pytest.mark.slow
@pytest.mark.parametrize("verbose", [False, True], ids=["default", "-v"])
def test_a_backfill_prints_the_result_block_and_dagsters_log_only_with_v(sandbox_env_vars, root, capfd, verbose):
    """The block's figures are the warehouse's: tenants, days, rows, zero-filled days, requests, alerts."""
    api = sandbox_env_vars
    end = datetime.now(UTC).date() - timedelta(days=1)
    start = end - timedelta(days=9)
    details_before = sum(1 for r in api.requests if r.path.endswith("/details"))
    code = main(["backfill", "--start", start.isoformat(), "--end", end.isoformat(), *(["-v"] if verbose else [])])
    out, err = capfd.readouterr()
    assert code == 0, err[-3000:]
    assert (DAGSTER_LOG_LINE in out + err) is verbose
    if not verbose:  # off a terminal, stderr holds only the plain progress lines
        assert err.splitlines() and all(line.startswith("  round ") for line in err.splitlines()), err[-2000:]

    requests = sum(1 for r in api.requests if r.path.endswith("/details")) - details_before
    con = duckdb.connect(str(root / "data" / "analyst.duckdb"), read_only=True)
    try:
        tenants, rows, filled = con.execute(
            "select count(distinct tenant), count(*), count(*) filter (where _filled) from raw.usage_daily "
            "where usage_date between ? and ?", [start, end]).fetchone()
        firing = con.execute("select count(distinct (tenant, quota_name, basis)) from analytics.billing_alerts "
                             "where is_current").fetchone()[0]
        # the tenants whose current period began before the backfill's start (their first days not loaded)
        late = [t for (t,) in con.execute("select tenant from analytics.billing_periods where is_current "
                                          "and period_start < ? order by tenant", [start]).fetchall()]
    finally:
        con.close()
    assert f"backfill {start}..{end}: run " in out and " succeeded" in out
    assert f"  tenants           {tenants}\n" in out and tenants == len(DEFAULT_TENANTS)
    days = "day" if filled == 1 else "days"
    assert f"  days in range     10 ({rows} rows loaded, {filled} zero-filled {days} the API omitted)" in out
    assert f"  requests          {requests} (0 retried)" in out and requests > 0
    assert "  windows rejected  none" in out
    assert f"  alerts firing     {firing or 'none'}" in out
    assert f"  analysts connect  {root / 'data' / 'analyst.duckdb'}" in out
    not_loaded = [line for line in out.splitlines() if line.startswith("  not loaded yet ")]
    assert not_loaded == ([f"  not loaded yet    days of the current period of {len(late)} tenant(s) "
                           f"({', '.join(late)}): their use so far is unknown or too low; aurion-pipeline status "
                           "shows the backfill that loads them"] if late else [])


def test_the_result_block_names_tenants_whose_current_period_is_not_loaded_in_full():
    tenants = [f"t{i:02d}" for i in range(12)]
    lines = result_block("backfill", CLEAN, [], Path("a.duckdb"), not_loaded=tenants)
    (line,) = [line for line in lines if line.startswith("  not loaded yet ")]
    assert line.startswith("  not loaded yet    days of the current period of 12 tenant(s) (t00, t01, ")
    assert "t09, ...): their use so far is unknown or too low; aurion-pipeline status shows the backfill" in line
    assert lines.index(line) == lines.index("  alerts firing     none") - 1  # read before the alerts it qualifies
    assert not any("not loaded yet" in line for line in result_block("backfill", CLEAN, [], Path("a.duckdb")))


def test_on_a_terminal_progress_is_a_bar_of_committed_windows():
    handler = ProgressHandler(io.StringIO(), tty=True)
    record = logging.LogRecord(PROGRESS_LOGGER, logging.INFO, __file__, 1, "round committed", (), None)
    record.progress = {"event": "round", "round": 1, "rounds": 3, "windows": 4, "windows_total": 12, "rows": 80,
                       "tenants_done": 1, "tenants": 4}
    handler.emit(record)
    (task,) = handler.bar.tasks
    assert (task.completed, task.total) == (4, 12) and task.description == "round 1/3: 80 rows, 1/4 tenants done"
    handler.close()


@pytest.mark.slow
def test_a_failed_run_is_not_followed_by_the_report(api, tmp_path, monkeypatch, capfd):
    """After a run that failed (here the lake's month file it must rewrite is unreadable) the CLI
    prints the FAILED block and stops: no alert delivery, no report refresh, no report line."""
    use_sandbox(api, tmp_path, monkeypatch)
    day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    assert main(["backfill", "--start", day, "--end", day]) == 0
    assert "report (open in a browser, works offline):" in capfd.readouterr().out  # a run that succeeded
    report = tmp_path / "data" / "report.html"
    written = report.stat().st_mtime_ns
    month = lake.usage_month_path(tmp_path / "data" / "lake", day[:7])
    month.write_bytes(b"PAR1" + b"\0" * 64 + b"PAR1")

    code = main(["backfill", "--start", day, "--end", day])
    out, err = capfd.readouterr()
    assert code == 1 and out.splitlines()[0].endswith(" FAILED"), out + err[-2000:]
    # the reason in the user's words, without Dagster's `module.Class:` in front of it
    assert f"raw__usage_daily: lake file {month} is unreadable" in err and "StorageError" not in out + err, err
    assert "report (open in a browser" not in out
    assert report.stat().st_mtime_ns == written


@pytest.mark.slow
def test_a_run_that_succeeded_does_not_wait_for_the_writer_lock_after_it(api, tmp_path, monkeypatch, capfd):
    """Another process may take the warehouse the moment the run ends (a scheduled load, an analyst's
    DuckDB on warehouse.duckdb): the result block, failed windows included, comes from the run itself,
    so the CLI still exits 1 naming the window, not 2 with "locked"."""
    from aurion_pipeline.cli import runs

    use_sandbox(api, tmp_path, monkeypatch)
    monkeypatch.setenv("AURION_LOCK_TIMEOUT_SECONDS", "1")
    warehouse = tmp_path / "data" / "warehouse.duckdb"
    holders = []

    def outcome_once_another_process_holds_the_warehouse(*args, **kwargs):
        holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, time
            con = duckdb.connect({str(warehouse)!r}, read_only=True)
            print("holding", flush=True)
            time.sleep(120)
        """)], stdout=subprocess.PIPE, text=True)
        holders.append(holder)
        assert holder.stdout.readline().strip() == "holding"
        return outcome_from_result(*args, **kwargs)

    outcome_from_result = runs.outcome_from_result
    monkeypatch.setattr(runs, "outcome_from_result", outcome_once_another_process_holds_the_warehouse)
    day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    api.fail_next(3, status=401, tenant="initech")
    try:
        code = main(["backfill", "--start", day, "--end", day])
    finally:
        for holder in holders:
            holder.kill()
    out, err = capfd.readouterr()
    assert len(holders) == 1
    assert code == 1 and "finished, but not everything was loaded" in out.splitlines()[0], out + err[-2000:]
    assert f"    initech {day}..{day}: " in out and "locked" not in out + err
    assert f"aurion-pipeline backfill: not loaded: initech {day}..{day}: " in err
