"""Key figures as markdown tables for the Dagster UI: attached to the models they come from, so the asset
page of `analytics.plan_utilization` shows where tenants stand without opening a SQL client."""

from __future__ import annotations

import dagster as dg
import duckdb

from aurion_pipeline.report.build import ACCURACY_ROWS

MAX_ROWS = 25  # the most-used quotas first; the rest are one query away

KEY_FIGURES = {
    "analytics.plan_utilization": (
        "current period, highest utilization first",
        "select tenant, quota_name as quota, round(used, 1) as used, quota as \"limit\","
        " round(pct_used, 1) as pct_used, alert_level from analytics.plan_utilization"
        " where is_current and quota is not null order by pct_used desc nulls last, tenant, quota_name",
    ),
    "analytics.usage_forecast": (
        "where each current period will end",
        "select tenant, quota_name as quota, round(projected_total) as projected, round(projected_low) as low,"
        " round(projected_high) as high, quota as \"limit\", round(projected_pct, 1) as projected_pct,"
        " projected_alert_level as level, projected_exhaustion_date as exhaustion"
        " from analytics.usage_forecast where quota is not null order by projected_pct desc nulls last, tenant",
    ),
    "analytics.forecast_accuracy": (
        "MAPE (%) of the forecast against the naive run-rate, both metrics",
        "select days_elapsed_bucket as days_elapsed, forecasts, round(mape, 1) as mape,"
        f" round(naive_mape, 1) as naive_mape, round(100 * interval_coverage) as interval_held_pct {ACCURACY_ROWS}",
    ),
}


def key_figures(con: duckdb.DuckDBPyConnection, model: str) -> dict[str, dg.MetadataValue]:
    """`{"key_figures": markdown table}` for the models above, `{}` for others or when the query fails
    (a figure is a nicety; it never fails the build)."""
    if model not in KEY_FIGURES:
        return {}
    caption, sql = KEY_FIGURES[model]
    try:
        cursor = con.execute(f"{sql} limit {MAX_ROWS + 1}")
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    except duckdb.Error:
        return {}
    return {"key_figures": dg.MetadataValue.md(markdown_table(caption, names, rows))}


def markdown_table(caption: str, names: list[str], rows: list[tuple]) -> str:
    more = len(rows) > MAX_ROWS
    lines = [f"**{caption}**", "", "| " + " | ".join(names) + " |", "|" + " --- |" * len(names)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows[:MAX_ROWS]]
    if more:
        lines.append(f"\n(first {MAX_ROWS} rows)")
    return "\n".join(lines) if rows else f"**{caption}**: no rows yet"


def _cell(value: object) -> str:
    return "" if value is None else str(value).replace("|", "\\|")
