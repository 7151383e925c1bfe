-- Where each tenant's current billing period will end, per metric with daily detail (voice_minutes,
-- api_calls): the forecast of analytics.forecast_by_day as of the last loaded day (through
-- analytics.usage_forecast_daily, its day-by-day path), against the quota.
with latest as (
    select tenant, max(usage_date) as last_loaded_date
    from analytics.usage_daily
    group by tenant
),

current_periods as (
    select
        p.tenant, p.period_start, p.period_end, p.days_in_period, q.quota_name,
        least(l.last_loaded_date, p.period_end) as as_of_date
    from analytics.billing_periods as p
    cross join (values ('voice_minutes'), ('api_calls')) as q(quota_name)
    left join latest as l on l.tenant = p.tenant
    where p.is_current
),

paths as (
    select
        d.tenant, d.quota_name,
        any_value(d.days_elapsed) as days_elapsed,
        any_value(d.used_to_date) as used_to_date,
        any_value(d.projected_total) as projected_total,
        any_value(d.projected_low) as projected_low,
        any_value(d.projected_high) as projected_high,
        any_value(d.naive_projected_total) as naive_projected_total,
        -- The first day the cumulative usage (loaded, then forecast) is above the quota.
        min(d.usage_date) filter (where d.cumulative_usage > u.quota) as exhaustion_date
    from analytics.usage_forecast_daily as d
    left join analytics.plan_utilization as u
        on u.tenant = d.tenant and u.period_start = d.period_start and u.quota_name = d.quota_name
    group by d.tenant, d.quota_name
),

forecasts as (
    select
        c.tenant, c.period_start, c.period_end, c.quota_name, c.as_of_date, c.days_in_period,
        -- No forecast: nothing loaded yet, or the last loaded day is before the period's eve.
        coalesce(f.days_elapsed, greatest(c.as_of_date - c.period_start + 1, 0))::integer as days_elapsed,
        coalesce(f.used_to_date, 0) as used_to_date,
        f.projected_total, f.projected_low, f.projected_high, f.naive_projected_total, f.exhaustion_date,
        u.quota
    from current_periods as c
    left join paths as f on f.tenant = c.tenant and f.quota_name = c.quota_name
    left join analytics.plan_utilization as u
        on u.tenant = c.tenant and u.period_start = c.period_start and u.quota_name = c.quota_name
),

scored as (
    select
        *,
        case
            when quota is null or projected_total is null then null
            when quota > 0 then 100.0 * projected_total / quota
            when projected_total > 0 then 'infinity'::double
            else 0.0
        end as projected_pct
    from forecasts
)

-- One pass: each row meets the thresholds it reaches and keeps the most severe (group by all = by the row).
select
    s.tenant,
    s.period_start,
    s.period_end,
    s.quota_name,
    s.as_of_date,
    s.days_elapsed,
    s.days_in_period,
    s.used_to_date,
    s.projected_total,
    s.projected_low,
    s.projected_high,
    s.quota,
    s.projected_pct,
    -- max() of a grouped column is the row's own value; group by all cannot mix it with an aggregate.
    case
        when max(s.projected_pct) is not null then coalesce(arg_max(t.alert_level, t.severity), 'ok')
    end as projected_alert_level,
    s.exhaustion_date as projected_exhaustion_date,
    s.naive_projected_total
from scored as s
left join seeds.alert_thresholds as t
    on s.projected_pct > t.threshold_pct or (t.inclusive and s.projected_pct = t.threshold_pct)
group by all
