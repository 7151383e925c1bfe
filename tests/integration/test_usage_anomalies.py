"""analytics.usage_anomalies finds planted spikes (an LLM token burst, a runaway integration, a sudden
stop) and stays quiet on clean seasonal series: the false-alarm rate is measured, printed and bounded.

Clean series: a weekday pattern (weekends lower), slow growth, and noise of three kinds — normal
(voice), Poisson counts at low and high levels (API calls) and heavy log-normal (LLM tokens) —
generated here with a seeded RNG, never by the method's own SQL.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from sqlproj_data import build_models_warehouse

START = date(2026, 1, 5)  # a Monday
DAYS = 24 * 7  # the last 56 days are scored, each reading up to 112 days before it
WEEKDAY_SHAPE = np.array([1.0, 1.1, 1.05, 1.0, 0.9, 0.35, 0.3])  # Monday first
CLEAN_TENANTS = 150
# The bound: at most 1 false alarm in 1,000 scored days — at 1,000 tenants x 4 metrics, at most 4 false
# alerts a day over the whole fleet. A score of 6 robust standard deviations should sit well below it:
# normal noise crosses 6 sigma about once in 500 million days, log-normal (sigma 0.25) tokens about
# once in 8,000 (a 2.5x day), and the spread is pooled over 28-56 days so it is rarely underestimated.
FALSE_ALARM_BOUND = 0.001


def clean_series(rng: np.random.Generator, days: int) -> dict[str, np.ndarray]:
    """One tenant's four metrics: weekday shape x growth x noise, each at its own level."""
    t = np.arange(days)
    season = WEEKDAY_SHAPE[(START.weekday() + t) % 7] * (1 + rng.uniform(-0.002, 0.004)) ** t
    voice_level, calls_level, token_level = rng.uniform(20, 400), rng.choice([8, 40, 2000]), rng.uniform(5e4, 5e5)
    voice = np.round(np.maximum(voice_level * season * (1 + rng.normal(0, 0.12, days)), 0), 1)
    calls = rng.poisson(calls_level * season)
    tokens_in = np.round(token_level * season * rng.lognormal(0, 0.25, days))
    tokens_out = np.round(0.3 * tokens_in * rng.lognormal(0, 0.1, days))
    return {"voice_minutes": voice, "api_calls": calls, "llm_input_tokens": tokens_in, "llm_output_tokens": tokens_out}


def rows(tenant: str, series: dict[str, np.ndarray]) -> list[tuple]:
    return [(tenant, START + timedelta(days=i), float(series["voice_minutes"][i]), int(series["api_calls"][i]),
             int(series["llm_input_tokens"][i]), int(series["llm_output_tokens"][i])) for i in range(DAYS)]


def day(week: int, weekday: int) -> int:
    return week * 7 + weekday


PLANTED = {  # (tenant, day index, metric, direction)
    ("llm_burst", day(20, 2), "llm_input_tokens", "spike"),
    ("llm_burst", day(20, 2), "llm_output_tokens", "spike"),
    ("runaway", day(22, 0), "api_calls", "spike"),
    ("runaway", day(22, 1), "api_calls", "spike"),
    ("runaway", day(22, 2), "api_calls", "spike"),
    ("twice", day(17, 3), "voice_minutes", "spike"),
    ("twice", day(18, 3), "voice_minutes", "spike"),  # one week later: the first spike must not mask it
    ("stopped", day(23, 1), "api_calls", "drop"),
}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    rng = np.random.default_rng(20261129)
    daily = []
    for i in range(CLEAN_TENANTS):
        daily += rows(f"clean_{i:02d}", clean_series(rng, DAYS))
    planted = {name: clean_series(rng, DAYS) for name in ("llm_burst", "runaway", "twice", "stopped", "early", "old")}
    planted["llm_burst"]["llm_input_tokens"][day(20, 2)] *= 8
    planted["llm_burst"]["llm_output_tokens"][day(20, 2)] *= 8
    planted["runaway"]["api_calls"] = np.maximum(planted["runaway"]["api_calls"], 50)  # enough calls to tell
    for d in (day(22, 0), day(22, 1), day(22, 2)):
        planted["runaway"]["api_calls"][d] *= 5
    planted["twice"]["voice_minutes"][[day(17, 3), day(18, 3)]] *= 4
    planted["stopped"]["api_calls"] = np.maximum(planted["stopped"]["api_calls"], 50)
    planted["stopped"]["api_calls"][day(23, 1)] = 0
    planted["early"]["voice_minutes"][day(5, 2)] *= 10  # 5 earlier Wednesdays: too little history to be scored
    planted["old"]["voice_minutes"][day(10, 2)] *= 10  # before the tenant's last 56 days: not scored
    for name, series in planted.items():
        daily += rows(name, series)[: day(5, 3) if name == "early" else DAYS]
    con = build_models_warehouse(tmp_path_factory.mktemp("anomalies") / "warehouse.duckdb", daily)
    yield con
    con.close()


def flagged(con, tenant_pattern: str) -> set[tuple]:
    return {(t, (d - START).days, m, direction) for t, d, m, direction in con.execute(
        "select tenant, usage_date, metric, direction from analytics.usage_anomalies where tenant like ?",
        [tenant_pattern]).fetchall()}


@pytest.mark.parametrize("planted", sorted(PLANTED), ids=lambda p: f"{p[0]}-{p[2]}-day{p[1]}")
def test_each_planted_anomaly_is_flagged(warehouse, planted):
    tenant = planted[0]
    assert planted in flagged(warehouse, tenant)


def test_a_planted_anomaly_causes_no_other_flag_in_its_series(warehouse):
    """No echo: the days after a spike, which now have it in their history, are not flagged (as drops)."""
    first = {}
    for tenant, planted_day, metric, _ in PLANTED:
        first[(tenant, metric)] = min(planted_day, first.get((tenant, metric), planted_day))
    found = set().union(*(flagged(warehouse, t) for t, _ in first))
    after = {f for f in found if (f[0], f[2]) in first and f[1] > first[(f[0], f[2])]}
    assert after - PLANTED == set()


def test_a_spike_without_six_weeks_of_history_is_not_scored(warehouse):
    assert flagged(warehouse, "early") == set()


def test_only_each_tenants_last_56_days_are_scored(warehouse):
    assert flagged(warehouse, "old") == set()
    first_scored = warehouse.execute("select min(usage_date) from analytics.usage_anomalies").fetchone()[0]
    assert (first_scored - START).days >= DAYS - 56


def test_false_alarm_rate_on_clean_seasonal_series_is_bounded(warehouse):
    false_alarms = len(flagged(warehouse, "clean_%"))
    # Scored: each tenant's last 56 days; with every day loaded, each has its 8 weekdays and 56 spread days.
    scored_days = CLEAN_TENANTS * 4 * 56
    rate = false_alarms / scored_days
    print(f"\nusage_anomalies false alarms on clean seasonal series: {false_alarms} of {scored_days} "
          f"scored days = {rate:.5%} (bound {FALSE_ALARM_BOUND:.1%})")
    assert rate <= FALSE_ALARM_BOUND


def test_scores_are_the_documented_formula(warehouse):
    row = warehouse.execute(
        "select value, median, spread, scale, score from analytics.usage_anomalies"
        " where tenant = 'llm_burst' and metric = 'llm_input_tokens'").fetchone()
    value, median, spread, scale, score = row
    assert scale == pytest.approx(max(spread * max(median, 1), median ** 0.5, 1.0))
    assert score == pytest.approx(abs(value - median) / scale) and score > 6
