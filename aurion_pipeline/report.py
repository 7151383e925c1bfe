"""What operators and analysts read: ad-hoc SQL and `status`, both from the analyst copy, so neither
ever blocks a load; and `rebuild`, the way back from a lost or corrupt warehouse."""

from __future__ import annotations

import json
import sys

import duckdb
import pyarrow.csv as pacsv

from aurion_pipeline.config import Settings
from aurion_pipeline.warehouse import Warehouse
from aurion_pipeline.warehouse.load import rebuild_from_lake

TENANT_STATUS = """
with days as (
    select tenant, min(usage_date) as loaded_from, max(usage_date) as loaded_to, count(*) as days_loaded,
           max(_loaded_at) as last_load
    from raw.usage_daily group by tenant
), summaries as (
    select tenant, max(captured_at) as last_summary from raw.usage_summary group by tenant
)
select coalesce(d.tenant, s.tenant) as tenant, d.loaded_from, d.loaded_to, d.days_loaded,
       coalesce(date_diff('day', d.loaded_from, d.loaded_to) + 1 - d.days_loaded, 0) as gap_days,
       strftime(d.last_load, '%Y-%m-%d %H:%M') as last_load_utc,
       strftime(s.last_summary, '%Y-%m-%d %H:%M') as last_summary_utc
from days d full join summaries s using (tenant)
order by tenant
"""

# A failed window still matters while one of its days has not been loaded by a later run.
OPEN_FAILURES = """
select f.tenant, f.window_start, f.window_end, strftime(f._loaded_at, '%Y-%m-%d %H:%M') as failed_at_utc, f.error
from raw._load_log f
where f.status = 'failed' and exists (
    select 1 from range(f.window_start, f.window_end + 1, interval 1 day) r(d)
    where not exists (select 1 from raw._load_log l where l.tenant = f.tenant and l.status = 'loaded'
                      and l._loaded_at > f._loaded_at and d::date between l.window_start and l.window_end))
order by f.tenant, f.window_start
"""

CURRENT_ALERTS = """
select tenant, quota_name, alert_level, basis, first_reached_on
from analytics.billing_alerts a
where period_end >= current_date and alert_level <> 'ok'
order by tenant, quota_name, first_reached_on
"""


def print_query(settings: Settings, query: str, fmt: str) -> int:
    con = Warehouse(settings.data_dir, settings.lock_timeout_s).analyst_connection()
    try:
        relation = con.sql(query)
        if relation is None:
            print("statement ran; nothing to show (the analyst copy is read-only)", file=sys.stderr)
            return 0
        _emit(relation, fmt)
    except duckdb.Error as exc:
        print(f"aurion-pipeline sql: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    finally:
        con.close()
    return 0


def _emit(relation: duckdb.DuckDBPyRelation, fmt: str) -> None:
    if fmt == "table":
        relation.show(max_rows=10_000, max_width=200)
    elif fmt == "csv":
        sys.stdout.flush()
        pacsv.write_csv(relation.to_arrow_table(), sys.stdout.buffer)
    else:
        rows = relation.to_arrow_table().to_pylist()
        print(json.dumps(rows, default=str, indent=1))


def print_status(settings: Settings) -> int:
    warehouse = Warehouse(settings.data_dir, settings.lock_timeout_s)
    con = warehouse.analyst_connection()
    try:
        print(f"analyst copy: {warehouse.analyst_path}   warehouse: {warehouse.path}")
        print("\nLoaded usage per tenant (gap_days: days inside the loaded range with no row = not loaded)")
        con.sql(TENANT_STATUS).show(max_rows=10_000, max_width=200)
        failures = con.sql(OPEN_FAILURES)
        print(f"\nFailed windows not loaded since: {len(failures)}")
        if len(failures):
            failures.show(max_rows=10_000, max_width=200)
        if _has_view(con, "analytics", "billing_alerts"):
            print("\nCurrent billing alerts (this period)")
            con.sql(CURRENT_ALERTS).show(max_rows=10_000, max_width=200)
    finally:
        con.close()
    return 0


def _has_view(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return con.execute(
        "select count(*) from duckdb_views() where schema_name = ? and view_name = ?", [schema, name]
    ).fetchone()[0] > 0


def rebuild(settings: Settings) -> int:
    warehouse = Warehouse(settings.data_dir, settings.lock_timeout_s)
    with warehouse.writer(publish=True) as con:
        rows = rebuild_from_lake(con, warehouse.lake_dir)
    print(f"rebuilt raw.usage_daily ({rows} rows) and raw.usage_summary from {warehouse.lake_dir}")
    return 0
