"""The analytics views on a small hand-built warehouse whose right answers are written out here.

Each tenant exercises one rule: alert levels at the exact boundaries, unlimited and tenant-specific
quotas, a billing anchor on the 15th, an anchor on the 31st through a leap and a non-leap February, a
tenant without any summary (calendar months, the default plan's seed quotas), a steady tenant whose
forecast is exact, reconciliation differences and billing-status grace periods. Expected values are
literals or small Python computations, never the views' own SQL.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlproj_data import SUMMARY_COLUMNS, build_models_warehouse, sql_project

from aurion_pipeline.sqlmodels.build import build
from aurion_pipeline.sqlmodels.datatests import run_tests

NOW = datetime.now(UTC).replace(tzinfo=None)

D = date.fromisoformat
BOUNDARY_TOTALS = {"b7999": 7999, "b80": 8000, "b95": 9500, "b100": 10000, "b10001": 10001}  # of a 10,000 quota


def days(first: str, last: str, skip: tuple[str, ...] = ()) -> list[date]:
    n = (D(last) - D(first)).days + 1
    return [d for d in (D(first) + timedelta(i) for i in range(n)) if d.isoformat() not in skip]


def daily_rows() -> list[tuple]:
    """(tenant, usage_date, voice_minutes, api_calls, llm_input_tokens, llm_output_tokens)."""
    rows = []
    for tenant, total in BOUNDARY_TOTALS.items():  # March 2026 fully loaded: 4,000 on the 2nd, the rest on the 5th
        rows += [(tenant, d, {2: 4000, 5: total - 4000}.get(d.day, 0), 0, None, None)
                 for d in days("2026-03-01", "2026-03-31")]
    rows += [("unlim", d, 100, 1000, None, None) for d in days("2026-03-01", "2026-03-31")]
    rows += [("custom", d, 50, 100, None, None) for d in days("2026-02-01", "2026-03-31")]
    rows += [("nosummary", d, 1, 400, None, None) for d in days("2028-01-20", "2028-03-05")]
    rows += [("steady", d, 10, 100, None, None) for d in days("2026-01-01", "2026-03-15")]
    # steady's days with three of March never loaded, and steady's March loaded only from the 8th
    rows += [("gaps", d, 10, 100, None, None)
             for d in days("2026-01-01", "2026-03-15", skip=("2026-03-03", "2026-03-04", "2026-03-10"))]
    rows += [("late_start", d, 10, 100, None, None) for d in days("2026-03-08", "2026-03-15")]
    # loads paused from 02-11 and resumed on 03-08; and every day loaded, but api_calls not reported on two
    rows += [("resumed", d, 10, 100, None, None)
             for d in days("2026-01-01", "2026-03-15") if not D("2026-02-11") <= d <= D("2026-03-07")]
    rows += [("nullday", d, 10, None if d.isoformat() in ("2026-02-10", "2026-03-05") else 100, None, None)
             for d in days("2026-01-01", "2026-03-15")]
    rows += [("mid15", d, 2, 10, None, None) for d in days("2026-01-20", "2026-03-20")]
    rows += [("leap31", d, 1, 1, None, None) for d in days("2027-11-20", "2028-03-05")]
    rows += [("feb31", d, 1, 1, None, None) for d in days("2026-01-31", "2026-03-03")]
    llm = {D("2026-03-01"): (1000, 300), D("2026-03-02"): (1000, None)}
    rows += [("recon", d, 5, 100, *llm.get(d, (None, None))) for d in days("2026-03-01", "2026-03-10")]
    rows += [("recon_gap", d, 5, 100, None, None) for d in days("2026-03-01", "2026-03-10", skip=("2026-03-05",))]
    rows += [("recon_hi", d, 5, 100, None, None) for d in days("2026-03-01", "2026-03-10")]
    rows += [("recon_today", d, 5, 100, None, None) for d in days("2026-03-01", "2026-03-09")]  # capture day not loaded
    rows += [("unloaded", d, 5, 100, None, None) for d in days("2026-02-01", "2026-02-28")]  # March only summarized
    rows += [("lagging", d, 5, 100, None, None) for d in days("2026-01-01", "2026-01-20")]  # loads stopped in January
    return rows


def snapshot(tenant, captured, period=(None, None), plan="professional", status="active",
             voice=(None, None), api=(None, None), storage=(None, None)) -> tuple:
    start, end = (D(p) if p else None for p in period)
    pct = lambda used, limit: None if used is None or not limit else 100 * used / limit  # noqa: E731
    return (tenant, captured, start, end, plan, status, voice[0], voice[1], pct(*voice),
            api[0], api[1], pct(*api), storage[0], storage[1], pct(*storage))


def summary_rows() -> list[tuple]:
    march = ("2026-03-01", "2026-03-31")
    rows = [snapshot(t, datetime(2026, 3, 31, 23), march, voice=(total, 10000), api=(0, 10000),
                     storage=(total / 10, 1000)) for t, total in BOUNDARY_TOTALS.items()]
    rows += [
        snapshot("unlim", datetime(2026, 3, 31, 23), march, "enterprise", voice=(3100, None), api=(31000, None),
                 storage=(30000, 200000)),
        snapshot("custom", datetime(2026, 3, 31, 23), march, voice=(1550, 2000), api=(3100, 60000),
                 storage=(100, 5000)),
        *(snapshot(t, datetime(2026, 3, 15, 23), march, "starter", voice=(150, 250), api=(1500, None),
                   storage=(10, 1000)) for t in ("steady", "gaps", "late_start", "resumed", "nullday")),
        snapshot("mid15", datetime(2026, 2, 20, 8), ("2026-02-15", "2026-03-14"), voice=(12, 1000)),
        snapshot("mid15", datetime(2026, 3, 20, 8), ("2026-03-15", "2026-04-14"), status="past_due", voice=(12, 1000)),
        snapshot("leap31", datetime(2028, 3, 5, 8), ("2028-02-29", "2028-03-30")),
        snapshot("feb31", datetime(2026, 2, 10, 8), ("2026-01-31", "2026-02-27")),
        snapshot("recon", datetime(2026, 3, 10, 12), march, voice=(55.5, 1000), api=(1000, 50000)),
        snapshot("recon_gap", datetime(2026, 3, 10, 12), march, voice=(50, 1000), api=(1000, 50000)),
        snapshot("recon_hi", datetime(2026, 3, 10, 12), march, voice=(40, 1000), api=(1000, 50000)),
        snapshot("recon_today", datetime(2026, 3, 10, 12), march, voice=(47, 1000), api=(900, 50000)),
        snapshot("unloaded", datetime(2026, 3, 16, 12), march, voice=(300, 1000), api=(117382, 50000),
                 storage=(10, 5000)),
        snapshot("lagging", datetime(2026, 3, 10, 12), march, voice=(250, 1000), api=(5000, 50000)),
    ]
    statuses = {
        "status_a": [(datetime(2026, 1, 1), "active"), (datetime(2026, 1, 5), "active"),
                     (datetime(2026, 1, 10), "past_due"), (datetime(2026, 1, 12), "past_due"),
                     (datetime(2026, 1, 20), "suspended"), (datetime(2026, 2, 1), "active")],
        "status_b": [(NOW - timedelta(days=30), "active"), (NOW - timedelta(days=2), "past_due")],
        "status_c": [(datetime(2026, 1, 10), "past_due"), (datetime(2026, 1, 15), "active")],
        "status_d": [(datetime(2020, 1, 1), "past_due")],
        "status_e": [(datetime(2026, 1, 5, 6), "past_due"), (datetime(2026, 1, 12, 6), "active")],  # paid at its end
    }
    rows += [snapshot(t, at, status=s) for t, history in statuses.items() for at, s in history]
    return rows


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    summaries = [dict(zip(SUMMARY_COLUMNS, row, strict=True)) for row in summary_rows()]
    connection = build_models_warehouse(tmp_path_factory.mktemp("views") / "warehouse.duckdb", daily_rows(), summaries)
    yield connection
    connection.close()


def query(con, sql: str, *params) -> list[tuple]:
    return con.execute(sql, list(params)).fetchall()


def level(pct: float | None) -> str:
    """The vendor's rule: >= 80 warning, >= 95 critical, above 100 overage."""
    if pct is None or pct < 80:
        return "ok"
    return "overage" if pct > 100 else "critical" if pct >= 95 else "warning"


