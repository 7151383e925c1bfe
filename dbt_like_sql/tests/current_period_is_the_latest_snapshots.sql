-- The current billing period is exactly the period the latest summary snapshot reports.
with latest as (
    select tenant, arg_max({'period_start': period_start, 'period_end': period_end}, captured_at) as period
    from raw.usage_summary
    where period_start is not null
    group by tenant
)
select l.tenant, l.period.period_start as snapshot_start, l.period.period_end as snapshot_end,
    p.period_start, p.period_end
from latest as l
left join analytics.billing_periods as p on p.tenant = l.tenant and p.is_current
where p.period_start is distinct from l.period.period_start or p.period_end is distinct from l.period.period_end
