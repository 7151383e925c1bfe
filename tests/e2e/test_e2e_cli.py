"""End to end: the `aurion-pipeline` console script against a local API, with a temp DAGSTER_HOME."""

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from helpers_ops import clean_env, expected_usage, warehouse_usage

from aurion_sandbox import DEFAULT_TENANTS, SandboxServer, sandbox_env, write_tenants_file

CLI = str(Path(sys.executable).with_name("aurion-pipeline"))
YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)


@pytest.fixture
def api():
    with SandboxServer() as server:
        yield server


@pytest.fixture
def env(api, tmp_path):
    tenants_file = write_tenants_file(tmp_path / "tenants.yaml", DEFAULT_TENANTS)
    base = clean_env()
    return {
        **base, **sandbox_env(DEFAULT_TENANTS),
        "AURION_BASE_URL": api.base_url, "AURION_TENANTS_FILE": str(tenants_file),
        "AURION_DATA_DIR": str(tmp_path / "data"), "AURION_START_DATE": "2025-01-01",
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }


def cli(env, *args):
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=300)


def test_backfill_loads_exactly_what_the_server_served_and_dagster_records_it(api, env):
    start, end = YESTERDAY - timedelta(days=44), YESTERDAY
    result = cli(env, "backfill", "--start", start.isoformat(), "--end", end.isoformat())
    assert result.returncode == 0, result.stderr[-2000:]

    details = [r for r in api.requests if r.path.endswith("/details")]
    assert len(details) == 2 * len(DEFAULT_TENANTS)  # 45 days with max range 31 -> 2 windows per tenant
    summaries = sorted(r.tenant for r in api.requests if r.path.endswith("/summary"))
    assert summaries == sorted(t.name for t in DEFAULT_TENANTS)  # a first backfill snapshots every tenant once

    con = duckdb.connect(str(Path(env["AURION_DATA_DIR"]) / "analyst.duckdb"), read_only=True)
    loaded = {
        (t, d): (v, a, i, o)
        for t, d, v, a, i, o in con.execute(
            "select tenant, usage_date, voice_minutes, api_calls, llm_input_tokens, llm_output_tokens "
            "from raw.usage_daily"
        ).fetchall()
    }
    assert len(loaded) == 45 * len(DEFAULT_TENANTS)
    for tenant in DEFAULT_TENANTS:
        served = {date.fromisoformat(r["date"]): r for r in api.usage(tenant, start, end).rows()}
        for day in (start + timedelta(days=i) for i in range(45)):
            row = served.get(day)
            tokens = (row or {}).get("llm_tokens") or {}
            expected = (
                (float(row["voice_minutes"]), row["api_calls"], tokens.get("input"), tokens.get("output"))
                if row else (0.0, 0, 0, 0)  # omitted day inside a loaded window: explicit zeros
            )
            assert loaded[(tenant.name, day)] == expected, (tenant.name, day)

    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
    try:
        with dg.DagsterInstance.get() as instance:
            partitions = instance.get_materialized_partitions(dg.AssetKey(["raw", "usage_daily"]))
    finally:
        del os.environ["DAGSTER_HOME"]
    assert partitions == {(start + timedelta(days=i)).isoformat() for i in range(45)}


def test_commit_rows_loads_the_same_days_in_fewer_commits(api, env):
    start, end = YESTERDAY - timedelta(days=39), YESTERDAY
    # 4 rounds of one 10-day window per tenant, 50 tenant-days each.
    env = {**env, "AURION_MAX_RANGE_DAYS": "10", "AURION_REQUESTS_PER_TENANT": "1"}
    result = cli(env, "backfill", "--start", start.isoformat(), "--end", end.isoformat(), "--commit-rows", "100")
    assert result.returncode == 0, result.stderr[-2000:]

    analyst = Path(env["AURION_DATA_DIR"]) / "analyst.duckdb"
    assert warehouse_usage(analyst) == expected_usage(api, start, end)
    con = duckdb.connect(str(analyst), read_only=True)
    try:
        # now() is the transaction's start, so each commit stamps its rows with one _loaded_at.
        commits = con.execute("select count(distinct _loaded_at) from raw.usage_daily").fetchone()[0]
        windows = con.execute("select count(*) from raw._load_log where status = 'loaded'").fetchone()[0]
    finally:
        con.close()
    assert (commits, windows) == (2, 4 * len(DEFAULT_TENANTS))