def period_containing(day: date, anchor: int) -> tuple[date, date]:
    """Independent reference: periods start on `anchor`, clamped to the month's last day."""
    def start_in(year: int, month: int) -> date:
        return date(year, month, min(anchor, calendar.monthrange(year, month)[1]))
    y, m = day.year, day.month
    if day < start_in(y, m):
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    ny, nm = (y, m + 1) if m < 12 else (y + 1, 1)
    return start_in(y, m), start_in(ny, nm) - timedelta(days=1)


# --- billing periods -------------------------------------------------------------------------------

@pytest.mark.parametrize(("tenant", "expected", "current"), [
    pytest.param("mid15", [("2026-01-15", "2026-02-14"), ("2026-02-15", "2026-03-14"), ("2026-03-15", "2026-04-14")],
                 "2026-03-15", id="anchor-15-ends-on-the-14th"),
    pytest.param("leap31", [("2027-10-31", "2027-11-29"), ("2027-11-30", "2027-12-30"), ("2027-12-31", "2028-01-30"),
                            ("2028-01-31", "2028-02-28"), ("2028-02-29", "2028-03-30")],
                 "2028-02-29", id="anchor-31-clamps-to-nov-30-and-leap-feb-29"),
    pytest.param("feb31", [("2026-01-31", "2026-02-27"), ("2026-02-28", "2026-03-30")],
                 "2026-02-28", id="anchor-31-in-a-non-leap-february-and-a-later-current-period"),
    pytest.param("nosummary",
                 [("2028-01-01", "2028-01-31"), ("2028-02-01", "2028-02-29"), ("2028-03-01", "2028-03-31")],
                 "2028-03-01", id="no-summary-gets-calendar-months-with-leap-february"),
])
def test_billing_periods(con, tenant, expected, current):
    rows = query(con, "select period_start, period_end, days_in_period, is_current from analytics.billing_periods "
                      "where tenant = ? order by period_start", tenant)
    assert [(s, e) for s, e, _, _ in rows] == [(D(s), D(e)) for s, e in expected]
    assert all(n == (e - s).days + 1 for s, e, n, _ in rows)
    assert [s for s, _, _, is_current in rows if is_current] == [D(current)]


