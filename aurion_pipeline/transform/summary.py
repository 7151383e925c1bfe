"""One `/usage/summary` payload -> one typed row of `SUMMARY_SCHEMA` (raw.usage_summary).

Unlimited quotas (null or missing limit) stay null, never 0; unknown plans, statuses and fields are
kept (fields in `_extra`); a wrong type raises `SummaryDataError` naming tenant and field.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, time, timedelta

import pyarrow as pa

from aurion_pipeline.transform.usage import show_value

_QUOTAS = ("voice_minutes", "api_calls", "storage_mb")
_FIELDS = ("period", "plan", "billing_status", *_QUOTAS)  # a summary without any of them is not one
SUMMARY_SCHEMA = pa.schema(
    [pa.field("tenant", pa.string(), nullable=False),
     pa.field("captured_at", pa.timestamp("us"), nullable=False),
     ("period_start", pa.date32()), ("period_end", pa.date32()),
     ("plan", pa.string()), ("billing_status", pa.string())]
    + [(f"{q}_{part}", pa.float64()) for q in _QUOTAS for part in ("used", "limit", "pct")]
    + [("_extra", pa.string())]
)


class SummaryDataError(ValueError):
    """A summary payload that cannot be trusted; the message names tenant and field."""

    def __init__(self, tenant: str, field: str, problem: str):
        self.tenant, self.field = tenant, field
        super().__init__(f"tenant {tenant}, field {field}: {problem}")


def normalize_summary(tenant: str, payload: dict, captured_at: datetime) -> pa.Table:
    """One `/usage/summary` snapshot -> a one-row `SUMMARY_SCHEMA` table.

    `period.start` / `period.end` are UTC timestamps turned into inclusive days; an end at exactly
    midnight is read as exclusive (`2026-04-01T00:00:00Z` -> period_end 2026-03-31), a date-only
    end as inclusive. Per quota, a null or missing `limit` means unlimited: limit and pct are null
    (never computed); a missing `percentage` with a positive limit is computed as used/limit*100.
    Unknown plans and statuses are kept as sent; unknown fields go to `_extra` as JSON. A naive
    `captured_at` is taken as UTC.
    """
    if type(payload) is not dict:
        raise SummaryDataError(tenant, "payload", f"expected an object, got {show_value(payload)}")
    if all(payload.get(field) is None for field in _FIELDS):
        # e.g. {"data": null} or the summary wrapped in an envelope: stored, it became the period's latest
        # snapshot, with no plan or quota, and silenced the tenant's alerts until the next good one.
        keys = ", ".join(sorted(map(str, payload))[:5]) or "none"
        raise SummaryDataError(tenant, "payload", f"has none of {', '.join(_FIELDS)} (its keys: {keys}); "
                                                  "the API's response format may have changed")
    if captured_at.tzinfo is not None:
        captured_at = captured_at.astimezone(UTC).replace(tzinfo=None)
    record = {"tenant": tenant, "captured_at": captured_at}
    extra = {k: v for k, v in payload.items() if k not in {"period", "plan", "billing_status", *_QUOTAS}}
    record["period_start"], record["period_end"] = _period(tenant, payload.get("period"), extra)
    for field in ("plan", "billing_status"):
        value = payload.get(field)
        if value is not None and type(value) is not str:
            raise SummaryDataError(tenant, field, f"expected a string, got {show_value(value)}")
        record[field] = value
    for quota in _QUOTAS:
        record |= _quota(tenant, quota, payload.get(quota), extra)
    extra = {k: v for k, v in extra.items() if v is not None}
    record["_extra"] = json.dumps(extra, separators=(",", ":")) if extra else None
    return pa.Table.from_pylist([record], schema=SUMMARY_SCHEMA)


def _period(tenant: str, period: object, extra: dict) -> tuple[date | None, date | None]:
    if period is None:
        return None, None
    if type(period) is not dict:
        raise SummaryDataError(tenant, "period", f"expected an object {{start, end}}, got {show_value(period)}")
    extra |= {f"period.{k}": v for k, v in period.items() if k not in ("start", "end")}
    start, end = (_instant(tenant, f"period.{k}", period.get(k)) for k in ("start", "end"))
    start_day = start.date() if isinstance(start, datetime) else start
    if isinstance(end, datetime):
        exclusive = end.time() == time(0) and (start is None or end.date() > start_day)
        end = end.date() - timedelta(days=1) if exclusive else end.date()
    if start_day is not None and end is not None and end < start_day:
        raise SummaryDataError(tenant, "period", f"ends on {end}, before it starts on {start_day}")
    return start_day, end


def _instant(tenant: str, field: str, value: object) -> date | datetime | None:
    """A UTC-naive datetime, or a date when the API sent a bare `YYYY-MM-DD`."""
    if value is None:
        return None
    try:
        if type(value) is not str:
            raise ValueError
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise SummaryDataError(tenant, field, f"expected an ISO 8601 timestamp, got {show_value(value)}") from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _quota(tenant: str, name: str, quota: object, extra: dict) -> dict[str, float | None]:
    if quota is None:
        return {f"{name}_used": None, f"{name}_limit": None, f"{name}_pct": None}
    if type(quota) is not dict:
        raise SummaryDataError(tenant, name, f"expected an object {{used, limit, percentage}}, got {show_value(quota)}")
    extra |= {f"{name}.{k}": v for k, v in quota.items() if k not in ("used", "limit", "percentage")}
    used, limit, pct = (_amount(tenant, f"{name}.{k}", quota.get(k)) for k in ("used", "limit", "percentage"))
    if limit is None:  # unlimited: a percentage of nothing means nothing
        pct = None
    elif pct is None and limit > 0 and used is not None:
        pct = used / limit * 100
    return {f"{name}_used": used, f"{name}_limit": limit, f"{name}_pct": pct}


def _amount(tenant: str, field: str, value: object) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        raise SummaryDataError(tenant, field, f"expected a non-negative number, got {show_value(value)}")
    return float(value)