@pytest.mark.parametrize(
    "args, fragment",
    [
        pytest.param(["--start", "2025-02-10", "--end", "2025-02-01"], "is after --end", id="reversed range"),
        pytest.param(["--start", "2024-06-01", "--end", "2025-02-01"], "is before AURION_START_DATE",
                     id="before start"),
        pytest.param(["--start", "2025-02-30", "--end", "2025-03-01"], "not a date", id="impossible date"),
        pytest.param(["--start", "2025-02-01", "--end", "2025-02-02", "--tenant", "nobody"],
                     "is not configured; configured tenants: acme, globex", id="tenant"),
        pytest.param(["--start", "2025-02-01", "--end", "2025-02-02", "--commit-rows", "-1"],
                     "not a whole number (0 or more)",
                     id="negative commit rows"),
    ],
)
def test_backfill_rejects_bad_input_in_one_line(env, args, fragment):
    result = cli(env, "backfill", *args)
    assert result.returncode == 2
    assert fragment in result.stderr.strip().splitlines()[-1]


def test_a_rejected_key_exits_non_zero_with_one_line(api, env):
    env = {**env, "AURION_SANDBOX_KEY_ACME": "ak_wrong_key_123"}
    result = cli(env, "backfill", "--start", "2025-03-01", "--end", "2025-03-02")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "API key rejected" in last and "AURION_SANDBOX_KEY_ACME" in last and "ak_wrong_key_123" not in result.stderr

    # The other tenants' windows were committed, and the models were built in the same run, so the
    # stored forecast table already covers them.
    con = duckdb.connect(str(Path(env["AURION_DATA_DIR"]) / "analyst.duckdb"), read_only=True)
    forecast_tenants = {t for (t,) in con.execute("select distinct tenant from analytics.forecast_by_day").fetchall()}
    assert forecast_tenants == {t.name for t in DEFAULT_TENANTS} - {"acme"}


def test_a_one_tenant_backfill_calls_and_needs_only_that_tenant(api, env):
    # globex's key is unset: a backfill of acme needs it neither for usage nor for acme's summary.
    env = {name: value for name, value in env.items() if name != "AURION_SANDBOX_KEY_GLOBEX"}
    result = cli(env, "backfill", "--start", "2025-03-01", "--end", "2025-03-02", "--tenant", "acme")
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted({(r.tenant, r.path.rsplit("/", 1)[-1]) for r in api.requests}) == [
        ("acme", "details"), ("acme", "summary")]


@pytest.mark.slow
def test_a_first_backfill_answers_the_plan_question_and_a_second_asks_no_summary(api, env):
    """After one backfill every tenant has a plan and quotas in plan_utilization; the next backfill
    finds a snapshot covering the current period and makes no summary request."""
    start, end = YESTERDAY - timedelta(days=9), YESTERDAY
    first = cli(env, "backfill", "--start", start.isoformat(), "--end", end.isoformat())
    assert first.returncode == 0, first.stderr[-2000:]
    con = duckdb.connect(str(Path(env["AURION_DATA_DIR"]) / "analyst.duckdb"), read_only=True)
    try:
        planned = con.execute(
            """select tenant, count(*) filter (where plan is not null and quota is not null)
               from analytics.plan_utilization where period_start <= current_date and period_end >= current_date
               group by tenant order by tenant"""
        ).fetchall()
    finally:
        con.close()
    assert [t for t, with_quota in planned if with_quota > 0] == sorted(t.name for t in DEFAULT_TENANTS)

    seen = len(api.requests)
    second = cli(env, "backfill", "--start", start.isoformat(), "--end", end.isoformat())
    assert second.returncode == 0, second.stderr[-2000:]
    assert [r.path for r in api.requests[seen:] if r.path.endswith("/summary")] == []
    assert len([r for r in api.requests[seen:] if r.path.endswith("/details")]) == len(DEFAULT_TENANTS)
