-- Every loaded row falls in exactly one billing period of its tenant, counted per tenant instead of
-- matching every row against every period again: analytics.period_usage.days_loaded already counts,
-- per period, the loaded rows whose day it contains, so summed over a tenant's periods it is the sum
-- over its rows of the periods containing the row's day. billing_periods' test
-- periods_follow_each_other_without_gaps fails on any overlap (or gap) between a tenant's periods, so
-- when it passes no day is in two periods, and that sum equals the tenant's number of rows exactly
-- when none is in no period: before the first period, after the last, undated, or of a tenant without
-- periods. (Two rows of one day are raw.usage_daily's unique test, sources/raw.yml.)
-- tests/integration/test_every_usage_day_test.py checks these tests together against the direct
-- definition on random periods and days. A tenant is reported with its loaded rows and that sum.
with loaded as (
    select tenant, count(*) as rows_loaded from analytics.usage_daily group by tenant
)

select l.tenant, l.rows_loaded, coalesce(m.day_periods, 0) as day_periods
from loaded as l
left join (select tenant, sum(days_loaded) as day_periods from analytics.period_usage group by tenant) as m
    on m.tenant is not distinct from l.tenant
where coalesce(m.day_periods, 0) <> l.rows_loaded
