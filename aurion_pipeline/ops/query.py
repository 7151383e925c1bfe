"""`aurion-pipeline sql`: a query against the analyst copy, printed for people (a table that fits the
terminal, or one record per block when it cannot; floats rounded for reading; the row count) or for
programs (csv, json, markdown)."""

from __future__ import annotations

import json
import math
import re
import shutil
import sys
from datetime import date, datetime
from decimal import Decimal

import duckdb
import pyarrow.csv as pacsv

from aurion_pipeline.config import Settings
from aurion_pipeline.storage import Warehouse

MAX_DISPLAY_ROWS = 10_000  # a table or markdown shows at most this many; csv and json print everything
_MISSING_TABLE = re.compile(r'Table with name "?([A-Za-z_][\w.]*?)"? does not exist')


def print_query(settings: Settings, query: str, fmt: str) -> int:
    if not query.strip():
        print('aurion-pipeline sql: no query given (e.g. "select * from analytics.plan_utilization")',
              file=sys.stderr)
        return 2
    warehouse = Warehouse.of(settings)
    con = warehouse.analyst_connection()
    try:
        relation = con.sql(query)
        if relation is None:
            print("statement ran; nothing to show (the analyst copy is read-only)", file=sys.stderr)
            return 0
        emit(relation, fmt)
    except duckdb.Error as exc:
        print(f"aurion-pipeline sql: {error_line(con, exc)}", file=sys.stderr)
        return 1
    finally:
        con.close()
    return 0


def error_line(con: duckdb.DuckDBPyConnection, exc: duckdb.Error) -> str:
    """DuckDB's error on one line, keeping its "Did you mean" hint, and naming the schema of an
    unqualified analytics view (`plan_utilization` → `analytics.plan_utilization`)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = " ".join(lines[:2]) if len(lines) > 1 and lines[1].startswith("Did you mean") else (lines or ["error"])[0]
    missing = _MISSING_TABLE.search(text)
    if missing and "." not in missing.group(1):
        schemas = [s for (s,) in con.execute(
            "select schema_name from duckdb_views() where view_name = ? union "
            "select schema_name from duckdb_tables() where table_name = ? order by 1",
            [missing.group(1), missing.group(1)],
        ).fetchall()]
        if schemas:
            text += f" (views and tables live in schemas: write {schemas[0]}.{missing.group(1)})"
    return text


def emit(relation: duckdb.DuckDBPyRelation, fmt: str) -> None:
    if fmt == "csv":
        sys.stdout.flush()
        pacsv.write_csv(_nested_as_json(relation).to_arrow_table(), sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    if fmt == "json":
        rows = [{k: _finite(v) for k, v in row.items()} for row in relation.to_arrow_table().to_pylist()]
        print(json.dumps(rows, default=_json_value, indent=1, allow_nan=False))
        return
    header = list(relation.columns)
    rows = relation.limit(MAX_DISPLAY_ROWS + 1).fetchall()
    shown = rows[:MAX_DISPLAY_ROWS]
    cells = [[display(v) for v in row] for row in shown]
    numeric = [_is_numeric(t) for t in relation.types]
    lines = markdown(header, cells, numeric) if fmt == "markdown" else table(header, cells, numeric, _width())
    print("\n".join(lines))
    more = f"first {MAX_DISPLAY_ROWS} rows shown; use --format csv for all" if len(rows) > len(shown) else ""
    if fmt == "markdown":  # the table is pasted into documents: a note that is not a row goes to stderr
        print(more or f"({len(shown)} row{'' if len(shown) == 1 else 's'})", file=sys.stderr)
        return
    print(more or f"({len(shown)} row{'' if len(shown) == 1 else 's'})")


def display(value: object) -> str:
    """A value as a person reads it: floats rounded to two decimals (`30.549999999999994` → `30.55`),
    small ones to three significant digits, so a figure never hides behind float noise."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (float, Decimal)) and not isinstance(value, int):
        number = float(value)
        if not math.isfinite(number) or number == 0:
            return str(number)
        if abs(number) < 0.01:
            return f"{number:.3g}"
        return f"{number:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(display(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {display(v)}" for k, v in value.items()) + "}"
    return str(value).replace("\n", " ")


def table(header: list[str], cells: list[list[str]], numeric: list[bool], width: int) -> list[str]:
    """Columns side by side when they fit `width`; otherwise one record per block (`column  value`),
    so no column is ever dropped."""
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(header)]
    if sum(widths) + 2 * (len(widths) - 1) > width:
        return vertical(header, cells)

    def line(row: list[str]) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric)).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *(line(row) for row in cells)]


def vertical(header: list[str], cells: list[list[str]]) -> list[str]:
    name_width = max(len(h) for h in header)
    lines: list[str] = []
    for n, row in enumerate(cells, 1):
        lines.append(f"-[ row {n} ]" + "-" * max(0, name_width - 6))
        lines.extend(f"{h.ljust(name_width)}  {value}" for h, value in zip(header, row))
    return lines or ["  ".join(header)]


def markdown(header: list[str], cells: list[list[str]], numeric: list[bool]) -> list[str]:
    def row(values: list[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    return [row(header), "|" + "|".join("---:" if num else "---" for num in numeric) + "|", *(row(r) for r in cells)]


def _is_numeric(duck_type: object) -> bool:
    name = str(duck_type).upper()
    return name.startswith(("DECIMAL", "DOUBLE", "FLOAT", "REAL")) or name.endswith("INT") or name in (
        "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT"
    )


def _width() -> int:
    return shutil.get_terminal_size(fallback=(120, 24)).columns


def _nested_as_json(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """Lists, structs and maps as JSON text: CSV has no nested values (forecast_by_day.weekday_rates)."""
    if not any(_is_nested(t) for t in relation.types):
        return relation
    quoted = ['"' + c.replace('"', '""') + '"' for c in relation.columns]
    return relation.project(", ".join(f"to_json({q})::varchar as {q}" if _is_nested(t) else q
                                      for q, t in zip(quoted, relation.types)))


def _is_nested(duck_type: object) -> bool:
    name = str(duck_type).upper()
    return name.endswith("]") or name.startswith(("STRUCT", "MAP", "UNION"))


def _finite(value: object) -> object:
    """JSON has no Infinity or NaN (a quota of 0 makes pct_used +inf): they are written as the strings
    "Infinity", "-Infinity" and "NaN", which every JSON parser reads, instead of invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _json_value(value: object) -> object:
    """Sums of integers come back as DECIMAL/HUGEINT: print them as JSON numbers, not strings."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)
