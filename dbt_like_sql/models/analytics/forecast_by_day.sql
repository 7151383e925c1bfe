-- Every forecast the method makes, day by day. As of the end of each UTC day (using loaded data up to
-- and including it), the total each metric will reach over the billing period the next day falls in:
-- days_elapsed 1..days_in_period within a period, and 0 on the day before a period starts.
-- usage_forecast reads the latest row; forecast_backtest reads the rows of past periods.
--
-- Method (docs/forecasting.md): remaining usage = for each remaining day, the mean of its weekday over
-- the trailing 28 days (which may reach into earlier periods), times a growth factor. Growth is the
-- mean of the last 56 days over the mean of the 56 before (8 whole weeks each, so the weekly pattern
-- cancels), applied from the middle of the 28-day window to the middle of the remaining days.
-- The 80 % interval adds the variance of the remaining days' own noise to the uncertainty of the
-- weekday rates and of the growth, all estimated from the spread around the weekday means.
with spine as (
    -- One row per calendar day from the tenant's first to its last loaded day; a day in between that
    -- was never loaded stays null (unknown), so it counts in no mean and no window.
    select tenant, quota_name, unnest(range(first_date, last_date + 1, interval 1 day))::date as as_of_date
    from (
        select tenant, quota_name, min(usage_date) as first_date, max(usage_date) as last_date
        from analytics.usage_long
        where quota_name is not null
        group by tenant, quota_name
    )
),

series as (
    select s.tenant, s.quota_name, s.as_of_date, u.used::double as usage
    from spine as s
    left join analytics.usage_long as u
        on u.tenant = s.tenant and u.usage_date = s.as_of_date and u.quota_name = s.quota_name
),

same_weekday as (
    -- The trailing 4 weeks of one weekday: rows are consecutive days, so 3 rows back within a weekday
    -- is exactly 3 weeks back.
    select
        *,
        sum(usage) over four_weeks as weekday_sum,
        count(usage) over four_weeks as weekday_days,
        sum(usage * usage) over four_weeks as weekday_sumsq
    from series
    window four_weeks as (
        partition by tenant, quota_name, isodow(as_of_date) order by as_of_date
        rows between 3 preceding and current row
    )
),

windows as (
    -- Lag k (0..6) holds the 4-week figures of the weekday of as_of_date - k: together the trailing
    -- 28 days. Then the two 8-week windows for growth and the running total.
    select
        tenant, quota_name, as_of_date,
        weekday_sum as sum_lag_0,
        lag(weekday_sum, 1) over by_day as sum_lag_1,
        lag(weekday_sum, 2) over by_day as sum_lag_2,
        lag(weekday_sum, 3) over by_day as sum_lag_3,
        lag(weekday_sum, 4) over by_day as sum_lag_4,
        lag(weekday_sum, 5) over by_day as sum_lag_5,
        lag(weekday_sum, 6) over by_day as sum_lag_6,
        weekday_days as days_lag_0,
        lag(weekday_days, 1) over by_day as days_lag_1,
        lag(weekday_days, 2) over by_day as days_lag_2,
        lag(weekday_days, 3) over by_day as days_lag_3,
        lag(weekday_days, 4) over by_day as days_lag_4,
        lag(weekday_days, 5) over by_day as days_lag_5,
        lag(weekday_days, 6) over by_day as days_lag_6,
        weekday_sumsq as sumsq_lag_0,
        lag(weekday_sumsq, 1) over by_day as sumsq_lag_1,
        lag(weekday_sumsq, 2) over by_day as sumsq_lag_2,
        lag(weekday_sumsq, 3) over by_day as sumsq_lag_3,
        lag(weekday_sumsq, 4) over by_day as sumsq_lag_4,
        lag(weekday_sumsq, 5) over by_day as sumsq_lag_5,
        lag(weekday_sumsq, 6) over by_day as sumsq_lag_6,
        sum(usage) over last_56 as sum_56,
        count(usage) over last_56 as days_56,
        sum(usage) over prior_56 as sum_prior_56,
        count(usage) over prior_56 as days_prior_56,
        coalesce(sum(usage) over (by_day rows between unbounded preceding and current row), 0) as cumulative_usage
    from same_weekday
    window
        by_day as (partition by tenant, quota_name order by as_of_date),
        last_56 as (by_day rows between 55 preceding and current row),
        prior_56 as (by_day rows between 111 preceding and 56 preceding)
),

