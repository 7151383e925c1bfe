"""What `status` says about plans and summaries: tenants with no plan at all, and stale summaries."""

from __future__ import annotations

from datetime import date, datetime

import duckdb

# Summaries are taken every few hours (AURION_SUMMARY_CRON); older than this, a tenant's plan, quotas
# and billing status may be out of date (its billing periods are not: they follow the calendar).
STALE_SUMMARY_DAYS = 2

# Tenants the warehouse knows with neither a summary snapshot naming a plan nor a plan declared in the
# tenants file: their quotas and alert levels are unknown, never assumed.
TENANTS_WITHOUT_PLAN = """
with known as (
    select tenant from raw.usage_daily union select tenant from raw.usage_summary union select tenant from raw._load_log
)
select k.tenant
from known as k
where not exists (select 1 from raw.usage_summary as s where s.tenant = k.tenant and s.plan is not null)
  and not exists (select 1 from raw.tenant_plans as d where d.tenant = k.tenant)
order by k.tenant
"""

STALE_SUMMARIES = """
select tenant, max(captured_at) as last_summary, date_diff('day', max(captured_at)::date, $yesterday::date) as age_days
from raw.usage_summary
group by tenant
having date_diff('day', max(captured_at)::date, $yesterday::date) > $stale_days
order by tenant
"""


def tenants_without_plan(con: duckdb.DuckDBPyConnection) -> list[str] | None:
    """Tenants without any plan, or None for an analyst copy older than raw.tenant_plans."""
    exists = "select count(*) from duckdb_tables() where schema_name = 'raw' and table_name = 'tenant_plans'"
    if not con.execute(exists).fetchone()[0]:
        return None
    return [tenant for (tenant,) in con.execute(TENANTS_WITHOUT_PLAN).fetchall()]


def stale_summaries(con: duckdb.DuckDBPyConnection, yesterday: date) -> list[tuple[str, datetime, int]]:
    """(tenant, last capture, days before `yesterday`) of tenants whose latest summary is stale."""
    return con.execute(STALE_SUMMARIES, {"yesterday": yesterday, "stale_days": STALE_SUMMARY_DAYS}).fetchall()
