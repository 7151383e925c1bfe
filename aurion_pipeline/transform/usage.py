"""Raw Aurion payloads -> typed Arrow tables: the pipeline's single place for data rules.

Daily usage (`normalize_details`) becomes one row per (tenant, usage_date) in `USAGE_SCHEMA`:

- `llm_tokens {input, output}` -> `llm_input_tokens`, `llm_output_tokens`. A metric that is null or
  absent stays null ("not reported" is not "zero"); a day the API omits inside a requested window
  becomes an explicit zero row with `_filled = true`, so a gap in the warehouse means "not loaded".
- Unknown metrics are kept, never dropped: per row as a JSON object in `_extra` (nested unknown
  token keys as `"llm_tokens.<key>"`; null-valued ones are not stored) and by name in `new_fields`.
- Types are STRICT: numbers must be JSON numbers and counts (`api_calls`, tokens) JSON integers.
  A numeric string ("12"), a boolean, 1.5 or even 1.0 as a count, a negative or non-finite number,
  a non-object `llm_tokens`, or a missing / non-`YYYY-MM-DD` date rejects the whole window with a
  one-line `UsageDataError` message. The vendor documents numbers; anything else means its
  serializer changed, and we would rather hear about it than guess. Other windows are unaffected.
- A row dated outside its window, or an exact repeat of a day, is dropped and reported; two
  different figures for one day reject the window (we cannot know which one is right).

Speed is a feature (~1 M rows/s): all windows are flattened and converted by ONE `pa.array` call,
whose type inference doubles as the strict type check; values are checked with whole-column
kernels and omitted days are filled by numpy indexing into a day grid. Python looks at single
rows only on the error path, and there only in the slices of a few thousand rows that hold a badly
typed value (and at voice values of exactly 0 or 1, where float inference would hide a boolean).
Overlapping windows of one tenant are a caller bug and raise `ValueError`.

The billing summary has its own module, `billing_summary.py`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

USAGE_SCHEMA = pa.schema([
    pa.field("tenant", pa.string(), nullable=False),
    pa.field("usage_date", pa.date32(), nullable=False),
    ("voice_minutes", pa.float64()),
    ("api_calls", pa.int64()),
    ("llm_input_tokens", pa.int64()),
    ("llm_output_tokens", pa.int64()),
    ("_extra", pa.string()),
    pa.field("_filled", pa.bool_(), nullable=False),
])
_METRICS = {"voice_minutes": pa.float64(), "api_calls": pa.int64(),
            "llm_tokens.input": pa.int64(), "llm_tokens.output": pa.int64()}
_EXPECT = {"row": "expected an object", "date": "expected a date YYYY-MM-DD",
           "voice_minutes": "expected a non-negative number", "api_calls": "expected a non-negative integer",
           "llm_tokens": "expected an object {input, output} or null",
           "llm_tokens.input": "expected a non-negative integer", "llm_tokens.output": "expected a non-negative integer"}
_KNOWN = ("date", "voice_minutes", "api_calls", "llm_tokens")
_TOKEN_TYPES = {"input": pa.int64(), "output": pa.int64()}
_EPOCH = date(1970, 1, 1).toordinal()
_SLICES = 16  # a batch whose fast conversion fails is retried in this many slices, recursively...
_CHECKED_ROWS = 8192  # ...until a failing slice is this small: then the per-row checker takes it


@dataclass(frozen=True)
class RawWindow:
    """What the API returned for one tenant and one requested window (dates inclusive)."""

    tenant: str
    start: date
    end: date
    rows: list[dict]


@dataclass(frozen=True)
class DroppedRow:
    tenant: str
    day: str
    reason: str


@dataclass(frozen=True)
class RejectedWindow:
    """A window of which nothing is written; `error` is a one-line reason."""

    tenant: str
    start: date
    end: date
    error: str


@dataclass(frozen=True)
class NormalizedUsage:
    table: pa.Table
    new_fields: tuple[str, ...]
    dropped: tuple[DroppedRow, ...]
    rejected: tuple[RejectedWindow, ...]
    filled_days: int


class UsageDataError(ValueError):
    """A usage row that cannot be trusted; the message names tenant, day and field."""

    def __init__(self, tenant: str, day: str, field: str, problem: str):
        self.tenant, self.day, self.field = tenant, day, field
        super().__init__(f"tenant {tenant}, day {day}, field {field}: {problem}")


def show_value(value: object) -> str:
    """A payload value as a short literal for one-line error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class _Columns:
    """Every row of every window, column-wise, plus the rows whose types are wrong."""

    date: pa.Array  # string
    metrics: dict[str, pa.Array]  # _METRICS name -> typed array
    extra: pa.Array | None  # JSON string per row, or None when no row has unknown fields
    new_fields: tuple[str, ...]
    problems: dict[int, str]  # row index -> first wrong field