def test_every_loaded_day_falls_in_the_reference_period(con):
    anchors = dict(query(con, "select distinct tenant, anchor_day from analytics.billing_periods"))
    assert anchors["mid15"] == 15 and anchors["leap31"] == 31 and anchors["feb31"] == 31 and anchors["nosummary"] == 1
    periods = set(query(con, "select tenant, period_start, period_end from analytics.billing_periods"))
    for tenant, day, *_ in daily_rows():
        assert (tenant, *period_containing(day, anchors[tenant])) in periods


# --- plan utilization ------------------------------------------------------------------------------

UTILIZATION_SQL = """
    select quota_name, used, quota, pct_used, alert_level, quota_source, plan, plan_source
    from analytics.plan_utilization where tenant = ? and period_start = ? order by quota_name
"""


@pytest.mark.parametrize(("tenant", "pct"), [(t, total / 100) for t, total in BOUNDARY_TOTALS.items()])
def test_alert_level_at_the_exact_boundaries(con, tenant, pct):
    rows = {r[0]: r[1:] for r in query(con, UTILIZATION_SQL, tenant, D("2026-03-01"))}
    used, quota, pct_used, alert_level, source, _, _ = rows["voice_minutes"]
    assert (used, quota, source) == (BOUNDARY_TOTALS[tenant], 10000, "summary")
    assert pct_used == pytest.approx(pct, abs=1e-9)
    assert alert_level == level(pct)
    assert rows["storage_mb"][3] == level(pct)  # storage: the snapshot's figure, same percentage
    assert rows["api_calls"][1:4] == (10000, 0, "ok")


def test_boundary_levels_are_the_vendors(con):
    levels = dict(query(con, "select tenant, alert_level from analytics.plan_utilization "
                             "where quota_name = 'voice_minutes' and tenant like 'b%'"))
    assert levels == {"b7999": "ok", "b80": "warning", "b95": "critical", "b100": "critical", "b10001": "overage"}


def test_unlimited_quotas_are_ok_with_null_pct_and_a_custom_storage_limit(con):
    rows = {r[0]: r[1:] for r in query(con, UTILIZATION_SQL, "unlim", D("2026-03-01"))}
    assert rows["voice_minutes"][:5] == (3100, None, None, "ok", "summary")
    assert rows["api_calls"][:5] == (31000, None, None, "ok", "summary")
    assert rows["storage_mb"][:5] == (30000, 200000, 15.0, "ok", "summary")  # the tier says 50,000


