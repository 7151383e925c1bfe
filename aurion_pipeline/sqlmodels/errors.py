"""The one error the SQL runner raises: a file in the SQL folder is wrong, and which one."""

from __future__ import annotations


class SqlProjectError(ValueError):
    """A model, seed or test file cannot be used; the one-line message names the file and why."""


def first_line(error: BaseException | str) -> str:
    """The first non-empty line of an error message (DuckDB and sqlglot add caret diagrams below it)."""
    text = str(error)
    return next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)
