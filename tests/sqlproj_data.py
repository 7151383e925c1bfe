"""The small good warehouse the SQL runner tests build on: raw tables, acme on starter, beta on enterprise."""

import functools
import textwrap
from pathlib import Path

import duckdb
import pyarrow as pa
from helpers_ops import SCHEMA_SQL, SQL_FOLDER


def write_project(root: Path, files: dict[str, str]) -> Path:
    """A SQL folder at `root` from {relative path: dedented text}."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


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


SUMMARY_COLUMNS = ("tenant", "captured_at", "period_start", "period_end", "plan", "billing_status",
                   "voice_minutes_used", "voice_minutes_limit", "voice_minutes_pct",
                   "api_calls_used", "api_calls_limit", "api_calls_pct",
                   "storage_mb_used", "storage_mb_limit", "storage_mb_pct")


def build_models_warehouse(path, daily: list[tuple], summaries: list[dict] = (), plans: dict | None = None):
    """A real DuckDB file with the raw tables filled and every model of `dbt_like_sql/` built.

    `daily` rows are (tenant, usage_date, voice_minutes, api_calls[, llm_input_tokens, llm_output_tokens]),
    inserted in the order given; `summaries` are dicts keyed by SUMMARY_COLUMNS (missing keys are null);
    `plans` are declared plans (tenant -> plan) for raw.tenant_plans.
    """
    from aurion_pipeline.sqlmodels.build import build

    con = duckdb.connect(str(path))
    con.execute(SCHEMA_SQL.read_text())
    rows = [tuple(row) + (None,) * (6 - len(row)) for row in daily]
    columns = ("tenant", "usage_date", "voice_minutes", "api_calls", "llm_input_tokens", "llm_output_tokens")
    types = (pa.string(), pa.date32(), pa.float64(), pa.int64(), pa.int64(), pa.int64())
    # One Arrow insert: executemany is one statement per row, minutes for a few thousand rows.
    incoming = pa.table({c: pa.array([r[i] for r in rows], t) for i, (c, t) in enumerate(zip(columns, types))})
    con.register("_incoming_daily", incoming)
    con.execute(f"insert into raw.usage_daily ({', '.join(columns)}, _filled, _run_id, _loaded_at) "
                f"select *, false, 'test', timestamp '2030-01-01' from _incoming_daily")
    con.unregister("_incoming_daily")
    if summaries:
        con.executemany(
            f"insert into raw.usage_summary ({', '.join(SUMMARY_COLUMNS)}, _run_id) values "
            f"({', '.join('?' * len(SUMMARY_COLUMNS))}, 'test')",
            [[s.get(c) for c in SUMMARY_COLUMNS] for s in summaries],
        )
    if plans:
        from aurion_pipeline.storage.load import replace_declared_plans

        replace_declared_plans(con, plans)
    build(con, sql_project())
    return con


@functools.cache
def sql_project():
    """The repository's SQL project, parsed once per test session (sqlglot takes seconds on a busy machine)."""
    from aurion_pipeline.sqlmodels.project import load_project

    return load_project(SQL_FOLDER)
