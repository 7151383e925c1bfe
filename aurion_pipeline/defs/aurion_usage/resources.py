"""Dagster resources: configuration in, clients and connections out. Nothing here fetches or loads."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from aurion_pipeline.source.client import AurionClient
from aurion_pipeline.source.redact import shown_env_name
from aurion_pipeline.config import (
    DEFAULT_ANALYST_STORAGE_VERSION,
    DEFAULT_BASE_URL,
    DEFAULT_DUCKDB_MEMORY_LIMIT,
    DEFAULT_REQUESTS_PER_TENANT,
    ConfigError,
    TenantSpec,
    load_settings,
    parse_tenants_file,
    validate_base_url,
)
from aurion_pipeline.storage import Warehouse


class AurionApiResource(dg.ConfigurableResource):
    """The Aurion Usage API: where it is, which tenants to load, and how politely to ask."""

    base_url: str = Field(default=DEFAULT_BASE_URL, description="API base URL (AURION_BASE_URL); http only for loopback.")
    api_key: str | None = Field(
        default=None, description="Key of the single tenant, from AURION_API_KEY via dg.EnvVar (hidden in the UI)."
    )
    tenant: str = Field(default="default", description="Name of the single tenant (AURION_TENANT).")
    tenants_file: str | None = Field(
        default=None, description="YAML list of {name, api_key_env} (AURION_TENANTS_FILE); overrides api_key."
    )
    max_range_days: int = Field(default=31, description="Most days one details request asks for (AURION_MAX_RANGE_DAYS).")
    end_date_inclusive: bool = Field(default=True, description="Whether the API treats end_date as inclusive.")
    max_workers: int = Field(default=8, description="Details requests in flight, all tenants together (AURION_MAX_WORKERS).")
    requests_per_tenant: int = Field(
        default=DEFAULT_REQUESTS_PER_TENANT,
        description="Details requests one tenant may have in flight; a backfill round holds this many windows per "
        "tenant and commits them together (AURION_REQUESTS_PER_TENANT).",
    )
    timeout_s: float = Field(default=60.0, description="Read timeout of one HTTP call, seconds.")
    retry_budget_s: float = Field(default=300.0, description="Total time one call may spend retrying 429/5xx.")
    request_deadline_s: float = Field(
        default=120.0, description="Most time one HTTP exchange may take, connect and every read (AURION_REQUEST_DEADLINE_SECONDS)."
    )

    def tenant_specs(self) -> tuple[TenantSpec, ...]:
        if self.tenants_file:
            return parse_tenants_file(Path(self.tenants_file))
        return (TenantSpec(name=self.tenant, api_key_env="AURION_API_KEY"),)

    @contextmanager
    def clients(self, only: Sequence[str] = ()) -> Iterator[dict[str, AurionClient]]:
        """`get_clients`, closing every session when the block ends."""
        clients = self.get_clients(only)
        try:
            yield clients
        finally:
            for client in clients.values():
                client.close()

    def get_clients(self, only: Sequence[str] = ()) -> dict[str, AurionClient]:
        """One client per tenant (each with its own session), keys read from the environment now."""
        base_url = validate_base_url(self.base_url)
        specs = self.tenant_specs()
        unknown = sorted(set(only) - {s.name for s in specs})
        if unknown:
            raise ConfigError(f"unknown tenant(s) {', '.join(unknown)}; configured: {', '.join(s.name for s in specs)}")
        chosen = [s for s in specs if not only or s.name in only]
        return {s.name: self._client(base_url, s) for s in chosen}

    def _client(self, base_url: str, spec: TenantSpec) -> AurionClient:
        key = self.api_key if not self.tenants_file else os.environ.get(spec.api_key_env)
        if not key:
            raise ConfigError(f"no API key for tenant {spec.name!r}: set the environment variable "
                              f"{shown_env_name(spec.api_key_env)}")
        return AurionClient(
            base_url, key, tenant=spec.name, api_key_env=spec.api_key_env,
            timeout=(10.0, self.timeout_s), retry_budget_s=self.retry_budget_s, deadline_s=self.request_deadline_s,
            end_date_inclusive=self.end_date_inclusive,
        )


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse, its Parquet lake and the analyst copy, under one data directory."""

    data_dir: str = Field(default="./data", description="Root of lake/, warehouse.duckdb, analyst.duckdb (AURION_DATA_DIR).")
    lock_timeout_s: float = Field(
        default=120.0, description="How long a writer waits for a lock held elsewhere (AURION_LOCK_TIMEOUT_SECONDS)."
    )
    memory_limit: str = Field(
        default=DEFAULT_DUCKDB_MEMORY_LIMIT, description="DuckDB memory limit of the writer; beyond it DuckDB spills to disk (AURION_DUCKDB_MEMORY_LIMIT)."
    )

    analyst_storage_version: str = Field(
        default=DEFAULT_ANALYST_STORAGE_VERSION,
        description="DuckDB storage format of analyst.duckdb, so older clients open it (AURION_ANALYST_STORAGE_VERSION).",
    )

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(Path(self.data_dir).expanduser().resolve(), self.lock_timeout_s, self.memory_limit,
                         self.analyst_storage_version)

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection; the analyst copy is republished when the block succeeds."""
        with self.warehouse.writer(publish=True) as con:
            yield con


def resources_from_env(env: dict[str, str] | None = None) -> dict[str, dg.ConfigurableResource]:
    """Resources configured from AURION_* variables. The key is passed as dg.EnvVar, never as a value."""
    env = dict(os.environ if env is None else env)
    settings = load_settings(env)
    api = AurionApiResource(
        base_url=settings.base_url,
        api_key=dg.EnvVar("AURION_API_KEY") if env.get("AURION_API_KEY") else None,
        tenant=env.get("AURION_TENANT", "default"),
        tenants_file=env.get("AURION_TENANTS_FILE") or None,
        max_range_days=settings.max_range_days,
        end_date_inclusive=settings.end_date_inclusive,
        max_workers=settings.max_workers,
        requests_per_tenant=settings.requests_per_tenant,
        request_deadline_s=settings.request_deadline_s,
    )
    warehouse = WarehouseResource(
        data_dir=str(settings.data_dir), lock_timeout_s=settings.lock_timeout_s, memory_limit=settings.duckdb_memory_limit,
        analyst_storage_version=settings.analyst_storage_version,
    )
    return {"aurion_api": api, "warehouse": warehouse}
