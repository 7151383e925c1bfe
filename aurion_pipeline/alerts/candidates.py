"""The alerts the warehouse holds right now, read from the analyst copy (never blocks a load).

A threshold alert is one row of `analytics.billing_alerts` (tenant x period x quota x level, basis actual
or forecast); an anomaly is one flagged (tenant, day, metric) of `analytics.usage_anomalies`. Each gets
a stable key, so the same alert found again on a later run, after a rebuild or a restart is the same
alert and is never delivered twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import duckdb

from aurion_pipeline.storage import reading

SCHEMA_VERSION = "aurion.alert.v1"

THRESHOLDS = """
select a.tenant, a.period_start, a.period_end, a.quota_name, a.alert_level, a.threshold_pct, a.basis,
       a.first_reached_on, a.quota, u.plan, u.used, u.pct_used,
       f.projected_total, f.projected_low, f.projected_high, f.projected_pct, f.projected_exhaustion_date,
       {days_estimated} as days_estimated
from analytics.billing_alerts as a
left join analytics.plan_utilization as u
    on u.tenant = a.tenant and u.period_start = a.period_start and u.quota_name = a.quota_name
left join analytics.usage_forecast as f
    on f.tenant = a.tenant and f.period_start = a.period_start and f.quota_name = a.quota_name
where a.is_current or a.period_end >= $since
order by a.tenant, a.period_start, a.quota_name, a.severity, a.basis
"""

# Every row of usage_anomalies is an anomaly (its yml: only days scored above the threshold); the columns
# are its contract, so a model that lacks one fails here by name rather than sending alerts without it.
ANOMALIES = """
select tenant, usage_date, metric, value, median, score, direction
from analytics.usage_anomalies where usage_date >= $since order by tenant, usage_date, metric
"""


@dataclass(frozen=True)
class Alert:
    """One alert to deliver: its identity (key, tenant, basis, level) and the JSON body channels send."""

    key: str
    kind: str  # threshold | anomaly
    tenant: str
    basis: str  # actual | forecast | anomaly
    level: str  # warning | critical | overage | anomaly
    subject: str  # the quota (threshold) or metric (anomaly)
    day: date  # period start (threshold) or usage date (anomaly)
    payload: dict


def idempotency_key(*parts: object) -> str:
    """The same alert always gets the same key, on every run and every channel."""
    return "aurion-" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


def current_alerts(con: duckdb.DuckDBPyConnection, since: date) -> list[Alert]:
    """Threshold alerts of current periods (and periods ended on or after `since`), and anomalies
    from `since` on. Views not built yet yield nothing."""
    alerts = []
    if reading.model_built(con, "analytics", "billing_alerts"):
        # null from an analyst copy built before usage_forecast had the column (until the next load)
        known = reading.has_column(con, "analytics", "usage_forecast", "days_estimated")
        sql = THRESHOLDS.format(days_estimated="f.days_estimated" if known else "null::integer")
        alerts += [_threshold(row) for row in reading.rows(con, sql, {"since": since})]
    if reading.model_built(con, "analytics", "usage_anomalies"):
        alerts += [_anomaly(row) for row in reading.rows(con, ANOMALIES, {"since": since})]
    return alerts


def _threshold(r: dict) -> Alert:
    ident = ("threshold", r["tenant"], r["period_start"], r["quota_name"], r["alert_level"], r["basis"])
    key = idempotency_key(*ident)
    forecast = r["basis"] == "forecast"
    payload = {
        "schema": SCHEMA_VERSION,
        "idempotency_key": key,
        "kind": "threshold",
        "tenant": r["tenant"],
        "basis": r["basis"],
        "level": r["alert_level"],
        "quota": r["quota_name"],
        "threshold_pct": _num(r["threshold_pct"]),
        "period": {"start": _iso(r["period_start"]), "end": _iso(r["period_end"])},
        "plan": r["plan"],
        "limit": _num(r["quota"]),
        "used": _num(r["used"]),
        "pct_used": _num(r["pct_used"], 1),
        "reached_on": _iso(r["first_reached_on"]),  # the day actual usage, or the forecast path, crosses it
        "forecast": {
            "projected_total": _num(r["projected_total"]),
            "projected_low": _num(r["projected_low"]),
            "projected_high": _num(r["projected_high"]),
            "projected_pct": _num(r["projected_pct"], 1),
            "projected_exhaustion_date": _iso(r["projected_exhaustion_date"]),
            # days of the period so far without a loaded value, which the projection estimated (usage_forecast)
            "days_estimated": r["days_estimated"],
        } if forecast or r["projected_total"] is not None else None,
    }
    return Alert(key, "threshold", r["tenant"], r["basis"], r["alert_level"], r["quota_name"], r["period_start"],
                 payload)


def _anomaly(r: dict) -> Alert:
    key = idempotency_key("anomaly", r["tenant"], r["usage_date"], r["metric"])
    payload = {
        "schema": SCHEMA_VERSION,
        "idempotency_key": key,
        "kind": "anomaly",
        "tenant": r["tenant"],
        "basis": "anomaly",
        "level": "anomaly",
        "metric": r["metric"],
        "usage_date": _iso(r["usage_date"]),
        "value": _num(r["value"]),
        "expected": _num(r["median"]),
        "score": _num(r["score"], 2),
        "direction": r["direction"],  # spike | drop
    }
    return Alert(key, "anomaly", r["tenant"], "anomaly", "anomaly", r["metric"], r["usage_date"], payload)


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _num(value: object, digits: int | None = None) -> float | int | None:
    number = reading.finite(value)
    if number is None:
        return None
    if number.is_integer() and digits is None:
        return int(number)
    return round(number, digits if digits is not None else 3)
