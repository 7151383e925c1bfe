"""The 80 % interval holds 77-83 % of actual totals on periods it was not calibrated on.

Measured on usage from generators unlike the one the method was designed on (tests/forecast_families.py:
spiky, step change, weeks of zeros, flat, declining, fast-growing, monthly seasonality). Each interval in
analytics.forecast_backtest is calibrated only on periods that ended before its own began, so every
row is held out. Over two years the band is asserted on every family alone, not only pooled (a method
too wide on one family and too narrow on another can average to 80 %); each family's MAPE against the
naive run-rate is printed (docs/forecasting.md lists them, including where we lose).
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from forecast_families import FAMILIES, coverage_by_source, family_scores, family_usage, family_warehouse


def _report(scores: pd.DataFrame) -> str:
    lines = [f"{'family':<17s} {'intervals':>9s} {'coverage':>8s} {'below':>6s} {'above':>6s} "
             f"{'MAPE':>6s} {'naive':>6s}"]
    for row in scores.itertuples():
        lines.append(f"{row.family:<17s} {row.intervals:9d} {row.coverage:8.3f} {row.below:6.3f} {row.above:6.3f} "
                     f"{row.mape:5.2f}% {row.naive_mape:5.2f}%")
    return "\n".join(lines)


def _measure(tmp_path, tenants_per_family: int, days: int, evaluate_from: date | None = None) -> pd.DataFrame:
    usage = family_usage(tenants_per_family, date(2024, 1, 1), days)
    con = family_warehouse(tmp_path / "warehouse.duckdb", usage)
    try:
        scores = family_scores(con, evaluate_from)
        by_source = coverage_by_source(con)
    finally:
        con.close()
    print(f"\n{tenants_per_family} tenants per family x {days} days, periods from {evaluate_from or 'the first'}:\n"
          + _report(scores))
    print("coverage by calibration source (all periods):\n" + by_source.round(3).to_string(index=False))
    return scores


def test_held_out_coverage_pooled_over_all_families_is_80_percent(tmp_path):
    """Small: 3 tenants per family over 18 months (about 600 held-out tenant-metric-periods)."""
    scores = _measure(tmp_path, tenants_per_family=3, days=548).set_index("family")
    assert set(scores.index) == {*FAMILIES, "all"}
    assert scores.loc["all", "intervals"] > 0.8 * scores.loc["all", "forecasts"]
    assert 0.77 <= scores.loc["all", "coverage"] <= 0.83


@pytest.mark.slow
def test_held_out_coverage_of_every_family_is_80_percent(tmp_path):
    """20 tenants per family over 2 years (about 25,000 held-out intervals per family): each family in the band."""
    scores = _measure(tmp_path, tenants_per_family=20, days=731).set_index("family")
    assert set(scores.index) == {*FAMILIES, "all"}
    outside = scores[(scores["coverage"] < 0.77) | (scores["coverage"] > 0.83)]
    assert outside.empty, f"held-out coverage outside 0.77-0.83:\n{outside[['intervals', 'coverage']]}"


@pytest.mark.slow
def test_held_out_coverage_in_the_second_year_is_80_percent(tmp_path):
    """The second year alone, each period calibrated on at least 12 months: pooled over the families.

    Per family it is not asserted: the step changes fall in this year, and a tenant's intervals after its
    step are wide while the step's misses are in its set (docs/forecasting.md gives the figures).
    """
    scores = _measure(tmp_path, tenants_per_family=20, days=731, evaluate_from=date(2025, 1, 1)).set_index("family")
    assert 0.77 <= scores.loc["all", "coverage"] <= 0.83
