"""A built-in sandbox of the Aurion Usage API, for the demo, end-to-end tests and benchmarks.

    with SandboxServer(today=date(2026, 4, 10)) as api:
        write_tenants_file(path, DEFAULT_TENANTS)
        env = {"AURION_BASE_URL": api.base_url, "AURION_TENANTS_FILE": str(path), **sandbox_env()}

Used only when asked: the pipeline never imports this package.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from aurion_sandbox.data import (
    DEFAULT_TENANTS,
    PLAN_LIMITS,
    DailyUsage,
    TenantProfile,
    billing_period,
    daily_usage,
    make_tenants,
    summary,
    usage_table,
)
from aurion_sandbox.server import CORRUPTIONS, LoggedRequest, SandboxServer

__all__ = [
    "CORRUPTIONS",
    "DEFAULT_TENANTS",
    "PLAN_LIMITS",
    "DailyUsage",
    "LoggedRequest",
    "SandboxServer",
    "TenantProfile",
    "billing_period",
    "daily_usage",
    "make_tenants",
    "sandbox_env",
    "summary",
    "usage_table",
    "write_tenants_file",
]


def write_tenants_file(path: Path | str, tenants: Iterable[TenantProfile] = DEFAULT_TENANTS) -> Path:
    """Write the `AURION_TENANTS_FILE` listing `tenants` as `[{name, api_key_env}]`; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [{"name": t.name, "api_key_env": t.api_key_env} for t in tenants]
    path.write_text(yaml.safe_dump(entries, sort_keys=False))
    return path


def sandbox_env(tenants: Iterable[TenantProfile] = DEFAULT_TENANTS) -> dict[str, str]:
    """The environment variables holding the sandbox keys (`AURION_SANDBOX_KEY_ACME=sk_sbx_…`, ...)."""
    return {t.api_key_env: t.api_key for t in tenants}
