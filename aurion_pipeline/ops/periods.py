"""Current billing periods not loaded in full: none of their days loaded, or some days missing before the
last loaded one. `status` lists them with the backfill that loads them; the result block after a load names
their tenants."""

from __future__ import annotations

from datetime import date

import duckdb

from aurion_pipeline.storage.reading import model_built

# Current billing periods of which no day is loaded (a period known only from a summary snapshot): their
# use is unknown (plan_utilization.used null, alert_level unknown), so no actual alert can fire. The load
# starts the day after the tenant's last loaded day when that is earlier: one command catches up its
# history too (a tenant whose loads stopped months ago is behind since then, not since this period).
NO_DAY_LOADED = """
select q.tenant, least(q.period_start, any_value(l.last_day) + 1) as first_unloaded
from analytics.plan_utilization as q
left join (select tenant, max(usage_date) as last_day from analytics.usage_daily group by tenant) as l
    on l.tenant = q.tenant
where q.is_current and q.used is null and q.quota_name in ('voice_minutes', 'api_calls')
  and q.period_start <= $yesterday and q.period_end >= $yesterday
group by q.tenant, q.period_start
order by q.tenant
"""
# ... and those with days not loaded before the tenant's last loaded day in the period: the first days (a
# first backfill that began mid-period, loads resumed after a pause) or gaps. Their use so far is too low
# and the forecast estimates those days. (Days after the last loaded one are "behind": the next load.)
DAYS_NOT_LOADED = """
with current_periods as (
    select tenant, period_start, period_end
    from analytics.billing_periods
    where is_current and period_start <= $yesterday and period_end >= $yesterday
),
loaded as (
    select c.tenant, u.usage_date
    from current_periods as c
    join analytics.usage_daily as u
        on u.tenant = c.tenant and u.usage_date between c.period_start and c.period_end
),
missing as (
    select c.tenant, r.d::date as day
    from current_periods as c
    join (select tenant, max(usage_date) as last_day from loaded group by tenant) as l on l.tenant = c.tenant,
        range(c.period_start, l.last_day, interval 1 day) as r(d)
    where not exists (select 1 from loaded as x where x.tenant = c.tenant and x.usage_date = r.d::date)
)
select tenant, min(day) as first_missing, max(day) as last_missing, count(*) as days
from missing
group by tenant
order by tenant
"""


# Both read the periods that hold yesterday: one that starts today has no complete day to load yet, and the
# "current" period of a tenant known only from an old snapshot is long over (status lists its stale summary).
def with_no_day_loaded(con: duckdb.DuckDBPyConnection, yesterday: date) -> list[tuple[str, date]]:
    """(tenant, first day to load) per current period with no day loaded; none before the models are built."""
    return _rows(con, NO_DAY_LOADED, yesterday)


def with_days_not_loaded(con: duckdb.DuckDBPyConnection, yesterday: date) -> list[tuple[str, date, date, int]]:
    """(tenant, first and last day not loaded, how many) per current period with days not loaded."""
    return _rows(con, DAYS_NOT_LOADED, yesterday)


def tenants_not_loaded_in_full(con: duckdb.DuckDBPyConnection, yesterday: date) -> list[str]:
    """The tenants of both kinds of period, for the result block after a load."""
    return sorted({row[0] for row in (*with_no_day_loaded(con, yesterday), *with_days_not_loaded(con, yesterday))})


def _rows(con: duckdb.DuckDBPyConnection, query: str, yesterday: date) -> list[tuple]:
    if not model_built(con, "analytics", "plan_utilization"):
        return []
    return con.execute(query, {"yesterday": yesterday}).fetchall()