lags as (
    select
        *,
        [sum_lag_0, sum_lag_1, sum_lag_2, sum_lag_3, sum_lag_4, sum_lag_5, sum_lag_6] as sums,
        [days_lag_0, days_lag_1, days_lag_2, days_lag_3, days_lag_4, days_lag_5, days_lag_6] as day_counts
    from windows
),

rates as (
    select
        *,
        list_sum(sums) as sum_28,
        coalesce(list_sum(day_counts), 0) as days_28,
        list_sum(sums) / nullif(list_sum(day_counts), 0) as mean_28,
        -- Spread of the 28 days around their weekday means: the sum of squares minus
        -- sum_k S_k^2 / n_k, per degree of freedom (7 means fitted); needs two weeks of data.
        case
            when list_sum(day_counts) >= 14 then greatest(
                coalesce(sumsq_lag_0, 0) + coalesce(sumsq_lag_1, 0) + coalesce(sumsq_lag_2, 0)
                + coalesce(sumsq_lag_3, 0) + coalesce(sumsq_lag_4, 0) + coalesce(sumsq_lag_5, 0)
                + coalesce(sumsq_lag_6, 0)
                - coalesce(sum_lag_0 * sum_lag_0 / nullif(days_lag_0, 0), 0)
                - coalesce(sum_lag_1 * sum_lag_1 / nullif(days_lag_1, 0), 0)
                - coalesce(sum_lag_2 * sum_lag_2 / nullif(days_lag_2, 0), 0)
                - coalesce(sum_lag_3 * sum_lag_3 / nullif(days_lag_3, 0), 0)
                - coalesce(sum_lag_4 * sum_lag_4 / nullif(days_lag_4, 0), 0)
                - coalesce(sum_lag_5 * sum_lag_5 / nullif(days_lag_5, 0), 0)
                - coalesce(sum_lag_6 * sum_lag_6 / nullif(days_lag_6, 0), 0),
                0
            ) / (list_sum(day_counts) - 7)
        end as residual_variance,
        -- Growth needs 6 of the 8 weeks in both windows; clamped to [1/2, 2] per 56 days.
        days_56 >= 42 and days_prior_56 >= 42 and sum_56 > 0 and sum_prior_56 > 0 as has_growth
    from lags
),

features as (
    select
        tenant, quota_name, as_of_date, days_28, residual_variance, cumulative_usage,
        -- Monday first: the rate of ISO weekday i sits at lag (isodow(as_of_date) - i) mod 7. A
        -- weekday without data in the window takes the window's mean.
        [
            coalesce(sums[(isodow(as_of_date) + 6) % 7 + 1] / nullif(day_counts[(isodow(as_of_date) + 6) % 7 + 1], 0), mean_28),
            coalesce(sums[(isodow(as_of_date) + 5) % 7 + 1] / nullif(day_counts[(isodow(as_of_date) + 5) % 7 + 1], 0), mean_28),
            coalesce(sums[(isodow(as_of_date) + 4) % 7 + 1] / nullif(day_counts[(isodow(as_of_date) + 4) % 7 + 1], 0), mean_28),
            coalesce(sums[(isodow(as_of_date) + 3) % 7 + 1] / nullif(day_counts[(isodow(as_of_date) + 3) % 7 + 1], 0), mean_28),
            coalesce(sums[(isodow(as_of_date) + 2) % 7 + 1] / nullif(day_counts[(isodow(as_of_date) + 2) % 7 + 1], 0), mean_28),
            coalesce(sums[(isodow(as_of_date) + 1) % 7 + 1] / nullif(day_counts[(isodow(as_of_date) + 1) % 7 + 1], 0), mean_28),
            coalesce(sums[isodow(as_of_date) % 7 + 1] / nullif(day_counts[isodow(as_of_date) % 7 + 1], 0), mean_28)
        ] as weekday_rates,
        case
            when has_growth
                then ln(least(greatest((sum_56 / days_56) / (sum_prior_56 / days_prior_56), 0.5), 2.0)) / 56
            else 0.0
        end as daily_growth,
        -- Variance of daily_growth: that of ln(mean) is variance / (days * mean^2) for each window.
        case
            when has_growth
                then residual_variance
                    * (days_56 / (sum_56 * sum_56) + days_prior_56 / (sum_prior_56 * sum_prior_56)) / (56 * 56)
            else 0.0
        end as daily_growth_variance,
        -- Covariance of a 28-day weekday rate's error with daily_growth's: cov(mean_28, mean_56) = variance / 56.
        case
            when has_growth then residual_variance / 56 / (sum_56 / days_56) / 56
            else 0.0
        end as growth_covariance
    from rates
),

