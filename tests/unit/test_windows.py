"""chunk_window: long inclusive ranges split into requests the Usage API will accept."""

from __future__ import annotations

import itertools
import math
from datetime import date, datetime, timedelta

import pytest

from aurion_pipeline.source.windows import chunk_window

D = date


@pytest.mark.parametrize("start, end, max_days, expected", [
    pytest.param(D(2026, 3, 1), D(2026, 3, 1), 31, [(D(2026, 3, 1), D(2026, 3, 1))], id="one-day"),
    pytest.param(D(2026, 1, 1), D(2026, 1, 31), 31, [(D(2026, 1, 1), D(2026, 1, 31))], id="exactly-max"),
    pytest.param(D(2026, 1, 1), D(2026, 2, 1), 31,
                 [(D(2026, 1, 1), D(2026, 1, 31)), (D(2026, 2, 1), D(2026, 2, 1))], id="max-plus-one"),
    pytest.param(D(2026, 1, 1), D(2026, 3, 1), 31,
                 [(D(2026, 1, 1), D(2026, 1, 31)), (D(2026, 2, 1), D(2026, 3, 1))], id="60-days-in-two"),
    pytest.param(D(2026, 3, 1), D(2026, 3, 3), 1,
                 [(D(2026, 3, 1), D(2026, 3, 1)), (D(2026, 3, 2), D(2026, 3, 2)), (D(2026, 3, 3), D(2026, 3, 3))],
                 id="one-request-per-day"),
    pytest.param(D(2024, 2, 27), D(2024, 3, 2), 3,
                 [(D(2024, 2, 27), D(2024, 2, 29)), (D(2024, 3, 1), D(2024, 3, 2))], id="leap-day-kept"),
    pytest.param(D(2025, 12, 30), D(2026, 1, 2), 2,
                 [(D(2025, 12, 30), D(2025, 12, 31)), (D(2026, 1, 1), D(2026, 1, 2))], id="across-new-year"),
    pytest.param(D(2026, 3, 1), D(2026, 3, 8), 366, [(D(2026, 3, 1), D(2026, 3, 8))], id="max-larger-than-range"),
])
def test_chunks_are_inclusive_and_at_most_max_days(start, end, max_days, expected):
    assert chunk_window(start, end, max_days) == expected


@pytest.mark.parametrize("days", range(1, 70))
@pytest.mark.parametrize("max_days", [1, 2, 7, 31])
def test_chunks_cover_the_range_without_gap_or_overlap(days, max_days):
    start = D(2026, 1, 1)
    end = start + timedelta(days=days - 1)

    chunks = chunk_window(start, end, max_days)

    assert len(chunks) == math.ceil(days / max_days)
    assert chunks[0][0] == start and chunks[-1][1] == end
    assert all(0 < (e - s).days + 1 <= max_days for s, e in chunks)
    assert all(nxt[0] == prev[1] + timedelta(days=1) for prev, nxt in itertools.pairwise(chunks))


@pytest.mark.parametrize("start, end, max_days, error, message", [
    pytest.param(D(2026, 3, 2), D(2026, 3, 1), 31, ValueError, "is after end", id="start-after-end"),
    pytest.param(D(2026, 3, 1), D(2026, 3, 2), 0, ValueError, "at least 1", id="zero-max-days"),
    pytest.param(D(2026, 3, 1), D(2026, 3, 2), -5, ValueError, "at least 1", id="negative-max-days"),
    pytest.param(D(2026, 3, 1), D(2026, 3, 2), 1.5, ValueError, "whole number", id="fractional-max-days"),
    pytest.param(D(2026, 3, 1), D(2026, 3, 2), True, ValueError, "whole number", id="bool-max-days"),
    pytest.param(datetime(2026, 3, 1, 12), D(2026, 3, 2), 31, TypeError, "no time", id="datetime-start"),
    pytest.param("2026-03-01", D(2026, 3, 2), 31, TypeError, "datetime.date", id="string-start"),
])
def test_invalid_windows_are_refused_with_a_clear_message(start, end, max_days, error, message):
    with pytest.raises(error, match=message):
        chunk_window(start, end, max_days)
