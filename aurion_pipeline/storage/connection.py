"""Opening the DuckDB warehouse safely.

DuckDB allows one read-write process or many read-only ones per file. Our own writers take an
OS-level writer lock first (so two of our runs queue instead of failing); a process we do not own
(an analyst's DBeaver or CLI session) is waited for, then named in the error.
"""

from __future__ import annotations

import fcntl
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import duckdb

from aurion_pipeline.config import DEFAULT_ANALYST_STORAGE_VERSION, DEFAULT_LOCK_TIMEOUT_S
from aurion_pipeline.storage import errors
from aurion_pipeline.storage.publish import publish_analyst_copy

_HOLDER = re.compile(r"Conflicting lock is held in (.+?) \(PID (\d+)\)")


class WarehouseLockedError(RuntimeError):
    """The warehouse file stayed locked by another process for longer than the lock timeout."""


def schema_sql() -> str:
    return resources.files("aurion_pipeline.storage").joinpath("schema.sql").read_text()


@contextmanager
def writer_lock(data_dir: Path, timeout_s: float) -> Iterator[None]:
    """Serialize our own writers (lake read-modify-write + warehouse load) across processes."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        handle = open(data_dir / ".writer.lock", "a+")  # noqa: SIM115 -- closed by the with below
    except OSError as exc:
        raise errors.os_failure(data_dir, exc, "taking the writer lock") from None
    with handle:
        _acquire(handle, data_dir, timeout_s)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _acquire(handle, data_dir: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise WarehouseLockedError(
                    f"another aurion-pipeline load has held {data_dir}/.writer.lock for {timeout_s:.0f}s; "
                    "wait for it to finish or raise AURION_LOCK_TIMEOUT_SECONDS"
                ) from None
            time.sleep(0.05 + random.random() * 0.2)


def connect(path: Path, *, read_only: bool = False, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
            storage_version: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, retrying while another process holds its lock, for at most `timeout_s`.
    A file created here is created in `storage_version`'s format (and keeps it for good), so that the
    analyst copy can be a byte copy that DuckDB 1.x clients open."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise errors.os_failure(path.parent, exc, "creating the data directory") from None
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only,
                                  config=_creation_config(path, read_only, storage_version))
        except duckdb.Error as exc:
            if "conflicting lock" not in str(exc).lower():
                raise errors.duckdb_failure(path, exc, "opening it") from exc
            if time.monotonic() >= deadline:
                raise WarehouseLockedError(_locked_message(path, str(exc), timeout_s)) from None
            time.sleep(delay + random.random() * delay)
            delay = min(delay * 2, 2.0)


def _creation_config(path: Path, read_only: bool, storage_version: str | None) -> dict[str, str]:
    # Only for a new file: an existing file keeps the format it was created in.
    if read_only or storage_version is None or path.exists():
        return {}
    return {"storage_compatibility_version": storage_version}


def _locked_message(path: Path, duck_message: str, timeout_s: float) -> str:
    match = _HOLDER.search(duck_message)
    holder = f"{match.group(1)} (PID {match.group(2)})" if match else "another process"
    return (
        f"warehouse {path} is locked by {holder} for more than {timeout_s:.0f}s: close that session "
        "(DBeaver, duckdb CLI, a notebook); analysts should open analyst.duckdb instead"
    )


@contextmanager
def open_writer(
    data_dir: Path, warehouse_path: Path, timeout_s: float, *, memory_limit: str, publish_to: Path | None = None,
    storage_version: str = DEFAULT_ANALYST_STORAGE_VERSION,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The one way to write: our writer lock, then a read-write connection with the raw schema in
    place. On success with `publish_to`, the analyst copy is refreshed (in `storage_version`'s format)
    before the lock is released."""
    with writer_lock(data_dir, timeout_s):
        con = connect(warehouse_path, timeout_s=timeout_s, storage_version=storage_version)
        try:
            _prepare(con, memory_limit)
            yield con
            if publish_to is not None:
                con.execute("checkpoint")
        except duckdb.OutOfMemoryException as exc:
            raise errors.out_of_memory(memory_limit, exc) from exc
        except duckdb.Error as exc:
            # Not only IOException: a full disk fails a commit (TransactionException) or a checkpoint
            # (FatalException) too, and those reached the user as DuckDB's own text or a traceback.
            if not errors.is_disk_failure(exc):
                raise
            raise errors.duckdb_failure(warehouse_path, exc, "writing it") from exc
        finally:
            con.close()
        if publish_to is not None:
            _publish(warehouse_path, publish_to, storage_version)


def _prepare(con: duckdb.DuckDBPyConnection, memory_limit: str) -> None:
    con.execute("set TimeZone = 'UTC'")  # now()::timestamp fills our UTC columns, whatever the host's zone
    # DuckDB's default (80% of RAM) let stored SQL models peak above 1 GiB; beyond this limit it
    # spills to <warehouse>.duckdb.tmp instead.
    con.execute("set memory_limit = ?", [memory_limit])
    # One transaction: a writer killed while it creates the file leaves all of the raw schema or none.
    con.execute("begin")
    con.execute(schema_sql())
    con.execute("commit")


def _publish(warehouse_path: Path, analyst_path: Path, storage_version: str) -> None:
    """The load is committed by now: a failure here leaves analysts on the previous copy, and says so."""
    try:
        publish_analyst_copy(warehouse_path, analyst_path, storage_version)
    except (OSError, duckdb.Error) as exc:
        raise errors.publish_failed(analyst_path, exc) from exc
