"""Plan: which windows to ask the API for, and in which rounds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from aurion_pipeline.source.windows import chunk_window
from aurion_pipeline.storage.load import Window


def plan_windows(
    tenants: Sequence[str], start: date, end: date, max_range_days: int,
    missing: Mapping[str, Sequence[date]] | None = None,
) -> dict[str, list[Window]]:
    """Each tenant's windows: the range cut into ≤ max_range_days, or only its `missing` days when given."""
    if missing is None:
        chunks = chunk_window(start, end, max_range_days)
        return {t: [Window(t, a, b) for a, b in chunks] for t in tenants}
    return {t: [Window(t, a, b) for a, b in _runs_of_days(missing.get(t, ()), max_range_days)] for t in tenants}


def _runs_of_days(days: Sequence[date], max_len: int) -> list[tuple[date, date]]:
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and (day - runs[-1][1]).days == 1 and (day - runs[-1][0]).days < max_len:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def plan_rounds(plan: Mapping[str, Sequence[Window]], per_tenant: int) -> list[tuple[Window, ...]]:
    """Round r: windows r*k .. r*k+k-1 of every tenant, ordered window by window so that a pool shared
    by many tenants keeps about one request per tenant in flight, and a lone tenant keeps k."""
    depth = max((len(ws) for ws in plan.values()), default=0)
    return [
        tuple(ws[i] for i in range(first, first + per_tenant) for ws in plan.values() if i < len(ws))
        for first in range(0, depth, per_tenant)
    ]


def last_round_of_each_tenant(rounds: Sequence[Sequence[Window]]) -> dict[str, int]:
    """The index of the round holding each tenant's last window: after it commits, the tenant is done."""
    return {w.tenant: i for i, round_ in enumerate(rounds) for w in round_}
