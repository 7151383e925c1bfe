-- Billing alerts as the vendor fires them: each threshold of seeds.alert_thresholds at most once per
-- tenant x billing period x quota, on the first day it is reached. basis 'actual': reached by loaded
-- daily usage (voice_minutes, api_calls) or by a summary snapshot (storage_mb); basis 'forecast': not
-- reached yet, but the current period's forecast (analytics.usage_forecast_daily) reaches it.
with quotas as (
    select tenant, period_start, period_end, quota_name, quota, is_current
    from analytics.plan_utilization
    where quota is not null
),

daily_points as (
    select
        p.tenant, p.period_start, q.quota_name, u.usage_date as reached_on,
        sum(case q.quota_name when 'voice_minutes' then u.voice_minutes else u.api_calls end) over (
            partition by p.tenant, p.period_start, q.quota_name order by u.usage_date
            rows between unbounded preceding and current row
        ) as used
    from analytics.usage_daily as u
    join analytics.billing_periods as p
        on p.tenant = u.tenant and u.usage_date between p.period_start and p.period_end
    cross join (values ('voice_minutes'), ('api_calls')) as q(quota_name)
),

storage_points as (
    -- A snapshot counts for the billing period its own period starts in, as in plan_utilization.
    select s.tenant, p.period_start, 'storage_mb' as quota_name, s.captured_at::date as reached_on,
        s.storage_mb_used as used
    from raw.usage_summary as s
    join analytics.billing_periods as p
        on p.tenant = s.tenant
        and coalesce(s.period_start, s.captured_at::date) between p.period_start and p.period_end
    where s.storage_mb_used is not null
),

forecast_points as (
    select tenant, period_start, quota_name, usage_date as reached_on, cumulative_usage as used
    from analytics.usage_forecast_daily
    where is_projected
),

points as (
    select 'actual' as basis, * from daily_points
    union all
    select 'actual' as basis, * from storage_points
    union all
    select 'forecast' as basis, * from forecast_points
),

scored as (
    select
        p.basis, p.tenant, p.period_start, q.period_end, p.quota_name, p.reached_on, q.quota, q.is_current,
        case
            when q.quota > 0 then 100.0 * p.used / q.quota
            when p.used > 0 then 'infinity'::double
            else 0.0
        end as pct_used
    from points as p
    join quotas as q on q.tenant = p.tenant and q.period_start = p.period_start and q.quota_name = p.quota_name
),

reached as (
    select
        s.tenant, s.period_start, s.period_end, s.quota_name, s.quota, s.is_current,
        t.alert_level, t.severity, t.threshold_pct,
        -- An actual crossing wins over a forecast one; the forecast only covers days after the actual ones.
        min(s.basis) as basis,
        min(s.reached_on) as first_reached_on
    from scored as s
    join seeds.alert_thresholds as t
        on s.pct_used > t.threshold_pct or (t.inclusive and s.pct_used = t.threshold_pct)
    group by all
)

select
    tenant,
    period_start,
    period_end,
    quota_name,
    alert_level,
    severity,
    threshold_pct,
    basis,
    first_reached_on,
    quota,
    is_current
from reached
