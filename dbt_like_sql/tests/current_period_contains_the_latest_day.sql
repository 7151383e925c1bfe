-- The current period is the one containing the tenant's latest day (last loaded day or last capture
-- day), and when the latest snapshot's own period contains that day, it is exactly that period.
with latest as (
    select tenant, arg_max({'period_start': period_start, 'period_end': period_end}, captured_at) as period
    from raw.usage_summary
    where period_start is not null
    group by tenant
),

current_periods as (
    select tenant, period_start, period_end, latest_day from analytics.billing_periods where is_current
)

select c.*, l.period
from current_periods as c
left join latest as l on l.tenant = c.tenant
where c.latest_day not between c.period_start and c.period_end
   or (c.latest_day between l.period.period_start and l.period.period_end
       and (c.period_start <> l.period.period_start or c.period_end <> l.period.period_end))
