"""The report as one HTML string: per tenant, where each quota stands, where the period is heading,
its alerts and anomalies; then how accurate the forecast has been. Read from the analyst copy."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from html import escape

import duckdb

from aurion_pipeline.report import svg
from aurion_pipeline.storage.reading import finite, model_built
from aurion_pipeline.storage.reading import rows as query_rows

UTILIZATION = """
select tenant, plan, quota_name, used, quota, pct_used, alert_level, period_start, period_end
from analytics.plan_utilization where is_current order by tenant, quota_name
"""
# d.*: an analyst copy published before is_estimated was added (until the next load) is still drawn.
PATHS = """
select d.*, f.quota
from analytics.usage_forecast_daily as d
left join analytics.usage_forecast as f on f.tenant = d.tenant and f.quota_name = d.quota_name
order by d.tenant, d.quota_name, d.usage_date
"""
ALERTS = """
select tenant, quota_name, alert_level, basis, threshold_pct, first_reached_on
from analytics.billing_alerts where is_current order by tenant, severity desc, quota_name
"""
ANOMALIES = "select * from analytics.usage_anomalies where usage_date >= current_date - 35 order by usage_date desc"
# The ranges of days elapsed and 'all' (the model's buckets that span more than one day), in order; the
# Dagster UI's key figures (report/metadata.py) show the same rows.
ACCURACY_ROWS = ("from analytics.forecast_accuracy where quota_name = 'all' and days_from < days_to"
                 " order by days_elapsed_bucket = 'all', days_from")
ACCURACY = f"select quota_name, days_elapsed_bucket, forecasts, mape, naive_mape, interval_coverage {ACCURACY_ROWS}"
THRESHOLDS = "select threshold_pct from seeds.alert_thresholds order by threshold_pct"

STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;max-width:1290px}
h1{margin-bottom:0} .sub{color:#666;margin-top:4px} section.tenant{border-top:2px solid #ddd;padding-top:8px;margin-top:20px}
.charts{display:flex;flex-wrap:wrap;gap:8px} table{border-collapse:collapse;margin:6px 0 12px}
td,th{border-bottom:1px solid #e0e0e0;padding:3px 10px;text-align:left;font-size:13px}
.lvl-warning{color:#b26a00}.lvl-critical{color:#d84315}.lvl-overage{color:#c62828;font-weight:bold}
.note{color:#666;font-size:13px}
"""  # noqa: E501 - the report's CSS as it is served


def report_html(con: duckdb.DuckDBPyConnection, generated_at: datetime, data_dir: str) -> str:
    util = _grouped(con, UTILIZATION, "plan_utilization")
    paths = _grouped(con, PATHS, "usage_forecast_daily")
    alerts = _grouped(con, ALERTS, "billing_alerts")
    anomalies = _grouped(con, ANOMALIES, "usage_anomalies")
    tenants = sorted(set(util) | set(paths))
    thresholds = [float(row["threshold_pct"]) for row in _rows(con, THRESHOLDS, "alert_thresholds", "seeds")]
    sections = [_tenant_section(t, util.get(t, []), paths.get(t, []), alerts.get(t, []), anomalies.get(t, []),
                                thresholds) for t in tenants]
    lines = ", ".join(f"{pct:g}" for pct in thresholds)
    body = "".join(sections) or "<p>No tenant loaded yet: run a load first.</p>"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Aurion usage report</title><style>{STYLE}</style></head><body>"
        "<h1>Aurion usage report</h1>"
        f"<p class='sub'>Generated {generated_at:%Y-%m-%d %H:%M} UTC from {escape(data_dir)}; "
        f"{len(tenants)} tenant(s), current billing periods.</p>"
        f"<p class='note'>Bars: share of each quota used, with the {lines} % alert lines. Lines: usage "
        "accumulated over the period: solid as loaded (a day not loaded at the forecast's estimate, noted under the "
        "charts), dashed as forecast to the period's end, the shaded fan its 80 % interval, the red dashed line the "
        "quota.</p>"
        f"{body}{_accuracy_section(con)}</body></html>"
    )


def _tenant_section(tenant: str, util: list[dict], paths: list[dict], alerts: list[dict], anomalies: list[dict],
                    thresholds: list[float]) -> str:
    head = util[0] if util else {}
    period = f"{head.get('period_start')} .. {head.get('period_end')}" if head else "no billing period known"
    bars = svg.utilization_bars([
        (r["quota_name"], finite(r["pct_used"]), r["alert_level"] or "ok", _caption(r)) for r in util
    ], thresholds) if util else ""
    charts = [bars] + [_path_chart(q, rows) for q, rows in _by(paths, "quota_name").items()]
    return (
        f"<section class='tenant' id='tenant-{escape(tenant)}' data-tenant='{escape(tenant)}'>"
        f"<h2>{escape(tenant)}</h2><p class='sub'>plan {escape(str(head.get('plan') or '?'))}; period {period}</p>"
        f"<div class='charts'>{''.join(c for c in charts if c)}</div>"
        f"{_estimated_note(paths)}{_alerts_table(alerts)}{_anomalies_table(anomalies)}</section>"
    )


