"""Dagster resources: configuration in, clients and connections out. Nothing here fetches or loads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from aurion_pipeline.config import (
    DEFAULT_ANALYST_STORAGE_VERSION,
    DEFAULT_BASE_URL,
    DEFAULT_COMMIT_SECONDS,
    DEFAULT_DATA_DIR,
    DEFAULT_DUCKDB_MEMORY_LIMIT,
    DEFAULT_LOCK_TIMEOUT_S,
    DEFAULT_MAX_RANGE_DAYS,
    DEFAULT_MAX_WORKERS,
    DEFAULT_REQUEST_DEADLINE_S,
    DEFAULT_REQUESTS_PER_TENANT,
    Settings,
    check_api_key,
    check_tenants,
    declared_plans,
    load_settings,
    validate_base_url,
)
from aurion_pipeline.defs.instance_tuning import tune_instance
from aurion_pipeline.source.client import AurionClient
from aurion_pipeline.source.redact import shown_env_name
from aurion_pipeline.storage import Warehouse


class TenantConfig(dg.Config):
    """One tenant: its name in the warehouse, the NAME of the environment variable holding its key
    (the key itself never enters configuration), and optionally its declared plan."""

    name: str
    api_key_env: str
    plan: str | None = None


class AurionApiResource(dg.ConfigurableResource):
    """The Aurion Usage API: where it is, which tenants to load, and how politely to ask."""

    base_url: str = Field(
        default=DEFAULT_BASE_URL, description="API base URL (AURION_BASE_URL); http only for loopback."
    )
    tenants: list[TenantConfig] = Field(
        default_factory=list, description="Tenants to load (AURION_TENANTS_FILE, or AURION_TENANT + AURION_API_KEY)."
    )
    max_range_days: int = Field(
        default=DEFAULT_MAX_RANGE_DAYS, description="Most days one details request asks for (AURION_MAX_RANGE_DAYS)."
    )
    end_date_inclusive: bool = Field(default=True, description="Whether the API treats end_date as inclusive.")
    max_workers: int = Field(
        default=DEFAULT_MAX_WORKERS,
        description="Details requests in flight, all tenants together (AURION_MAX_WORKERS).",
    )
    requests_per_tenant: int = Field(
        default=DEFAULT_REQUESTS_PER_TENANT,
        description="Details requests one tenant may have in flight; a backfill round holds this many windows per "
        "tenant, fetched together (AURION_REQUESTS_PER_TENANT).",
    )
    commit_seconds: float = Field(
        default=DEFAULT_COMMIT_SECONDS,
        description="A load commits the rounds it fetched at least this often, seconds; 0 commits every round "
        "(AURION_COMMIT_SECONDS).",
    )
    timeout_s: float = Field(default=60.0, description="Read timeout of one HTTP call, seconds.")
    retry_budget_s: float = Field(default=300.0, description="Total time one call may spend retrying 429/5xx.")
    request_deadline_s: float = Field(
        default=DEFAULT_REQUEST_DEADLINE_S,
        description="Most time one HTTP exchange may take, connect and every read (AURION_REQUEST_DEADLINE_SECONDS).",
    )

    def declared_plans(self) -> dict[str, str | None]:
        return declared_plans(self.tenants)

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
        check_tenants([t.name for t in self.tenants], only, asked_by="the run config's tenant")
        return {t.name: self._client(base_url, t) for t in self.tenants if not only or t.name in only}

    def _client(self, base_url: str, tenant: TenantConfig) -> AurionClient:
        key = check_api_key(tenant.name, shown_env_name(tenant.api_key_env), dg.EnvVar(tenant.api_key_env).get_value())
        return AurionClient(
            base_url, key, tenant=tenant.name, api_key_env=tenant.api_key_env,
            timeout=(10.0, self.timeout_s), retry_budget_s=self.retry_budget_s, deadline_s=self.request_deadline_s,
            end_date_inclusive=self.end_date_inclusive,
        )


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse, its Parquet lake and the analyst copy, under one data directory."""

    data_dir: str = Field(
        default=DEFAULT_DATA_DIR, description="Root of lake/, warehouse.duckdb, analyst.duckdb (AURION_DATA_DIR)."
    )
    lock_timeout_s: float = Field(
        default=DEFAULT_LOCK_TIMEOUT_S,
        description="How long a writer waits for a lock held elsewhere (AURION_LOCK_TIMEOUT_SECONDS).",
    )
    memory_limit: str = Field(
        default=DEFAULT_DUCKDB_MEMORY_LIMIT,
        description="DuckDB memory limit of the writer; beyond it DuckDB spills to disk (AURION_DUCKDB_MEMORY_LIMIT).",
    )

    analyst_storage_version: str = Field(
        default=DEFAULT_ANALYST_STORAGE_VERSION,
        description="DuckDB storage format of analyst.duckdb, so older clients open it "
                    "(AURION_ANALYST_STORAGE_VERSION).",
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Every step of ours uses the warehouse, so this is where a run the daemon launched (a process
        # per step, its instance made from the instance ref, untuned) gets the CLI's tuning: the
        # events the step writes then pay no new connection each (defs/instance_tuning.py).
        if context.instance is not None:
            tune_instance(context.instance)

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(Path(self.data_dir).expanduser().resolve(), self.lock_timeout_s, self.memory_limit,
                         self.analyst_storage_version)

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection; the analyst copy is republished when the block succeeds."""
        with self.warehouse.writer(publish=True) as con:
            yield con


def resources_from_settings(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Our two resources, `aurion_api` and `warehouse`, configured from one `Settings`. Keys stay in
    the environment: each tenant names the variable, read when a client is built."""
    api = AurionApiResource(
        base_url=settings.base_url,
        tenants=[TenantConfig(name=t.name, api_key_env=t.api_key_env, plan=t.plan) for t in settings.tenants],
        max_range_days=settings.max_range_days,
        end_date_inclusive=settings.end_date_inclusive,
        max_workers=settings.max_workers,
        requests_per_tenant=settings.requests_per_tenant,
        commit_seconds=settings.commit_seconds,
        request_deadline_s=settings.request_deadline_s,
    )
    warehouse = WarehouseResource(
        data_dir=str(settings.data_dir), lock_timeout_s=settings.lock_timeout_s,
        memory_limit=settings.duckdb_memory_limit,
        analyst_storage_version=settings.analyst_storage_version,
    )
    return {"aurion_api": api, "warehouse": warehouse}


def resources_from_env(env: Mapping[str, str] | None = None) -> dict[str, dg.ConfigurableResource]:
    """`resources_from_settings(load_settings(env))`: for tests and scripts that start from an environment."""
    return resources_from_settings(load_settings(env))
