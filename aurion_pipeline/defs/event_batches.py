"""Event batches on PostgreSQL written in one transaction, with as few statements as Dagster's own storage allows.

Two batches make most of a 3-year backfill's event-log work (`bench/bench_backfill.py --event-costs`):

- **The run's planned events.** When a run is created Dagster writes one planned event per asset and
  per asset check it will run (50 for `usage_job`: 26 assets, 24 checks) through `store_event_batch`.
  dagster-postgres writes a batch in one insert only when it holds materializations or observations
  alone; the planned batch mixes two other kinds, so it fell back to one `store_event` per event: an
  insert, a NOTIFY (kept there for version skew only) and the index writes, each on its own round
  trips and commits (0.30 s per run). Here: the events in one insert, then the index writes Dagster's
  `store_event` makes for each - the asset events' tags and asset rows (with Dagster's own methods),
  and each check's planned execution rows (as `_store_asset_check_evaluation_planned` makes them, one
  per planned partition).
- **The materializations of a multi-partition step** (1,096 for a 3-year backfill, in batches of
  `DAGSTER_EVENT_BATCH_SIZE`). dagster-postgres inserts a batch as one `VALUES` list of a thousand
  rows, which SQLAlchemy compiles afresh for every batch (a thousand sets of bound parameters). Here
  the same rows go through SQLAlchemy's executemany (its "insertmanyvalues": one cached statement,
  pages of rows, ids returned in the rows' order), followed by the same index writes: every event's
  tags, and the asset row from the last event, as dagster-postgres does.

Each batch is one transaction (on PostgreSQL the event log and its index are one database): should a
write fail, nothing is stored, and Dagster's fallback - storing the batch one event at a time when it
raises - cannot store an event twice. Every other batch, SQLite, and a Dagster other than the minor
version this copies (or a storage lacking a method it uses) are left to Dagster.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster._serdes import serialize_value

if TYPE_CHECKING:
    from dagster_postgres import PostgresEventLogStorage

ASSET_PLANNED = DagsterEventType.ASSET_MATERIALIZATION_PLANNED
CHECK_PLANNED = DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED
MATERIALIZED = DagsterEventType.ASSET_MATERIALIZATION
# The storage methods the batches are written with: Dagster's own, as its batch and `store_event` use
# them (the last dates the planned check rows). Those rows and the executemany insert copy Dagster's
# private table layouts, checked in this minor version only (pyproject pins it).
_STORAGE_METHODS = ("prepare_insert_event_batch", "index_transaction", "_store_asset_event_tags",
                    "_store_asset_event", "_event_to_row", "_event_insert_timestamp")
_DAGSTER_MINOR = "1.13."


def batch_events_on_postgres(instance: dg.DagsterInstance) -> None:
    """On a PostgreSQL event log, write planned and materialization batches as the module says."""
    try:
        from dagster_postgres import PostgresEventLogStorage
    except ImportError:  # no PostgreSQL instance possible
        return
    storage = instance.event_log_storage
    if not isinstance(storage, PostgresEventLogStorage) or not dg.__version__.startswith(_DAGSTER_MINOR):
        return
    if not all(callable(getattr(storage, name, None)) for name in _STORAGE_METHODS):
        return
    storage.store_event_batch = _batched(storage, storage.store_event_batch)


def _batched(storage: PostgresEventLogStorage, dagster_batch: Callable[[Sequence[EventLogEntry]], None]):
    @functools.wraps(dagster_batch)
    def store_event_batch(events: Sequence[EventLogEntry]) -> None:
        kinds = {event.dagster_event_type for event in events}
        if not events:
            dagster_batch(events)
        elif kinds == {MATERIALIZED}:
            _store_materializations(storage, events)
        # Checks on an instance whose schema lacks them: Dagster's path says to migrate.
        elif kinds <= {ASSET_PLANNED, CHECK_PLANNED} and (CHECK_PLANNED not in kinds or storage.supports_asset_checks):
            _store_planned(storage, events)
        else:
            dagster_batch(events)

    return store_event_batch


def _store_materializations(storage: PostgresEventLogStorage, events: Sequence[EventLogEntry]) -> None:
    with storage.index_transaction() as conn:
        inserted = conn.execute(
            SqlEventLogStorageTable.insert().returning(SqlEventLogStorageTable.c.id, sort_by_parameter_order=True),
            [storage._event_to_row(event) for event in events],
        )
        event_ids = [int(row[0]) for row in inserted.fetchall()]
        storage._store_asset_event_tags(conn, events, event_ids)
        # dagster-postgres updates the asset's row from the batch's last event only (a step's batch is
        # one asset's partitions); several assets' in one batch each get theirs.
        stored = zip(events, event_ids, strict=True)
        last = {event.get_dagster_event().asset_key: (event, event_id) for event, event_id in stored}
        for event, event_id in last.values():
            storage._store_asset_event(conn, event, event_id)


def _store_planned(storage: PostgresEventLogStorage, events: Sequence[EventLogEntry]) -> None:
    with storage.index_transaction() as conn:
        inserted = conn.execute(storage.prepare_insert_event_batch(events).returning(SqlEventLogStorageTable.c.id))
        # Ids are drawn in the order of the rows; sorted, they pair with the events whatever order
        # RETURNING gives them in (dagster-postgres pairs them as returned).
        stored = list(zip(events, sorted(int(row[0]) for row in inserted.fetchall()), strict=True))
        assets = [(event, event_id) for event, event_id in stored if event.dagster_event_type == ASSET_PLANNED]
        if assets:
            storage._store_asset_event_tags(conn, [event for event, _ in assets], [i for _, i in assets])
            for event, event_id in assets:
                storage._store_asset_event(conn, event, event_id)
        for event, event_id in stored:  # one insert per check, as Dagster's: a row per planned partition
            if event.dagster_event_type == CHECK_PLANNED:
                conn.execute(AssetCheckExecutionsTable.insert().values(_planned_check_rows(storage, event, event_id)))


def _planned_check_rows(storage: PostgresEventLogStorage, event: EventLogEntry, event_id: int) -> list[dict]:
    """The rows Dagster's `_store_asset_check_evaluation_planned` inserts for one planned check: one per
    partition it plans (one, without a partition, for an unpartitioned check)."""
    planned = event.get_dagster_event().event_specific_data
    partitions = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
    serialized, timestamp = serialize_value(event), storage._event_insert_timestamp(event)
    return [{"asset_key": planned.asset_key.to_string(), "check_name": planned.check_name, "partition": partition,
             "run_id": event.run_id, "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
             "evaluation_event": serialized, "evaluation_event_timestamp": timestamp,
             "evaluation_event_storage_id": event_id}
            for partition in partitions]
