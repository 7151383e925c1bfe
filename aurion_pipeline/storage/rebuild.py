"""The raw tables again from the lake alone, after a lost or corrupt warehouse (`aurion-pipeline rebuild`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from aurion_pipeline.storage import lake
from aurion_pipeline.storage.load import USAGE_COLUMNS

LOST_FROM_THE_LAKE = "not in the lake at a rebuild (its file was moved aside or removed)"


def rebuild_from_lake(con: duckdb.DuckDBPyConnection, lake_dir: Path) -> tuple[int, list[tuple[str, date, date]]]:
    """Recreate raw.usage_daily and raw.usage_summary from the lake (after a lost or corrupt warehouse).
    Returns the rows loaded, and the days loaded before that the lake no longer holds (`forget_lost_days`)."""
    con.execute("begin")
    con.execute("delete from raw.usage_daily")
    if lake.usage_files(lake_dir):  # read_parquet refuses an empty glob
        con.execute(
            f"insert into raw.usage_daily select {USAGE_COLUMNS}, now()::timestamp "
            "from read_parquet(?, hive_partitioning = false)",
            [lake.usage_glob(lake_dir)],
        )
    con.execute("delete from raw.usage_summary")
    if lake.summary_files(lake_dir):
        con.execute(
            "insert into raw.usage_summary by name "
            "select * from read_parquet(?, hive_partitioning = false, union_by_name = true)",
            [lake.summary_glob(lake_dir)],
        )
    lost = forget_lost_days(con)
    _log_islands_not_logged(con)
    con.execute("commit")
    return con.execute("select count(*) from raw.usage_daily").fetchone()[0], lost


def forget_lost_days(con: duckdb.DuckDBPyConnection) -> list[tuple[str, date, date]]:
    """Days a load logged as loaded that have no row after the rebuild: their lake file was moved aside
    or removed. The load-log windows holding them are dropped (their other days are logged again
    below), and each run of lost days is logged as a failed window, so `status` lists it with the
    command that reloads it — also before the first day still loaded, where it is no gap — and
    `backfill --missing-only` fetches it. Returns them as (tenant, first day, last day) runs."""
    con.execute(
        """create or replace temp table _lost as
           select distinct l.tenant, d::date as usage_date
           from raw._load_log as l, range(l.window_start, l.window_end + 1, interval 1 day) as days(d)
           where l.status = 'loaded'
             and not exists (select 1 from raw.usage_daily u where u.tenant = l.tenant and u.usage_date = d::date)"""
    )
    con.execute(
        """delete from raw._load_log as l where l.status = 'loaded' and exists (
               select 1 from _lost as d
               where d.tenant = l.tenant and d.usage_date between l.window_start and l.window_end)"""
    )
    lost = con.execute(
        """select tenant, min(usage_date), max(usage_date)
           from (select *, usage_date - row_number() over (partition by tenant order by usage_date)::integer as run
                 from _lost)
           group by tenant, run order by tenant, 2"""
    ).fetchall()
    con.execute("drop table _lost")
    if lost:  # DuckDB's executemany refuses an empty list
        con.executemany(
            "insert into raw._load_log values (?, ?, ?, 'failed', null, null, ?, 'rebuild-from-lake', "
            "now()::timestamp)", [(tenant, first, last, LOST_FROM_THE_LAKE) for tenant, first, last in lost],
        )
    return lost


def _log_islands_not_logged(con: duckdb.DuckDBPyConnection) -> None:
    """A warehouse rebuilt from scratch has lost its load log: every run of consecutive days in the
    lake was loaded (omitted days are stored as zero rows), so log each run as one loaded window."""
    con.execute(
        """insert into raw._load_log
           select tenant, min(usage_date), max(usage_date), 'loaded', count(*), count(*) filter (where _filled),
                  null, 'rebuild-from-lake', now()::timestamp
           from (select tenant, usage_date, _filled,
                        usage_date - row_number() over (partition by tenant order by usage_date)::integer as island
                 from raw.usage_daily u
                 where not exists (select 1 from raw._load_log l where l.status = 'loaded' and l.tenant = u.tenant
                                   and u.usage_date between l.window_start and l.window_end))
           group by tenant, island"""
    )
