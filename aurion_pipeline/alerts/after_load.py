"""What every successful load ends with, from the CLI and from Dagster's sensor alike: deliver the new
alerts (when `AURION_ALERTS_FILE` is set), then refresh report.html. Neither changes the load's outcome:
an alert not delivered stays pending and is retried, and a report not refreshed is logged."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from aurion_pipeline.alerts.deliver import SEND_BUDGET_S, deliver
from aurion_pipeline.config import ConfigError, Settings
from aurion_pipeline.report import refresh_report
from aurion_pipeline.text import first_line

RETRY = "aurion-pipeline alerts --deliver"


@dataclass(frozen=True)
class AfterLoad:
    delivered: str | None  # the delivery's one-line summary; None without an alerts file or when it failed
    not_delivered: str | None  # why nothing was delivered, and how to retry
    report: Path | None  # the refreshed report.html; None when it could not be written (logged)


def after_load(settings: Settings, env: Mapping[str, str]) -> AfterLoad:
    """Within SEND_BUDGET_S of sends, for the CLI and the sensor alike: a stalled receiver delays a load's
    end by at most that (plus one send's timeout); what is not sent stays due."""
    delivered = not_delivered = None
    if settings.alerts_file is not None:
        try:
            delivered = deliver(settings, env, budget_s=SEND_BUDGET_S).line()
        except (ConfigError, OSError, RuntimeError, duckdb.Error, sqlite3.Error) as exc:
            not_delivered = f"alerts not delivered ({first_line(exc)}); retry: {RETRY}"
    return AfterLoad(delivered, not_delivered, refresh_report(settings))
