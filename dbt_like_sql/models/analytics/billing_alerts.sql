-- Billing alerts as the vendor fires them: each level of analytics.quota_levels at most once per
-- tenant x billing period x quota, on the first day it is reached. basis 'actual': reached by loaded
-- daily usage (voice_minutes, api_calls) or by a summary snapshot (storage_mb); basis 'forecast': not
-- reached yet, but the current period's forecast (analytics.usage_forecast_daily) reaches it.
with reachable as (
    -- The periods where daily usage can reach a level: their total reaches the lowest one, or a day was
    -- negative (a running total may then pass a level and fall back). Most periods reach none, and the
    -- running totals were most of this model's build (at 1,000 tenants, where 1 period in 10 reaches a
    -- level: 1.3 -> 0.55 s, the same rows).
    select q.tenant, q.period_start, q.quota_name
    from analytics.period_quotas as q
    join (
        select tenant, period_start, quota_name, min(usage_to_reach) as lowest
        from analytics.quota_levels
        group by all
    ) as l on l.tenant = q.tenant and l.period_start = q.period_start and l.quota_name = q.quota_name
    where q.used >= l.lowest
    union
    select tenant, period_start, quota_name
    from analytics.usage_by_period
    where quota_name is not null and used < 0
),

daily_points as (
    select
        u.tenant, u.period_start, u.quota_name, u.usage_date as reached_on,
        sum(u.used) over (
            partition by u.tenant, u.period_start, u.quota_name order by u.usage_date
            rows between unbounded preceding and current row
        ) as used
    from analytics.usage_by_period as u
    semi join reachable as r
        on r.tenant = u.tenant and r.period_start = u.period_start and r.quota_name = u.quota_name
    where u.quota_name is not null
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
