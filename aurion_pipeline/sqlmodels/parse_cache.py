"""What each select of the SQL folder reads, remembered between processes in <folder>/.parse_cache.json.

Parsing the folder's ~45 selects with sqlglot is most of loading it, and every process that loads
the definitions pays it: each CLI command, each run worker the daemon launches, the webserver's code
server. The tables a select reads depend only on its text, sqlglot's version and our rules for
reading them (`refs.py`), so they are kept by a hash of all three, as dbt keeps
`target/partial_parse.msgpack`: a changed file is parsed again, a file that does not parse is never
kept (its error is raised afresh each time), entries of files gone are dropped on the next write, and
a folder that cannot be written, or a damaged cache, is parsed as if there were no cache, as Python
does with `__pycache__`. Only the tables read are kept: the statement that runs is cut from the
file's own text every time (a tokenizer pass, ~1 % of a parse).
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

from aurion_pipeline.sqlmodels import refs
from aurion_pipeline.sqlmodels.refs import parse_select, statement_body, table_references

CACHE_FILE = ".parse_cache.json"
_FORMAT = 2  # raise when what is kept changes
# What an answer depends on besides the SQL: the parser, and the code that reads tables from its tree.
_DERIVATION = hashlib.sha256(b"\0".join([
    str(_FORMAT).encode(), sqlglot.__version__.encode(), Path(refs.__file__).read_bytes(),
])).hexdigest()

_active: contextvars.ContextVar[_Cache | None] = contextvars.ContextVar("parse_cache", default=None)


@dataclass(frozen=True)
class Select:
    """A select file's statement (without trailing semicolons and comments) and the tables it reads."""

    body: str
    reads: frozenset[str]


def read_select(sql: str, where: str) -> Select:
    """The select in `sql` (errors name `where`); what it reads comes from the cache of the folder being
    loaded when the cache has it."""
    cache = _active.get()
    key = hashlib.sha256(f"{_DERIVATION}\0{sql}".encode()).hexdigest()
    reads = cache.lookup(key) if cache is not None else None
    if reads is None:
        reads = table_references(parse_select(sql, where), where)  # first: a bad file's error names it
        if cache is not None:
            cache.keep(key, reads)
    return Select(statement_body(sql), reads)


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


class _Cache:
    def __init__(self, path: Path, entries: dict) -> None:
        self.path, self._loaded, self._used = path, entries, {}

    @classmethod
    def load(cls, path: Path) -> _Cache:
        try:
            doc = json.loads(path.read_text())
            entries = doc["entries"] if doc["format"] == _FORMAT and isinstance(doc["entries"], dict) else {}
        except (OSError, ValueError, TypeError, KeyError):
            entries = {}
        return cls(path, entries)

    def lookup(self, key: str) -> frozenset[str] | None:
        reads = self._loaded.get(key)
        if not (isinstance(reads, list) and all(isinstance(name, str) for name in reads)):
            return None  # absent, or not what `keep` writes: parse
        self._used[key] = reads
        return frozenset(reads)

    def keep(self, key: str, reads: frozenset[str]) -> None:
        self._used[key] = sorted(reads)

    def save(self) -> None:
        if self._used == self._loaded:
            return
        with suppress(OSError):  # a read-only folder: parse every time
            for stale in self.path.parent.glob(f"{CACHE_FILE}*.tmp"):  # of a writer killed mid-write
                stale.unlink(missing_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=CACHE_FILE, suffix=".tmp")
            try:
                with os.fdopen(fd, "w") as out:
                    json.dump({"format": _FORMAT, "entries": self._used}, out, sort_keys=True)
                os.chmod(tmp, 0o644)  # readable as the folder's other files (mkstemp makes it private)
                os.replace(tmp, self.path)
            finally:
                with suppress(FileNotFoundError):
                    os.unlink(tmp)
