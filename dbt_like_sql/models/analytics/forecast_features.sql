-- Stage 1 of the forecast (docs/forecasting.md): what the method knows at the end of each day, per
-- tenant and metric with daily detail. Weekday rates over the trailing 28 days, growth from two 8-week
-- windows, the residual variance around the weekday means, and the running total.
with series_keys as (
    -- One number (4 bytes) per tenant and metric with daily detail. The windows below sort and carry
    -- numbers only, and the names join back at the end: sorting 2.2 M rows by two names and carrying them
    -- through every window was a fifth of this view's time at 1,000 tenants (docs/performance-log.md).
    select (row_number() over ())::integer as series_id, tenant, quota_name, first_date, last_date
    from (
        select tenant, quota_name, min(usage_date) as first_date, max(usage_date) as last_date
        from analytics.usage_long
        where quota_name is not null
        group by tenant, quota_name
    )
),

series as (
    -- One row per calendar day from the tenant's first to its last loaded day; a day in between that
    -- was never loaded stays null (unknown), so it counts in no mean and no window.
    select s.series_id, s.as_of_date, u.used::double as usage, u.used
    from (
        select series_id, unnest(range(first_date, last_date + 1, interval 1 day))::date as as_of_date
        from series_keys
    ) as s
    left join (
        select k.series_id, u.usage_date, u.used
        from analytics.usage_long as u
        join series_keys as k on k.tenant = u.tenant and k.quota_name = u.quota_name
    ) as u
        on u.series_id = s.series_id and u.usage_date = s.as_of_date
),

weeks_back as (
    -- The same weekday 1, 2 and 3 weeks back: rows are consecutive days, so 7 rows back is a week back.
    -- Lags in the day order the windows below sort by anyway, rather than a window partitioned by
    -- weekday: one sort of the series instead of two (at 1,000 tenants ~0.7 s of this view's ~5.7 s).
    -- And the running totals of usage (in usage_long's exact decimal) and of loaded days.
    select
        *,
        lag(usage, 7) over by_day as usage_1w,
        lag(usage, 14) over by_day as usage_2w,
        lag(usage, 21) over by_day as usage_3w,
        coalesce(sum(used) over (by_day rows between unbounded preceding and current row), 0) as cumulative_usage,
        count(usage) over (by_day rows between unbounded preceding and current row) as cumulative_days
    from series
    window by_day as (partition by series_id order by as_of_date)
),

same_weekday as (
    -- The trailing 4 weeks of one weekday: their loaded days, sum, mean (the weekday's rate) and the sum
    -- of squared deviations from that mean. A day never loaded (null) counts in none of them; with no
    -- day loaded they are null, not zero.
    select
        series_id, as_of_date, usage, cumulative_usage, cumulative_days,
        (usage is not null)::integer + (usage_1w is not null)::integer + (usage_2w is not null)::integer
            + (usage_3w is not null)::integer as weekday_days,
        case when weekday_days > 0 then coalesce(usage, 0) + coalesce(usage_1w, 0) + coalesce(usage_2w, 0)
            + coalesce(usage_3w, 0) end as weekday_sum,
        weekday_sum / nullif(weekday_days, 0) as weekday_rate,
        -- Exactly 0 when the loaded days are equal: the mean of three equal doubles need not equal them
        -- (0.1 + 0.1 + 0.1 = 0.30000000000000004), and that residue made a window without any spread
        -- look like one with a tiny spread (docs/forecasting.md, "The interval"). Otherwise deviations
        -- from the mean, which do not cancel the way sum(x^2) - sum(x)^2 / n does.
        case
            when least(usage, usage_1w, usage_2w, usage_3w) = greatest(usage, usage_1w, usage_2w, usage_3w) then 0.0
            when weekday_days > 0
                then coalesce(power(usage - weekday_rate, 2), 0) + coalesce(power(usage_1w - weekday_rate, 2), 0)
                    + coalesce(power(usage_2w - weekday_rate, 2), 0) + coalesce(power(usage_3w - weekday_rate, 2), 0)
        end as weekday_squared_deviations
    from weeks_back
),

windows as (
    -- Over the last 7 days' 4-week figures (together the trailing 28 days, one entry per weekday): the
    -- totals, and each weekday's rate, newest first. Then the two 8-week windows, each the difference of
    -- two running totals 56 rows apart: exact (decimal), and four lags where windowed sums and counts
    -- over 56 and 112 rows cost a third of this view's time (at 1,000 tenants; docs/performance-log.md).
    -- Sums and seven lags rather than list() over the week: three list windows were most of this model's
    -- build (at 1,000 tenants 8.1 -> 5.8 s, the same figures; docs/performance.md).
    select
        series_id, as_of_date,
        sum(weekday_sum) over last_week as sum_28,
        -- an integer: a sum of integers is DuckDB's 16-byte HUGEINT, which forecast_projection would store
        coalesce(sum(weekday_days) over last_week, 0)::integer as days_28,
        sum(weekday_squared_deviations) over last_week as squared_deviations_28,
        list_value(weekday_rate, lag(weekday_rate, 1) over by_day, lag(weekday_rate, 2) over by_day,
                   lag(weekday_rate, 3) over by_day, lag(weekday_rate, 4) over by_day,
                   lag(weekday_rate, 5) over by_day, lag(weekday_rate, 6) over by_day) as recent_rates,
        (cumulative_usage - coalesce(lag(cumulative_usage, 56) over by_day, 0))::double as sum_56,
        cumulative_days - coalesce(lag(cumulative_days, 56) over by_day, 0) as days_56,
        (coalesce(lag(cumulative_usage, 56) over by_day, 0) - coalesce(lag(cumulative_usage, 112) over by_day, 0))::double
            as sum_prior_56,
        coalesce(lag(cumulative_days, 56) over by_day, 0) - coalesce(lag(cumulative_days, 112) over by_day, 0)
            as days_prior_56,
        -- In usage_long's exact decimal: forecast_projection subtracts the period eve's running total from
        -- it, so a period's usage to date is exact, as plan_utilization's, and a forecast with nothing left
        -- to add reaches a level at exactly its threshold (in doubles 20.0 came out 19.999999999999996).
        cumulative_usage,
        cumulative_days
    from same_weekday
    window
        by_day as (partition by series_id order by as_of_date),
        last_week as (by_day rows between 6 preceding and current row)
),

rates as (
    select
        *,
        sum_28 / nullif(days_28, 0) as mean_28,
        -- Spread of the 28 days around their weekday means: the squared deviations from them, per degree of
        -- freedom (7 means fitted); needs two weeks of data.
        case when days_28 >= 14 then coalesce(squared_deviations_28, 0) / (days_28 - 7) end as residual_variance,
        -- Growth needs 6 of the 8 weeks in both windows; clamped to [1/2, 2] per 56 days.
        days_56 >= 42 and days_prior_56 >= 42 and sum_56 > 0 and sum_prior_56 > 0 as has_growth
    from windows
)

select
    k.tenant, k.quota_name, r.as_of_date, r.days_28, residual_variance, cumulative_usage, cumulative_days,
    -- Monday first: ISO weekday i was last seen (isodow(as_of_date) - i) mod 7 days ago. A weekday
    -- without data in the window (or before the series reaches it) takes the window's mean.
    list_transform(range(1, 8), lambda i: coalesce(recent_rates[(isodow(as_of_date) - i + 7) % 7 + 1], mean_28))
        as weekday_rates,
    case
        when has_growth then ln(least(greatest((sum_56 / days_56) / (sum_prior_56 / days_prior_56), 0.5), 2.0)) / 56
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
from rates as r
join series_keys as k using (series_id)
