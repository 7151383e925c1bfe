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

Column conversion lives in `columns.py`, the shapes in `usage_schema.py`; the billing summary has its
own module, `summary.py`. This module checks values, drops and rejects, and fills the day grid.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aurion_pipeline.transform.columns import (
    Columns,
    first_difference,
    raw_value,
    to_columns,
)
from aurion_pipeline.transform.usage_schema import (
    EXPECTED,
    METRIC_TYPES,
    USAGE_SCHEMA,
    DroppedRow,
    NormalizedUsage,
    RawWindow,
    RejectedWindow,
    UsageDataError,
    show_value,
)

__all__ = ["USAGE_SCHEMA", "DroppedRow", "NormalizedUsage", "RawWindow", "RejectedWindow", "UsageDataError",
           "normalize_details", "show_value"]

_EPOCH = date(1970, 1, 1).toordinal()


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


def _value_problems(cols: Columns, days_bad: np.ndarray) -> dict[int, str]:
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
    cols = to_columns(rows)
    days, days_bad = _parse_days(cols.date)
    rejected: dict[int, RejectedWindow] = {}
    for i, field in sorted(_value_problems(cols, days_bad).items()):
        batch.reject(rejected, i, field, f"{EXPECTED[field]}, got {show_value(raw_value(rows[i], field))}")
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
            field = first_difference(a, b)
            batch.reject(rejected, i, field, "two different figures for the same day "
                         f"({show_value(raw_value(a, field))} and {show_value(raw_value(b, field))})")
    return duplicate


def _grid_table(batch: _Batch, ok_window: np.ndarray, cols: Columns, offset: np.ndarray,
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
    for name, typ in METRIC_TYPES.items():
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