def test_tenant_specific_quota_wins_and_a_period_without_snapshot_takes_the_nearest_snapshots(con):
    """February has no snapshot: its plan is March's, and so are its own limits (2,000 minutes, not the
    professional tier's 1,000, which made a tenant at 70 % an overage)."""
    march = {r[0]: r[1:] for r in query(con, UTILIZATION_SQL, "custom", D("2026-03-01"))}
    february = {r[0]: r[1:] for r in query(con, UTILIZATION_SQL, "custom", D("2026-02-01"))}
    assert march["voice_minutes"][:5] == (1550, 2000, 77.5, "ok", "summary")
    assert february["voice_minutes"] == (1400, 2000, 70.0, "ok", "nearest_summary", "professional", "nearest_summary")
    assert february["api_calls"][:5] == (2800, 60000, pytest.approx(4.667, abs=1e-3), "ok", "nearest_summary")
    assert february["storage_mb"][:4] == (None, 5000, None, "unknown")  # no snapshot: storage unknown
    declared = {r[0]: r[1:] for r in query(con, UTILIZATION_SQL, "nosummary", D("2028-02-01"))}
    assert {q: row[4] for q, row in declared.items()} == dict.fromkeys(declared, "unknown")  # no snapshot at all


def test_a_period_known_only_from_a_snapshot_has_unknown_use_not_zero(con):
    """No day of March is loaded, and the vendor's snapshot says api_calls are at 235 %: used is unknown,
    not "0, 0 %, ok"."""
    march = {r[0]: r[1:] for r in query(con, UTILIZATION_SQL, "unloaded", D("2026-03-01"))}
    february = {r[0]: r[1:] for r in query(con, UTILIZATION_SQL, "unloaded", D("2026-02-01"))}
    assert march["api_calls"][:4] == (None, 50000, None, "unknown")
    assert march["voice_minutes"][:4] == (None, 1000, None, "unknown")
    assert march["storage_mb"][:4] == (10, 5000, 0.2, "ok")
    assert february["api_calls"][:4] == (2800, 50000, 5.6, "ok")


def test_the_forecast_of_a_period_whose_days_so_far_are_not_loaded_knows_nothing_of_them(con):
    """Loads stopped on 01-20 and March is current: its days so far are unknown, not '0 days, 0 used'."""
    got = query(con, "select quota_name, as_of_date, days_elapsed, used_to_date, projected_total "
                     "from analytics.usage_forecast where tenant = 'lagging' order by quota_name")
    assert got == [(quota, D("2026-01-20"), None, None, None) for quota in ("api_calls", "voice_minutes")]
    eve = query(con, "select days_elapsed, used_to_date from analytics.usage_forecast "
                     "where tenant = 'unloaded' and quota_name = 'api_calls'")
    assert eve == [(0, 0)]  # loaded through the period's eve: nothing of March is used yet


def test_status_names_current_periods_not_loaded_in_full_and_the_backfill_that_loads_them(con, tmp_path):
    from aurion_pipeline.ops import periods
    from aurion_pipeline.ops.status import status_text
    from aurion_pipeline.storage import Warehouse

    warehouse = Warehouse(tmp_path)
    warehouse.analyst_path.touch()
    text = status_text(con, warehouse, D("2026-03-16")).splitlines()
    at = next(i for i, line in enumerate(text) if "no day loaded" in line)
    # One command per tenant, from its period's start or, for lagging (loads stopped on 01-20), from the day
    # after its last loaded day. Not the tenants known only from snapshots whose periods ended long before
    # (status_a, status_c, status_d: stale summaries), nor status_b, whose period starts later.
    assert text[at:at + 10] == [
        "Current periods with no day loaded: 2: their use is unknown and no alert on it can fire; load them with:",
        "  aurion-pipeline backfill --tenant lagging --start 2026-01-21 --end 2026-03-16 --missing-only",
        "  aurion-pipeline backfill --tenant unloaded --start 2026-03-01 --end 2026-03-16 --missing-only",
        "",
        # days missing before the last loaded day of the period: a gap (gaps, recon_gap), the first days
        # (late_start, resumed); not nullday, whose days are all loaded, nor steady's 03-16 (behind: the next load)
        "Current periods with days not loaded: 4: their use so far is too low and the forecast estimates those "
        "days; load them with:",
        "  aurion-pipeline backfill --tenant gaps --start 2026-03-03 --end 2026-03-10 --missing-only  # 3 day(s)",
        "  aurion-pipeline backfill --tenant late_start --start 2026-03-01 --end 2026-03-07 --missing-only  # 7 day(s)",
        "  aurion-pipeline backfill --tenant recon_gap --start 2026-03-05 --end 2026-03-05 --missing-only  # 1 day(s)",
        "  aurion-pipeline backfill --tenant resumed --start 2026-03-01 --end 2026-03-07 --missing-only  # 7 day(s)",
        "",
    ]
    # what the result block after a load names: both kinds
    assert periods.tenants_not_loaded_in_full(con, D("2026-03-16")) == [
        "gaps", "lagging", "late_start", "recon_gap", "resumed", "unloaded"]
    before_march = status_text(con, warehouse, D("2026-02-27")).splitlines()  # no day of March is complete yet
    assert not any("unloaded (from" in line for line in before_march)


