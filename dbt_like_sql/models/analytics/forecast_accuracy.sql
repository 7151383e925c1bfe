-- How good the forecast has been: MAPE of the method and of the naive run-rate by days elapsed in the
-- period, and how often the 80 % interval held the actual total, from analytics.forecast_backtest (held
-- out: each period's interval is calibrated only on periods that ended before it began).
-- Buckets overlap on purpose: ranges ('1-7' ... '22+'), single days ('7', '14', '21') and 'all' (1+).
-- quota_name 'all' pools both metrics.
with buckets (days_elapsed_bucket, days_from, days_to, bucket_order) as (
    -- '22+' and 'all' end at 31, or at the last day elapsed in a longer period a snapshot stated (its days
    -- 32+ were in no bucket when both ended at 31).
    select b.days_elapsed_bucket, b.days_from, coalesce(b.days_to, l.last_day), b.bucket_order
    from (
        values
            ('0', 0, 0, 0),
            ('1-7', 1, 7, 1),
            ('8-14', 8, 14, 2),
            ('15-21', 15, 21, 3),
            ('22+', 22, null, 4),
            ('7', 7, 7, 5),
            ('14', 14, 14, 6),
            ('21', 21, 21, 7),
            ('all', 1, null, 8)
    ) as b(days_elapsed_bucket, days_from, days_to, bucket_order)
    cross join (
        select greatest(31, coalesce(max(period_end - period_start), 0))::integer as last_day
        from analytics.forecast_actuals
    ) as l
),

bucket_days as (
    -- Each bucket's days one by one, so a forecast finds its buckets by an equi-join on days_elapsed
    -- (a hash join on a 66-row table) rather than a range join.
    select b.*, d.day::integer as days_elapsed
    from buckets as b
    cross join range(b.days_from, b.days_to + 1) as d(day)
),

scored as (
    select b.days_elapsed_bucket, b.days_from, b.days_to, b.bucket_order, f.*
    from analytics.forecast_backtest as f
    join bucket_days as b on b.days_elapsed = f.days_elapsed
)

select
    coalesce(quota_name, 'all') as quota_name,
    days_elapsed_bucket,
    days_from,
    days_to,
    count(*) as forecasts,
    avg(ape) as mape,
    avg(naive_ape) as naive_mape,
    avg(naive_ape) - avg(ape) as mape_improvement,
    median(ape) as median_ape,
    count(in_interval) as intervals,
    avg(in_interval::integer) as interval_coverage,
    0.80 as nominal_coverage,
    avg(analytics.pct_of(projected_high - projected_low, actual_total)) as mean_interval_width_pct
from scored
group by grouping sets ((quota_name, days_elapsed_bucket, days_from, days_to, bucket_order),
                        (days_elapsed_bucket, days_from, days_to, bucket_order))
order by grouping(quota_name), quota_name, bucket_order
