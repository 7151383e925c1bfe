"""Billing periods follow the calendar, not the last snapshot: a summary months old never pins an old
period as current, its age is a column and `status` flags it; a prorated first period is kept as the
snapshot states it.

Issue 11: with summaries stopped in March and usage loaded through November, March stayed "current"
and usage_forecast forecast a month that was over; a first period 03-10..03-31 could not be represented.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlproj_data import build_models_warehouse


def span(first: str, last: str) -> list[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def snapshot(tenant: str, captured: str, start: str, end: str, **extra) -> dict:
    return {"tenant": tenant, "captured_at": datetime.fromisoformat(captured),
            "period_start": date.fromisoformat(start),
            "period_end": date.fromisoformat(end), "plan": "professional", "billing_status": "active", **extra}


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    daily = [("stale", d, 10.0, 100) for d in span("2026-03-01", "2026-11-20")]
    daily += [("stale15", d, 10.0, 100) for d in span("2026-03-15", "2026-11-20")]
    daily += [("prorated", d, 1.0, 10) for d in span("2026-03-10", "2026-04-05")]
    daily += [("trial_then_prorated", d, 1.0, 10) for d in span("2026-03-01", "2026-04-05")]
    daily += [("anchor_moved", d, 1.0, 10) for d in span("2026-01-01", "2026-04-05")]
    summaries = [
        snapshot("stale", "2026-03-15 06:00", "2026-03-01", "2026-03-31", voice_minutes_limit=2000),
        snapshot("stale15", "2026-03-20 06:00", "2026-03-15", "2026-04-14"),
        snapshot("prorated", "2026-03-20 06:00", "2026-03-10", "2026-03-31"),
        snapshot("trial_then_prorated", "2026-03-20 06:00", "2026-03-10", "2026-03-31"),
        snapshot("anchor_moved", "2026-01-20 06:00", "2026-01-01", "2026-01-31"),
        snapshot("anchor_moved", "2026-02-20 06:00", "2026-02-01", "2026-02-28"),
        snapshot("anchor_moved", "2026-03-20 06:00", "2026-03-15", "2026-04-14"),
    ]
    connection = build_models_warehouse(tmp_path_factory.mktemp("calendar") / "warehouse.duckdb", daily, summaries)
    yield connection
    connection.close()


def periods(con, tenant: str) -> list[tuple]:
    return con.execute("select period_start::varchar, period_end::varchar, period_kind, is_current"
                       " from analytics.billing_periods where tenant = ? order by period_start", [tenant]).fetchall()


@pytest.mark.parametrize(("tenant", "current"), [
    pytest.param("stale", ("2026-11-01", "2026-11-30"), id="calendar-months-roll-on-to-november"),
    pytest.param("stale15", ("2026-11-15", "2026-12-14"), id="anchor-15-rolls-on-to-november-15"),
])
def test_a_summary_stale_by_months_does_not_pin_its_period(con, tenant, current):
    got = periods(con, tenant)
    assert [(s, e) for s, e, _, is_current in got if is_current] == [current]
    assert {kind for _, _, kind, _ in got} == {"regular"}


def test_the_forecast_is_for_the_calendar_period_with_the_old_summarys_quota(con):
    (row,) = con.execute(
        "select period_start::varchar, as_of_date::varchar, days_elapsed, used_to_date, quota, summary_age_days"
        " from analytics.usage_forecast where tenant = 'stale' and quota_name = 'voice_minutes'").fetchall()
    # November takes the March snapshot's own 2,000 with its plan (the nearest snapshot); 250 days old.
    assert row == ("2026-11-01", "2026-11-20", 20, 200, 2000, 250)
    ages = con.execute("select distinct summary_age_days from analytics.plan_utilization where tenant = 'stale'")
    assert ages.fetchall() == [(250,)]


def test_a_prorated_first_period_is_kept_as_the_snapshot_states_it(con):
    assert periods(con, "prorated") == [
        ("2026-03-10", "2026-03-31", "prorated", False),
        ("2026-04-01", "2026-04-30", "regular", True),  # the anchor is the day after the prorated end
    ]
    used = con.execute("select period_start::varchar, used from analytics.plan_utilization"
                       " where tenant = 'prorated' and quota_name = 'voice_minutes' order by 1").fetchall()
    assert used == [("2026-03-10", 22), ("2026-04-01", 5)]


def test_whole_months_stated_under_an_earlier_anchor_are_regular_not_prorated(con):
    """January and February were stated on the 1st; March moved the anchor to the 15th. The old months are
    whole months of their own anchor, not the shorter, prorated kind."""
    assert periods(con, "anchor_moved")[:2] == [
        ("2026-01-01", "2026-01-31", "regular", False),
        ("2026-02-01", "2026-02-28", "regular", False),
    ]


def test_days_before_a_prorated_period_form_a_partial_period_of_their_own(con):
    assert periods(con, "trial_then_prorated") == [
        ("2026-03-01", "2026-03-09", "partial", False),
        ("2026-03-10", "2026-03-31", "prorated", False),
        ("2026-04-01", "2026-04-30", "regular", True),
    ]


def test_status_flags_the_stale_summaries(con, tmp_path):
    from aurion_pipeline.ops.status import status_text
    from aurion_pipeline.storage import Warehouse

    warehouse = Warehouse(tmp_path)
    warehouse.analyst_path.touch()
    text = status_text(con, warehouse, date(2026, 11, 20))
    assert "Stale summaries: 5 tenant(s)" in text
    flagged = text[text.index("Stale summaries"):].splitlines()
    assert any(line.split()[:4] == ["stale", "2026-03-15", "06:00", "250"] for line in flagged)
    assert "Stale summaries: 1 tenant(s)" in status_text(con, warehouse, date(2026, 3, 21))  # the others: 1 day
