"""An unknown plan is unknown: no assumed plan, no quota, no level, no alert — until the tenants file
declares a plan (used until the first summary snapshot) or a snapshot arrives (which then wins).

Issue 11: an enterprise tenant loaded without any snapshot showed `api_calls 192,030 / 10,000 — overage`
(the starter plan was assumed) and billing_alerts fired warning, critical and overage for it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlproj_data import build_models_warehouse

from aurion_pipeline.storage.load import replace_declared_plans

DAYS = [date(2026, 3, 1) + timedelta(days=i) for i in range(20)]
BIG = [(d, 500.0, 9_600) for d in DAYS]  # far over any starter quota: 10,000 minutes, 192,000 calls


def daily(*tenants: str) -> list[tuple]:
    return [(t, d, v, a) for t in tenants for d, v, a in BIG]


def march_snapshot(tenant: str, plan: str, captured: datetime = datetime(2026, 3, 20, 6)) -> dict:
    return {"tenant": tenant, "captured_at": captured, "period_start": date(2026, 3, 1),
            "period_end": date(2026, 3, 31), "plan": plan, "billing_status": "active"}


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    connection = build_models_warehouse(
        tmp_path_factory.mktemp("plans") / "warehouse.duckdb",
        daily("bigcorp", "declared_ent", "declared_then_summary"),
        [march_snapshot("declared_then_summary", "professional")],
        plans={"declared_ent": "enterprise", "declared_then_summary": "enterprise", "undeclared": None},
    )
    yield connection
    connection.close()


def utilization(con, tenant: str) -> dict[str, tuple]:
    rows = con.execute("select quota_name, plan, plan_source, quota, quota_source, pct_used, alert_level"
                       " from analytics.plan_utilization where tenant = ?", [tenant]).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_a_tenant_without_snapshot_or_declared_plan_has_no_quota_no_level_and_no_alert(con):
    rows = utilization(con, "bigcorp")
    assert rows == {q: (None, "unknown", None, "unknown", None, "unknown")
                    for q in ("voice_minutes", "api_calls", "storage_mb")}
    assert con.execute("select count(*) from analytics.billing_alerts where tenant = 'bigcorp'").fetchone() == (0,)
    assert con.execute("select count(*) from analytics.quota_levels where tenant = 'bigcorp'").fetchone() == (0,)
    forecast = con.execute("select projected_alert_level, quota from analytics.usage_forecast"
                           " where tenant = 'bigcorp'").fetchall()
    assert forecast == [("unknown", None), ("unknown", None)]


def test_a_declared_enterprise_plan_is_used_without_a_snapshot(con):
    rows = utilization(con, "declared_ent")
    assert rows["api_calls"] == ("enterprise", "declared", None, "plan_tier", None, "ok")  # unlimited
    assert rows["storage_mb"][:4] == ("enterprise", "declared", 50000, "plan_tier")
    assert con.execute("select count(*) from analytics.billing_alerts where tenant = 'declared_ent'").fetchone() == (0,)


def test_a_snapshot_wins_over_the_declared_plan(con):
    rows = utilization(con, "declared_then_summary")
    assert rows["voice_minutes"] == ("professional", "summary", 1000, "plan_tier", 1000.0, "overage")
    levels = con.execute("select alert_level from analytics.billing_alerts where tenant = 'declared_then_summary'"
                         " and quota_name = 'voice_minutes' order by severity").fetchall()
    assert levels == [("warning",), ("critical",), ("overage",)]


def test_replacing_declared_plans_keeps_unchanged_declarations_and_drops_removed_ones(tmp_path):
    con = build_models_warehouse(tmp_path / "w.duckdb", [], plans={"a": "starter", "b": "professional"})
    try:
        (first_a,) = con.execute("select declared_at from raw.tenant_plans where tenant = 'a'").fetchone()
        replace_declared_plans(con, {"a": "starter", "b": None, "c": "enterprise"})
        got = con.execute("select tenant, plan, declared_at = ? from raw.tenant_plans order by tenant",
                          [first_a]).fetchall()
        assert [(t, p) for t, p, _ in got] == [("a", "starter"), ("c", "enterprise")]
        assert got[0][2] is True  # unchanged: still declared since the first time
    finally:
        con.close()


def test_status_names_the_tenants_without_a_plan(con, tmp_path):
    from aurion_pipeline.ops.status import status_text
    from aurion_pipeline.storage import Warehouse

    warehouse = Warehouse(tmp_path)
    warehouse.analyst_path.touch()  # status_text reports when the copy was published
    lines = [line for line in status_text(con, warehouse, date(2026, 3, 20)).splitlines() if "without a plan" in line]
    assert len(lines) == 1
    assert "Tenants without a plan: 1 (bigcorp)" in lines[0]  # declared_ent and declared_then_summary have one
