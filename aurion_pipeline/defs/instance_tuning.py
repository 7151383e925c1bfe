"""Dagster settings our runs turn on for themselves, so a user writes nothing beyond the instance config.

Dagster writes one event per partition when a run is planned and one per materialized partition, so a
3-year backfill (1,096 daily partitions in one run) costs thousands of event-log writes: on the default
SQLite instance that bookkeeping is most of the run. Two environment variables, read by Dagster in
the process that creates and executes a run, cut it:

- `DAGSTER_EVENT_BATCH_SIZE`: the materializations of a multi-partition step (and the planned events
  of a run) are written through `store_event_batch`, which dagster-postgres does as one multi-row
  insert. SQLite's storage loops over single inserts, so there it changes nothing, good or bad.
- `DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS`: one planned event per asset for the whole range
  instead of one per partition. The price: when such a run fails, Dagster's UI no longer marks its
  partitions failed (they show as missing, or keep an older materialization). We accept it because
  the mark was coarse anyway (every partition of the range, loaded or not), while `raw._load_log`, the
  `all_windows_loaded` check and `aurion-pipeline status` name the tenant and days of every failed
  window (docs/deployment.md, "Batched events").

Both are set only when the caller has not set them itself (an explicit `0` turns batching off).
The edges call `tune_event_batching` on the process environment: `cli/runs.py` before it executes a
run, `definitions.py`, which a run worker launched by the daemon imports before executing its run, and
`dev_env.py`, whose output `make dev` starts the webserver and the daemon with.

The instance a run writes its events through is tuned as well (`tune_instance`): pooled connections
(PostgreSQL and SQLite), remembered schema checks, and on PostgreSQL a run's planned events and a
step's materializations written with fewer statements (`event_batches.py`). The CLI tunes its own
instance when it opens it; a run the daemon launched executes in processes of their own (a run
worker, one per step), whose instances the `warehouse` resource tunes when a step sets it up
(`defs/aurion_usage/resources.py`).
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager

import dagster as dg
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine

from aurion_pipeline.defs.event_batches import batch_events_on_postgres

EVENT_BATCH_SIZE = 1000  # a 3-year backfill (1,096 partitions) then flushes its materializations in two inserts
BATCHING_ENV: dict[str, str] = {
    "DAGSTER_EVENT_BATCH_SIZE": str(EVENT_BATCH_SIZE),
    "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1",
}


def tune_event_batching(environ: MutableMapping[str, str]) -> dict[str, str]:
    """Set the batching variables in `environ` where the caller left them unset; returns what it set."""
    added = {name: value for name, value in BATCHING_ENV.items() if name not in environ}
    environ.update(added)
    return added


_TUNED: weakref.WeakSet[dg.DagsterInstance] = weakref.WeakSet()


def tune_instance(instance: dg.DagsterInstance) -> None:
    """Tune `instance` for the rest of its life in this process; once (later calls do nothing)."""
    if instance in _TUNED:
        return
    _TUNED.add(instance)
    keep_connections_open(instance)
    keep_sqlite_engines(instance)
    remember_schema_checks(instance)
    batch_events_on_postgres(instance)


# One connection per storage, reused, plus a few for concurrent writers; no statement timeout (0):
# a long run's queries must not be cut off the way a webserver's are.
_POOL = {"statement_timeout": 0, "pool_recycle": 3600, "max_overflow": 10}


def keep_connections_open(instance: dg.DagsterInstance) -> None:
    """Reuse database connections for the life of this process's instance.

    dagster-postgres opens and closes a connection for every event and query (SQLAlchemy NullPool,
    so that many short-lived instances never pile up connections). One run of ours writes and reads
    hundreds of them: a 3-year backfill opened ~530 connections, 5.7 s of a 30 s profiled run on a busy
    machine. Dagster's webserver keeps a pooled connection instead (`optimize_for_webserver`); a run
    (or a step's process) is one long-lived instance too. On SQLite this does nothing."""
    instance.optimize_for_webserver(**_POOL)


# Run databases whose engines stay open beside the index's: the run being written and the few before it
# in this process (a query across runs opens one per run; the least recently used are closed).
SQLITE_RUN_ENGINES = 4


def keep_sqlite_engines(instance: dg.DagsterInstance) -> None:
    """Reuse one SQLAlchemy engine, and its connections, per SQLite database file.

    Dagster's SQLite storages build a new engine for every event and query (`create_engine` with
    NullPool) and throw it away after: each event then pays the engine, a fresh statement cache (every
    insert compiled again), a connection, and on closing the last connection to a WAL database a
    checkpoint. One SQL model's materialization and check write about six events, each to the run's
    database and to the index, so the models step of a daily tick is mostly that. Kept engines commit
    every event exactly as before (same transaction per call, same busy timeout); only opening and
    closing go. An idle open connection holds no lock, so the daemon and webserver see no difference.
    On PostgreSQL this does nothing (`keep_connections_open` pools those)."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
        SqliteEventLogStorage,
    )
    from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
    from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import (
        SqliteScheduleStorage,
    )
    from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS

    events = instance.event_log_storage
    if isinstance(events, SqliteEventLogStorage):
        engines = _EngineCache(1 + SQLITE_RUN_ENGINES, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
        events._connect = _event_log_connect(events, engines)
        # `wipe` deletes the run databases' files: their engines must not outlive them.
        events.wipe = _disposing_first(engines, events.wipe)
        events.dispose = _disposing_first(engines, events.dispose)
    for storage in (instance.run_storage, instance.schedule_storage):
        if isinstance(storage, SqliteRunStorage | SqliteScheduleStorage):
            engines = _EngineCache(1)
            storage.connect = functools.partial(_transaction, engines, storage._conn_string)
            storage.dispose = _disposing_first(engines, storage.dispose)


class _EngineCache:
    """At most `size` engines, by connection string; the least recently used is disposed first."""

    def __init__(self, size: int, **connect_args) -> None:
        self._size, self._connect_args = size, connect_args
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conn_string: str) -> Engine:
        with self._lock:
            engine = self._engines.get(conn_string)
            if engine is not None:
                self._engines.move_to_end(conn_string)
                return engine
            # Dagster uses a storage from several threads (the run's step, its log watcher), one call
            # at a time per connection, so a connection may serve a thread it was not made on.
            engine = create_engine(conn_string, connect_args={**self._connect_args, "check_same_thread": False})
            self._engines[conn_string] = engine
            while len(self._engines) > self._size:
                self._engines.popitem(last=False)[1].dispose()
            return engine

    def dispose(self) -> None:
        with self._lock:
            while self._engines:
                self._engines.popitem()[1].dispose()


@contextmanager
def _transaction(engines: _EngineCache, conn_string: str) -> Iterator[Connection]:
    engine = engines.get(conn_string)
    with engine.connect() as conn, conn.begin():
        yield conn


def _event_log_connect(storage, engines: _EngineCache) -> Callable[[str], object]:
    """SqliteEventLogStorage._connect (one database per run, plus the index) on kept engines."""

    @contextmanager
    def connect(shard: str) -> Iterator[Connection]:
        with storage._db_lock:  # the storage's own lock, as its _connect takes it
            engine = engines.get(storage.conn_string_for_shard(shard))
            if shard not in storage._initialized_dbs:
                storage._initdb(engine)
                storage._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    return connect


def _disposing_first(engines: _EngineCache, method: Callable[[], None]) -> Callable[[], None]:
    @functools.wraps(method)
    def dispose_then_call() -> None:
        engines.dispose()
        method()

    return dispose_then_call


# Dagster's storages ask the database about their own schema before many writes and reads, every time:
# has the asset_event_tags table been created, has asset_keys the index columns, are the runs table's
# stat columns there. Each answer is a catalog query (SQLAlchemy reflection, and on SQLite a new engine
# per question). Per 3-year backfill, measured (bench/bench_backfill.py): 1,172 `has_table` and 1,232
# asset-key column checks on SQLite, 3.3 s of a 36 s run; 162 checks on PostgreSQL, 1.1 s of a 6.3 s run.
# Value: how many leading arguments are a connection rather than part of the question.
_EVENT_LOG_SCHEMA_CHECKS = {
    "has_table": 0, "has_asset_key_col": 0, "has_asset_key_index_cols": 0, "has_secondary_index": 0,
    "_has_asset_key_col_on_connection": 1, "_has_asset_key_index_cols_on_connection": 1,
}
_RUN_SCHEMA_CHECKS = {"has_run_stats_index_cols": 0, "has_backfill_id_column": 0}


def remember_schema_checks(instance: dg.DagsterInstance) -> None:
    """Answer a storage's schema questions from memory once the answer is yes.

    Only a yes is remembered: a schema only gains tables, columns and finished index migrations
    (`dagster instance migrate`), so a yes stays true for the life of the process, while a no is asked
    again and a migration run meanwhile is seen. dagster-postgres already remembers its
    secondary-index answers this way. A method a Dagster version lacks is left alone."""
    for storage, checks in ((instance.event_log_storage, _EVENT_LOG_SCHEMA_CHECKS),
                            (instance.run_storage, _RUN_SCHEMA_CHECKS)):
        for name, connection_args in checks.items():
            method = getattr(storage, name, None)
            if callable(method):
                setattr(storage, name, _remember_yes(method, connection_args))


def _remember_yes(method: Callable[..., bool], connection_args: int) -> Callable[..., bool]:
    known: set[tuple] = set()

    @functools.wraps(method)
    def check(*args, **kwargs) -> bool:
        question = (args[connection_args:], tuple(sorted(kwargs.items())))
        if question in known:
            return True
        answer = method(*args, **kwargs)
        if answer:
            known.add(question)
        return answer

    return check
