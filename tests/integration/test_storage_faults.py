"""Storage faults in one line: a corrupt or empty lake file, a garbage warehouse, a full disk while
publishing, a read-only data directory and DuckDB running out of memory — each on real files (a
small tmpfs where the disk itself must misbehave), each ending in one line that names the file and
says what to do."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aurion_pipeline.cli import main
from aurion_pipeline.config import REPO_SQL_DIR, load_settings
from aurion_pipeline.ops.rebuild import rebuild
from aurion_pipeline.storage import StorageError, Warehouse, lake
from aurion_pipeline.storage.load import Window, load_usage, missing_days, replace_declared_plans

MARCH, APRIL = date(2026, 3, 1), date(2026, 4, 1)


def usage(tenant: str, start: date, days: int, run_id: str = "r1") -> pa.Table:
    return pa.table({
        "tenant": [tenant] * days, "usage_date": [start + timedelta(days=i) for i in range(days)],
        "voice_minutes": [1.5] * days, "api_calls": [7] * days, "llm_input_tokens": [11] * days,
        "llm_output_tokens": [13] * days, "_extra": [None] * days, "_filled": [False] * days,
        "_run_id": [run_id] * days,
    }, schema=lake.USAGE_LAKE_SCHEMA)


def load(wh: Warehouse, tables_and_windows, *, publish: bool = True) -> None:
    with wh.writer(publish=publish) as con:
        for table, window in tables_and_windows:
            lake.write_usage(wh.lake_dir, table)
            load_usage(con, wh.lake_dir, [window], "r1")


def two_months(wh: Warehouse) -> None:
    load(wh, [(usage("acme", MARCH, 31), Window("acme", MARCH, date(2026, 3, 31))),
              (usage("acme", APRIL, 30), Window("acme", APRIL, date(2026, 4, 30)))])


def break_file(path: Path, how: str) -> None:
    if how == "foreign":  # a valid Parquet file of something else
        pq.write_table(pa.table({"foo": [1, 2]}), path)
        return
    if how == "empty":
        path.write_bytes(b"")
        return
    data = bytearray(path.read_bytes())
    rng = random.Random(7)
    for i in range(4, len(data) - 8):  # keep the magic bytes at both ends: a file that looks like Parquet
        data[i] = rng.randrange(256)
    path.write_bytes(bytes(data))


def settings_for(data_dir: Path):
    return load_settings({"AURION_DATA_DIR": str(data_dir), "AURION_LOCK_TIMEOUT_SECONDS": "5"})


# --- a lake file that cannot be read ------------------------------------------------------------


@pytest.mark.slow  # rebuild builds every SQL model
@pytest.mark.parametrize("how", ["corrupt", "empty", "foreign"])
def test_rebuild_moves_an_unreadable_lake_file_aside_and_rebuilds_the_rest(wh, how, capsys):
    two_months(wh)
    march = lake.usage_month_path(wh.lake_dir, "2026-03")
    break_file(march, how)

    code = rebuild(settings_for(wh.data_dir))

    err = capsys.readouterr().err
    assert code == 1
    [moved] = list(march.parent.glob("part.parquet.corrupt-*"))
    assert not march.exists()
    [line] = [x for x in err.splitlines() if "moved unreadable lake file" in x]
    assert str(march) in line and moved.name in line
    assert "aurion-pipeline backfill --start 2026-03-01 --end 2026-03-31 --missing-only" in line
    with duckdb.connect(str(wh.analyst_path), read_only=True) as con:
        months = con.execute("select distinct month(usage_date) from raw.usage_daily").fetchall()
        loaded_march = con.execute("select count(*) from raw._load_log where status = 'loaded' "
                                   "and window_start <= '2026-03-31' and window_end >= '2026-03-01'").fetchone()[0]
    assert months == [(4,)]
    assert loaded_march == 0  # so --missing-only fetches March again


@pytest.mark.slow  # rebuild builds every SQL model
def test_rebuild_after_a_lake_file_was_removed_says_which_days_are_gone_and_they_become_missing(wh, capsys):
    two_months(wh)
    lake.usage_month_path(wh.lake_dir, "2026-03").unlink()

    code = rebuild(settings_for(wh.data_dir))

    err = capsys.readouterr().err
    assert code == 1
    [line] = [x for x in err.splitlines() if "not in the lake any more" in x]
    assert line.startswith("31 day(s) of 1 tenant(s) (acme 2026-03-01..2026-03-31) loaded before")
    assert line.endswith("`aurion-pipeline backfill --start 2026-03-01 --end 2026-03-31 --missing-only`")
    with Warehouse(wh.data_dir).writer() as con:
        missing = missing_days(con, ["acme"], MARCH, date(2026, 4, 30))
    assert missing == {"acme": [MARCH + timedelta(days=i) for i in range(31)]}  # so --missing-only fetches them
    # and status lists them, though they lie before the first day still loaded (no gap there)
    from aurion_pipeline.ops.status import status_text

    with duckdb.connect(str(wh.analyst_path), read_only=True) as con:
        text = status_text(con, wh, date(2026, 5, 1))
    assert "Failed windows not loaded since: 1  (finish with: aurion-pipeline backfill --start 2026-03-01 " \
           "--end 2026-03-31 --missing-only)" in text
    assert "not in the lake at a rebuild" in text


@pytest.mark.slow  # rebuild builds every SQL model
def test_rebuild_restores_the_plans_the_tenants_file_declares(wh, tmp_path):
    """raw.tenant_plans is not in the lake: a warehouse rebuilt after it was lost takes the declared plans
    from the tenants file, so plan_utilization does not fall back to 'unknown' until the next load."""
    two_months(wh)
    wh.path.unlink()
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text("- {name: acme, api_key_env: AURION_KEY_ACME, plan: professional}\n")
    settings = load_settings({"AURION_DATA_DIR": str(wh.data_dir), "AURION_LOCK_TIMEOUT_SECONDS": "5",
                              "AURION_TENANTS_FILE": str(tenants)})

    assert rebuild(settings) == 0

    with duckdb.connect(str(wh.analyst_path), read_only=True) as con:
        assert con.execute("select tenant, plan from raw.tenant_plans").fetchall() == [("acme", "professional")]
        used = con.execute("select distinct plan, plan_source from analytics.plan_utilization "
                           "where tenant = 'acme'").fetchall()
    assert used == [("professional", "declared")]


@pytest.mark.slow  # rebuild builds every SQL model
def test_rebuild_of_a_surviving_warehouse_keeps_its_plans_whatever_this_shells_tenants_file_says(wh):
    two_months(wh)
    with wh.writer() as con:
        replace_declared_plans(con, {"acme": "professional"})  # as a load with a tenants file declaring it

    assert rebuild(settings_for(wh.data_dir)) == 0  # no AURION_TENANTS_FILE here: one tenant, no plan

    with duckdb.connect(str(wh.analyst_path), read_only=True) as con:
        assert con.execute("select tenant, plan from raw.tenant_plans").fetchall() == [("acme", "professional")]


@pytest.mark.slow  # rebuild builds every SQL model
def test_rebuild_whose_sql_models_fail_exits_1_and_says_so(wh, tmp_path, capsys):
    two_months(wh)
    sql_dir = tmp_path / "sql"
    shutil.copytree(REPO_SQL_DIR, sql_dir, ignore=shutil.ignore_patterns(".parse_cache.json*"))
    (sql_dir / "models/analytics/billing_periods.sql").write_text("select error('boom') as tenant")
    settings = load_settings({"AURION_DATA_DIR": str(wh.data_dir), "AURION_SQL_DIR": str(sql_dir)})

    code = rebuild(settings)

    out = capsys.readouterr().out
    assert code == 1 and "SQL models NOT rebuilt (" in out and "boom" in out, out
    assert "run `aurion-pipeline rebuild` again" in out


@pytest.mark.parametrize("how", ["corrupt", "empty"])
def test_a_backfill_over_an_unreadable_lake_file_names_it_and_says_rebuild(wh, how):
    two_months(wh)
    march = lake.usage_month_path(wh.lake_dir, "2026-03")
    break_file(march, how)

    with pytest.raises(StorageError) as caught:
        load(wh, [(usage("acme", MARCH, 3, run_id="r2"), Window("acme", MARCH, date(2026, 3, 3)))])

    message = str(caught.value)
    assert message.count(str(march)) == 1 and "run `aurion-pipeline rebuild`" in message
    assert "`aurion-pipeline backfill --start 2026-03-01 --end 2026-03-31 --missing-only`" in message  # as rebuild says
    assert "\n" not in message


def test_a_load_reading_an_unreadable_month_file_names_it(wh):
    two_months(wh)
    march = lake.usage_month_path(wh.lake_dir, "2026-03")
    break_file(march, "corrupt")

    with (pytest.raises(StorageError, match=r"lake file .*usage_month=2026-03/part.parquet is unreadable"),
          wh.writer() as con):  # the month file is read, not rewritten: no new rows for March
        load_usage(con, wh.lake_dir, [Window("acme", MARCH, date(2026, 3, 31))], "r2")


# --- a warehouse DuckDB cannot open ----------------------------------------------------------------


@pytest.mark.slow  # rebuild builds every SQL model
def test_a_garbage_warehouse_says_run_rebuild(wh):
    two_months(wh)
    wh.path.write_bytes(b"this is not a database" * 1000)

    with pytest.raises(StorageError) as caught:
        load(wh, [])

    assert str(wh.path) in str(caught.value) and "run `aurion-pipeline rebuild`" in str(caught.value)
    assert rebuild(settings_for(wh.data_dir)) == 0  # and rebuild does get it back


# --- DuckDB out of memory ----------------------------------------------------------------------------


def test_out_of_memory_inside_a_load_reports_duckdbs_own_error(tmp_path):
    roomy = Warehouse(tmp_path / "data", lock_timeout_s=5)
    tenants = [f"t{i:04d}" for i in range(300)]
    with roomy.writer() as con:
        lake.write_usage(roomy.lake_dir, pa.concat_tables([usage(t, MARCH, 31) for t in tenants]))
    cramped = Warehouse(roomy.data_dir, lock_timeout_s=5, memory_limit="1MB")

    with pytest.raises(StorageError) as caught, cramped.writer() as con:
        load_usage(con, cramped.lake_dir, [Window(t, MARCH, date(2026, 3, 31)) for t in tenants], "r1")

    assert "Out of Memory Error" in str(caught.value) and "AURION_DUCKDB_MEMORY_LIMIT=1MB" in str(caught.value)
    assert "transaction is aborted" not in str(caught.value).lower()
    assert isinstance(caught.value.__cause__, duckdb.OutOfMemoryException)


# --- the disk itself: full, read-only ----------------------------------------------------------------


@pytest.fixture
def tmpfs(tmp_path):
    """A small tmpfs of our own, where a test can fill the disk or make it read-only."""
    mount_point = tmp_path / "mnt"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'}); needs root")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill_the_disk(where: Path) -> None:
    with open(where / "filler", "wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass
        with contextlib.suppress(OSError):
            os.fsync(filler.fileno())


def test_a_full_disk_during_publish_says_the_warehouse_is_loaded_and_analysts_keep_the_previous_copy(tmpfs):
    wh = Warehouse(tmpfs / "data", lock_timeout_s=5)
    two_months(wh)
    before = Path(wh.analyst_path).read_bytes()

    with pytest.raises(StorageError) as caught, wh.writer(publish=True) as con:
        lake.write_usage(wh.lake_dir, usage("beta", MARCH, 5))
        load_usage(con, wh.lake_dir, [Window("beta", MARCH, date(2026, 3, 5))], "r2")
        con.execute("checkpoint")
        fill_the_disk(tmpfs)  # the load is committed and on disk; the copy finds no room

    message = str(caught.value)
    assert message.startswith("the warehouse is loaded, but the analyst copy")
    assert "no space left" in message and "analysts still see the previous copy" in message
    assert wh.analyst_path.read_bytes() == before
    assert not list(wh.data_dir.glob(".analyst.duckdb.*.tmp"))
    with duckdb.connect(str(wh.path), read_only=True) as con:
        assert con.execute("select count(*) from raw.usage_daily where tenant = 'beta'").fetchone()[0] == 5


@pytest.mark.slow  # imports the whole CLI
def test_a_read_only_data_directory_is_one_line_and_exit_2(tmpfs, capsys, monkeypatch):
    wh = Warehouse(tmpfs / "data", lock_timeout_s=5)
    two_months(wh)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)

    with pytest.raises(StorageError) as caught:
        load(wh, [])
    assert caught.value.exit_code == 2 and "not writable" in str(caught.value)

    monkeypatch.setenv("AURION_DATA_DIR", str(wh.data_dir))
    monkeypatch.chdir(tmpfs.parent)
    assert main(["rebuild"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not writable" in err and "AURION_DATA_DIR" in err


def test_a_full_disk_during_a_load_is_one_line_and_nothing_is_committed(tmpfs):
    wh = Warehouse(tmpfs / "data", lock_timeout_s=5)
    two_months(wh)
    fill_the_disk(tmpfs)

    with pytest.raises(StorageError) as caught:
        load(wh, [(usage("beta", MARCH, 5, run_id="r2"), Window("beta", MARCH, date(2026, 3, 5)))])

    message = str(caught.value)
    assert message.startswith("no space left on the device holding") and "\n" not in message
    (tmpfs / "filler").unlink()
    with duckdb.connect(str(wh.path), read_only=True) as con:
        assert con.execute("select count(*) from raw.usage_daily where tenant = 'beta'").fetchone()[0] == 0


@pytest.mark.slow  # imports the whole CLI; rebuild builds the SQL models
@pytest.mark.parametrize("command", ["rebuild", "report"])
def test_a_full_disk_under_a_command_is_one_line_exit_1_and_it_works_once_there_is_room(
        tmpfs, capsys, monkeypatch, command):
    """rebuild: the SQL models' checkpoint (a FatalException) or the commit (a TransactionException) failed
    for lack of room, a 16-22 line traceback where a load's IOException gave one line. report: exit 2, as if
    the input were bad."""
    wh = Warehouse(tmpfs / "data", lock_timeout_s=5)
    two_months(wh)
    monkeypatch.setenv("AURION_DATA_DIR", str(wh.data_dir))
    fill_the_disk(tmpfs)
    assert main([command]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"aurion-pipeline {command}: no space left on the device"), err
    assert not list(wh.data_dir.glob(".*.tmp"))
    (tmpfs / "filler").unlink()
    assert main([command]) == 0
    with duckdb.connect(str(wh.analyst_path), read_only=True) as con:
        assert con.execute("select count(*) from raw.usage_daily").fetchone()[0] == 61


@pytest.mark.slow  # imports the whole CLI
def test_a_report_out_on_a_read_only_disk_says_to_choose_another_out_not_another_data_dir(
        wh, tmpfs, capsys, monkeypatch):
    two_months(wh)
    monkeypatch.setenv("AURION_DATA_DIR", str(wh.data_dir))
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    assert main(["report", "--out", str(tmpfs / "r.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not writable" in err and "choose --out in a folder you can write" in err
    assert "AURION_DATA_DIR" not in err, err


def test_rebuild_does_not_move_aside_a_warehouse_it_may_not_read(wh, monkeypatch):
    """Permission denied is the file system's answer, not a broken file: moved aside, the warehouse was
    recreated from the lake and its load log lost. (As root no file is unreadable: DuckDB's answer to a
    user without permission is planted at the one connect that checks the file.)"""
    import aurion_pipeline.ops.rebuild as rebuild_module

    two_months(wh)

    def refused(*args, **kwargs):
        raise duckdb.IOException(f'IO Error: Cannot open file "{wh.path}": Permission denied')

    monkeypatch.setattr(rebuild_module, "duckdb", type("duckdb", (), {"connect": refused, "Error": duckdb.Error}))
    with pytest.raises(StorageError) as caught:
        rebuild(settings_for(wh.data_dir))
    assert caught.value.exit_code == 2 and "not writable" in str(caught.value)
    assert wh.path.exists() and not list(wh.data_dir.glob("warehouse.duckdb.broken-*"))


def test_rebuild_while_another_process_holds_the_warehouse_is_exit_1_naming_it(wh, capsys, monkeypatch):
    """Exit 1, as a load that waits as long: nothing was wrong with the command (exit 2 said so)."""
    two_months(wh)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time\n"
         f"con = duckdb.connect({str(wh.path)!r}, read_only=True)\nprint('holding', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        monkeypatch.setenv("AURION_DATA_DIR", str(wh.data_dir))
        monkeypatch.setenv("AURION_LOCK_TIMEOUT_SECONDS", "1")
        assert main(["rebuild"]) == 1
    finally:
        holder.kill()
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"PID {holder.pid}" in err, err
