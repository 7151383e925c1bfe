"""Storage faults in one line: which file, what is wrong with it, and what to do.

A corrupt lake file, a warehouse DuckDB cannot open, a full disk, a read-only data directory or
DuckDB running out of memory each become a `StorageError` whose message a user can act on; the
CLI prints it as it is and exits with `exit_code` (2 for a data directory that cannot be written,
a setting to fix before any run; 1 otherwise).
"""

from __future__ import annotations

import errno
import re
from datetime import date, timedelta
from pathlib import Path

from aurion_pipeline.text import first_line

REBUILD = "`aurion-pipeline rebuild`"
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)
_PARQUET_SOURCE = re.compile(r"^Could not open Parquet input source '.*?': ")


class StorageError(RuntimeError):
    """The data directory could not be read or written; the message names the file and the fix."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def __reduce__(self):
        return (type(self), (str(self),), {"exit_code": self.exit_code})


def usage_month_of(path: Path) -> tuple[date, date] | None:
    """The first and last day of the usage month a lake file holds (`usage_month=YYYY-MM`); None for
    another file (a summary snapshot's)."""
    part = next((p for p in path.parts if p.startswith("usage_month=")), None)
    if part is None:
        return None
    first = date.fromisoformat(part.split("=", 1)[1] + "-01")
    return first, (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def reload_command(days: tuple[date, date], tenant: str | None = None) -> str:
    """The command that loads the days of [first, last] that are not loaded (a lost month, failed windows),
    of every tenant or of `tenant` only."""
    first, last = days
    only = f" --tenant {tenant}" if tenant else ""
    return f"aurion-pipeline backfill{only} --start {first} --end {last} --missing-only"


def unreadable_lake_file(path: Path, exc: BaseException) -> StorageError:
    why = _PARQUET_SOURCE.sub("", first_line(exc))  # pyarrow repeats the path; we name it once
    month = usage_month_of(path)
    reload = f", then reload its days with `{reload_command(month)}`" if month else ""
    return StorageError(
        f"lake file {path} is unreadable ({why}): run {REBUILD}, which moves it aside"
        f" and rebuilds the warehouse from the other files{reload}")


def unopenable_database(path: Path, exc: BaseException) -> StorageError:
    return StorageError(
        f"{path} cannot be opened by DuckDB ({first_line(exc)}): run {REBUILD} (it moves the broken file "
        "aside and rebuilds the warehouse and the analyst copy from the Parquet lake)")


_DATA_DIR_FIX = "make the data directory writable or point AURION_DATA_DIR at one that is"


def os_failure(path: Path, exc: OSError, doing: str, writable_fix: str = _DATA_DIR_FIX) -> StorageError:
    """A disk-level failure while `doing` something to `path`, in user words; `writable_fix` says what to
    do when the place is not writable. (pyarrow's OSErrors carry no errno, only the system's message,
    so the message is read too.)"""
    text = str(exc).lower()
    if exc.errno == errno.ENOSPC or "no space left" in text:
        return StorageError(f"no space left on the device holding {path} while {doing}: free some space "
                            "and run again (loads are idempotent)")
    if exc.errno in _READ_ONLY or "read-only file system" in text or "permission denied" in text:
        return read_only(path, doing, writable_fix)
    return StorageError(f"{doing} failed at {path}: {exc.strerror or first_line(exc)}")


def read_only(path: Path, doing: str, fix: str = _DATA_DIR_FIX) -> StorageError:
    return StorageError(f"{path} is not writable (read-only file system or no permission) while {doing}: {fix}",
                        exit_code=2)


def out_of_memory(memory_limit: str, exc: BaseException) -> StorageError:
    return StorageError(
        f"DuckDB ran out of memory within AURION_DUCKDB_MEMORY_LIMIT={memory_limit} ({first_line(exc)}); "
        "the transaction it was in was not saved: raise AURION_DUCKDB_MEMORY_LIMIT (e.g. 2GB) and run again")


def publish_failed(analyst_path: Path, exc: BaseException) -> StorageError:
    why = "no space left on the device" if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or \
        "no space left" in str(exc).lower() else first_line(exc)
    return StorageError(
        f"the warehouse is loaded, but the analyst copy {analyst_path} could not be refreshed ({why}): "
        "analysts still see the previous copy; free space (or fix the cause) and the next load, or "
        f"{REBUILD}, publishes it")


def is_disk_failure(exc: BaseException) -> bool:
    """A DuckDB error that comes from the disk under it (full, read-only), not from a query."""
    text = str(exc).lower()
    return any(s in text for s in ("read-only file system", "permission denied", "no space left"))


def duckdb_failure(path: Path, exc: BaseException, doing: str) -> StorageError:
    """A DuckDB error about the file itself (not a query's), in user words."""
    text = str(exc).lower()
    if "read-only file system" in text or "permission denied" in text:
        return read_only(path, doing)
    if "no space left" in text:
        return os_failure(path, OSError(errno.ENOSPC, "No space left on device"), doing)
    return unopenable_database(path, exc)
