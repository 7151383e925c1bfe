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
    select tenant, unnest(range(first_date, last_date + 1, interval 1 day))::date as as_of_date
    from (
        select tenant, min(usage_date) as first_date, max(usage_date) as last_date
        from analytics.usage_daily
        group by tenant
    )
),

series as (
    select
        s.tenant,
        q.quota_name,
        s.as_of_date,
        (case q.quota_name when 'voice_minutes' then u.voice_minutes else u.api_calls end)::double as usage
    from spine as s
    cross join (values ('voice_minutes'), ('api_calls')) as q(quota_name)
    left join analytics.usage_daily as u on u.tenant = s.tenant and u.usage_date = s.as_of_date
),

windows as (
    -- One pass over each tenant's days (rows are consecutive days, so rows are days): per ISO weekday
    -- the sum and count of the trailing 28 days, the two 56-day windows for growth, the running total.
    select
        tenant, quota_name, as_of_date,
        sum(usage) filter (where isodow(as_of_date) = 1) over last_28 as sum_1,
        sum(usage) filter (where isodow(as_of_date) = 2) over last_28 as sum_2,
        sum(usage) filter (where isodow(as_of_date) = 3) over last_28 as sum_3,
        sum(usage) filter (where isodow(as_of_date) = 4) over last_28 as sum_4,
        sum(usage) filter (where isodow(as_of_date) = 5) over last_28 as sum_5,
        sum(usage) filter (where isodow(as_of_date) = 6) over last_28 as sum_6,
        sum(usage) filter (where isodow(as_of_date) = 7) over last_28 as sum_7,
        count(usage) filter (where isodow(as_of_date) = 1) over last_28 as days_1,
        count(usage) filter (where isodow(as_of_date) = 2) over last_28 as days_2,
        count(usage) filter (where isodow(as_of_date) = 3) over last_28 as days_3,
        count(usage) filter (where isodow(as_of_date) = 4) over last_28 as days_4,
        count(usage) filter (where isodow(as_of_date) = 5) over last_28 as days_5,
        count(usage) filter (where isodow(as_of_date) = 6) over last_28 as days_6,
        count(usage) filter (where isodow(as_of_date) = 7) over last_28 as days_7,
        sum(usage) over last_28 as sum_28,
        count(usage) over last_28 as days_28,
        sum(usage * usage) over last_28 as sumsq_28,
        sum(usage) over last_56 as sum_56,
        count(usage) over last_56 as days_56,
        sum(usage) over prior_56 as sum_prior_56,
        count(usage) over prior_56 as days_prior_56,
        coalesce(sum(usage) over (by_day rows between unbounded preceding and current row), 0) as cumulative_usage
    from series
    window
        by_day as (partition by tenant, quota_name order by as_of_date),
        last_28 as (by_day rows between 27 preceding and current row),
        last_56 as (by_day rows between 55 preceding and current row),
        prior_56 as (by_day rows between 111 preceding and 56 preceding)
),

rates as (
    select
        *,
        sum_28 / nullif(days_28, 0) as mean_28,
        -- Spread of the 28 days around their weekday means (sum of squares minus sum_w S_w^2 / n_w),
        -- per degree of freedom (7 means fitted); needs two weeks of data.
        case
            when days_28 >= 14 then greatest(
                sumsq_28 - coalesce(sum_1 * sum_1 / nullif(days_1, 0), 0) - coalesce(sum_2 * sum_2 / nullif(days_2, 0), 0)
                - coalesce(sum_3 * sum_3 / nullif(days_3, 0), 0) - coalesce(sum_4 * sum_4 / nullif(days_4, 0), 0)
                - coalesce(sum_5 * sum_5 / nullif(days_5, 0), 0) - coalesce(sum_6 * sum_6 / nullif(days_6, 0), 0)
                - coalesce(sum_7 * sum_7 / nullif(days_7, 0), 0),
                0
            ) / (days_28 - 7)
        end as residual_variance,
        -- Growth needs 6 of the 8 weeks in both windows; clamped to [1/2, 2] per 56 days.
        days_56 >= 42 and days_prior_56 >= 42 and sum_56 > 0 and sum_prior_56 > 0 as has_growth
    from windows
),

features as (
    select
        tenant, quota_name, as_of_date, days_28, residual_variance, cumulative_usage,
        -- Monday first; a weekday without data in the window takes the window's mean.
        [
            coalesce(sum_1 / nullif(days_1, 0), mean_28), coalesce(sum_2 / nullif(days_2, 0), mean_28),
            coalesce(sum_3 / nullif(days_3, 0), mean_28), coalesce(sum_4 / nullif(days_4, 0), mean_28),
            coalesce(sum_5 / nullif(days_5, 0), mean_28), coalesce(sum_6 / nullif(days_6, 0), mean_28),
            coalesce(sum_7 / nullif(days_7, 0), mean_28)
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
    -- The running total on the day before each period starts, subtracted to get used_to_date.
    select p.tenant, p.period_start, f.quota_name, f.cumulative_usage
    from analytics.billing_periods as p
    join features as f on f.tenant = p.tenant and f.as_of_date = p.period_start - 1
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
        f.cumulative_usage - coalesce(e.cumulative_usage, 0) as used_to_date,
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
