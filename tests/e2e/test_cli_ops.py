"""`aurion-pipeline status`, `sql` and `rebuild` on a warehouse loaded through Dagster from the sandbox
API, with one tenant whose key is rejected: what an operator sees, and the ways back."""

import csv
import io
import json
import os
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from helpers_ops import REPO, assert_sound, expected_usage, pipeline_env, warehouse_usage

from aurion_pipeline.cli import main
from aurion_pipeline.cli.outcome import RunOutcome
from aurion_pipeline.cli.run_events import outcome_from_result
from aurion_pipeline.definitions import defs
from aurion_pipeline.defs.aurion_usage.assets import UsageLoadConfig
from aurion_pipeline.defs.aurion_usage.partitions import partition_range_tags
from aurion_pipeline.defs.aurion_usage.resources import resources_from_env
from aurion_pipeline.defs.names import Names
from aurion_pipeline.storage import lake
from aurion_pipeline.storage.connection import schema_sql
from aurion_sandbox import SandboxServer
from aurion_sandbox.server import DETAILS_PATH

START, END = date(2026, 1, 1), date(2026, 2, 20)  # two windows per tenant at 31 days
LOADED = ("acme", "globex", "hooli", "umbrella")
RANGE = partition_range_tags(START, END)
USAGE_OP = defs.resolve_assets_def(dg.AssetKey(["raw", "usage_daily"])).node_def.name


@dataclass
class Loaded:
    api: SandboxServer
    root: Path
    env: dict[str, str]
    instance: dg.DagsterInstance
    usage: RunOutcome
    summary: RunOutcome

    @property
    def data_dir(self) -> Path:
        return self.root / "data"


def execute(job: str, loaded_env: dict[str, str], instance: dg.DagsterInstance, **kwargs) -> RunOutcome:
    """Run `job` as the CLI does, and read its outcome from the run's events and the load log."""
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance, resources=resources_from_env(loaded_env), raise_on_error=False, **kwargs
    )
    return outcome_from_result(result, Names(), elapsed_s=0.0)


