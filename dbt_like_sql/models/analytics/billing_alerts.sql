-- Billing alerts as the vendor fires them: each level of analytics.quota_levels at most once per
-- tenant x billing period x quota, on the first day it is reached. basis 'actual': reached by loaded
-- daily usage (voice_minutes, api_calls) or by a summary snapshot (storage_mb); basis 'forecast': not
-- reached yet, but the current period's forecast (analytics.usage_forecast_daily) reaches it.
with daily_points as (
    select
        tenant, period_start, quota_name, usage_date as reached_on,
        sum(used) over (
            partition by tenant, period_start, quota_name order by usage_date
            rows between unbounded preceding and current row
        ) as used
    from analytics.usage_by_period
    where quota_name is not null
),

storage_points as (
    select tenant, billing_period_start as period_start, 'storage_mb' as quota_name,
        captured_at::date as reached_on, storage_mb_used as used
    from analytics.period_snapshots
    where storage_mb_used is not null
),

forecast_points as (
    select tenant, period_start, quota_name, usage_date as reached_on, cumulative_usage as used
    from analytics.usage_forecast_daily
    where is_projected
),

points as (
    select 'actual' as basis, tenant, period_start, quota_name, reached_on, used::double as used,
        used as exact_used
    from daily_points
    union all
    select 'actual', tenant, period_start, quota_name, reached_on, used::double, used from storage_points
    union all
    select 'forecast', tenant, period_start, quota_name, reached_on, used, null from forecast_points
),

reached as (
    select
        l.tenant, l.period_start, l.quota_name, l.alert_level, l.severity, l.threshold_pct, l.quota,
        min(p.reached_on) filter (where p.basis = 'actual') as actual_on,
        min(p.reached_on) filter (where p.basis = 'forecast') as forecast_on
    from points as p
    join analytics.quota_levels as l
        on l.tenant = p.tenant and l.period_start = p.period_start and l.quota_name = p.quota_name
        -- Actual usage is compared exactly; a forecast is a double estimate, compared as one.
        and coalesce(p.exact_used >= l.usage_to_reach, p.used >= l.usage_to_reach::double)
    group by all
)

select
    r.tenant,
    r.period_start,
    p.period_end,
    r.quota_name,
    r.alert_level,
    r.severity,
    r.threshold_pct,
    -- An actual crossing wins over a forecast one; the forecast only covers days after the actual ones.
    case when r.actual_on is not null then 'actual' else 'forecast' end as basis,
    coalesce(r.actual_on, r.forecast_on) as first_reached_on,
    r.quota,
    p.is_current
from reached as r
join analytics.billing_periods as p on p.tenant = r.tenant and p.period_start = r.period_start
