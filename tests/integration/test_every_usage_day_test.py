"""tests/every_usage_day_in_one_billing_period.sql counts per tenant (through analytics.period_usage)
instead of joining every loaded day to every period, and checks only the span of a tenant's periods,
leaving gaps and overlaps between periods to billing_periods' periods_follow_each_other_without_gaps,
a day loaded twice to raw.usage_daily's unique test and null bounds to billing_periods' not_null
tests: on random periods (gaps, overlaps, a period ending before it starts, null bounds) and loaded
days (outside every period, twice, null), those tests together fail exactly when the direct
definition finds a loaded day in no period or in two."""

import datetime as dt
import random

import duckdb
import pytest
from helpers_ops import SQL_FOLDER

from aurion_pipeline.sqlmodels import load_project

COUNTED = (SQL_FOLDER / "tests/every_usage_day_in_one_billing_period.sql").read_text()
PERIOD_USAGE = (SQL_FOLDER / "models/analytics/period_usage.sql").read_text()
MACROS = [m.sql for m in load_project(SQL_FOLDER).macros]
DIRECT = """
    select u.tenant, u.usage_date, count(p.period_start) as periods
    from analytics.usage_daily as u
    left join analytics.billing_periods as p
        on p.tenant = u.tenant and u.usage_date between p.period_start and p.period_end
    group by u.tenant, u.usage_date
    having count(p.period_start) <> 1
"""
# The other tests the counted one relies on, as declared (sources/raw.yml, billing_periods.yml).
(PERIODS_FOLLOW,) = [t.sql for t in load_project(SQL_FOLDER).get("analytics.billing_periods").tests
                     if t.name == "periods_follow_each_other_without_gaps"]
DAY_LOADED_TWICE = "select tenant, usage_date from analytics.usage_daily group by all having count(*) > 1"
NULL_IN_PERIODS = ("select * from analytics.billing_periods "
                   "where tenant is null or period_start is null or period_end is null")
DAY0 = dt.date(2025, 1, 1)


def random_warehouse(rng: random.Random, clean: bool) -> duckdb.DuckDBPyConnection:
    periods, days = [], set()
    for tenant in ("a", "b", "c"):
        start = DAY0 + dt.timedelta(rng.randint(0, 10))
        for _ in range(rng.randint(0, 6)):
            end = start + dt.timedelta(rng.randint(1, 8) - 1)
            periods.append((tenant, start, end))
            shift = 0 if clean else rng.choice([0, 0, 0, 1, 2, -1, -2])  # a gap or an overlap
            start = end + dt.timedelta(1 + shift)
            if not clean and rng.random() < 0.1:
                periods.append((tenant, start, start + dt.timedelta(rng.randint(-2, 3))))  # may end before it starts
        own = [p for p in periods if p[0] == tenant]
        for _ in range(rng.randint(0, 40)):
            if clean and own:
                days.add((tenant, own[0][1] + dt.timedelta(rng.randint(0, (own[-1][2] - own[0][1]).days))))
            elif not clean:
                days.add((tenant, DAY0 + dt.timedelta(rng.randint(-3, 60))))
    if not clean and rng.random() < 0.3:
        days |= {("a", None), (None, DAY0)}
        periods += [(None, DAY0, DAY0 + dt.timedelta(5)), ("a", None, DAY0), ("a", DAY0, None)]
    twice = sorted(days, key=str)[: rng.randint(0, 2) if rng.random() < 0.3 else 0]
    con = duckdb.connect()
    con.execute("create schema analytics")
    for macro in MACROS:  # period_usage places a day in a period with analytics.in_billing_period
        con.execute(macro)
    con.execute("create table analytics.billing_periods "
                "(tenant varchar, period_start date, period_end date, days_in_period integer)")
    con.execute("create table analytics.usage_daily "
                "(tenant varchar, usage_date date, voice_minutes double default 1, api_calls double default 1)")
    if periods:
        con.executemany("insert into analytics.billing_periods (tenant, period_start, period_end) values (?, ?, ?)",
                        periods)
    if days:
        con.executemany("insert into analytics.usage_daily (tenant, usage_date) values (?, ?)",
                        sorted(days, key=str) + twice)
    con.execute(f"create table analytics.period_usage as {PERIOD_USAGE}")
    return con


@pytest.mark.slow  # ~10 s: 80 small warehouses
@pytest.mark.parametrize("seed", range(2))
def test_the_counted_test_and_those_it_relies_on_fail_exactly_when_a_day_is_in_no_period_or_two(seed):
    rng = random.Random(seed)
    verdicts, counted_alone = [], []
    for scenario in range(40):
        con = random_warehouse(rng, clean=scenario % 2 == 0)
        direct = bool(con.execute(DIRECT).fetchall())
        counted = bool(con.execute(COUNTED).fetchall())
        together = counted or any(con.execute(sql).fetchall()
                                  for sql in (PERIODS_FOLLOW, DAY_LOADED_TWICE, NULL_IN_PERIODS))
        assert together == direct, (seed, scenario)
        verdicts.append(direct)
        counted_alone.append(counted)
        con.close()
    assert any(verdicts) and not all(verdicts)  # both outcomes occur
    assert any(counted_alone)  # the counted test itself finds days outside the periods' span
