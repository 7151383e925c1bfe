"""The lake and the warehouse on real Parquet and real DuckDB files: idempotent window loads,
restatements, locks held by other processes, the analyst copy, and rebuilding from the lake."""

import subprocess
import sys
import textwrap
import time
from datetime import date, timedelta

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aurion_pipeline.ops.status import OPEN_FAILURES
from aurion_pipeline.storage import Warehouse, WarehouseLockedError, lake
from aurion_pipeline.storage.load import Window, load_usage, log_failures, missing_days
from aurion_pipeline.storage.rebuild import rebuild_from_lake


def usage(tenant: str, start: date, days: int, scale: float = 1.0, run_id: str = "r1") -> pa.Table:
    dates = [start + timedelta(days=i) for i in range(days)]
    return pa.table(
        {
            "tenant": [tenant] * days,
            "usage_date": dates,
            "voice_minutes": [10.0 * scale + i for i in range(days)],
            "api_calls": [int(100 * scale) + i for i in range(days)],
            "llm_input_tokens": [1000 + i for i in range(days)],
            "llm_output_tokens": [None] * days,
            "_extra": [None] * days,
            "_filled": [False] * days,
            "_run_id": [run_id] * days,
        },
        schema=lake.USAGE_LAKE_SCHEMA,
    )


def write_and_load(wh: Warehouse, table: pa.Table, windows, run_id="r1"):
    with wh.writer(publish=True) as con:
        lake.write_usage(wh.lake_dir, table)
        return load_usage(con, wh.lake_dir, windows, run_id)


def rows(wh: Warehouse, sql="select tenant, usage_date, voice_minutes, api_calls from raw.usage_daily order by all"):
    con = duckdb.connect(str(wh.analyst_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_loading_the_same_window_twice_leaves_identical_contents(wh):
    window = Window("acme", date(2026, 1, 30), date(2026, 2, 2))
    write_and_load(wh, usage("acme", window.start, 4), [window])
    first = rows(wh)
    write_and_load(wh, usage("acme", window.start, 4), [window])
    assert rows(wh) == first and len(first) == 4
    assert sorted(p.parent.name for p in (wh.lake_dir / "usage_daily").glob("*/*.parquet")) == [
        "usage_month=2026-01",
        "usage_month=2026-02",
    ]


def test_a_window_replaces_only_its_own_tenant_and_days(wh):
    write_and_load(wh, pa.concat_tables([usage("acme", date(2026, 1, 1), 10), usage("globex", date(2026, 1, 1), 10)]),
                   [Window("acme", date(2026, 1, 1), date(2026, 1, 10)),
                    Window("globex", date(2026, 1, 1), date(2026, 1, 10))])
    write_and_load(wh, usage("acme", date(2026, 1, 3), 2, scale=2),
                   [Window("acme", date(2026, 1, 3), date(2026, 1, 4))])
    by_key = {(t, d): v for t, d, v, _ in rows(wh)}
    assert len(by_key) == 20
    assert by_key[("acme", date(2026, 1, 3))] == 20.0 and by_key[("acme", date(2026, 1, 5))] == 14.0
    assert by_key[("globex", date(2026, 1, 3))] == 12.0


def test_changed_figures_are_recorded_as_restatements(wh):
    window = Window("acme", date(2026, 1, 1), date(2026, 1, 3))
    write_and_load(wh, usage("acme", window.start, 3), [window])
    result = write_and_load(wh, usage("acme", window.start, 3, scale=1.5, run_id="r2"), [window], run_id="r2")
    assert result.restated_values == 6  # voice_minutes and api_calls moved on 3 days; tokens did not
    restated = rows(wh, "select usage_date, metric, old_value, new_value, _run_id "
                        "from raw.usage_restatements order by all")
    assert restated[0] == (date(2026, 1, 1), "api_calls", 100.0, 150.0, "r2")
    assert {r[1] for r in restated} == {"api_calls", "voice_minutes"}


def test_load_log_tells_loaded_from_missing_days(wh):
    write_and_load(wh, usage("acme", date(2026, 1, 1), 5), [Window("acme", date(2026, 1, 1), date(2026, 1, 5))])
    with wh.writer() as con:
        missing = missing_days(con, ["acme", "globex"], date(2026, 1, 4), date(2026, 1, 7))
    assert missing["acme"] == [date(2026, 1, 6), date(2026, 1, 7)]
    assert len(missing["globex"]) == 4


def test_a_failed_refetch_of_loaded_days_leaves_them_missing_until_a_load_succeeds(wh):
    """A lookback that fails over days already loaded: `status` lists the window as not loaded since,
    so `--missing-only` must fetch those days (and only those) until a later load covers them."""
    write_and_load(wh, usage("acme", date(2026, 1, 1), 5), [Window("acme", date(2026, 1, 1), date(2026, 1, 5))])
    with wh.writer(publish=True) as con:
        log_failures(con, [(Window("acme", date(2026, 1, 4), date(2026, 1, 5)), "503: unavailable")], "r2")
        assert missing_days(con, ["acme"], date(2026, 1, 1), date(2026, 1, 5)) == {
            "acme": [date(2026, 1, 4), date(2026, 1, 5)]}
    assert [r[:3] for r in rows(wh, OPEN_FAILURES)] == [("acme", date(2026, 1, 4), date(2026, 1, 5))]
    write_and_load(wh, usage("acme", date(2026, 1, 4), 2), [Window("acme", date(2026, 1, 4), date(2026, 1, 5))], "r3")
    with wh.writer() as con:
        assert missing_days(con, ["acme"], date(2026, 1, 1), date(2026, 1, 5)) == {"acme": []}
    assert rows(wh, OPEN_FAILURES) == []


def test_a_held_warehouse_fails_after_the_timeout_naming_the_holder(wh, tmp_path):
    write_and_load(wh, usage("acme", date(2026, 1, 1), 1), [Window("acme", date(2026, 1, 1), date(2026, 1, 1))])
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(wh.path)!r}, read_only=True)
            print("holding", flush=True)
            time.sleep(60)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        started = time.monotonic()
        with pytest.raises(WarehouseLockedError) as err, Warehouse(wh.data_dir, lock_timeout_s=1).writer():
            pass
        assert time.monotonic() - started >= 1
        message = str(err.value)
        assert f"PID {holder.pid}" in message and "close that session" in message and "\n" not in message
    finally:
        holder.kill()
        holder.wait()