def test_tenant_without_summary_or_declared_plan_has_no_quota_and_an_unknown_level(con):
    got = query(con, "select period_start, quota_name, used, quota, pct_used, alert_level, plan, plan_source,"
                     " quota_source"
                     " from analytics.plan_utilization where tenant = 'nosummary' order by period_start, quota_name")
    expected = []
    for start, n_days in ((D("2028-01-01"), 12), (D("2028-02-01"), 29), (D("2028-03-01"), 5)):
        for quota_name, used in (("api_calls", 400 * n_days), ("storage_mb", None), ("voice_minutes", n_days)):
            expected.append((start, quota_name, used, None, None, "unknown", None, "unknown", "unknown"))
    assert got == expected
    assert query(con, "select count(*) from analytics.billing_alerts where tenant = 'nosummary'") == [(0,)]
    assert set(query(con, "select projected_alert_level from analytics.usage_forecast where tenant = 'nosummary'")) \
        == {("unknown",)}


def test_plan_is_carried_back_to_periods_before_the_first_snapshot(con):
    got = query(con, "select period_start, plan, plan_source, billing_status, used from analytics.plan_utilization "
                     "where tenant = 'mid15' and quota_name = 'voice_minutes' order by period_start")
    assert got == [(D("2026-01-15"), "professional", "nearest_summary", None, 2 * 26),
                   (D("2026-02-15"), "professional", "summary", "active", 2 * 28),
                   (D("2026-03-15"), "professional", "summary", "past_due", 2 * 6)]


def test_usage_daily_totals_llm_tokens_null_safely(con):
    got = query(con, "select usage_date, llm_total_tokens from analytics.usage_daily "
                     "where tenant = 'recon' and usage_date <= date '2026-03-03' order by usage_date")
    assert got == [(D("2026-03-01"), 1300), (D("2026-03-02"), 1000), (D("2026-03-03"), None)]


# --- forecast and alerts ---------------------------------------------------------------------------

FORECAST_SQL = """
    select as_of_date, days_elapsed, days_in_period, used_to_date, projected_total, projected_low, projected_high,
           quota, projected_pct, projected_alert_level, projected_exhaustion_date, naive_projected_total
    from analytics.usage_forecast where tenant = ? and quota_name = ?
"""


def test_steady_usage_is_forecast_exactly(con):
    # 10 minutes every day since January: every weekday rate is 10, no growth, no spread. With no
    # spread there is nothing to scale the calibrated interval by: no interval (docs/forecasting.md).
    (voice,) = query(con, FORECAST_SQL, "steady", "voice_minutes")
    assert voice[:4] == (D("2026-03-15"), 15, 31, 150)
    assert voice[4] == pytest.approx(310) and voice[5:7] == (None, None)
    assert voice[7:11] == (250, pytest.approx(124.0), "overage", D("2026-03-26"))  # 260 > 250 on the 26th
    assert voice[11] == pytest.approx(310)
    (api,) = query(con, FORECAST_SQL, "steady", "api_calls")
    assert api[4] == pytest.approx(3100)
    assert api[7:11] == (None, None, None, None)  # unlimited


