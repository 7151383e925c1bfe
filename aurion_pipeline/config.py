"""Settings read from `AURION_*` environment variables, validated once, with one-line errors.

This module (and the CLI edge that hands it `os.environ`) is the only reader of the environment.
Secrets are not settings: the tenant list names the variable that holds each key; `require_api_keys`
checks those variables are set before a fetching command starts, and the key itself is read only when
a client is built.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from aurion_pipeline import config_checks as checks
from aurion_pipeline.config_checks import ConfigError, http_url_problem, shown_url
from aurion_pipeline.config_tenants import TENANT_NAME, TenantSpec, declared_plans, parse_tenants_file

__all__ = [
    "ConfigError", "Settings", "TenantSpec", "declared_plans", "load_settings", "parse_tenants_file",
    "require_api_keys", "sql_folder",
]
DEFAULT_BASE_URL = "https://apps.aurionai.net"
DEFAULT_START_DATE = date(2024, 1, 1)
DEFAULT_DUCKDB_MEMORY_LIMIT = "384MB"  # the writer's; DuckDB's own default is 80% of RAM (see README)
DEFAULT_DATA_DIR = "./data"
DEFAULT_MAX_RANGE_DAYS = 31  # days one details request asks for
DEFAULT_MAX_WORKERS = 8  # details requests in flight, all tenants together
DEFAULT_LOCK_TIMEOUT_S = 120  # how long a writer waits for the warehouse
DEFAULT_REQUESTS_PER_TENANT = 4  # details requests one tenant may have in flight
DEFAULT_COMMIT_SECONDS = 5  # a load commits what it fetched at least this often
DEFAULT_DAILY_CRON = "15 1 * * *"
DEFAULT_SUMMARY_CRON = "0 */6 * * *"
# One request's whole exchange (connect + every read); socket timeouts alone let a dripping server hang a run.
DEFAULT_REQUEST_DEADLINE_S = 120
# The oldest DuckDB storage format every analytics view works with: DuckDB 1.x clients (CLI, DBeaver's
# JDBC driver) cannot read 2.0's own format (version 69).
DEFAULT_ANALYST_STORAGE_VERSION = "v1.0.0"
_PACKAGE = Path(__file__).resolve().parent
REPO_SQL_DIR = _PACKAGE.parent / "dbt_like_sql"  # a checkout or editable install: the folder at the repository root
PACKAGED_SQL_DIR = _PACKAGE / "_sql"  # a wheel install: the copy pyproject.toml ships inside the package
# A size DuckDB's memory_limit accepts: a number and a 1000-based (KB..TB) or 1024-based (KiB..TiB) unit.
_MEMORY_LIMIT = re.compile(r"^\d+(\.\d+)?\s*[KMGT]i?B\Z", re.IGNORECASE)


@dataclass(frozen=True)
class Settings:
    """Every setting of a run, read once from the environment at the edge (CLI, definitions.py)
    and passed down; nothing below the edge reads os.environ. Keys are not settings: each tenant
    names the variable holding its key, read only when a client is built."""

    tenants: tuple[TenantSpec, ...]
    base_url: str
    data_dir: Path
    dagster_home: Path
    sql_dir: Path
    start_date: date
    max_range_days: int
    lookback_days: int
    end_date_inclusive: bool
    max_workers: int
    requests_per_tenant: int
    lock_timeout_s: float
    duckdb_memory_limit: str
    daily_cron: str
    summary_cron: str
    analyst_storage_version: str
    alerts_file: Path | None
    request_deadline_s: float = float(DEFAULT_REQUEST_DEADLINE_S)
    commit_seconds: float = float(DEFAULT_COMMIT_SECONDS)
    alerts_max_age_hours: int = 72  # undelivered alerts are retried this long, then given up


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Every setting, validated: a bad one raises ConfigError naming its variable, before anything runs.
    API keys are checked separately (`require_api_keys`): definitions load without them."""
    env = os.environ if env is None else env
    sql_dir = sql_folder(env)
    if env.get("AURION_DAGSTER_PG_URL"):  # read by Dagster from dagster_postgres.yaml, checked here first
        checks.postgres_url(env["AURION_DAGSTER_PG_URL"], "AURION_DAGSTER_PG_URL")
    dagster_home = checks.writable_folder(env.get("DAGSTER_HOME") or "./.dagster_home", "DAGSTER_HOME")
    checks.instance_url_set(dagster_home, env)
    return Settings(
        tenants=load_tenants(env, checks.plan_names(sql_dir)),
        base_url=validate_base_url(env.get("AURION_BASE_URL") or DEFAULT_BASE_URL),
        data_dir=checks.writable_folder(env.get("AURION_DATA_DIR") or DEFAULT_DATA_DIR, "AURION_DATA_DIR"),
        dagster_home=dagster_home,
        sql_dir=sql_dir,
        start_date=checks.past_date(
            parse_date(env.get("AURION_START_DATE"), "AURION_START_DATE", DEFAULT_START_DATE), "AURION_START_DATE"
        ),
        max_range_days=parse_int(env, "AURION_MAX_RANGE_DAYS", DEFAULT_MAX_RANGE_DAYS, lo=1, hi=366),
        lookback_days=parse_int(env, "AURION_LOOKBACK_DAYS", 3, lo=0, hi=90),
        end_date_inclusive=parse_bool(env, "AURION_END_DATE_INCLUSIVE", True),
        max_workers=parse_int(env, "AURION_MAX_WORKERS", DEFAULT_MAX_WORKERS, lo=1, hi=64),
        requests_per_tenant=parse_int(env, "AURION_REQUESTS_PER_TENANT", DEFAULT_REQUESTS_PER_TENANT, lo=1, hi=16),
        lock_timeout_s=float(parse_int(env, "AURION_LOCK_TIMEOUT_SECONDS", DEFAULT_LOCK_TIMEOUT_S, lo=0, hi=86400)),
        duckdb_memory_limit=checks.duckdb_memory_limit(
            parse_memory_limit(env, "AURION_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT),
            "AURION_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT,
        ),
        daily_cron=checks.dagster_cron(env.get("AURION_DAILY_CRON") or DEFAULT_DAILY_CRON, "AURION_DAILY_CRON"),
        summary_cron=checks.dagster_cron(env.get("AURION_SUMMARY_CRON") or DEFAULT_SUMMARY_CRON, "AURION_SUMMARY_CRON"),
        analyst_storage_version=checks.duckdb_storage_version(
            env.get("AURION_ANALYST_STORAGE_VERSION") or DEFAULT_ANALYST_STORAGE_VERSION,
            "AURION_ANALYST_STORAGE_VERSION",
        ),
        alerts_file=checks.readable_file(env["AURION_ALERTS_FILE"], "AURION_ALERTS_FILE")
        if env.get("AURION_ALERTS_FILE") else None,
        request_deadline_s=float(parse_int(env, "AURION_REQUEST_DEADLINE_SECONDS", DEFAULT_REQUEST_DEADLINE_S,
                                           lo=1, hi=3600)),
        alerts_max_age_hours=parse_int(env, "AURION_ALERTS_MAX_AGE_HOURS", 72, lo=1, hi=24 * 90),
        commit_seconds=float(parse_int(env, "AURION_COMMIT_SECONDS", DEFAULT_COMMIT_SECONDS, lo=0, hi=3600)),
    )


def load_tenants(env: Mapping[str, str] | None = None, plans: frozenset[str] = frozenset()) -> tuple[TenantSpec, ...]:
    """The tenants to load: `AURION_TENANTS_FILE` if set, else one tenant keyed by `AURION_API_KEY`.
    A declared `plan:` must be one of `plans` (the seed's plan names) when those are known."""
    env = os.environ if env is None else env
    path = env.get("AURION_TENANTS_FILE")
    if path:
        return parse_tenants_file(Path(path), plans)
    name = env.get("AURION_TENANT") or "default"  # empty means unset, as for every other variable
    if not TENANT_NAME.match(name):
        raise ConfigError(
            f"AURION_TENANT={name!r} is not a valid tenant name; use 1-64 letters, digits, _ . - "
            "starting with a letter or digit"
        )
    return (TenantSpec(name=name, api_key_env="AURION_API_KEY"),)


def check_tenants(configured: Sequence[str], names: Sequence[str], asked_by: str = "--tenant") -> None:
    """Every tenant named (by --tenant, or a run's config) is configured."""
    unknown = sorted(set(names) - set(configured))
    if unknown:
        raise ConfigError(
            f"{asked_by} {', '.join(unknown)} is not configured; configured tenants: {', '.join(sorted(configured))}"
        )


def require_api_keys(settings: Settings, env: Mapping[str, str], only: Sequence[str] = ()) -> tuple[TenantSpec, ...]:
    """The tenants a fetching command will call (all, or those named by --tenant), each with its key
    set to something that can be sent."""
    check_tenants([t.name for t in settings.tenants], only)
    chosen = tuple(t for t in settings.tenants if not only or t.name in only)
    for tenant in chosen:
        check_api_key(tenant.name, tenant.api_key_env, env.get(tenant.api_key_env))
    return chosen


def check_api_key(tenant: str, api_key_env: str, key: str | None) -> str:
    """`key`, if it can be sent as tenant's key. The key is never echoed; only its variable is named
    (`api_key_env`: its name as the caller may show it)."""
    if not key:
        hint = "" if api_key_env != "AURION_API_KEY" else " (or list tenants in AURION_TENANTS_FILE)"
        raise ConfigError(f"{api_key_env} is not set: export the API key of tenant {tenant!r}{hint}")
    if not key.isprintable() or any(c.isspace() for c in key) or not key.isascii():
        raise ConfigError(f"{api_key_env} holds spaces, line breaks or non-ASCII characters (value not shown); "
                          "set it to the key alone")
    return key


def sql_folder(env: Mapping[str, str] | None = None) -> Path:
    """The folder of SQL models, seeds and data tests to build: `AURION_SQL_DIR`, else the project's own."""
    env = os.environ if env is None else env
    raw = env.get("AURION_SQL_DIR")
    if raw in (None, ""):
        return REPO_SQL_DIR if REPO_SQL_DIR.is_dir() else PACKAGED_SQL_DIR
    path = Path(raw).expanduser().resolve()
    if not path.is_dir():
        raise ConfigError(f"AURION_SQL_DIR={raw!r} is not a folder; point it at a copy of dbt_like_sql/ or unset it")
    if not (path / "models").is_dir():
        raise ConfigError(f"AURION_SQL_DIR={raw!r} has no models/ folder; point it at a copy of dbt_like_sql/")
    return path


def validate_base_url(url: str) -> str:
    problem = http_url_problem(url)
    if not problem and ("?" in url or "#" in url):  # the request paths are appended: the query would end up first
        origin = url.split("?", 1)[0].split("#", 1)[0]  # a query may carry a key: never shown
        raise ConfigError(f"AURION_BASE_URL={shown_url(origin)}… has a query (?…) or fragment (#…), not shown; give "
                          "the API's origin alone")
    if problem:
        raise ConfigError(f"AURION_BASE_URL={shown_url(url)} {problem} (the API's origin, such as {DEFAULT_BASE_URL})")
    return url.rstrip("/")


def parse_date(value: str | None, name: str, default: date) -> date:
    if value in (None, ""):
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a date; use YYYY-MM-DD") from None


def parse_int(env: Mapping[str, str], name: str, default: int, *, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name}={value} is out of range; use a number from {lo} to {hi}")
    return value


def parse_memory_limit(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    value = raw.strip()
    if not _MEMORY_LIMIT.match(value):
        raise ConfigError(f"{name}={raw!r} is not a memory size; use a number and a unit such as 512MB, 1.5GB or 2GiB")
    return value


def parse_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false")


def check_range(settings: Settings, start: date, end: date) -> None:
    """A range of days a backfill may load: in order, from AURION_START_DATE, complete UTC days only."""
    if start > end:
        raise ConfigError(f"--start {start} is after --end {end}")
    if start < settings.start_date:
        raise ConfigError(f"--start {start} is before AURION_START_DATE ({settings.start_date}); "
                          "lower AURION_START_DATE")
    if end >= datetime.now(UTC).date():
        raise ConfigError(f"--end {end} is not a complete UTC day yet; the latest day you can load is yesterday")
