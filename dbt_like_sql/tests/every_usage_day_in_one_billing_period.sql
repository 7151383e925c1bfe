-- Every loaded day falls in exactly one billing period of its tenant (no gap, no overlap), counted per
-- tenant instead of matching every day against every period again: analytics.period_usage.days_loaded
-- already counts, per period, the loaded rows whose day it contains, so summed over a tenant's periods
-- it is the sum over its loaded days of (rows of the day x periods containing it). With no day in no
-- period, that sum equals the number of distinct loaded days exactly when every day is loaded once and
-- lies in one period. A tenant is reported with its loaded days, that sum and its days in no period.
with periods as (
    -- A period ending before it starts contains no day.
    select
        tenant, period_start, period_end,
        max(period_end) over (
            partition by tenant order by period_start, period_end rows between unbounded preceding and 1 preceding
        ) as covered_until
    from analytics.billing_periods
    where tenant is not null and period_start <= period_end
),

uncovered as (
    -- The days of a tenant no period contains: before its first, between, and after its last.
    select tenant, coalesce(covered_until + 1, date '-infinity') as gap_from, period_start - 1 as gap_to
    from periods
    where covered_until is null or period_start > covered_until + 1
    union all
    select tenant, max(period_end) + 1, date 'infinity' from periods group by tenant
),

loaded as (
    -- Distinct days from 64-day blocks: one bit per day of the block (a block's set bits are its days).
    select tenant, sum(bit_count(days)) as days_loaded, sum(undated) as undated_rows
    from (
        select
            tenant,
            bit_or(1::ubigint << (((usage_date - date '1970-01-01') % 64 + 64) % 64)::integer) as days,
            count(*) filter (where usage_date is null) as undated
        from analytics.usage_daily
        group by tenant, floor((usage_date - date '1970-01-01') / 64)
    )
    group by tenant
),

outside as (
    select u.tenant, count(*) as days_in_no_period
    from analytics.usage_daily as u
    join uncovered as g on g.tenant = u.tenant and u.usage_date between g.gap_from and g.gap_to
    group by u.tenant
)

select
    l.tenant,
    l.days_loaded,
    coalesce(m.day_periods, 0) as day_periods,
    coalesce(o.days_in_no_period, 0) + l.undated_rows as days_in_no_period
from loaded as l
left join (select tenant, sum(days_loaded) as day_periods from analytics.period_usage group by tenant) as m
    on m.tenant is not distinct from l.tenant
left join outside as o on o.tenant = l.tenant
where coalesce(m.day_periods, 0) <> l.days_loaded or coalesce(o.days_in_no_period, 0) + l.undated_rows > 0
