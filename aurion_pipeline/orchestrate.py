"""Running our jobs through Dagster from the command line, against the instance in $DAGSTER_HOME,
so the UI shows what the CLI materialized."""

from __future__ import annotations

import os
import shutil
from datetime import date, datetime, timezone
from pathlib import Path

import dagster as dg

from aurion_pipeline.config import ConfigError

_INSTANCE_CONFIG = Path(__file__).resolve().parent.parent / "dagster.yaml"


def ensure_dagster_home(default: Path) -> Path:
    """Use $DAGSTER_HOME, or `default`; seed it with the project's dagster.yaml if it has none."""
    home = Path(os.environ.get("DAGSTER_HOME") or default).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    if not (home / "dagster.yaml").exists() and _INSTANCE_CONFIG.exists():
        shutil.copyfile(_INSTANCE_CONFIG, home / "dagster.yaml")
    return home


def _defs() -> dg.Definitions:
    from aurion_pipeline.definitions import defs  # imported late: settings come from the env set by the caller

    return defs


def run_job(name: str, *, tags: dict[str, str] | None = None, run_config: dict | None = None):
    """Execute a job in this process against the persistent instance; returns the result."""
    job = _defs().resolve_job_def(name)
    with dg.DagsterInstance.get() as instance:
        return job.execute_in_process(instance=instance, tags=tags or {}, run_config=run_config, raise_on_error=False)


def backfill(start: date, end: date, tenants: list[str], only_missing: bool):
    if start > end:
        raise ConfigError(f"--start {start} is after --end {end}")
    first = _defs().resolve_assets_def(["raw", "usage_daily"]).partitions_def.get_first_partition_key()
    if start.isoformat() < first:
        raise ConfigError(f"--start {start} is before the first partition {first}; lower AURION_START_DATE")
    if end >= datetime.now(timezone.utc).date():
        raise ConfigError(f"--end {end} is not a complete UTC day yet; the latest partition is yesterday")
    config = {"ops": {"raw__usage_daily": {"config": {"tenants": tenants, "only_missing": only_missing}}}}
    tags = {"dagster/asset_partition_range_start": start.isoformat(), "dagster/asset_partition_range_end": end.isoformat()}
    return run_job("usage_job", tags=tags, run_config=config)


def failure_reason(result) -> str:
    """The first failure's message as one line, for the CLI's exit."""
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            user = error.cause if error and error.cause else error
            lines = [line for line in (user.message if user else "").splitlines() if line.strip()]
            return lines[0].strip() if lines else "step failed"
    return "run failed"