def test_an_open_analyst_copy_never_blocks_a_load_and_stays_consistent(wh):
    window = Window("acme", date(2026, 1, 1), date(2026, 1, 3))
    write_and_load(wh, usage("acme", window.start, 3), [window])
    reader = duckdb.connect(str(wh.analyst_path), read_only=True)
    try:
        before = reader.execute("select sum(voice_minutes) from raw.usage_daily").fetchone()
        write_and_load(wh, usage("acme", window.start, 3, scale=3), [window])
        assert reader.execute("select sum(voice_minutes) from raw.usage_daily").fetchone() == before
    finally:
        reader.close()
    assert rows(wh)[0][2] == 30.0


def test_warehouse_rebuilds_from_the_lake(wh):
    windows = [Window("acme", date(2026, 1, 1), date(2026, 1, 5)), Window("acme", date(2026, 1, 10), date(2026, 1, 12))]
    write_and_load(wh, pa.concat_tables([usage("acme", date(2026, 1, 1), 5), usage("acme", date(2026, 1, 10), 3)]),
                   windows)
    expected = rows(wh)
    wh.path.unlink()
    with wh.writer(publish=True) as con:
        assert rebuild_from_lake(con, wh.lake_dir) == (8, [])
        log = con.execute("select window_start, window_end from raw._load_log order by 1").fetchall()
    assert rows(wh) == expected
    assert log == [(date(2026, 1, 1), date(2026, 1, 5)), (date(2026, 1, 10), date(2026, 1, 12))]


def test_a_killed_lake_write_leaves_the_old_file_readable(wh, monkeypatch):
    write_and_load(wh, usage("acme", date(2026, 1, 1), 3), [Window("acme", date(2026, 1, 1), date(2026, 1, 3))])
    path = lake.usage_month_path(wh.lake_dir, "2026-01")

    def die_midway(table, where, **kwargs):
        with open(where, "wb") as handle:
            handle.write(b"PAR1 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(lake.pq, "write_table", die_midway)
    with pytest.raises(KeyboardInterrupt):
        lake.write_usage(wh.lake_dir, usage("acme", date(2026, 1, 1), 3, scale=9))
    assert pq.read_table(path).num_rows == 3
    assert [p.name for p in path.parent.iterdir()] == ["part.parquet"]


def test_the_next_write_removes_a_temp_file_left_by_a_killed_writer(wh):
    path = lake.usage_month_path(wh.lake_dir, "2026-01")
    path.parent.mkdir(parents=True)
    (path.parent / ".part.parquet.deadbeef.tmp").write_bytes(b"PAR1 torn")
    lake.write_usage(wh.lake_dir, usage("acme", date(2026, 1, 1), 2))
    assert [p.name for p in path.parent.iterdir()] == ["part.parquet"]


def test_the_raw_schema_is_created_whole_or_not_at_all(tmp_path, monkeypatch):
    """A first writer that stops while it creates the raw schema (killed, or a statement failing)
    leaves none of it behind, never half; the next writer creates all of it."""
    from aurion_pipeline.storage import connection

    full_schema = connection.schema_sql()
    monkeypatch.setattr(connection, "schema_sql", lambda: full_schema + "\nselect * from no_such_table;")
    wh = Warehouse(tmp_path / "data")
    with pytest.raises(duckdb.CatalogException), wh.writer():
        pass
    with duckdb.connect(str(wh.path), read_only=True) as con:
        assert con.execute("select count(*) from duckdb_tables()").fetchone()[0] == 0
    monkeypatch.undo()
    with wh.writer() as con:
        raw = con.execute("select table_name from duckdb_tables() where schema_name = 'raw'").fetchall()
    tables = {name for (name,) in raw}
    assert tables == {"usage_daily", "_load_log", "usage_restatements", "usage_summary", "tenant_plans"}