@pytest.mark.parametrize(("tenant", "quota", "used", "estimated", "exhausted"), [
    ("gaps", "voice_minutes", 120, 3, D("2026-03-26")),
    ("late_start", "voice_minutes", 80, 7, D("2026-03-26")),
    ("resumed", "voice_minutes", 80, 7, D("2026-03-26")),
    ("nullday", "api_calls", 1400, 1, None),  # unlimited; its 02-10 without a value is February's, not March's
    ("nullday", "voice_minutes", 150, 0, D("2026-03-26")),
])
def test_days_of_the_period_not_loaded_are_estimated_not_counted_as_zero(con, tenant, quota, used, estimated,
                                                                         exhausted):
    """steady's 10 minutes and 100 calls a day, with March's 3rd, 4th and 10th never loaded (gaps), March
    loaded from the 8th only (late_start, as after a first backfill that began mid-period; resumed, loads
    paused from 02-11), or api_calls not reported on 03-05 (nullday): those days are unknown, not zero.
    The forecast estimates each at the weekday rates' mean and ends where steady's does; the naive run rate
    divides by the days with a value. Counted as zero, they read 280 / 240 / 240 / 3000."""
    got = query(con, "select as_of_date, days_elapsed, used_to_date, days_estimated, projected_total,"
                     " naive_projected_total, projected_exhaustion_date"
                     " from analytics.usage_forecast where tenant = ? and quota_name = ?", tenant, quota)
    total = 310 if quota == "voice_minutes" else 3100
    assert got == [(D("2026-03-15"), 15, used, estimated, pytest.approx(total), pytest.approx(total), exhausted)]
    path = query(con, "select usage_date, is_estimated, usage, cumulative_usage from analytics.usage_forecast_daily"
                      " where tenant = ? and quota_name = ? and not is_projected order by usage_date", tenant, quota)
    column = 2 if quota == "voice_minutes" else 3
    known = {r[1] for r in daily_rows() if r[0] == tenant and r[column] is not None}
    assert [d for d, is_estimated, *_ in path if is_estimated] == [
        d for d in days("2026-03-01", "2026-03-15") if d not in known]
    assert [(usage, cumulative) for _, _, usage, cumulative in path] == [
        (pytest.approx(total / 31), pytest.approx(total / 31 * day)) for day in range(1, 16)]


def test_a_period_with_a_day_that_did_not_report_a_metric_is_not_complete_for_it(con):
    """nullday's February: every day loaded, api_calls not reported on 02-10. Its api_calls total is unknown,
    so the backtest and the calibration leave it out; voice_minutes' February is complete."""
    complete = query(con, "select quota_name from analytics.forecast_actuals"
                          " where tenant = 'nullday' and period_start = date '2026-02-01' order by all")
    assert complete == [("voice_minutes",)]


def test_the_reports_usage_chart_says_how_many_days_it_estimated(con):
    from aurion_pipeline.report.build import report_html

    html = report_html(con, datetime(2026, 3, 16, tzinfo=UTC), "data")
    section = {t: html.split(f"data-tenant='{t}'")[1].split("</section>")[0] for t in ("gaps", "steady")}
    assert ("Not loaded: 3 days of this period so far (between 2026-03-03 and 2026-03-10), drawn in the lines at the "
            "forecast's estimate;") in section["gaps"]
    assert "Not loaded" not in section["steady"]


def test_forecast_when_the_period_is_already_complete(con):
    (row,) = query(con, FORECAST_SQL, "b80", "voice_minutes")  # loaded through the period's last day
    assert row[:7] == (D("2026-03-31"), 31, 31, 8000, 8000, 8000, 8000)


def test_forecast_follows_the_calendar_past_the_snapshots_period(con):
    (row,) = query(con, FORECAST_SQL, "feb31", "voice_minutes")  # snapshot for 01-31..02-27, loaded to 03-03
    assert row[:4] == (D("2026-03-03"), 4, 31, 4)


