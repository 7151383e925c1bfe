"""What each select of the SQL folder reads, remembered between processes in <folder>/.parse_cache.json.

Parsing the folder's ~45 selects with sqlglot is most of loading it, and every process that loads
the definitions pays it: each CLI command, each run worker the daemon launches, the webserver's code
server. A select's tables and body depend on its text and on sqlglot's version alone, so they are kept
by a hash of both, as dbt keeps `target/partial_parse.msgpack`: a changed file is parsed again, a file
that does not parse is never kept (its error is raised afresh each time), entries of files gone are
dropped on the next write, and a folder that cannot be written (or a damaged cache) is parsed as if
there were no cache, as Python does with `__pycache__`. The body is kept as its length, so the SQL
that runs is always the file's own text.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import sqlglot

from aurion_pipeline.sqlmodels.refs import parse_select, statement_body, table_references

CACHE_FILE = ".parse_cache.json"
_FORMAT = 1  # raise when what is kept, or how it is derived, changes

_active: contextvars.ContextVar[_Cache | None] = contextvars.ContextVar("parse_cache", default=None)


@dataclass(frozen=True)
class Select:
    """A select file's statement (without trailing semicolons and comments) and the tables it reads."""

    body: str
    reads: frozenset[str]


def read_select(sql: str, where: str) -> Select:
    """The select in `sql` (errors name `where`), from the cache of the folder being loaded if it has it."""
    cache = _active.get()
    key = _key(sql)
    if cache is not None and (known := cache.lookup(key, sql)) is not None:
        return known
    reads = table_references(parse_select(sql, where), where)  # first: a bad file's error names it
    found = Select(statement_body(sql), reads)
    if cache is not None:
        cache.keep(key, sql, found)
    return found


@contextmanager
def remembered(root: Path) -> Iterator[None]:
    """Inside the block, `read_select` answers from (and adds to) the cache of the folder `root`; the
    cache is written when the block ends without an error and something in it changed."""
    cache = _Cache.load(root / CACHE_FILE)
    token = _active.set(cache)
    try:
        yield
    finally:
        _active.reset(token)
    cache.save()


def _key(sql: str) -> str:
    return hashlib.sha256(f"{_FORMAT}\0{sqlglot.__version__}\0{sql}".encode()).hexdigest()


class _Cache:
    def __init__(self, path: Path, entries: dict[str, dict]) -> None:
        self.path, self._loaded, self._used = path, entries, {}

    @classmethod
    def load(cls, path: Path) -> _Cache:
        try:
            doc = json.loads(path.read_text())
            entries = doc["entries"] if doc.get("format") == _FORMAT and isinstance(doc["entries"], dict) else {}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            entries = {}
        return cls(path, entries)

    def lookup(self, key: str, sql: str) -> Select | None:
        entry = self._loaded.get(key)
        try:
            body_length, reads = entry["body_length"], entry["reads"]
            if not (isinstance(body_length, int) and 0 <= body_length <= len(sql)) or \
                    not all(isinstance(name, str) for name in reads):
                return None
        except (TypeError, KeyError):
            return None
        self._used[key] = entry
        return Select(sql.lstrip()[:body_length], frozenset(reads))

    def keep(self, key: str, sql: str, found: Select) -> None:
        if sql.lstrip().startswith(found.body):  # as statement_body cuts it: then its length says it all
            self._used[key] = {"body_length": len(found.body), "reads": sorted(found.reads)}

    def save(self) -> None:
        if self._used == self._loaded:
            return
        with suppress(OSError):  # a read-only folder: parse every time
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=CACHE_FILE, suffix=".tmp")
            try:
                with os.fdopen(fd, "w") as out:
                    json.dump({"format": _FORMAT, "entries": self._used}, out, sort_keys=True)
                os.chmod(tmp, 0o644)  # as the folder's other files (mkstemp makes it private)
                os.replace(tmp, self.path)
            finally:
                with suppress(FileNotFoundError):
                    os.unlink(tmp)
