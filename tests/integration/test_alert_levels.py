"""Alert levels at exactly 80 / 95 / 100 %: reached whatever order the daily usage is summed in, and the
same in plan_utilization, billing_alerts and usage_forecast.

Many tenants whose 0.1-minute days add up to exactly a threshold, inserted in shuffled order: with
floating-point sums, some come out a hair under (19.999999999999996 of 25) and miss the level, and two
views that sum in different orders disagree (issue 11: 39 of 173 tenants, 138 vs 134 warnings).
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest
from sqlproj_data import build_models_warehouse

MARCH = [date(2026, 3, 1) + timedelta(days=i) for i in range(31)]
TENANTS_PER_CASE = 40

# (case, quota in minutes, total in tenths of a minute, expected level)
CASES = [
    ("at_80", 25, 200, "warning"),         # 20.0 of 25
    ("below_80", 25, 199, "ok"),           # 19.9 of 25
    ("at_95", 1000, 9500, "critical"),     # 950.0 of 1,000
    ("below_95", 1000, 9499, "warning"),
    ("at_100", 25, 250, "critical"),       # exactly the quota is not yet overage
    ("above_100", 25, 251, "overage"),
]


def split_tenths(rng: random.Random, total: int, days: int) -> list[int]:
    """`total` tenths spread over `days` days at random (some days zero), summing exactly."""
    cuts = sorted(rng.randint(0, total) for _ in range(days - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total])]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    rng = random.Random(20261129)
    daily, summaries, expected = [], [], {}
    for case, quota, tenths, level in CASES:
        for i in range(TENANTS_PER_CASE):
            tenant = f"{case}_{i:02d}"
            expected[tenant] = level
            # 0.1 * n is the double nearest to n tenths, exactly what the API's "0.3" parses to.
            daily += [(tenant, day, 0.1 * n, 0) for day, n in zip(MARCH, split_tenths(rng, tenths, len(MARCH)))]
            summaries.append({"tenant": tenant, "captured_at": datetime(2026, 3, 31, 23), "period_start": MARCH[0],
                              "period_end": MARCH[-1], "plan": "starter" if quota == 25 else "professional",
                              "billing_status": "active", "voice_minutes_limit": quota, "api_calls_limit": 10000})
    rng.shuffle(daily)  # the order rows reach the table decides the order DuckDB adds them in
    con = build_models_warehouse(tmp_path_factory.mktemp("levels") / "warehouse.duckdb", daily, summaries)
    yield con, expected
    con.close()


def test_the_fixture_really_sums_off_the_threshold_in_floating_point(warehouse):
    """Guard: the planted data must be able to fail a floating-point implementation."""
    con, _ = warehouse
    (off,) = con.execute(
        "select count(*) from (select tenant, sum(voice_minutes) as s, sum(round(voice_minutes * 10)) / 10 as exact"
        " from raw.usage_daily group by tenant) where s <> exact"
    ).fetchone()
    assert off > 0


def test_plan_utilization_reaches_the_level_at_exactly_the_threshold(warehouse):
    con, expected = warehouse
    got = dict(con.execute("select tenant, alert_level from analytics.plan_utilization"
                           " where quota_name = 'voice_minutes'").fetchall())
    wrong = {t: (got.get(t), level) for t, level in expected.items() if got.get(t) != level}
    assert wrong == {}


def test_billing_alerts_agree_with_plan_utilization_on_every_tenant(warehouse):
    con, expected = warehouse
    highest = dict(con.execute(
        "select tenant, arg_max(alert_level, severity) from analytics.billing_alerts"
        " where quota_name = 'voice_minutes' and basis = 'actual' group by tenant").fetchall())
    utilization = dict(con.execute("select tenant, alert_level from analytics.plan_utilization"
                                   " where quota_name = 'voice_minutes'").fetchall())
    disagree = {t: (utilization[t], highest.get(t, "ok")) for t in expected if highest.get(t, "ok") != utilization[t]}
    assert disagree == {}


def test_billing_alerts_fire_on_the_day_the_exact_total_is_reached(warehouse):
    con, _ = warehouse
    rows = con.execute(
        "select a.tenant, a.first_reached_on, max(u.usage_date) filter (where u.voice_minutes > 0)"
        " from analytics.billing_alerts a join raw.usage_daily u on u.tenant = a.tenant"
        " where a.tenant like 'at_80%' and a.alert_level = 'warning' group by all").fetchall()
    assert len(rows) == TENANTS_PER_CASE
    assert all(reached == last_use for _, reached, last_use in rows)  # the day the last tenth arrived


def test_a_level_passed_before_a_negative_day_still_fires_on_the_day_it_was_reached(tmp_path):
    """billing_alerts runs totals only over periods whose total reaches a level, or that hold a negative
    day: a correction can bring the total back under a level a running total had already passed."""
    quota = {"plan": "starter", "billing_status": "active", "voice_minutes_limit": 25, "api_calls_limit": 10000,
             "captured_at": datetime(2026, 3, 31, 23), "period_start": MARCH[0], "period_end": MARCH[-1]}
    minutes = {"corrected": [10.0, 11.0, -5.0], "steady": [10.0, 11.0, 0.0]}  # 80 % of 25 is 20
    daily = [(tenant, day, m, 0) for tenant, values in minutes.items() for day, m in zip(MARCH, values)]
    con = build_models_warehouse(tmp_path / "warehouse.duckdb", daily,
                                 [{**quota, "tenant": tenant} for tenant in minutes])
    try:
        alerts = con.execute(
            "select tenant, alert_level, first_reached_on from analytics.billing_alerts"
            " where quota_name = 'voice_minutes' and basis = 'actual' order by tenant").fetchall()
        levels = dict(con.execute("select tenant, alert_level from analytics.plan_utilization"
                                  " where quota_name = 'voice_minutes'").fetchall())
    finally:
        con.close()
    assert alerts == [("corrected", "warning", MARCH[1]), ("steady", "warning", MARCH[1])]
    assert levels == {"corrected": "ok", "steady": "warning"}  # the period's total: 16 and 21 of 25


def test_a_complete_periods_forecast_is_its_exact_total_and_level(warehouse):
    """On its last day a period's forecast is what was used: the same total as plan_utilization, to the
    last digit, and so the same level at exactly the threshold."""
    con, expected = warehouse
    rows = con.execute(
        "select f.tenant, f.days_elapsed = f.days_in_period, f.used_to_date = u.used, f.projected_total = u.used,"
        " f.projected_alert_level from analytics.usage_forecast f join analytics.plan_utilization u using"
        " (tenant, period_start, quota_name) where quota_name = 'voice_minutes'").fetchall()
    assert len(rows) == len(expected)
    wrong = {tenant: row for tenant, *row in rows if row != [True, True, True, expected[tenant]]}
    assert wrong == {}


def test_a_tenant_that_uses_exactly_its_quota_never_exhausts_it(warehouse):
    """usage_forecast's exhaustion date is the first day the total goes above the quota: for 25.0 of 25
    there is none, and for 25.1 it is the day the last tenth arrived."""
    con, expected = warehouse
    got = dict(con.execute("select tenant, projected_exhaustion_date from analytics.usage_forecast"
                           " where quota_name = 'voice_minutes'").fetchall())
    last_use = dict(con.execute("select tenant, max(usage_date) filter (where voice_minutes > 0)"
                                " from raw.usage_daily group by tenant").fetchall())
    want = {tenant: last_use[tenant] if tenant.startswith("above_100") else None for tenant in expected}
    assert {t: (got.get(t), d) for t, d in want.items() if got.get(t) != d} == {}
