"""Invariants of the raw tables, as queries that count offending rows (0 = healthy)."""

from __future__ import annotations

import duckdb

RAW_USAGE_CHECKS: dict[str, tuple[str, str]] = {
    "unique_tenant_day": (
        "Each (tenant, usage_date) appears at most once.",
        "select tenant, usage_date, count(*) as copies from raw.usage_daily group by all having count(*) > 1",
    ),
    "no_negative_usage": (
        "No metric is negative.",
        """select * from raw.usage_daily where voice_minutes < 0 or api_calls < 0
           or llm_input_tokens < 0 or llm_output_tokens < 0""",
    ),
    "no_gaps_in_loaded_windows": (
        "Every day of every successfully loaded window has a row (a missing day would read as 'not loaded').",
        """select l.tenant, d::date as usage_date
           from (select distinct tenant, window_start, window_end from raw._load_log where status = 'loaded') l,
                range(l.window_start, l.window_end + 1, interval 1 day) r(d)
           where not exists (select 1 from raw.usage_daily u where u.tenant = l.tenant and u.usage_date = d::date)""",
    ),
}


def count_offenders(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[int, list[tuple]]:
    """How many rows break the invariant, and the first few of them."""
    count = con.execute(f"select count(*) from ({sql})").fetchone()[0]
    sample = con.execute(f"select * from ({sql}) limit 5").fetchall() if count else []
    return count, sample
