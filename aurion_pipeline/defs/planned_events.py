"""A run's planned events written as one batch on PostgreSQL, as dagster-postgres writes materializations.

When a run is created Dagster writes one planned event per asset and per asset check it will run (51
for `usage_job`: 26 assets, 25 checks) through `store_event_batch`. dagster-postgres writes a batch
in one multi-row insert only when it holds materializations or observations alone; the planned
batch mixes two other kinds, so it falls back to one `store_event` per event: an insert, a NOTIFY
(kept there for version skew only) and the index writes, each event on its own round trips and
commits. That was ~0.3 s of a 4.4 s 3-year backfill (`bench/bench_backfill.py --event-costs`).

Here a batch of planned events is written the way dagster-postgres writes a batch of
materializations: the events in one insert, then the index writes Dagster's `store_event` makes for
each - the asset events' tags and asset rows (with Dagster's own methods), and each check's planned
execution rows (as `_store_asset_check_evaluation_planned` makes them, one per planned partition) -
all in one transaction. Every other batch, and a storage lacking one of the methods used (another Dagster
version), is left to Dagster.
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
# What a planned batch is written with: dagster-postgres's own materialization batch uses the first
# four, and the rows of planned checks the last, as Dagster's `store_event` does. The rows copy Dagster's
# private layout of `asset_check_executions`, checked in this minor version only (pyproject pins it).
_STORAGE_METHODS = ("prepare_insert_event_batch", "index_transaction", "_store_asset_event_tags",
                    "_store_asset_event", "_event_insert_timestamp")
_DAGSTER_MINOR = "1.13."


def batch_planned_events(instance: dg.DagsterInstance) -> None:
    """On a PostgreSQL event log, write batches of planned events in one insert (see the module)."""
    try:
        from dagster_postgres import PostgresEventLogStorage
    except ImportError:  # no PostgreSQL instance possible
        return
    storage = instance.event_log_storage
    if not isinstance(storage, PostgresEventLogStorage) or not dg.__version__.startswith(_DAGSTER_MINOR):
        return
    if not all(callable(getattr(storage, name, None)) for name in _STORAGE_METHODS):
        return
    storage.store_event_batch = _planned_in_one_insert(storage, storage.store_event_batch)


def _planned_in_one_insert(storage: PostgresEventLogStorage, dagster_batch: Callable[[Sequence[EventLogEntry]], None]):
    @functools.wraps(dagster_batch)
    def store_event_batch(events: Sequence[EventLogEntry]) -> None:
        kinds = {event.dagster_event_type for event in events}
        # Checks on an instance whose schema lacks them: Dagster's path says to migrate.
        if events and kinds <= {ASSET_PLANNED, CHECK_PLANNED} and (
                CHECK_PLANNED not in kinds or storage.supports_asset_checks):
            _store_planned(storage, events)
        else:
            dagster_batch(events)

    return store_event_batch


def _store_planned(storage: PostgresEventLogStorage, events: Sequence[EventLogEntry]) -> None:
    # One transaction (on PostgreSQL the event log and its index are one database): should any write
    # fail, nothing is stored, and Dagster's fallback of storing the batch one event at a time cannot
    # store an event twice.
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
