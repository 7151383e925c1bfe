"""The small good warehouse the SQL runner tests build on: raw tables, acme on starter, beta on enterprise."""

import duckdb

from aurion_pipeline.sqlmodels.refs import SCHEMA_SQL


def load_small_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(SCHEMA_SQL.read_text())
    con.execute(
        "insert into raw.usage_daily (tenant, usage_date, voice_minutes, api_calls, _filled) values "
        "('acme', '2024-01-01', 100, 10, false), ('acme', '2024-01-02', 700, 20, false), "
        "('beta', '2024-01-01', 50, 5, false)"
    )
    con.execute(
        "insert into raw.usage_summary (tenant, captured_at, plan, billing_status) values "
        "('acme', '2024-01-02 06:00', 'starter', 'active'), ('beta', '2024-01-02 06:00', 'enterprise', 'active')"
    )
