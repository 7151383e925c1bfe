"""Raw usage rows -> typed Arrow columns, strictly.

Fast path: ONE inferring `pa.array` call over all rows, whose type inference doubles as the strict type
check. Slow path, only where a type is off: the batch is retried in slices, and slices of a few
thousand rows go through a per-row checker that names the first wrong field of each row. Unknown
fields are kept as a JSON object per row, built in DuckDB.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from aurion_pipeline.transform.usage_schema import (
    KNOWN_FIELDS,
    METRIC_TYPES,
    TOKEN_TYPES,
)

_SLICES = 16  # a batch whose fast conversion fails is retried in this many slices, recursively...
_CHECKED_ROWS = 8192  # ...until a failing slice is this small: then the per-row checker takes it
_scratch: tuple[int, duckdb.DuckDBPyConnection] | None = None  # (pid, in-memory DuckDB) for _extra_json


@dataclass(frozen=True)
class Columns:
    """Every row of every window, column-wise, plus the rows whose types are wrong."""

    date: pa.Array  # string
    metrics: dict[str, pa.Array]  # METRIC_TYPES name -> typed array
    extra: pa.Array | None  # JSON string per row, or None when no row has unknown fields
    new_fields: tuple[str, ...]
    problems: dict[int, str]  # row index -> first wrong field


def to_columns(rows: list) -> Columns:
    """The rows column-wise. One fast conversion when every type is right; otherwise the same per
    slice, so one bad value sends only its own slice of rows through the per-row checker."""
    cols = _columns_fast(rows) if rows else None
    if cols is not None:
        return cols
    if len(rows) <= _CHECKED_ROWS:
        return _columns_checked(rows)
    step = -(-len(rows) // _SLICES)
    return _concat_columns([to_columns(rows[i:i + step]) for i in range(0, len(rows), step)])


def _concat_columns(parts: list[Columns]) -> Columns:
    starts = itertools.accumulate((len(p.date) for p in parts[:-1]), initial=0)
    extras = [p.extra if p.extra is not None else pa.nulls(len(p.date), pa.string()) for p in parts]
    return Columns(
        pa.concat_arrays([p.date for p in parts]),
        {m: pa.concat_arrays([p.metrics[m] for p in parts]) for m in METRIC_TYPES},
        pa.concat_arrays(extras) if any(p.extra is not None for p in parts) else None,
        tuple(sorted(set().union(*(p.new_fields for p in parts)))),
        {start + i: field for start, p in zip(starts, parts) for i, field in p.problems.items()},
    )


def _columns_fast(rows: list) -> Columns | None:
    """One inferring conversion; None when a type is off (then `_columns_checked` finds where)."""
    try:
        arr = pa.array(rows)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return None
    typ = arr.type
    if not pa.types.is_struct(typ) or arr.null_count:
        return None
    children = dict(zip([f.name for f in typ], arr.flatten()))
    tokens = children.get("llm_tokens")
    if tokens is not None and pa.types.is_null(tokens.type):
        tokens = None
    if tokens is not None and not pa.types.is_struct(tokens.type):
        return None
    sub = dict(zip([f.name for f in tokens.type], tokens.flatten())) if tokens is not None else {}
    cols = {"date": children.get("date"), "voice_minutes": children.get("voice_minutes"),
            "api_calls": children.get("api_calls"), "llm_tokens.input": sub.get("input"),
            "llm_tokens.output": sub.get("output")}
    allowed = {"date": {pa.string()}, "voice_minutes": {pa.int64(), pa.float64()}}
    for name, col in cols.items():
        if col is not None and col.type != pa.null() and col.type not in allowed.get(name, {pa.int64()}):
            return None
    extras = {k: v for k, v in children.items() if k not in KNOWN_FIELDS}
    extras |= {f"llm_tokens.{k}": v for k, v in sub.items() if k not in TOKEN_TYPES}
    problems: dict[int, str] = {}
    voice = cols["voice_minutes"]
    if voice is not None and voice.type == pa.float64():
        # float inference turns True/False into 1.0/0.0 silently: look at those few values only
        suspects = np.flatnonzero(np.isin(voice.to_numpy(zero_copy_only=False), (0.0, 1.0)))
        problems = {int(i): "voice_minutes" for i in suspects if type(rows[i]["voice_minutes"]) is bool}
    metrics = {m: _typed(cols[m], t, len(rows)) for m, t in METRIC_TYPES.items()}
    return Columns(_typed(cols["date"], pa.string(), len(rows)), metrics,
                    _extra_json(extras) if extras else None, tuple(sorted(extras)), problems)


def _typed(col: pa.Array | None, typ: pa.DataType, n: int) -> pa.Array:
    return pa.nulls(n, typ) if col is None else col.cast(typ, safe=False)


def _extra_json(extras: dict[str, pa.Array]) -> pa.Array:
    """Per row, a JSON object of the non-null unknown fields (null when none), built in DuckDB."""
    n = len(next(iter(extras.values())))
    table = pa.table({"i": pa.array(np.arange(n))} | {f"c{k}": col for k, col in enumerate(extras.values())})
    pairs = ", ".join(f"?, c{k}" for k in range(len(extras)))
    with _scratch_cursor() as con:
        con.register("extras", table)
        found = con.sql(  # merge-patching into {} drops the null members
            f"select i, j from (select i, json_merge_patch('{{}}', json_object({pairs}))::varchar as j "
            f"from extras) where j <> '{{}}'", params=list(extras)).to_arrow_table()
    index = np.full(n, -1, dtype=np.int64)
    index[found["i"].to_numpy()] = np.arange(found.num_rows)
    return found["j"].combine_chunks().take(pa.array(index, mask=index < 0))


def _scratch_cursor() -> duckdb.DuckDBPyConnection:
    """A connection of its own to this process's in-memory DuckDB. Opening a database costs ~50 ms
    (DuckDB fills its catalog), and a drifting batch with a wrongly typed value builds JSON once per
    slice: 15 opens were 0.75 of 1.9 s for 90,000 rows. Per process, as a DuckDB opened before a fork
    is not safe to use in the child."""
    global _scratch
    if _scratch is None or _scratch[0] != os.getpid():
        _scratch = (os.getpid(), duckdb.connect())
    return _scratch[1].cursor()


def _columns_checked(rows: list) -> Columns:
    """The slow, per-row path: find the wrongly typed rows, then convert the others safely."""
    problems = {i: field for i, row in enumerate(rows) if (field := _type_problem(row))}
    clean = [{} if i in problems else row for i, row in enumerate(rows)]
    arr = pa.array(clean, type=pa.struct([("date", pa.string()), ("voice_minutes", pa.float64()),
                                          ("api_calls", pa.int64()), ("llm_tokens", pa.struct(TOKEN_TYPES))]))
    date_col, voice, calls, tokens = arr.flatten()
    tin, tout = tokens.flatten()
    dicts = [row for row in rows if type(row) is dict]
    token_dicts = [t for t in (r.get("llm_tokens") for r in dicts) if type(t) is dict]
    names = set().union(*dicts).difference(KNOWN_FIELDS)
    names |= {f"llm_tokens.{k}" for k in set().union(*token_dicts).difference(TOKEN_TYPES)}
    extras = [unknown_fields(row) for row in clean] if names else []
    extra = (pa.array([json.dumps(e, separators=(",", ":")) if e else None for e in extras], pa.string())
             if any(extras) else None)
    metrics = dict(zip(METRIC_TYPES, (voice, calls, tin, tout)))
    return Columns(date_col, metrics, extra, tuple(sorted(names)), problems)


def _type_problem(row: object) -> str | None:
    def is_count(x: object) -> bool:
        return x is None or (type(x) is int and -(2**63) <= x < 2**63)

    if type(row) is not dict:
        return "row"
    if row.get("date") is not None and type(row["date"]) is not str:
        return "date"
    voice = row.get("voice_minutes")
    if voice is not None and not (type(voice) is float or (type(voice) is int and abs(voice) < 2**63)):
        return "voice_minutes"
    if not is_count(row.get("api_calls")):
        return "api_calls"
    tokens = row.get("llm_tokens")
    if tokens is not None and type(tokens) is not dict:
        return "llm_tokens"
    return next((f"llm_tokens.{k}" for k in TOKEN_TYPES if not is_count((tokens or {}).get(k))), None)


def unknown_fields(row: dict, keep_nulls: bool = False) -> dict:
    out = {k: v for k, v in row.items() if k not in KNOWN_FIELDS}
    tokens = row.get("llm_tokens")
    if type(tokens) is dict:
        out |= {f"llm_tokens.{k}": v for k, v in tokens.items() if k not in TOKEN_TYPES}
    return out if keep_nulls else {k: v for k, v in out.items() if v is not None}


def raw_value(row: object, field: str) -> object:
    if field == "row":
        return row
    if field.startswith("llm_tokens."):
        tokens = row.get("llm_tokens")
        return tokens.get(field.split(".", 1)[1]) if type(tokens) is dict else None
    return row.get(field)


def first_difference(a: dict, b: dict) -> str:
    unknown = sorted(unknown_fields(a, keep_nulls=True) | unknown_fields(b, keep_nulls=True))
    fields = ("date", "voice_minutes", "api_calls", "llm_tokens.input", "llm_tokens.output", *unknown)
    return next((f for f in fields if raw_value(a, f) != raw_value(b, f)), "llm_tokens")
