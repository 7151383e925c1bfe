"""Counting what Dagster's storages ask of their databases: the schema questions (catalog queries), which
the CLI's instance answers from memory once the answer is yes, and the SQLite connections, which it
keeps open (aurion_pipeline/defs/instance_tuning.py)."""

import re
from collections.abc import Callable
from contextlib import contextmanager
from datetime import date, timedelta

import dagster as dg
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

# What SQLAlchemy's reflection sends to ask about a schema, on SQLite and on PostgreSQL.
CATALOG = re.compile(r"table_x?info|sqlite_master|pg_catalog", re.IGNORECASE)


def days(n: int) -> dict[str, str]:
    """Partition-range tags for the first n days of 2025."""
    first = date(2025, 1, 1)
    return {"dagster/asset_partition_range_start": str(first),
            "dagster/asset_partition_range_end": str(first + timedelta(days=n - 1))}


@contextmanager
def catalog_queries() -> list[str]:
    """Every catalog statement any engine of this process sends inside the block."""
    sent: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        if CATALOG.search(statement):
            sent.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", record)


@contextmanager
def connections_opened(counting: Callable[[], bool] = lambda: True) -> list[str]:
    """The database connections any engine of this process opens inside the block (one entry each),
    while `counting()` is true."""
    opened: list[str] = []

    def record(dbapi_connection, connection_record) -> None:
        if counting():
            opened.append(type(dbapi_connection).__module__)

    event.listen(Pool, "connect", record)
    try:
        yield opened
    finally:
        event.remove(Pool, "connect", record)


def catalog_queries_of(call: Callable[[], object]) -> tuple[object, int]:
    with catalog_queries() as sent:
        answer = call()
    return answer, len(sent)


def partitioned_noop_job() -> dg.JobDefinition:
    days = dg.DailyPartitionsDefinition(start_date="2025-01-01", timezone="UTC")

    @dg.asset(partitions_def=days, backfill_policy=dg.BackfillPolicy.single_run())
    def noop() -> None:
        return None

    return dg.Definitions(assets=[noop], jobs=[dg.define_asset_job("noop_job", selection=[noop])]
                          ).resolve_job_def("noop_job")


def catalog_queries_per_run(instance: dg.DagsterInstance, partitions: tuple[int, ...]) -> list[int]:
    """Catalog statements of one run per entry, each over that many daily partitions, after a first run
    that asks what a fresh process must. Untuned, each partition's materialization asks about
    `asset_event_tags` and the asset-key columns; on SQLite each run also creates its own run database
    (its tables are looked for before they are made), whatever its size."""
    return counted_per_run(instance, partitions, catalog_queries)


def counted_per_run(instance: dg.DagsterInstance, partitions: tuple[int, ...],
                    counting: Callable[[], list]) -> list[int]:
    """What `counting` records during one run per entry, each over that many daily partitions, after a
    first run that does what a fresh process must."""
    job = partitioned_noop_job()
    assert job.execute_in_process(instance=instance, tags=days(1)).success
    counted = []
    for n in partitions:
        with counting() as seen:
            assert job.execute_in_process(instance=instance, tags=days(n)).success
        counted.append(len(seen))
    return counted
