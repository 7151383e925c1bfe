"""Current billing periods not loaded from their first day: none of their days loaded, or only from a later
day on. `status` lists them with the backfill that loads them; the result block after a load counts them."""

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
# ... and those loaded only from a later day on (a first backfill that began mid-period): the days before are
# not loaded, so their use so far is too low and the forecast estimates them.
LOADED_FROM_A_LATER_DAY = """
select q.tenant, q.period_start, any_value(f.first_day) - 1 as last_unloaded
from analytics.plan_utilization as q
join (select tenant, min(usage_date) as first_day from analytics.usage_daily group by tenant) as f
    on f.tenant = q.tenant and f.first_day > q.period_start
where q.is_current and q.used is not null and q.quota_name in ('voice_minutes', 'api_calls')
  and q.period_start <= $yesterday and q.period_end >= $yesterday
group by all
order by q.tenant
"""


# Both read the periods that hold yesterday: one that starts today has no complete day to load yet, and the
# "current" period of a tenant known only from an old snapshot is long over (status lists its stale summary).
def with_no_day_loaded(con: duckdb.DuckDBPyConnection, yesterday: date) -> list[tuple[str, date]]:
    """(tenant, first day to load) per current period with no day loaded; none before the models are built."""
    return _rows(con, NO_DAY_LOADED, yesterday)


def loaded_from_a_later_day(con: duckdb.DuckDBPyConnection, yesterday: date) -> list[tuple[str, date, date]]:
    """(tenant, period start, last day not loaded) per current period loaded only from a later day."""
    return _rows(con, LOADED_FROM_A_LATER_DAY, yesterday)


def tenants_not_loaded_from_the_start(con: duckdb.DuckDBPyConnection, yesterday: date) -> list[str]:
    """The tenants of both kinds of period, for the result block after a load."""
    return sorted({row[0] for row in (*with_no_day_loaded(con, yesterday), *loaded_from_a_later_day(con, yesterday))})


def _rows(con: duckdb.DuckDBPyConnection, query: str, yesterday: date) -> list[tuple]:
    if not model_built(con, "analytics", "plan_utilization"):
        return []
    return con.execute(query, {"yesterday": yesterday}).fetchall()
