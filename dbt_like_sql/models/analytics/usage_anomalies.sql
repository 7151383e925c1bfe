-- Usage anomalies: a (tenant, day, metric) far outside the usual level of its weekday — an LLM token
-- burst, a runaway integration, a sudden stop. Robust to the spikes it looks for (median and median
-- absolute deviation, so one earlier spike moves neither). Method and threshold: docs/alerts.md,
-- "Anomaly method". The days of each tenant's last 56 calendar days up to its last loaded day are
-- scored (a backfill of years raises no alerts about years ago, and a read costs the same whatever the
-- history's length).
--
--   norm    = median of the same weekday over the previous 8 weeks (at least 6 of them loaded)
--   spread  = 1.4826 x the median of |value - norm| / max(norm, 1) over the 56 loaded days before
--             that have a norm (at least 28): a relative MAD pooled over all weekdays, since 6-8
--             same-weekday values alone give a MAD too unstable to divide by
--   scale   = max(spread x max(norm, 1), sqrt(norm), 1 unit)
--   score   = |value - norm| / scale; an anomaly above 6
--
-- The sqrt floor is the noise of a count (Poisson): a few calls a day are never less noisy than that.
-- It and the 1-unit floor keep a flat history (the same figure every week, or weeks of zeros) from
-- turning any small change into an infinite score.
with params as (
    select 6.0 as threshold, 6 as min_weekdays, 28 as min_spread_days
),

recent as (
    -- The days scored (each tenant's last 56) and the 112 before them that their norms and spreads read.
    select u.*, u.usage_date > l.last_loaded_day - 56 as is_scored
    from analytics.usage_long as u
    join analytics.billing_periods as l on l.tenant = u.tenant and l.is_current
    where u.usage_date > l.last_loaded_day - 168 and u.used is not null
),

history as (
    -- ROWS frames (much cheaper than RANGE in DuckDB), then only the values within 8 weeks: a weekday
    -- that was not loaded must not pull in an older one.
    select
        tenant, usage_date, metric, is_scored, used::double as value,
        list({'day': usage_date, 'value': used::double}) over same_weekday_before as earlier
    from recent
    window same_weekday_before as (
        partition by tenant, metric, isodow(usage_date) order by usage_date
        rows between 8 preceding and 1 preceding
    )
),

norms as (
    select
        tenant, usage_date, metric, is_scored, value, len(history) as history_days,
        case when len(history) >= (select min_weekdays from params) then list_median(history) end as norm
    from (
        select
            *,
            list_transform(
                list_filter(earlier, lambda e: e.day >= usage_date - 56), lambda e: e.value
            ) as history
        from history
    )
),

deviations as (
    -- Relative to the norm (to 1 unit when the norm is below 1), so weekdays of any level pool together.
    select *, abs(value - norm) / greatest(abs(norm), 1.0) as relative_deviation
    from norms
),

spreads as (
    select
        *,
        1.4826 * median(relative_deviation) over previous_56_days as spread,
        count(relative_deviation) over previous_56_days as spread_days
    from deviations
    -- The 56 loaded days before (8 weeks when every day is loaded).
    window previous_56_days as (partition by tenant, metric order by usage_date rows between 56 preceding and 1 preceding)
),

scored as (
    select
        s.*,
        greatest(s.spread * greatest(abs(s.norm), 1.0), sqrt(abs(s.norm)), 1.0) as scale,
        p.threshold
    from spreads as s
    cross join params as p
    where s.is_scored and s.norm is not null and s.spread_days >= p.min_spread_days
)

select
    tenant,
    usage_date,
    metric,
    value,
    norm as median,
    spread,
    scale,
    abs(value - norm) / scale as score,
    threshold,
    case when value > norm then 'spike' else 'drop' end as direction,
    history_days,
    spread_days
from scored
where abs(value - norm) / scale > threshold