def _estimated_note(paths: list[dict]) -> str:
    """Days of the period so far never loaded are in the solid line at the forecast's estimate: say so."""
    days = sorted({r["usage_date"] for r in paths if r.get("is_estimated")})
    if not days:
        return ""
    return (f"<p class='note'>Not loaded: {len(days)} day{'s' if len(days) > 1 else ''} of this period so far "
            f"({f'between {days[0]} and {days[-1]}' if len(days) > 1 else days[0]}), drawn in the lines at the "
            "forecast's estimate; "
            "<code>aurion-pipeline status</code> shows the backfill that loads them.</p>")


def _path_chart(quota_name: str, rows: list[dict]) -> str:
    actual = [(r["usage_date"], r["cumulative_usage"]) for r in rows if not r["is_projected"]]
    projected = [(r["usage_date"], r["cumulative_usage"]) for r in rows if r["is_projected"]]
    last = rows[-1]
    band = None
    if projected and actual:
        band = (actual[-1][0], actual[-1][1], last["period_end"], last["projected_low"], last["projected_high"])
    title = f"{quota_name}, cumulative, to {last['period_end']}"
    return svg.usage_path(actual, projected, band, finite(last["quota"]), title)


def _alerts_table(alerts: list[dict]) -> str:
    if not alerts:
        return "<p class='note'>No billing alerts this period.</p>"
    rows = "".join(
        f"<tr><td>{escape(a['quota_name'])}</td><td class='lvl-{escape(a['alert_level'])}'>{escape(a['alert_level'])}"
        f"</td><td>{a['threshold_pct']:g} %</td><td>{escape(a['basis'])}</td><td>{a['first_reached_on']}</td></tr>"
        for a in alerts
    )
    return ("<h3>Billing alerts this period</h3><table><tr><th>quota</th><th>level</th><th>threshold</th>"
            f"<th>basis</th><th>reached on</th></tr>{rows}</table>")


def _anomalies_table(anomalies: list[dict]) -> str:
    if not anomalies:  # every row of usage_anomalies is an anomaly
        return ""
    rows = "".join(
        f"<tr><td>{a['usage_date']}</td><td>{escape(str(a.get('metric')))}</td><td>{_fmt(a.get('value'))}</td>"
        f"<td>{_fmt(a.get('median'))}</td><td>{escape(str(a.get('direction') or ''))}</td>"
        f"<td>{_fmt(a.get('score'))}</td></tr>" for a in anomalies[:20]
    )
    return ("<h3>Usage anomalies (last 5 weeks)</h3><table><tr><th>day</th><th>metric</th><th>value</th>"
            f"<th>weekday norm</th><th></th><th>score</th></tr>{rows}</table>")


def _accuracy_section(con: duckdb.DuckDBPyConnection) -> str:
    rows = _rows(con, ACCURACY, "forecast_accuracy")
    if not rows:
        return ("<section><h2>Forecast accuracy</h2><p class='note'>Not measured yet: it needs at least one "
                "finished billing period with daily usage.</p></section>")
    chart = svg.accuracy_bars([(f"day {r['days_elapsed_bucket']}", finite(r["mape"]), finite(r["naive_mape"]))
                               for r in rows])
    table = "".join(
        f"<tr><td>{escape(r['days_elapsed_bucket'])}</td><td>{r['forecasts']}</td><td>{_pct(finite(r['mape']))}</td>"
        f"<td>{_pct(finite(r['naive_mape']))}</td><td>{_pct(_share(r['interval_coverage']))}</td></tr>"
        for r in rows
    )
    return (
        "<section><h2>Forecast accuracy</h2><p class='note'>Backtest over finished periods "
        "(analytics.forecast_accuracy): mean absolute percentage error of the period-end forecast, by days "
        "elapsed, against the naive run-rate (used so far / days elapsed x days in period).</p>"
        f"{chart}<table><tr><th>days elapsed</th><th>forecasts</th><th>MAPE</th><th>naive MAPE</th>"
        f"<th>80 % interval held</th></tr>{table}</table></section>"
    )


def _caption(r: dict) -> str:
    pct = finite(r["pct_used"])
    limit = "unlimited" if r["quota"] is None else f"{r['quota']:,.0f}"
    share = "" if pct is None else f"  {pct:.1f} %"
    if r["used"] is None:  # no day of the period loaded yet; storage: no snapshot of it
        used = "no snapshot" if r["quota_name"] == "storage_mb" else "not loaded"
    else:
        used = f"{r['used']:,.0f}"
    return f"{used} / {limit}{share}"


def _grouped(con: duckdb.DuckDBPyConnection, sql: str, view: str) -> dict[str, list[dict]]:
    return _by(_rows(con, sql, view), "tenant")


def _by(rows: list[dict], column: str) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[row[column]].append(row)
    return dict(groups)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, view: str, schema: str = "analytics") -> list[dict]:
    """The rows of a model's query; none while the model is not built yet."""
    return query_rows(con, sql) if model_built(con, schema, view) else []


def _share(fraction: object) -> float | None:
    """interval_coverage is a share (0..1); shown as a percentage like the MAPEs beside it."""
    value = finite(fraction)
    return None if value is None else 100 * value


def _pct(value: float | None) -> str:
    """A percentage cell; an unmeasured one (no interval in that bucket) is a bare dash, not '- %'."""
    return "-" if value is None else f"{_fmt(value)} %"


def _fmt(value: object) -> str:
    return "-" if value is None else (f"{value:,.1f}" if isinstance(value, float) else str(value))