def expected_actual_alerts() -> set[tuple]:
    """(tenant, period_start, quota, level, first day) from the daily rows, computed here."""
    quotas = {  # (tenant, period_start) -> per-quota limits of that period, as the tests above establish
        **{(t, D("2026-03-01")): {"voice_minutes": 10000, "api_calls": 10000} for t in BOUNDARY_TOTALS},
        ("custom", D("2026-02-01")): {"voice_minutes": 2000, "api_calls": 60000},  # March's own, as its plan
        ("custom", D("2026-03-01")): {"voice_minutes": 2000, "api_calls": 60000},
        ("steady", D("2026-01-01")): {"voice_minutes": 250},  # March's own limits (API calls unlimited)
        ("steady", D("2026-02-01")): {"voice_minutes": 250},
        ("steady", D("2026-03-01")): {"voice_minutes": 250},
    }
    thresholds = (("warning", lambda p: p >= 80), ("critical", lambda p: p >= 95), ("overage", lambda p: p > 100))
    cumulative: dict[tuple, float] = {}
    found: dict[tuple, date] = {}
    for tenant, day, voice, api, *_ in sorted(daily_rows(), key=lambda r: (r[0], r[1])):
        start = date(day.year, day.month, 1)
        for quota_name, value in (("voice_minutes", voice), ("api_calls", api)):
            limit = quotas.get((tenant, start), {}).get(quota_name)
            if limit is None:
                continue
            key = (tenant, start, quota_name)
            cumulative[key] = cumulative.get(key, 0) + value
            for name, reached in thresholds:
                if reached(100 * cumulative[key] / limit):
                    found.setdefault((*key, name), day)
    storage = {t: total / 10 for t, total in BOUNDARY_TOTALS.items()}  # of 1,000 MB, captured on March 31
    for tenant, used in storage.items():
        for name, reached in thresholds:
            if reached(100 * used / 1000):
                found[(tenant, D("2026-03-01"), "storage_mb", name)] = D("2026-03-31")
    return {(*key, day) for key, day in found.items()}


def test_actual_alerts_fire_once_per_level_on_the_first_day(con):
    tenants = (*BOUNDARY_TOTALS, "custom", "steady")
    got = set(query(con, "select tenant, period_start, quota_name, alert_level, first_reached_on "
                         f"from analytics.billing_alerts where basis = 'actual' and tenant in {tenants}"))
    assert got == expected_actual_alerts()
    # February judged by March's own 2,000 minutes (70 %), not the tier's 1,000: no false overage
    assert not [row for row in got if row[:2] == ("custom", D("2026-02-01"))]


def test_forecast_alerts_cover_only_levels_not_yet_reached(con):
    got = query(con, "select tenant, quota_name, alert_level, first_reached_on from analytics.billing_alerts "
                     "where basis = 'forecast' and tenant in ('steady', 'nosummary') order by all")
    assert got == [
        ("steady", "voice_minutes", "critical", D("2026-03-24")),  # 10 a day against 250: 240 >= 237.5
        ("steady", "voice_minutes", "overage", D("2026-03-26")),
        ("steady", "voice_minutes", "warning", D("2026-03-20")),
    ]
    assert query(con, "select count(*) from analytics.billing_alerts "
                      "where basis = 'forecast' and tenant like 'b%'") == [(0,)]


# --- status history and reconciliation -------------------------------------------------------------

def test_billing_status_history_and_grace(con):
    got = query(con, "select tenant, billing_status, previous_status, status_since, status_until, grace_end, "
                     "grace_passed "
                     "from analytics.billing_status_history where tenant like 'status%' order by tenant, status_since")
    jan = lambda d: datetime(2026, 1, d)  # noqa: E731
    past_due_b = NOW - timedelta(days=2)
    assert got == [
        ("status_a", "active", None, jan(1), jan(10), None, None),
        ("status_a", "past_due", "active", jan(10), jan(20), jan(17), True),
        ("status_a", "suspended", "past_due", jan(20), datetime(2026, 2, 1), None, None),
        ("status_a", "active", "suspended", datetime(2026, 2, 1), None, None, None),
        ("status_b", "active", None, NOW - timedelta(days=30), past_due_b, None, None),
        ("status_b", "past_due", "active", past_due_b, None, past_due_b + timedelta(days=7), False),
        ("status_c", "past_due", None, jan(10), jan(15), jan(17), False),  # paid within the grace period
        ("status_c", "active", "past_due", jan(15), None, None, None),
        ("status_d", "past_due", None, datetime(2020, 1, 1), None, datetime(2020, 1, 8), True),
        # active from the moment the grace period ends: no longer past_due at grace_end
        ("status_e", "past_due", None, datetime(2026, 1, 5, 6), datetime(2026, 1, 12, 6), datetime(2026, 1, 12, 6),
         False),
        ("status_e", "active", "past_due", datetime(2026, 1, 12, 6), None, None, None),
    ]


