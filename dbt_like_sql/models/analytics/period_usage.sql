-- Loaded usage summed over each tenant's billing periods, with how many of the period's days are loaded.
-- It joins the wide analytics.usage_daily rows, not analytics.usage_by_period (see there): one join per
-- loaded day instead of one per metric.
select
    p.tenant,
    p.period_start,
    any_value(p.days_in_period) as days_in_period,
    count(*) as days_loaded,
    sum(u.voice_minutes) as voice_minutes,
    sum(u.api_calls) as api_calls
from analytics.usage_daily as u
join analytics.billing_periods as p
    on analytics.in_billing_period(u.tenant, u.usage_date, p.tenant, p.period_start, p.period_end)
group by p.tenant, p.period_start
