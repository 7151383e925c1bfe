"""Usage series the forecast was not designed on, to measure its interval and accuracy honestly.

The method assumes a steady weekly pattern, smooth growth and independent day-to-day noise
(docs/forecasting.md). Each family here breaks one of those assumptions: spiky days, a step change up
or down mid-period, weeks of zeros, flat usage without a weekly pattern, decline, fast growth, and a
pattern that follows the day of the month. Every series is drawn from one seeded numpy generator, so a
family's figures are reproducible; `family_warehouse` loads them into a real DuckDB warehouse and
builds the SQL models on it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from helpers_ops import SCHEMA_SQL, SQL_FOLDER

from aurion_pipeline.sqlmodels.build import build
from aurion_pipeline.sqlmodels.project import load_project

Level = Callable[[np.random.Generator, np.ndarray], np.ndarray]  # (rng, days) -> expected usage per day


def _months(days: np.ndarray) -> np.ndarray:
    return (days - days[0]).astype("timedelta64[D]").astype(float) / 30.4375


def _weekday(days: np.ndarray) -> np.ndarray:
    return (days.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0


def spiky(rng, days):
    """Mostly quiet days, and on ~5 % of days a burst of 5-20x (a batch job, a campaign)."""
    bursts = np.where(rng.random(len(days)) < 0.05, rng.uniform(5, 20, len(days)), 1.0)
    return bursts * np.exp(0.3 * rng.standard_normal(len(days)))


def step_change(rng, days):
    """A level that jumps up (x2-3) or down (x0.3-0.5) on one day in the middle of a period."""
    at = rng.integers(len(days) // 3, 2 * len(days) // 3)
    factor = rng.uniform(2, 3) if rng.random() < 0.5 else rng.uniform(0.3, 0.5)
    return np.where(np.arange(len(days)) >= at, factor, 1.0) * np.exp(0.15 * rng.standard_normal(len(days)))


def zero_weeks(rng, days):
    """Whole weeks with no usage at all (holidays, a paused integration): ~12 % of weeks are zero."""
    weeks = np.arange(len(days)) // 7
    off = rng.random(weeks.max() + 1) < 0.12
    return np.where(off[weeks], 0.0, 1.0) * np.exp(0.2 * rng.standard_normal(len(days)))


def flat(rng, days):
    """The same level every day of the week, with 5 % noise."""
    return np.exp(0.05 * rng.standard_normal(len(days)))


def declining(rng, days):
    """Losing 5-15 % a month, weekdays busier than weekends."""
    rate = rng.uniform(0.05, 0.15)
    week = np.where(_weekday(days) >= 5, 0.4, 1.0)
    return (1 - rate) ** _months(days) * week * np.exp(0.15 * rng.standard_normal(len(days)))


def fast_growing(rng, days):
    """Growing 15-40 % a month, weekdays busier than weekends."""
    rate = rng.uniform(0.15, 0.40)
    week = np.where(_weekday(days) >= 5, 0.4, 1.0)
    return (1 + rate) ** _months(days) * week * np.exp(0.15 * rng.standard_normal(len(days)))


def monthly_seasonal(rng, days):
    """Usage that follows the day of the calendar month: a month-end peak of 2-4x (invoicing runs)."""
    day_of_month = pd.DatetimeIndex(days).day.to_numpy()
    peak = rng.uniform(2, 4)
    level = 1 + (peak - 1) * np.exp(-((31 - day_of_month) / 3.0))
    return level * np.exp(0.15 * rng.standard_normal(len(days)))


FAMILIES: dict[str, Level] = {
    "spiky": spiky,
    "step_change": step_change,
    "zero_weeks": zero_weeks,
    "flat": flat,
    "declining": declining,
    "fast_growing": fast_growing,
    "monthly_seasonal": monthly_seasonal,
}


def family_usage(tenants_per_family: int, first_day: date, days: int, seed: int = 20261129) -> pd.DataFrame:
    """Daily usage of `tenants_per_family` tenants of every family, named `<family>-<i>`."""
    rng = np.random.default_rng(seed)
    calendar = np.array([first_day + timedelta(d) for d in range(days)], dtype="datetime64[D]")
    frames = []
    for family, level in FAMILIES.items():
        for i in range(tenants_per_family):
            shape = level(rng, calendar)
            frames.append(pd.DataFrame({
                "tenant": f"{family}-{i:02d}",
                "usage_date": calendar.astype("datetime64[D]").astype(object),
                # Both metrics follow the tenant's level, each with its own 10 % noise.
                "voice_minutes": np.round(rng.uniform(20, 400) * shape * np.exp(0.1 * rng.standard_normal(days)), 1),
                "api_calls": np.rint(rng.uniform(500, 20_000) * shape * np.exp(0.1 * rng.standard_normal(days)))
                .astype("int64"),
                "anchor_day": int(rng.integers(1, 29)),
            }))
    return pd.concat(frames, ignore_index=True)


def family_warehouse(path: Path, usage: pd.DataFrame, sql_folder: Path = SQL_FOLDER) -> duckdb.DuckDBPyConnection:
    """A warehouse file holding `usage` and one summary snapshot per tenant fixing its billing anchor, models built."""
    con = duckdb.connect(str(path))
    con.execute(SCHEMA_SQL.read_text())
    con.register("family_usage", usage)
    con.execute(
        """
        insert into raw.usage_daily (tenant, usage_date, voice_minutes, api_calls, _filled, _run_id, _loaded_at)
        select tenant, usage_date, voice_minutes, api_calls, false, 'families', timestamp '2030-01-01'
        from family_usage
        """
    )
    # The snapshot's period sets the anchor day; it is the period holding the last day of data.
    con.execute(
        """
        insert into raw.usage_summary (tenant, captured_at, period_start, period_end, plan, billing_status)
        select tenant, last_day + 1, period_start, (period_start + interval 1 month)::date - 1, 'enterprise', 'active'
        from (
            select tenant, max(usage_date) as last_day, any_value(anchor_day) as anchor_day,
                   case when day(max(usage_date)) >= any_value(anchor_day)
                        then make_date(year(max(usage_date)), month(max(usage_date)), any_value(anchor_day))
                        else (make_date(year(max(usage_date)), month(max(usage_date)), any_value(anchor_day))
                              - interval 1 month)::date
                   end as period_start
            from family_usage group by tenant
        )
        """
    )
    con.unregister("family_usage")
    build(con, load_project(sql_folder))
    return con


def family_scores(con: duckdb.DuckDBPyConnection, evaluate_from: date | None = None) -> pd.DataFrame:
    """Per family: held-out interval coverage and MAPE of ours and of the naive run-rate, from the backtest.

    Every interval in analytics.forecast_backtest is calibrated only on periods that ended before its own
    started, so each row is held out; `evaluate_from` keeps the periods starting on or after that day.
    """
    return con.execute(
        """
        select
            coalesce(split_part(tenant, '-', 1), 'all') as family,
            count(*) as forecasts,
            count(in_interval) as intervals,
            avg(in_interval::integer) as coverage,
            avg(case when actual_total < projected_low then 1.0 when in_interval is not null then 0.0 end) as below,
            avg(case when actual_total > projected_high then 1.0 when in_interval is not null then 0.0 end) as above,
            avg(ape) filter (where days_elapsed >= 1) as mape,
            avg(naive_ape) filter (where days_elapsed >= 1) as naive_mape
        from analytics.forecast_backtest
        where period_start >= coalesce(?::date, period_start)
        group by rollup (split_part(tenant, '-', 1))
        order by grouping(split_part(tenant, '-', 1)), family
        """,
        [evaluate_from],
    ).df()


def coverage_by_source(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Held-out coverage per family and calibration source: the tenant's own misses, or all tenants'."""
    return con.execute(
        """
        select split_part(b.tenant, '-', 1) as family, f.calibration_source, count(*) as intervals,
               avg(b.in_interval::integer) as coverage
        from analytics.forecast_backtest as b
        join analytics.forecast_by_day as f using (tenant, quota_name, period_start, as_of_date)
        where b.in_interval is not null
        group by all
        order by all
        """
    ).df()