def test_reconciliation_flags_missing_and_differing_usage(con):
    """Snapshots taken 03-10 at noon: compared with 03-01..03-09, the days they wholly cover; the rest of a
    difference may be 03-10 up to noon, so it agrees when within 03-10's loaded usage, and is pending
    while 03-10 is not loaded."""
    got = {(t, q): rest for t, q, *rest in query(
        con, "select tenant, quota_name, summary_used, details_used, difference, capture_day_used, days_missing, "
             "status from analytics.usage_reconciliation where tenant like 'recon%'")}
    assert got == {
        ("recon", "voice_minutes"): [55.5, 45, 10.5, 5, 0, "summary_higher"],  # 10.5 is more than 03-10's 5
        ("recon", "api_calls"): [1000, 900, 100, 100, 0, "match"],  # 100 is 03-10's usage
        ("recon_gap", "voice_minutes"): [50, 40, 10, 5, 1, "missing_days"],  # 03-05 not loaded
        ("recon_gap", "api_calls"): [1000, 800, 200, 100, 1, "missing_days"],
        ("recon_hi", "voice_minutes"): [40, 45, -5, 5, 0, "details_higher"],
        ("recon_hi", "api_calls"): [1000, 900, 100, 100, 0, "match"],
        ("recon_today", "voice_minutes"): [47, 45, 2, None, 0, "capture_day_pending"],
        ("recon_today", "api_calls"): [900, 900, 0, None, 0, "match"],
    }


def test_reconciliation_compares_every_latest_snapshot_with_its_days(con):
    daily = {(t, d): (v, a) for t, d, v, a, *_ in daily_rows()}
    latest: dict[tuple, tuple] = {}
    for row in summary_rows():
        tenant, captured, start, _end = row[:4]
        if start is not None and captured >= latest.get((tenant, start), (None, datetime.min))[1]:
            latest[(tenant, start)] = (row, captured)
    expected = {}
    for (tenant, start), (row, captured) in latest.items():
        through = min(captured.date() - timedelta(days=1), row[3])  # the days the snapshot wholly covers
        loaded = [daily[(tenant, d)] for d in days(start.isoformat(), through.isoformat()) if (tenant, d) in daily]
        for i, quota_name, summary_used in ((0, "voice_minutes", row[6]), (1, "api_calls", row[9])):
            details = sum(v[i] for v in loaded if v[i] is not None) if loaded else None
            expected[(tenant, start, quota_name)] = (summary_used, details)
    got = {(t, s, q): (su, du) for t, s, q, su, du in query(
        con, "select tenant, period_start, quota_name, summary_used, details_used from analytics.usage_reconciliation")}
    assert got == expected


# --- data tests ------------------------------------------------------------------------------------

def test_every_data_test_passes_on_the_hand_built_warehouse(con):
    project = sql_project()
    # every model declares tests, but two whose rows are tested where they come from (see their yml):
    # forecast_features on forecast_projection, quota_ladders (quota_levels grouped by its key) on quota_levels
    assert [model.name for model in project.models if not model.tests] == ["forecast_features", "quota_ladders"]
    failed = [(r.model, r.name, r.failing_rows, r.sample[:1]) for m in project.models
              for r in run_tests(con, m) if not r.passed]
    assert failed == []


def test_data_tests_catch_a_planted_duplicate_day_an_unknown_plan_and_levels_out_of_order(con):
    project = sql_project()
    plans = con.execute("select captured_at, plan from raw.usage_summary where tenant = 'custom'").fetchall()
    con.execute("insert into raw.usage_daily (tenant, usage_date, voice_minutes, api_calls, _filled, _run_id) "
                "values ('steady', date '2026-03-01', 1, 1, false, 'planted')")
    con.execute("update raw.usage_summary set plan = 'platinum' where tenant = 'custom'")
    try:
        build(con, project)  # as after every load: the stored models read the bad rows too
        # A stored level out of order, as a threshold seed out of order would make one.
        con.execute("update analytics.quota_levels set usage_to_reach = 0.001 "
                    "where tenant = 'custom' and alert_level = 'overage'")
        tested = [*project.declared_sources, *project.models]  # the raw tables' checks, then the models'
        failed = {(r.model, r.name) for m in tested for r in run_tests(con, m) if not r.passed}
    finally:
        con.execute("delete from raw.usage_daily where _run_id = 'planted'")
        con.executemany("update raw.usage_summary set plan = ? where tenant = 'custom' and captured_at = ?",
                        [(plan, captured_at) for captured_at, plan in plans])
        build(con, project)
    assert ("raw.usage_daily", "unique__tenant__usage_date") in failed  # tested once, where the rows are loaded
    assert ("analytics.plan_utilization", "relationships__plan") in failed
    assert ("analytics.quota_levels", "higher_levels_need_more_usage") in failed