period_eves as (
    -- Usage before each period starts: the running total of the earlier periods' totals (periods
    -- cover every loaded day). Reading features a second time instead would stop a filter on one
    -- tenant from reaching the windows.
    select
        tenant, period_start, quota_name,
        coalesce(sum(period_total) over (
            partition by tenant, quota_name order by period_start
            rows between unbounded preceding and 1 preceding
        ), 0) as cumulative_usage
    from (
        select tenant, period_start, quota_name, used::double as period_total
        from analytics.period_quotas
        where quota_name in ('voice_minutes', 'api_calls')
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
        -- Two float sums subtracted: clamp the rounding residue of an all-zero stretch at 0.
        case
            when f.as_of_date >= p.period_start then greatest(f.cumulative_usage - coalesce(e.cumulative_usage, 0), 0)
            else 0.0
        end as used_to_date,
        f.weekday_rates,
        f.daily_growth,
        f.daily_growth_variance,
        f.growth_covariance,
        f.residual_variance,
        f.days_28
    from analytics.billing_periods as p
    join features as f
        on f.tenant = p.tenant and f.as_of_date between p.period_start - 1 and p.period_end
    left join period_eves as e
        on e.tenant = p.tenant and e.period_start = p.period_start and e.quota_name = f.quota_name
),

remaining as (
    select
        *,
        -- Whole weeks left take every weekday once; the r leftover days are the weekdays after
        -- as_of_date's, read from the Monday-first rates written twice to wrap around Sunday.
        (days_remaining // 7) * list_sum(weekday_rates)
            + coalesce(list_sum(list_concat(weekday_rates, weekday_rates)[
                isodow(as_of_date) + 1:isodow(as_of_date) + days_remaining % 7]), 0) as base_remaining,
        -- From the middle of the 28-day window (13.5 days back) to the middle of the remaining days.
        13.5 + (days_remaining + 1) / 2.0 as growth_horizon
    from forecasts
),

projected as (
    select
        *,
        used_to_date + base_remaining * exp(daily_growth * growth_horizon) as projected_total,
        sqrt(
            -- the remaining days' own noise
            days_remaining * residual_variance * exp(2 * daily_growth * growth_horizon)
            -- the error of the weekday rates, each a mean over the window
            + power(days_remaining * exp(daily_growth * growth_horizon), 2) * residual_variance / days_28
            -- the error of the growth rate
            + power(base_remaining * exp(daily_growth * growth_horizon) * growth_horizon, 2) * daily_growth_variance
            -- both errors move together: the 28-day window is half of the recent 56-day one
            + 2 * days_remaining * base_remaining * exp(2 * daily_growth * growth_horizon) * growth_horizon
                * growth_covariance
        ) as projected_sd
    from remaining
)

select
    tenant,
    quota_name,
    period_start,
    period_end,
    as_of_date,
    days_elapsed,
    days_in_period,
    used_to_date,
    projected_total,
    -- 10th and 90th percentiles of a normal error (z = 1.2816): an 80 % interval; never below what is used.
    case
        when projected_sd is not null then greatest(used_to_date, projected_total - 1.2815515655446004 * projected_sd)
    end as projected_low,
    projected_total + 1.2815515655446004 * projected_sd as projected_high,
    case when days_elapsed > 0 then used_to_date / days_elapsed * days_in_period end as naive_projected_total,
    weekday_rates,
    daily_growth,
    days_28 as window_days
from projected
