"""The raw tables again from the lake alone, after a lost or corrupt warehouse (`aurion-pipeline rebuild`)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from aurion_pipeline.storage import lake
from aurion_pipeline.storage.load import USAGE_COLUMNS


def rebuild_from_lake(con: duckdb.DuckDBPyConnection, lake_dir: Path) -> int:
    """Recreate raw.usage_daily and raw.usage_summary from the lake (after a lost or corrupt warehouse)."""
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
    _log_islands_not_logged(con)
    con.execute("commit")
    return con.execute("select count(*) from raw.usage_daily").fetchone()[0]


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
