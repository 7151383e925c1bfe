"""Loading the lake into the raw tables: delete + insert of exactly a run's windows, in one transaction.

A window is (tenant, start, end), inclusive. Rows come from the lake's Parquet files, so the
warehouse is always a function of the lake and can be rebuilt from it (`storage/rebuild.py`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from aurion_pipeline.source.redact import redact
from aurion_pipeline.storage import errors, lake

METRICS = ("voice_minutes", "api_calls", "llm_input_tokens", "llm_output_tokens")
USAGE_COLUMNS = "tenant, usage_date, " + ", ".join(METRICS) + ", _extra, _filled, _run_id"


@dataclass(frozen=True)
class Window:
    tenant: str
    start: date
    end: date


@dataclass(frozen=True)
class UsageLoad:
    rows: int
    restated_values: int


def _windows_table(windows: Sequence[Window]) -> pa.Table:
    return pa.table(
        {
            "tenant": pa.array([w.tenant for w in windows], pa.string()),
            "window_start": pa.array([w.start for w in windows], pa.date32()),
            "window_end": pa.array([w.end for w in windows], pa.date32()),
        }
    )


def load_usage(con: duckdb.DuckDBPyConnection, lake_dir: Path, windows: Sequence[Window], run_id: str) -> UsageLoad:
    """Replace the warehouse rows of `windows` with the lake's, record what changed, log the windows."""
    if not windows:
        return UsageLoad(0, 0)
    con.register("_scope", _windows_table(windows))
    try:
        con.execute("begin")
        _read_incoming(con, _month_files(lake_dir, windows))
        restated = _record_restatements(con, run_id)
        con.execute(
            """delete from raw.usage_daily o using _scope s
               where o.tenant = s.tenant and o.usage_date between s.window_start and s.window_end"""
        )
        con.execute(
            f"insert into raw.usage_daily select {USAGE_COLUMNS}, now()::timestamp from _incoming"
        )
        rows = con.execute("select count(*) from _incoming").fetchone()[0]
        _log_windows(con, run_id)
        con.execute("commit")
    except BaseException:
        rollback_quietly(con)
        raise
    finally:
        con.unregister("_scope")
    return UsageLoad(rows=rows, restated_values=restated)


def _read_incoming(con: duckdb.DuckDBPyConnection, files: list[Path]) -> None:
    try:
        con.execute(
            """
            create or replace temp table _incoming as
            select p.* from read_parquet(?, hive_partitioning = false) p
            where exists (select 1 from _scope s
                          where p.tenant = s.tenant and p.usage_date between s.window_start and s.window_end)
            """,
            [[str(f) for f in files]],
        )
    except duckdb.OutOfMemoryException:
        raise
    except duckdb.Error as exc:  # a broken Parquet file surfaces as several error types (Thrift, ZSTD, I/O)
        bad = lake.unreadable_files(files)
        if not bad:
            raise
        path, why = bad[0]
        raise errors.unreadable_lake_file(path, RuntimeError(why)) from exc


