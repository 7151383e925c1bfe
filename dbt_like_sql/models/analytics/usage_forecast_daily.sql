-- The current billing period day by day, per tenant and metric with daily detail: loaded usage up to
-- as_of_date (a day without a loaded value at the forecast's estimate for it), then the forecast spread
-- over the remaining days by weekday rate and growth, so that the cumulative usage ends exactly at
-- projected_total. projected_* are the period-end forecast of analytics.forecast_by_day this path leads
-- to (the same on every row of a tenant and metric).
with current_forecast as (
    -- As of the last loaded day; none when that day is before the period's eve (stale data).
    select f.*
    from analytics.billing_periods as p
    join analytics.forecast_by_day as f
        on f.tenant = p.tenant
        and f.period_start = p.period_start
        and f.as_of_date = p.forecast_as_of
    where p.is_current
),

days as (
    select
        tenant, quota_name, period_start, period_end, as_of_date, days_elapsed, days_in_period,
        used_to_date, days_estimated, projected_total, projected_low, projected_high, naive_projected_total,
        weekday_rates, daily_growth,
        unnest(range(period_start, period_end + 1, interval 1 day))::date as usage_date
    from current_forecast
),

weighted as (
    select
        d.*,
        d.usage_date > d.as_of_date as is_projected,
        d.usage_date <= d.as_of_date and u.used is null as is_estimated,
        case when d.usage_date <= d.as_of_date then u.used end as actual_usage,
        -- forecast_projection's estimate of a day without a loaded value
        case
            when d.usage_date <= d.as_of_date and u.used is null then analytics.estimated_day(d.weekday_rates)
        end as estimated_usage,
        case
            when d.usage_date > d.as_of_date
                then d.weekday_rates[isodow(d.usage_date)] * exp(d.daily_growth * (d.usage_date - d.as_of_date))
        end as weight
    from days as d
    left join (
        -- Only the metrics and days current periods can match: joined whole (4 metrics x every loaded
        -- day, as its hash table), usage_long made this model's build twice as long (at 1,000 tenants
        -- 0.56-0.66 -> 0.28-0.33 s; the same rows but the last bits of the window sums, which differ
        -- from one build to the next anyway).
        select tenant, usage_date, quota_name, used
        from analytics.usage_long
        where quota_name is not null
            and usage_date >= (select min(period_start) from analytics.billing_periods where is_current)
    ) as u
        on u.tenant = d.tenant and u.usage_date = d.usage_date and u.quota_name = d.quota_name
),

daily as (
    select
        *,
        case
            when is_projected then coalesce(
                weight / nullif(sum(weight) over (partition by tenant, quota_name), 0), 0
            ) * (projected_total - used_to_date - days_estimated * analytics.estimated_day(weekday_rates))
            else estimated_usage
        end as modelled_usage
    from weighted
)

select
    tenant,
    quota_name,
    period_start,
    period_end,
    usage_date,
    is_projected,
    is_estimated,
    coalesce(actual_usage::double, modelled_usage) as usage,
    -- The loaded days' running total in usage_long's exact decimal, the forecast's (and the estimated
    -- days') added to it: a tenant that uses exactly its quota never goes above it (in doubles 25.0 of 25
    -- summed to 25.000000000000004, and usage_forecast gave it an exhaustion date), and with no day
    -- estimated every loaded day's total is plan_utilization's.
    coalesce(sum(actual_usage) over running, 0)::double + coalesce(sum(modelled_usage) over running, 0)
        as cumulative_usage,
    as_of_date,
    days_elapsed,
    days_in_period,
    used_to_date,
    days_estimated,
    projected_total,
    projected_low,
    projected_high,
    naive_projected_total
from daily
window running as (
    partition by tenant, quota_name order by usage_date rows between unbounded preceding and current row
)
