-- Stage 2 of the forecast (docs/forecasting.md): every projection the method makes, day by day. As of
-- the end of each UTC day (loaded data up to and including it), the total each metric will reach over
-- the billing period the next day falls in: days_elapsed 1..days_in_period within a period, and 0 on
-- the day before a period starts. The projection is what is used so far plus, for each remaining day,
-- its weekday's rate (analytics.forecast_features) times growth, plus, for each day of the period so far
-- without a loaded value (unknown, not zero), the window's mean daily rate.
with period_eves as (
    -- Usage and days with a value before each period starts: the running totals of the earlier periods'
    -- (periods cover every loaded day; forecast_features counts the same days, those with a value).
    -- Reading forecast_features a second time instead would stop a filter on one tenant from reaching
    -- the windows.
    select
        tenant, period_start, quota_name,
        coalesce(sum(period_total) over earlier_periods, 0) as cumulative_usage,
        coalesce(sum(days_known) over earlier_periods, 0) as cumulative_days
    from (
        select tenant, period_start, quota_name, used as period_total, days_known
        from analytics.period_quotas
        where list_contains(analytics.forecast_quotas(), quota_name)
    )
    window earlier_periods as (
        partition by tenant, quota_name order by period_start rows between unbounded preceding and 1 preceding
    )
),

forecasts as (
    -- As of a day: the period it falls in (days_elapsed >= 1) and, on a period's eve, that period (0).
    select
        p.tenant,
        f.quota_name,
        p.period_start,
        p.period_end,
        f.as_of_date,
        (f.as_of_date - p.period_start + 1)::integer as days_elapsed,
        p.days_in_period,
        (p.period_end - f.as_of_date)::integer as days_remaining,
        -- Two exact running totals subtracted: the period's usage to date, exactly (never below 0: a
        -- period whose corrections outweigh its usage has used nothing yet).
        case
            when f.as_of_date >= p.period_start then greatest(f.cumulative_usage - coalesce(e.cumulative_usage, 0), 0)::double
            else 0.0
        end as used_to_date,
        -- The period's days so far whose usage is unknown: never loaded (a gap, or days before the first
        -- loaded one), or loaded without this metric's value.
        case
            when f.as_of_date >= p.period_start
                then (f.as_of_date - p.period_start + 1) - (f.cumulative_days - coalesce(e.cumulative_days, 0))
            else 0
        end::integer as days_estimated,
        f.weekday_rates,
        f.daily_growth,
        f.daily_growth_variance,
        f.growth_covariance,
        f.residual_variance,
        f.days_28
    from analytics.billing_periods as p
    join analytics.forecast_features as f
        on f.tenant = p.tenant and f.as_of_date between p.period_start - 1 and p.period_end
    left join period_eves as e
        on e.tenant = p.tenant and e.period_start = p.period_start and e.quota_name = f.quota_name
),

remaining as (
    select
        *,
        -- Whole weeks left take every weekday once; the r leftover days are the weekdays after
        -- as_of_date's (w): w + 1 .. w + r of the Monday-first rates, wrapping past Sunday to 1 .. w + r - 7.
        -- Two slices rather than a slice of the list written twice: no list is built per row (at 1,000
        -- tenants 0.45 -> 0.18 s).
        (days_remaining // 7) * list_sum(weekday_rates)
            + coalesce(list_sum(weekday_rates[as_of_weekday + 1:last_leftover_weekday]), 0)
            + case
                when last_leftover_weekday > 7 then list_sum(weekday_rates[1:last_leftover_weekday - 7])
                else 0
            end as base_remaining,
        -- The days without a value, each at the window's mean daily rate (macros/analytics/estimated_day).
        days_estimated * analytics.estimated_day(weekday_rates) as estimated_usage,
        -- From the middle of the 28-day window (13.5 days back) to the middle of the remaining days.
        13.5 + (days_remaining + 1) / 2.0 as growth_horizon
    from (
        select
            *,
            isodow(as_of_date) as as_of_weekday,
            isodow(as_of_date) + days_remaining % 7 as last_leftover_weekday
        from forecasts
    )
)

select
    tenant,
    quota_name,
    period_start,
    period_end,
    as_of_date,
    days_elapsed,
    days_in_period,
    days_remaining,
    -- The interval's calibration group (analytics.forecast_calibration): days remaining 1-3, 4-7, 8-14,
    -- 15-21, 22+; null when nothing remains.
    case
        when days_remaining = 0 then null
        when days_remaining <= 3 then 1
        when days_remaining <= 7 then 4
        when days_remaining <= 14 then 8
        when days_remaining <= 21 then 15
        else 22
    end as remaining_from,
    used_to_date,
    days_estimated,
    used_to_date + estimated_usage + base_remaining * exp(daily_growth * growth_horizon) as projected_total,
    -- The spread the method's own noise model expects around projected_total (null under 14 days in the
    -- window). Not an interval by itself: forecast_calibration learns how many of these spreads the
    -- real misses span, and forecast_by_day sets the interval from that.
    sqrt(
        -- the remaining days' and the estimated days' own noise
        days_remaining * residual_variance * exp(2 * daily_growth * growth_horizon) + days_estimated * residual_variance
        -- the error of the weekday rates, each a mean over the window
        + power(days_remaining * exp(daily_growth * growth_horizon) + days_estimated, 2) * residual_variance / days_28
        -- the error of the growth rate
        + power(base_remaining * exp(daily_growth * growth_horizon) * growth_horizon, 2) * daily_growth_variance
        -- both errors move together: the 28-day window is half of the recent 56-day one (the estimated
        -- days' error is the rates' too)
        + 2 * days_remaining * base_remaining * exp(2 * daily_growth * growth_horizon) * growth_horizon
            * growth_covariance
        + 2 * days_estimated * base_remaining * exp(daily_growth * growth_horizon) * growth_horizon
            * growth_covariance
    ) as projected_sd,
    -- The run rate of the loaded days.
    case
        when days_elapsed > days_estimated then used_to_date / (days_elapsed - days_estimated) * days_in_period
    end as naive_projected_total,
    weekday_rates,
    daily_growth,
    days_28 as window_days
from remaining
