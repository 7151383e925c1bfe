"""Reading the analyst copy from Python (alerts, the report, status): whether a model is built yet, its
rows as dicts, and a number a JSON message or a chart can hold."""

from __future__ import annotations

import math

import duckdb


def model_built(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    """Whether the model exists: as a view, or as a table (`materialized: table` in its yml)."""
    return con.execute(
        "select count(*) from duckdb_views() where schema_name = ? and view_name = ? "
        "union all select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
        [schema, name, schema, name],
    ).fetchall() != [(0,), (0,)]


def has_column(con: duckdb.DuckDBPyConnection, schema: str, name: str, column: str) -> bool:
    """Whether a model has a column: an analyst copy published before the column was added lacks it
    until the next load rebuilds the models."""
    return con.execute(
        "select count(*) from duckdb_columns() where schema_name = ? and table_name = ? and column_name = ?",
        [schema, name, column],
    ).fetchone()[0] > 0


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> list[dict]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def finite(value: object) -> float | None:
    """The value as a float; None when unknown, NaN or infinite (JSON has neither, a chart cannot draw them)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
