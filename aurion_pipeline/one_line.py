"""The first line of an error: where every one-line message we print, log or store starts."""

from __future__ import annotations


def first_line(error: BaseException | str | None) -> str:
    """The first non-empty line (DuckDB, sqlglot and pyarrow add diagrams and context below it); an
    exception without a message is named by its type, an empty text stays empty."""
    text = "" if error is None else str(error)
    line = next((line.strip() for line in text.splitlines() if line.strip()), None)
    if line is not None:
        return line
    return type(error).__name__ if isinstance(error, BaseException) else ""
