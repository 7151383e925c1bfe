"""A run's planned events written as one batch on PostgreSQL, as dagster-postgres writes materializations.

When a run is created Dagster writes one planned event per asset and per asset check it will run (51
for `usage_job`: 26 assets, 25 checks) through `store_event_batch`. dagster-postgres writes a batch
in one multi-row insert only when it holds materializations or observations alone; the planned
batch mixes two other kinds, so it falls back to one `store_event` per event: an insert, a NOTIFY
(kept there for version skew only) and the index writes, each event on its own round trips and
commits. That was ~0.3 s of a 4.4 s 3-year backfill (`bench/bench_backfill.py --event-costs`).

Here a batch of planned events is written the way dagster-postgres writes a batch of
materializations: the events in one insert, then the index writes Dagster's `store_event` makes for
each, with the same methods - the asset events' tags and asset rows in one transaction, each check's
execution row. Every other batch, and a storage lacking one of these methods (another Dagster
version), is left to Dagster.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry

ASSET_PLANNED = DagsterEventType.ASSET_MATERIALIZATION_PLANNED
CHECK_PLANNED = DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED
# What a planned batch is written with: dagster-postgres's own materialization batch uses the first
# four, its `store_event` the last two.
_STORAGE_METHODS = ("prepare_insert_event_batch", "_connect", "index_transaction", "_store_asset_event_tags",
                    "_store_asset_event", "store_asset_check_event")


def batch_planned_events(instance: dg.DagsterInstance) -> None:
    """On a PostgreSQL event log, write batches of planned events in one insert (see the module)."""
    try:
        from dagster_postgres import PostgresEventLogStorage
    except ImportError:  # no PostgreSQL instance possible
        return
    storage = instance.event_log_storage
    if not isinstance(storage, PostgresEventLogStorage):
        return
    if not all(callable(getattr(storage, name, None)) for name in _STORAGE_METHODS):
        return
    storage.store_event_batch = _planned_in_one_insert(storage, storage.store_event_batch)


def _planned_in_one_insert(storage, dagster_batch: Callable[[Sequence[EventLogEntry]], None]):
    @functools.wraps(dagster_batch)
    def store_event_batch(events: Sequence[EventLogEntry]) -> None:
        if events and all(event.dagster_event_type in (ASSET_PLANNED, CHECK_PLANNED) for event in events):
            _store_planned(storage, events)
        else:
            dagster_batch(events)

    return store_event_batch


def _store_planned(storage, events: Sequence[EventLogEntry]) -> None:
    from dagster._core.storage.event_log.schema import SqlEventLogStorageTable

    with storage._connect() as conn:
        inserted = conn.execute(storage.prepare_insert_event_batch(events).returning(SqlEventLogStorageTable.c.id))
        event_ids = [int(row[0]) for row in inserted.fetchall()]
    stored = list(zip(events, event_ids, strict=True))
    assets = [(event, event_id) for event, event_id in stored if event.dagster_event_type == ASSET_PLANNED]
    if assets:
        with storage.index_transaction() as conn:
            storage._store_asset_event_tags(conn, [event for event, _ in assets], [i for _, i in assets])
            for event, event_id in assets:
                storage._store_asset_event(conn, event, event_id)
    for event, event_id in stored:
        if event.dagster_event_type == CHECK_PLANNED:
            storage.store_asset_check_event(event, event_id)
