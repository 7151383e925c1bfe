-- Where each tenant's current billing period will end, per metric with daily detail (voice_minutes,
-- api_calls): the forecast of analytics.forecast_by_day as of the last loaded day (through
-- analytics.usage_forecast_daily, its day-by-day path), against the quota.
with current_periods as (
    select
        p.tenant, p.period_start, p.period_end, p.days_in_period, q.quota_name, q.quota, q.quota_source, q.summary_age_days,
        p.forecast_as_of as as_of_date
    from analytics.billing_periods as p
    join analytics.period_quotas as q
        on q.tenant = p.tenant and q.period_start = p.period_start and list_contains(analytics.forecast_quotas(), q.quota_name)
    where p.is_current
),

paths as (
    select
        d.tenant, d.quota_name,
        any_value(d.days_elapsed) as days_elapsed,
        any_value(d.used_to_date) as used_to_date,
        any_value(d.days_estimated) as days_estimated,
        any_value(d.projected_total) as projected_total,
        any_value(d.projected_low) as projected_low,
        any_value(d.projected_high) as projected_high,
        any_value(d.naive_projected_total) as naive_projected_total,
        -- The first day the cumulative usage (loaded, then forecast) is above the quota.
        min(d.usage_date) filter (where d.cumulative_usage > u.quota) as exhaustion_date
    from analytics.usage_forecast_daily as d
    left join analytics.period_quotas as u
        on u.tenant = d.tenant and u.period_start = d.period_start and u.quota_name = d.quota_name
    group by d.tenant, d.quota_name
),

forecasts as (
    select
        c.tenant, c.period_start, c.period_end, c.quota_name, c.as_of_date, c.days_in_period,
        -- No forecast: nothing loaded yet, or the last loaded day is before the period's eve. Then the
        -- period's days so far are not loaded: unknown, not 0 days and 0 used (plan_utilization.used is
        -- null for it too).
        case
            when f.days_elapsed is not null then f.days_elapsed
            when c.as_of_date >= c.period_start - 1 then c.as_of_date - c.period_start + 1
        end::integer as days_elapsed,
        case when f.used_to_date is not null or c.as_of_date >= c.period_start - 1 then coalesce(f.used_to_date, 0) end
            as used_to_date,
        f.days_estimated,
        f.projected_total, f.projected_low, f.projected_high, f.naive_projected_total, f.exhaustion_date,
        c.quota, c.quota_source, c.summary_age_days
    from current_periods as c
    left join paths as f on f.tenant = c.tenant and f.quota_name = c.quota_name
)

select
    f.tenant,
    f.period_start,
    f.period_end,
    f.quota_name,
    f.as_of_date,
    f.days_elapsed,
    f.days_in_period,
    f.used_to_date,
    f.days_estimated,
    f.projected_total,
    f.projected_low,
    f.projected_high,
    f.quota,
    analytics.pct_of_quota(f.projected_total, f.quota) as projected_pct,
    case
        when f.projected_total is null then null
        when f.quota_source = 'unknown' then 'unknown'
        when f.quota is not null then coalesce(analytics.level_reached(f.projected_total, l.levels), 'ok')
    end as projected_alert_level,
    f.exhaustion_date as projected_exhaustion_date,
    f.naive_projected_total,
    f.summary_age_days
from forecasts as f
left join analytics.quota_ladders as l
    on l.tenant = f.tenant and l.period_start = f.period_start and l.quota_name = f.quota_name
