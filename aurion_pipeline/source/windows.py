"""Date windows for the Usage API: a long range split into requests the API will accept.

Windows are inclusive on both ends, like everywhere in our code (see docs/CONTRACTS.md).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta


def chunk_window(start: date, end: date, max_days: int) -> list[tuple[date, date]]:
    """Split the inclusive range [start, end] into consecutive inclusive chunks of at most
    `max_days` days (the last one may be shorter): ⌈days / max_days⌉ chunks, in date order,
    with no gap and no overlap.
    """
    check_window(start, end)
    if isinstance(max_days, bool) or not isinstance(max_days, int) or max_days < 1:
        raise ValueError(
            f"max_days={max_days!r} must be a whole number of days, at least 1 "
            "(AURION_MAX_RANGE_DAYS sets it)"
        )
    step = timedelta(days=max_days)
    chunks = []
    chunk_start = start
    while chunk_start <= end:
        chunk_end = min(chunk_start + step - timedelta(days=1), end)
        chunks.append((chunk_start, chunk_end))
        chunk_start = chunk_end + timedelta(days=1)
    return chunks


def check_window(start: date, end: date) -> None:
    """Reject anything but two calendar dates with start on or before end."""
    for name, value in (("start", start), ("end", end)):
        # datetime is a date subclass, but its time part would leak into the API's date parameters.
        if not isinstance(value, date) or isinstance(value, datetime):
            raise TypeError(f"{name}={value!r} must be a datetime.date (a calendar day, no time)")
    if start > end:
        raise ValueError(f"start {start} is after end {end}: a window needs start <= end (both inclusive)")