def rollback_quietly(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back after a failure, never hiding it: when DuckDB has already ended the transaction
    (out of memory, a fatal error), the rollback's own error would otherwise replace the real one."""
    with contextlib.suppress(duckdb.Error):
        con.execute("rollback")


def _month_files(lake_dir: Path, windows: Sequence[Window]) -> list[Path]:
    """Only the month files the windows touch, so a load never scans the whole lake."""
    first, last = min(w.start for w in windows), max(w.end for w in windows)
    months = {f"{y:04d}-{m:02d}" for y in range(first.year, last.year + 1) for m in range(1, 13)
              if (first.year, first.month) <= (y, m) <= (last.year, last.month)}
    files = [lake.usage_month_path(lake_dir, m) for m in sorted(months)]
    return [f for f in files if f.exists()]


def _record_restatements(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Keep old and new figures of every (day, metric) whose value moved (late-arriving usage)."""
    # One join of the loaded rows with the incoming ones (not one per metric: the table grows with history).
    pairs = ", ".join(
        f"o.{m}::double as old_{m}, n.{m}::double as new_{m}, o.{m} is distinct from n.{m} as moved_{m}"
        for m in METRICS
    )
    moved = " or ".join(f"o.{m} is distinct from n.{m}" for m in METRICS)
    unpivot = " union all ".join(
        f"select tenant, usage_date, '{m}' as metric, old_{m} as old_value, new_{m} as new_value "
        f"from changed where moved_{m}"
        for m in METRICS
    )
    before = con.execute("select count(*) from raw.usage_restatements").fetchone()[0]
    con.execute(
        f"insert into raw.usage_restatements "
        f"with changed as materialized (select o.tenant, o.usage_date, {pairs} "
        f"from raw.usage_daily o join _incoming n using (tenant, usage_date) where {moved}) "
        f"select tenant, usage_date, metric, old_value, new_value, ?, now()::timestamp from ({unpivot})",
        [run_id],
    )
    return con.execute("select count(*) from raw.usage_restatements").fetchone()[0] - before


def _log_windows(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    con.execute(
        """insert into raw._load_log
           select s.tenant, s.window_start, s.window_end, 'loaded', count(i.usage_date),
                  count(i.usage_date) filter (where i._filled), null, ?, now()::timestamp
           from _scope s left join _incoming i
             on i.tenant = s.tenant and i.usage_date between s.window_start and s.window_end
           group by all""",
        [run_id],
    )


def log_failures(con: duckdb.DuckDBPyConnection, failures: Sequence[tuple[Window, str]], run_id: str) -> None:
    """Record windows that could not be loaded, with the one-line reason, so `status` can show them.
    The reason reaches the analyst copy, so no fragment of a key may be in it."""
    for window, error in failures:
        con.execute(
            "insert into raw._load_log values (?, ?, ?, 'failed', null, null, ?, ?, now()::timestamp)",
            [window.tenant, window.start, window.end, redact(error)[:500], run_id],
        )


def missing_days(
    con: duckdb.DuckDBPyConnection, tenants: Sequence[str], start: date, end: date
) -> dict[str, list[date]]:
    """For each tenant, the days in [start, end] that are not loaded: no successful load covered them,
    or the latest attempt at them failed (a lookback or a re-fetch of loaded days that failed stays
    open until a load succeeds). The same days `status` lists under its failed windows
    (ops/status.OPEN_FAILURES), so `--missing-only` finishes exactly what `status` shows."""
    rows = con.execute(
        """select tenant, list(day order by day) filter (
                      where last_loaded is null or last_failed > last_loaded)
           from (
               select t.tenant, d::date as day,
                      max(l._loaded_at) filter (where l.status = 'loaded') as last_loaded,
                      max(l._loaded_at) filter (where l.status = 'failed') as last_failed
               from unnest(?::varchar[]) t(tenant) cross join range(?::date, ?::date + 1, interval 1 day) r(d)
               left join raw._load_log l on l.tenant = t.tenant and d::date between l.window_start and l.window_end
               group by all
           )
           group by tenant""",
        [list(tenants), start, end],
    ).fetchall()
    return {tenant: days or [] for tenant, days in rows}


def tenants_without_current_summary(con: duckdb.DuckDBPyConnection, tenants: Sequence[str], today: date) -> list[str]:
    """The tenants with no /usage/summary snapshot whose billing period covers `today`."""
    rows = con.execute(
        """select t.tenant from unnest(?::varchar[]) t(tenant)
           where not exists (select 1 from raw.usage_summary s where s.tenant = t.tenant
                             and s.period_start <= ?::date and s.period_end >= ?::date)
           order by t.tenant""",
        [list(tenants), today, today],
    ).fetchall()
    return [tenant for (tenant,) in rows]


def append_summary(con: duckdb.DuckDBPyConnection, lake_file: Path) -> int:
    """Append one run's summary snapshots (already in the lake, with their `_run_id`)."""
    con.execute(
        "insert into raw.usage_summary by name select * from read_parquet(?, hive_partitioning = false)",
        [str(lake_file)],
    )
    return con.execute(
        "select count(*) from read_parquet(?, hive_partitioning = false)", [str(lake_file)]
    ).fetchone()[0]


def replace_declared_plans(con: duckdb.DuckDBPyConnection, plans: Mapping[str, str | None]) -> None:
    """Make raw.tenant_plans hold exactly the declared plans (tenant -> plan; None = none declared).

    An unchanged (tenant, plan) keeps its `declared_at`. Runs its own transaction: call it outside one.
    """
    declared = sorted((tenant, plan) for tenant, plan in plans.items() if plan is not None)
    con.execute("begin")
    try:
        con.execute(
            "create or replace temp table _declared as "
            "select unnest(?::varchar[]) as tenant, unnest(?::varchar[]) as plan",
            [[t for t, _ in declared], [p for _, p in declared]],
        )
        con.execute("delete from raw.tenant_plans o where not exists "
                    "(select 1 from _declared d where d.tenant = o.tenant and d.plan = o.plan)")
        con.execute("insert into raw.tenant_plans select d.tenant, d.plan, now()::timestamp from _declared d "
                    "where not exists (select 1 from raw.tenant_plans o where o.tenant = d.tenant and o.plan = d.plan)")
        con.execute("drop table _declared")
        con.execute("commit")
    except BaseException:
        rollback_quietly(con)
        raise
