"""What people read: one alert's body as a line of text (Slack, email) and as a small HTML block (email)."""

from __future__ import annotations

from html import escape

QUOTA_UNITS = {"voice_minutes": "voice minutes", "api_calls": "API calls", "storage_mb": "MB of storage"}
METRIC_NAMES = {
    "voice_minutes": "voice minutes", "api_calls": "API calls",
    "llm_input_tokens": "LLM input tokens", "llm_output_tokens": "LLM output tokens",
}


def subject(payload: dict) -> str:
    if payload["kind"] == "test":
        return f"[Aurion] test message for channel {payload['channel']}"
    if payload["kind"] == "anomaly":
        return f"[Aurion] {payload['tenant']}: unusual {_metric(payload['metric'])} on {payload['usage_date']}"
    what = "forecast to reach" if payload["basis"] == "forecast" else "reached"
    return (f"[Aurion] {payload['tenant']}: {payload['quota']} {what} {payload['level']} "
            f"({payload['threshold_pct']:g} %)")


def text(payload: dict) -> str:
    """One readable paragraph with the tenant, quota, level, percentage and, for forecasts, the
    projected exhaustion date."""
    if payload["kind"] == "test":
        return f"Test message from aurion-pipeline for channel {payload['channel']}: delivery works."
    if payload["kind"] == "anomaly":
        return _anomaly_text(payload)
    period = payload["period"]
    limit = f"{_n(payload['limit'])} {QUOTA_UNITS.get(payload['quota'], payload['quota'])}"
    head = f"{payload['tenant']}: {payload['quota']} "
    if payload["basis"] == "forecast":
        f = payload["forecast"] or {}
        line = (
            f"{head}is forecast to reach {_pct(f.get('projected_pct'))} of its {limit} quota by the end of the period "
            f"{period['start']}..{period['end']}: level {payload['level']} ({payload['threshold_pct']:g} %)."
        )
        exhaustion = f.get("projected_exhaustion_date")
        line += (f" Projected exhaustion date: {exhaustion}." if exhaustion
                 else " The quota is not projected to run out.")
        if payload["used"] is None:  # a period whose first day is not loaded yet (plan_utilization: unknown)
            return line + " No day of the period is loaded yet."
        line += f" Used so far: {_n(payload['used'])} ({_pct(payload['pct_used'])})."
        estimated = f.get("days_estimated")
        if estimated:
            line += (f" {estimated} day{'s' if estimated > 1 else ''} of the period so far not loaded yet: "
                     "estimated in the forecast, not in the use so far.")
        return line
    return (
        f"{head}has used {_n(payload['used'])} of its {limit} quota ({_pct(payload['pct_used'])}) in the period "
        f"{period['start']}..{period['end']}: level {payload['level']} ({payload['threshold_pct']:g} %) "
        f"reached on {payload['reached_on']}."
    )


def _anomaly_text(payload: dict) -> str:
    expected = f", against a weekday norm of {_n(payload['expected'])}" if payload.get("expected") is not None else ""
    score = f" (score {payload['score']:g})" if payload.get("score") is not None else ""
    how = {"spike": "far above", "drop": "far below"}.get(payload.get("direction"), "far outside")
    return (
        f"{payload['tenant']}: {_metric(payload['metric'])} on {payload['usage_date']} was "
        f"{_n(payload['value'])}{expected}{score}: {how} its usual level for that weekday."
    )


def html(payload: dict) -> str:
    """The same message for an HTML mail client: the sentence, then the key figures as a table."""
    figures = {k: v for k, v in payload.items() if not isinstance(v, dict) and k not in ("schema",)}
    for group in ("period", "forecast"):
        for k, v in (payload.get(group) or {}).items():
            figures[f"{group}.{k}"] = v
    rows = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{escape(str(k))}</th><td>{escape(_cell(v))}</td></tr>"
        for k, v in figures.items() if v is not None
    )
    return (
        "<!doctype html><html><body style='font-family:sans-serif'>"
        f"<p>{escape(text(payload))}</p><table>{rows}</table></body></html>"
    )


def _metric(name: str) -> str:
    return METRIC_NAMES.get(name, name)


def _n(value: object) -> str:
    if value is None:
        return "?"
    number = float(value)
    return f"{number:,.0f}" if abs(number) >= 100 or number.is_integer() else f"{number:,.1f}"


def _pct(value: object) -> str:
    return "?" if value is None else f"{float(value):.1f} %"


def _cell(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
