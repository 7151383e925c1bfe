"""Plain text for a terminal: the first line of an error (where every one-line message we print, log or
store starts), and a table of aligned columns."""

from __future__ import annotations


def first_line(error: BaseException | str | None) -> str:
    """The first non-empty line (DuckDB, sqlglot and pyarrow add diagrams and context below it); an
    exception without a message is named by its type, an empty text stays empty."""
    text = "" if error is None else str(error)
    line = next((line.strip() for line in text.splitlines() if line.strip()), None)
    if line is not None:
        return line
    return type(error).__name__ if isinstance(error, BaseException) else ""


def text_table(header: list[str], rows: list[list[object]]) -> list[str]:
    """Left-aligned columns two spaces apart, each line indented by two."""
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