def set_env(mp: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        if name.startswith("AURION_"):
            mp.setenv(name, value)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A backfill of START..END through Dagster in which initech's key is rejected (401), then a summary."""
    root = tmp_path_factory.mktemp("cli_ops")
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    with SandboxServer(today=date(2026, 2, 21)) as api, pytest.MonkeyPatch.context() as mp, \
            dg.instance_for_test(overrides=config) as instance:
        env = pipeline_env(api, root, AURION_MAX_RANGE_DAYS="31")
        set_env(mp, env)
        # A rejected key: both its windows (fetched in one round) and the summary the usage job takes.
        api.fail_next(3, status=401, tenant="initech")
        usage = execute("usage_job", env, instance, tags=RANGE)
        summary = execute("summary_job", env, instance)
        assert (summary.succeeded, summary.exit_code, summary.failed_checks) == (True, 0, ()), summary
        yield Loaded(api, root, env, instance, usage, summary)


@pytest.fixture
def cli_env(loaded, monkeypatch):
    set_env(monkeypatch, loaded.env)
    return loaded


def copy_of(loaded: Loaded, tmp_path: Path, monkeypatch) -> dict[str, str]:
    """The loaded data directory copied, and the environment pointing at the copy (tests that change it)."""
    shutil.copytree(loaded.data_dir, tmp_path / "data")
    env = {**loaded.env, "AURION_DATA_DIR": str(tmp_path / "data")}
    set_env(monkeypatch, env)
    return env


def cli(capfd, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capfd.readouterr()
    return code, out, err


def test_a_rejected_key_is_data_the_run_names_the_tenant_and_windows_and_the_others_loaded(loaded):
    outcome = loaded.usage
    assert (outcome.succeeded, outcome.error, outcome.exit_code) == (True, None, 1)
    assert set(outcome.failed_checks) == {"raw/usage_daily:all_windows_loaded",
                                          "raw/usage_summary:all_summaries_captured"}
    failed = outcome.load.failed_windows
    assert [(w.tenant, w.start, w.end) for w in failed] == [
        ("initech", date(2026, 1, 1), date(2026, 1, 31)), ("initech", date(2026, 2, 1), date(2026, 2, 20))
    ]
    assert all("401" in w.error and "\n" not in w.error for w in failed)
    assert (outcome.load.tenants, outcome.load.days, outcome.load.windows_loaded) == (5, 51, 8)
    assert outcome.load.rows == 4 * 51 and outcome.load.requests == 10
    assert [(s.tenant, s.error is None) for s in outcome.summaries] == [
        ("acme", True), ("globex", True), ("hooli", True), ("initech", False), ("umbrella", True)
    ]
    # The models were built in the same run, so the stored forecast already covers the loaded tenants.
    con = duckdb.connect(str(loaded.data_dir / "analyst.duckdb"), read_only=True)
    try:
        forecast = {t for (t,) in con.execute("select distinct tenant from analytics.forecast_by_day").fetchall()}
    finally:
        con.close()
    assert forecast == set(LOADED)
    usage = warehouse_usage(loaded.data_dir / "analyst.duckdb")
    assert {t for t, _ in usage} == set(LOADED)
    expected = expected_usage(loaded.api, START, END)
    assert usage == {k: v for k, v in expected.items() if k[0] in LOADED}
    assert_sound(loaded.data_dir)


def test_the_summary_run_reports_each_tenants_period_plan_and_quotas(loaded):
    lines = {line.tenant: line for line in loaded.summary.summaries}
    assert sorted(lines) == sorted(loaded.api.tenants) and loaded.summary.load is None
    for name, profile in loaded.api.tenants.items():
        line = lines[name]
        assert (line.error, line.plan) == (None, profile.plan)
        assert line.period_start <= date(2026, 2, 21) <= line.period_end
        quotas = {quota: limit for quota, _, limit in line.quotas}
        assert quotas["api_calls"] == profile.limit("api_calls")


def section(out: str, title: str) -> list[str]:
    """The indented table lines under the status line starting with `title`."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    body = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        body.append(line)
    return body


def test_status_shows_ranges_the_failing_tenants_windows_and_how_to_finish(cli_env, capfd):
    code, out, err = cli(capfd, "status")
    assert code == 0, err
    header, *rows = section(out, "Tenants: 5")
    assert header.split()[:3] == ["tenant", "loaded", "days"], out
    tenants = {row.split()[0]: row.split("  ") for row in rows}
    tenants = {t: [c.strip() for c in cells if c.strip()] for t, cells in tenants.items()}
    assert sorted(tenants) == sorted(cli_env.api.tenants)
    behind = f"{(datetime.now(UTC).date() - END).days - 1} day(s)"
    for tenant in LOADED:
        assert tenants[tenant][1:5] == [f"{START}..{END}", "51", "none", behind], out
        assert tenants[tenant][6] != "-"  # last summary
    assert tenants["initech"][1:5] == ["-", "0", "none", "-"], out  # known (failed, summarized), nothing loaded

    assert f"--start {START} --end {END} --missing-only" in out, out
    header, *failed = section(out, "Failed windows not loaded since: 2")
    assert [row.split()[:2] for row in failed] == [
        ["initech", "2026-01-01..2026-01-31"], ["initech", "2026-02-01..2026-02-20"]
    ], out
    assert all("401" in row for row in failed)
    assert any(line.startswith("Billing alerts") for line in out.splitlines()), out


def test_a_missing_only_rerun_fetches_only_the_failed_windows_and_closes_them(loaded, tmp_path, monkeypatch, capfd):
    env = copy_of(loaded, tmp_path, monkeypatch)
    seen = len(loaded.api.requests)
    rerun = execute("usage_job", env, loaded.instance, tags=RANGE,
                    run_config=dg.RunConfig(ops={USAGE_OP: UsageLoadConfig(only_missing=True)}))
    assert (rerun.exit_code, rerun.load.failed_windows, rerun.load.windows_loaded) == (0, (), 2), rerun
    asked = [(r.tenant, r.start_date, r.end_date) for r in loaded.api.requests[seen:] if r.path == DETAILS_PATH]
    assert sorted(asked) == [("initech", "2026-01-01", "2026-01-31"), ("initech", "2026-02-01", "2026-02-20")]
    assert warehouse_usage(tmp_path / "data" / "analyst.duckdb") == expected_usage(loaded.api, START, END)
    code, out, _ = cli(capfd, "status")
    assert code == 0 and "Failed windows: none open" in out


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_sql_prints_the_analyst_copy_in_each_format(cli_env, capfd, fmt):
    query = ("select tenant, count(*) as days, sum(api_calls) as calls "
             "from raw.usage_daily group by tenant order by tenant")
    code, out, err = cli(capfd, "sql", query, "--format", fmt)
    assert code == 0 and err == ""
    expected = expected_usage(cli_env.api, START, END)
    calls = {t: sum(c for (tenant, _), (_, c) in expected.items() if tenant == t) for t in LOADED}
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert [(r["tenant"], int(r["days"]), int(r["calls"])) for r in rows] == [(t, 51, calls[t]) for t in LOADED]
    elif fmt == "json":
        assert json.loads(out) == [{"tenant": t, "days": 51, "calls": calls[t]} for t in LOADED]
    else:
        assert all(t in out for t in LOADED) and "tenant" in out and str(calls["acme"]) in out


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("selec 1", id="syntax-error"),
        pytest.param("select * from raw.no_such_table", id="unknown-table"),
        pytest.param("create table raw.scratch (a int)", id="write-to-the-read-only-copy"),
    ],
)
def test_a_bad_query_exits_1_with_one_line(cli_env, capfd, query):
    code, out, err = cli(capfd, "sql", query)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("aurion-pipeline sql: ")


def test_sql_before_any_load_exits_2_saying_what_to_run(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("AURION_DATA_DIR", str(tmp_path / "empty"))
    code, _, err = cli(capfd, "sql", "select 1")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "run a load first" in err


def raw_rows(path: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            "usage": con.execute(
                "select * exclude (_loaded_at) from raw.usage_daily order by tenant, usage_date"
            ).fetchall(),
            "summary": con.execute("select * from raw.usage_summary order by tenant, captured_at").fetchall(),
        }
    finally:
        con.close()


def models(path: Path) -> dict[str, str | int]:
    """Every view (-> "view") and every stored table of the models (-> its row count) in the file."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        found: dict[str, str | int] = {
            f"{schema}.{view}": "view"
            for schema, view in con.execute(
                "select schema_name, view_name from duckdb_views() where not internal").fetchall()
        }
        for schema, table in con.execute(
                "select schema_name, table_name from duckdb_tables() "
                "where schema_name in ('analytics', 'seeds')").fetchall():
            found[f"{schema}.{table}"] = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
        return found
    finally:
        con.close()


def test_rebuild_after_deleting_the_warehouse_restores_the_same_rows_and_models(loaded, tmp_path, monkeypatch, capfd):
    copy_of(loaded, tmp_path, monkeypatch)
    data = tmp_path / "data"
    before, before_models = raw_rows(data / "warehouse.duckdb"), models(data / "analyst.duckdb")
    (data / "warehouse.duckdb").unlink()
    data.joinpath("warehouse.duckdb.wal").unlink(missing_ok=True)
    code, out, err = cli(capfd, "rebuild")
    assert code == 0, err
    assert "rebuilt raw.usage_daily" in out and "NOT rebuilt" not in out
    assert raw_rows(data / "warehouse.duckdb") == before == raw_rows(data / "analyst.duckdb")
    assert before_models["analytics.billing_alerts"] > 0 and before_models["analytics.usage_daily"] == "view"
    assert models(data / "analyst.duckdb") == before_models
    assert_sound(data)
    code, out, _ = cli(capfd, "status")
    assert code == 0 and f"{START}..{END}" in out


def test_rebuild_moves_an_unreadable_warehouse_aside_and_recreates_it(loaded, tmp_path, monkeypatch, capfd):
    copy_of(loaded, tmp_path, monkeypatch)
    data = tmp_path / "data"
    before = raw_rows(data / "warehouse.duckdb")
    (data / "warehouse.duckdb").write_bytes(b"not a duckdb file\0" * 4096)
    code, _, err = cli(capfd, "rebuild")
    assert code == 0, err
    (moved,) = data.glob("warehouse.duckdb.broken-*")
    assert moved.read_bytes().startswith(b"not a duckdb file") and str(moved) in err
    assert raw_rows(data / "warehouse.duckdb") == before


def damage_all_but_the_header(path: Path) -> None:
    """Every block after the header's overwritten, as `dd conv=notrunc` would: DuckDB still opens it."""
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.seek(3 * 4096)
        handle.write(random.Random(7).randbytes(size - 3 * 4096))


def test_rebuild_moves_aside_a_warehouse_damaged_in_the_middle_that_duckdb_still_opens(
        loaded, tmp_path, monkeypatch, capfd):
    """A file whose header is sound opens, and fails only where a damaged block is read: rebuild took it
    for readable, failed on it, and told the user to run rebuild."""
    copy_of(loaded, tmp_path, monkeypatch)
    data = tmp_path / "data"
    before = raw_rows(data / "warehouse.duckdb")
    damage_all_but_the_header(data / "warehouse.duckdb")
    code, _, err = cli(capfd, "rebuild")
    assert code == 0, err
    (moved,) = data.glob("warehouse.duckdb.broken-*")
    assert str(moved) in err and len(err.strip().splitlines()) == 1, err
    assert raw_rows(data / "warehouse.duckdb") == before


def test_rebuild_of_a_damaged_warehouse_still_names_a_damaged_lake_file_and_exits_1(
        loaded, tmp_path, monkeypatch, capfd):
    """The first attempt moves the lake file aside before it meets the damaged warehouse; the second, in a
    new file, finds nothing to move: the month was gone without a word, exit 0."""
    copy_of(loaded, tmp_path, monkeypatch)
    data = tmp_path / "data"
    month = sorted(lake.usage_files(data / "lake"))[0]
    month.write_bytes(b"PAR1" + b"\0" * 64 + b"PAR1")
    # Only the blocks of raw._load_log's rows: the file opens and its catalog reads, and the damage is met
    # by the rebuild's first read of those rows, after the lake file was moved aside.
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        blocks = {b for (b,) in con.execute("select distinct block_id from pragma_storage_info('raw._load_log') "
                                             "where block_id >= 0").fetchall()}
    with (data / "warehouse.duckdb").open("r+b") as handle:
        for block in blocks:  # after the three 4 KiB headers, blocks of 256 KiB
            handle.seek(3 * 4096 + block * 262144 + 8)
            handle.write(random.Random(block).randbytes(4096))
    code, _, err = cli(capfd, "rebuild")
    assert code == 1, err
    assert f"moved unreadable lake file {month}" in err and "--missing-only" in err, err


def test_status_of_many_tenants_lists_only_those_needing_attention(tmp_path, monkeypatch, capfd):
    """At 1,000 tenants the table would scroll away: healthy tenants are counted, not listed."""
    data = tmp_path / "data"
    data.mkdir()
    con = duckdb.connect(str(data / "analyst.duckdb"))
    con.execute(schema_sql())
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    con.execute(
        """insert into raw.usage_daily
           select 't' || lpad(t::varchar, 3, '0'), ?::date - d::integer, 1, 1, 1, 1, null, false, 'r', now()::timestamp
           from range(100) a(t), range(60) b(d) where not (t = 7 and d between 10 and 12)""",
        [yesterday],
    )
    con.execute(
        "insert into raw._load_log values "
        "('t042', ?::date - 70, ?::date - 61, 'failed', null, null, 'boom', 'r', now())",
        [yesterday, yesterday],
    )
    con.close()
    monkeypatch.setenv("AURION_DATA_DIR", str(data))
    code, out, _ = cli(capfd, "status")
    assert code == 0
    _header, row, note = section(out, "Tenants: 100 (99 up to date, no gaps, 1 with gaps)")
    assert row.split()[0] == "t007" and "99 tenants up to date without gaps not listed" in note, out
    assert "Failed windows not loaded since: 1" in out and "  t042" in out


def test_load_timestamps_are_utc_on_a_host_in_another_time_zone(tmp_path):
    """`last load UTC` and `restated_at` come from now()::timestamp in the writer's session."""
    script = (
        "import sys; from pathlib import Path; from aurion_pipeline.storage import Warehouse\n"
        "with Warehouse(Path(sys.argv[1])).writer() as con:\n"
        "    print(con.execute('select now()::timestamp').fetchone()[0].isoformat())"
    )
    env = {**os.environ, "TZ": "Pacific/Kiritimati"}  # UTC+14: a local time would be 14 hours off
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env, capture_output=True, text=True,
                         check=True).stdout
    written = datetime.fromisoformat(out.strip()).replace(tzinfo=UTC)
    assert abs(written - datetime.now(UTC)) < timedelta(hours=1)
