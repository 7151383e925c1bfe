"""A finished run's `RunOutcome`, read from its events alone (never from failure messages: a window or
summary that failed is a check result, not a failed step). Not from the warehouse either: another load
may hold its writer lock by the time this run ends, and a run that succeeded must not wait for it."""

from __future__ import annotations

from datetime import date

import dagster as dg

from aurion_pipeline.cli.outcome import (
    FailedWindow,
    LoadSummary,
    RunOutcome,
    SummaryLine,
)
from aurion_pipeline.defs.aurion_usage.assets import ALL_WINDOWS_LOADED
from aurion_pipeline.defs.names import Names
from aurion_pipeline.text import first_line


def outcome_from_result(result: dg.ExecuteInProcessResult, names: Names, elapsed_s: float) -> RunOutcome:
    return RunOutcome(
        run_id=result.run_id,
        succeeded=result.success,
        load=_load(result, names.asset_key("raw.usage_daily"), elapsed_s),
        summaries=_summaries(result, names.asset_key("raw.usage_summary")),
        failed_checks=tuple(
            f"{c.asset_key.to_user_string()}:{c.check_name}" for c in result.get_asset_check_evaluations()
            if not c.passed and c.severity == dg.AssetCheckSeverity.ERROR
        ),
        error=None if result.success else _run_error(result),
    )


def _events(result: dg.ExecuteInProcessResult, kind: dg.DagsterEventType, key: dg.AssetKey) -> list[dict]:
    return [e.event_specific_data.materialization.metadata if kind == dg.DagsterEventType.ASSET_MATERIALIZATION
            else e.event_specific_data.asset_observation.metadata
            for e in result.all_events if e.event_type == kind and e.asset_key == key]


def _load(result, key: dg.AssetKey, elapsed_s: float) -> LoadSummary | None:
    reports = _events(result, dg.DagsterEventType.ASSET_OBSERVATION, key)
    if not reports:
        return None
    report = {name: value.value for name, value in reports[-1].items()}
    check = _windows_check_metadata(result, key)
    listed = tuple(FailedWindow(f["tenant"], *map(date.fromisoformat, f["window"].split("..")), f["error"])
                   for f in check["failures"])
    span = check.get("failed_days") or None
    return LoadSummary(
        tenants=report["tenants"], days=report["days"], rows=report["rows"], filled_days=report["filled_zero_days"],
        requests=report["details_requests"], retries=report["retries"], windows_loaded=report["windows_loaded"],
        restated_values=report["restated_values"], new_fields=tuple(report["new_fields"]),
        dropped=tuple(report["dropped_rows"]), failed_windows=listed, failed_count=check["failed_windows"],
        failed_days=tuple(map(date.fromisoformat, span.split(".."))) if span else None, elapsed_s=elapsed_s,
    )


def _windows_check_metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    """The `all_windows_loaded` check's metadata: the failed windows' number, the first ones and their days."""
    (check,) = [c for c in result.get_asset_check_evaluations()
                if c.asset_key == key and c.check_name == ALL_WINDOWS_LOADED]
    return {name: value.value for name, value in check.metadata.items()}


def _summaries(result, key: dg.AssetKey) -> tuple[SummaryLine, ...]:
    lines = []
    for metadata in _events(result, dg.DagsterEventType.ASSET_MATERIALIZATION, key):
        lines += [
            SummaryLine(tenant=s["tenant"], period_start=_date(s["period_start"]), period_end=_date(s["period_end"]),
                        plan=s["plan"], billing_status=s["billing_status"],
                        quotas=tuple(tuple(q) for q in s["quotas"]))
            for s in metadata["captured"].value
        ]
        lines += [SummaryLine(f["tenant"], None, None, None, None, (), error=f["error"])
                  for f in metadata["failed"].value]
    return tuple(sorted(lines, key=lambda line: line.tenant))


def _date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value[:10])


def _ours_without_class(line: str) -> str:
    """Dagster writes an error as `module.Class: message`; ours are written for users, so the message
    alone (`aurion_pipeline.storage.errors.StorageError: no space left …` -> `no space left …`)."""
    qualified, _, message = line.partition(": ")
    return message if qualified.startswith("aurion_pipeline.") and message else line


def _run_error(result: dg.ExecuteInProcessResult) -> str:
    """Why a run failed outright (a bad setting, a full disk): the first failed step's error, one line."""
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            user = error.cause if error and error.cause else error
            line = _ours_without_class(first_line(user.message if user else ""))
            return f"{event.step_key}: {line}" if line else f"step {event.step_key} failed"
    return "run failed"