def _columns(rows: list) -> _Columns:
    """The rows column-wise. One fast conversion when every type is right; otherwise the same per
    slice, so one bad value sends only its own slice of rows through the per-row checker."""
    cols = _columns_fast(rows) if rows else None
    if cols is not None:
        return cols
    if len(rows) <= _CHECKED_ROWS:
        return _columns_checked(rows)
    step = -(-len(rows) // _SLICES)
    return _concat_columns([_columns(rows[i:i + step]) for i in range(0, len(rows), step)])


def _concat_columns(parts: list[_Columns]) -> _Columns:
    starts = itertools.accumulate((len(p.date) for p in parts[:-1]), initial=0)
    extras = [p.extra if p.extra is not None else pa.nulls(len(p.date), pa.string()) for p in parts]
    return _Columns(
        pa.concat_arrays([p.date for p in parts]),
        {m: pa.concat_arrays([p.metrics[m] for p in parts]) for m in _METRICS},
        pa.concat_arrays(extras) if any(p.extra is not None for p in parts) else None,
        tuple(sorted(set().union(*(p.new_fields for p in parts)))),
        {start + i: field for start, p in zip(starts, parts) for i, field in p.problems.items()},
    )


def _columns_fast(rows: list) -> _Columns | None:
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
    extras = {k: v for k, v in children.items() if k not in _KNOWN}
    extras |= {f"llm_tokens.{k}": v for k, v in sub.items() if k not in _TOKEN_TYPES}
    problems: dict[int, str] = {}
    voice = cols["voice_minutes"]
    if voice is not None and voice.type == pa.float64():
        # float inference turns True/False into 1.0/0.0 silently: look at those few values only
        suspects = np.flatnonzero(np.isin(voice.to_numpy(zero_copy_only=False), (0.0, 1.0)))
        problems = {int(i): "voice_minutes" for i in suspects if type(rows[i]["voice_minutes"]) is bool}
    metrics = {m: _typed(cols[m], t, len(rows)) for m, t in _METRICS.items()}
    return _Columns(_typed(cols["date"], pa.string(), len(rows)), metrics,
                    _extra_json(extras) if extras else None, tuple(sorted(extras)), problems)


def _typed(col: pa.Array | None, typ: pa.DataType, n: int) -> pa.Array:
    return pa.nulls(n, typ) if col is None else col.cast(typ, safe=False)


def _extra_json(extras: dict[str, pa.Array]) -> pa.Array:
    """Per row, a JSON object of the non-null unknown fields (null when none), built in DuckDB."""
    n = len(next(iter(extras.values())))
    table = pa.table({"i": pa.array(np.arange(n))} | {f"c{k}": col for k, col in enumerate(extras.values())})
    pairs = ", ".join(f"?, c{k}" for k in range(len(extras)))
    with duckdb.connect() as con:
        con.register("extras", table)
        found = con.sql(  # merge-patching into {} drops the null members
            f"select i, j from (select i, json_merge_patch('{{}}', json_object({pairs}))::varchar as j "
            f"from extras) where j <> '{{}}'", params=list(extras)).to_arrow_table()
    index = np.full(n, -1, dtype=np.int64)
    index[found["i"].to_numpy()] = np.arange(found.num_rows)
    return found["j"].combine_chunks().take(pa.array(index, mask=index < 0))


def _columns_checked(rows: list) -> _Columns:
    """The slow, per-row path: find the wrongly typed rows, then convert the others safely."""
    problems = {i: field for i, row in enumerate(rows) if (field := _type_problem(row))}
    clean = [{} if i in problems else row for i, row in enumerate(rows)]
    arr = pa.array(clean, type=pa.struct([("date", pa.string()), ("voice_minutes", pa.float64()),
                                          ("api_calls", pa.int64()), ("llm_tokens", pa.struct(_TOKEN_TYPES))]))
    date_col, voice, calls, tokens = arr.flatten()
    tin, tout = tokens.flatten()
    dicts = [row for row in rows if type(row) is dict]
    token_dicts = [t for t in (r.get("llm_tokens") for r in dicts) if type(t) is dict]
    names = set().union(*dicts).difference(_KNOWN)
    names |= {f"llm_tokens.{k}" for k in set().union(*token_dicts).difference(_TOKEN_TYPES)}
    extras = [_unknown(row) for row in clean] if names else []
    extra = (pa.array([json.dumps(e, separators=(",", ":")) if e else None for e in extras], pa.string())
             if any(extras) else None)
    metrics = dict(zip(_METRICS, (voice, calls, tin, tout)))
    return _Columns(date_col, metrics, extra, tuple(sorted(names)), problems)


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
    return next((f"llm_tokens.{k}" for k in _TOKEN_TYPES if not is_count((tokens or {}).get(k))), None)


def _unknown(row: dict, keep_nulls: bool = False) -> dict:
    out = {k: v for k, v in row.items() if k not in _KNOWN}
    tokens = row.get("llm_tokens")
    if type(tokens) is dict:
        out |= {f"llm_tokens.{k}": v for k, v in tokens.items() if k not in _TOKEN_TYPES}
    return out if keep_nulls else {k: v for k, v in out.items() if v is not None}


def _parse_days(dates: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Days since 1970-01-01 per row, and a mask of missing or non-`YYYY-MM-DD` dates."""
    try:
        parsed = dates.cast(pa.date32())
    except pa.ArrowInvalid:  # error path: a round trip rejects "2026-3-1" and "2026-02-30"
        stamps = pc.strptime(dates, format="%Y-%m-%d", unit="s", error_is_null=True)
        same = pc.equal(pc.strftime(stamps, format="%Y-%m-%d"), dates)
        parsed = pc.if_else(pc.fill_null(same, False), stamps, pa.scalar(None, stamps.type)).cast(pa.date32())
    days = pc.fill_null(parsed, 0).cast(pa.int32()).to_numpy()
    return days, parsed.is_null().to_numpy(zero_copy_only=False)


def _value_problems(cols: _Columns, days_bad: np.ndarray) -> dict[int, str]:
    """Add rows with a missing date or a negative / non-finite number to the type problems."""
    problems = dict(cols.problems)
    masks = [("date", days_bad)]
    for name, col in cols.metrics.items():
        values = pc.fill_null(col, 0).to_numpy()
        masks.append((name, ~np.isfinite(values) | (values < 0)))
    for name, mask in masks:
        for i in np.flatnonzero(mask):
            problems.setdefault(int(i), name)
    return problems


def _raw(row: object, field: str) -> object:
    if field == "row":
        return row
    if field.startswith("llm_tokens."):
        tokens = row.get("llm_tokens")
        return tokens.get(field.split(".", 1)[1]) if type(tokens) is dict else None
    return row.get(field)


def _first_difference(a: dict, b: dict) -> str:
    unknown = sorted(_unknown(a, keep_nulls=True) | _unknown(b, keep_nulls=True))
    fields = ("date", "voice_minutes", "api_calls", "llm_tokens.input", "llm_tokens.output", *unknown)
    return next((f for f in fields if _raw(a, f) != _raw(b, f)), "llm_tokens")


def _day(row: object) -> str:
    value = row.get("date") if type(row) is dict else None
    return "?" if value is None else str(value)


def _check_windows(windows: Sequence[RawWindow]) -> list[RawWindow]:
    """Windows sorted by (tenant, start); overlapping windows are a caller bug, not bad data."""
    ordered = sorted(windows, key=lambda w: (w.tenant, w.start))
    for prev, cur in itertools.pairwise([None, *ordered]):
        if not (isinstance(cur.start, date) and isinstance(cur.end, date) and cur.start <= cur.end):
            raise ValueError(f"window for tenant {cur.tenant} has start {cur.start} after end {cur.end}")
        if prev is not None and prev.tenant == cur.tenant and prev.end >= cur.start:
            raise ValueError(f"windows overlap for tenant {cur.tenant}: {prev.start}..{prev.end} "
                             f"and {cur.start}..{cur.end}")
    return ordered


@dataclass(frozen=True)
class _Batch:
    """All windows of one call, sorted, with their rows flattened into one list."""

    windows: list[RawWindow]
    rows: list
    wid: np.ndarray  # window index of each row
    start: np.ndarray  # first day of each window, as days since 1970-01-01
    length: np.ndarray  # days in each window

    @classmethod
    def of(cls, windows: Sequence[RawWindow]) -> _Batch:
        windows = _check_windows(windows)
        n = len(windows)
        start = np.fromiter((w.start.toordinal() - _EPOCH for w in windows), np.int64, n)
        end = np.fromiter((w.end.toordinal() - _EPOCH for w in windows), np.int64, n)
        wid = np.repeat(np.arange(n), np.fromiter((len(w.rows) for w in windows), np.int64, n))
        rows = list(itertools.chain.from_iterable(w.rows for w in windows))
        return cls(windows, rows, wid, start, end - start + 1)

    def reject(self, rejected: dict[int, RejectedWindow], i: int, field: str, problem: str) -> None:
        """Reject the window of row `i` unless it already is (the first problem found is reported)."""
        w = int(self.wid[i])
        if w not in rejected:
            window = self.windows[w]
            message = str(UsageDataError(window.tenant, _day(self.rows[i]), field, problem))
            rejected[w] = RejectedWindow(window.tenant, window.start, window.end, message)


def normalize_details(windows: Sequence[RawWindow]) -> NormalizedUsage:
    """Daily usage rows of many (tenant, window) responses -> one `USAGE_SCHEMA` table + a report."""
    batch = _Batch.of(windows)
    rows, wid = batch.rows, batch.wid
    cols = _columns(rows)
    days, days_bad = _parse_days(cols.date)
    rejected: dict[int, RejectedWindow] = {}
    for i, field in sorted(_value_problems(cols, days_bad).items()):
        batch.reject(rejected, i, field, f"{_EXPECT[field]}, got {show_value(_raw(rows[i], field))}")
    offset = days - batch.start[wid]  # the row's day within its window
    outside = (offset < 0) | (offset >= batch.length[wid])
    duplicate = _duplicates(batch, offset, np.flatnonzero(~outside & ~days_bad), rejected)
    ok_window = np.ones(len(batch.windows), dtype=bool)
    ok_window[list(rejected)] = False
    dropped = [DroppedRow(batch.windows[wid[i]].tenant, _day(rows[i]),
                          f"outside requested window {batch.windows[wid[i]].start}..{batch.windows[wid[i]].end}"
                          if outside[i] else "exact duplicate of an earlier row for the same day")
               for i in np.flatnonzero(ok_window[wid] & (outside | duplicate))]
    keep = np.flatnonzero(ok_window[wid] & ~outside & ~duplicate)
    table = _grid_table(batch, ok_window, cols, offset, keep)
    return NormalizedUsage(
        table=table,
        new_fields=cols.new_fields,
        dropped=tuple(dropped),
        rejected=tuple(rejected[w] for w in sorted(rejected)),
        filled_days=table.num_rows - len(keep),
    )


def _duplicates(batch: _Batch, offset: np.ndarray, candidates: np.ndarray, rejected: dict) -> np.ndarray:
    """Mask of repeated (window, day) rows; a repeat with different figures rejects its window."""
    slot = (np.cumsum(batch.length) - batch.length)[batch.wid[candidates]] + offset[candidates]
    order = np.argsort(slot, kind="stable")
    by_slot, slot = candidates[order], slot[order]
    first_of_run = np.ones(len(slot), dtype=bool)
    first_of_run[1:] = slot[1:] != slot[:-1]
    first = by_slot[np.maximum.accumulate(np.where(first_of_run, np.arange(len(slot)), 0))]
    duplicate = np.zeros(len(batch.rows), dtype=bool)
    duplicate[by_slot[~first_of_run]] = True
    for i, kept in zip(by_slot[~first_of_run], first[~first_of_run]):
        a, b = batch.rows[kept], batch.rows[i]
        if a != b:
            field = _first_difference(a, b)
            batch.reject(rejected, i, field, "two different figures for the same day "
                         f"({show_value(_raw(a, field))} and {show_value(_raw(b, field))})")
    return duplicate


def _grid_table(batch: _Batch, ok_window: np.ndarray, cols: _Columns, offset: np.ndarray,
                keep: np.ndarray) -> pa.Table:
    """Every day of every accepted window: API rows where sent, zero rows (`_filled`) elsewhere."""
    accepted = np.flatnonzero(ok_window)
    length = batch.length[accepted]
    size = int(length.sum())
    first_slot = np.zeros(len(batch.windows), dtype=np.int64)
    first_slot[accepted] = np.cumsum(length) - length
    slot = first_slot[batch.wid[keep]] + offset[keep]
    filled = np.ones(size, dtype=bool)
    filled[slot] = False
    metrics = []
    for name, typ in _METRICS.items():
        col = cols.metrics[name].take(keep)
        values = np.zeros(size, dtype=typ.to_pandas_dtype())
        values[slot] = pc.fill_null(col, 0).to_numpy()
        missing = np.zeros(size, dtype=bool)
        missing[slot] = col.is_null().to_numpy(zero_copy_only=False)
        metrics.append(pa.array(values, type=typ, mask=missing))
    extra = pa.nulls(size, pa.string())
    if cols.extra is not None:
        index = np.full(size, -1, dtype=np.int64)
        index[slot] = keep
        extra = cols.extra.take(pa.array(index, mask=index < 0))
    tenants = pa.array([w.tenant for w in batch.windows], pa.string()).take(np.repeat(accepted, length))
    day = np.arange(size) + np.repeat(batch.start[accepted] - first_slot[accepted], length)
    dates = pa.array(day.astype(np.int32)).cast(pa.date32())
    return pa.Table.from_arrays([tenants, dates, *metrics, extra, pa.array(filled)], schema=USAGE_SCHEMA)
