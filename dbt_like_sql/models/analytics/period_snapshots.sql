-- Every summary snapshot with the billing period it counts for: the period its own period starts in
-- (its capture day when it names none). plan_utilization reads each period's latest; billing_alerts
-- reads every snapshot's storage figure.
select
    p.period_start as billing_period_start,
    s.tenant,
    s.captured_at,
    s.plan,
    s.billing_status,
    s.voice_minutes_used, s.voice_minutes_limit,
    s.api_calls_used, s.api_calls_limit,
    s.storage_mb_used::decimal(38, 3) as storage_mb_used,
    s.storage_mb_limit,
    row_number() over (partition by s.tenant, p.period_start order by s.captured_at desc) = 1 as is_latest_in_period
from raw.usage_summary as s
join analytics.billing_periods as p
    on analytics.in_billing_period(s.tenant, coalesce(s.period_start, s.captured_at::date), p.tenant, p.period_start, p.period_end)
