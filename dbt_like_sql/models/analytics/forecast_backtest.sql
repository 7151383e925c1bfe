-- The forecast the method would have made on each day of every past complete billing period (using
-- only data loaded up to that day) against the period's actual total, beside the naive run-rate
-- (used_to_date / days_elapsed * days_in_period: every day of a complete period is loaded). A period is
-- complete when every one of its days is loaded with the metric's value (forecast_actuals). The last day
-- of a period (days_elapsed = days_in_period, no day left to forecast) is left out.
with compared as (
    select
        f.tenant, f.quota_name, f.period_start, f.period_end, f.days_in_period, f.as_of_date, f.days_elapsed,
        f.used_to_date,
        a.actual_total,
        f.projected_total, f.projected_low, f.projected_high, f.naive_projected_total
    from analytics.forecast_by_day as f
    join analytics.forecast_actuals as a on a.tenant = f.tenant and a.period_start = f.period_start and a.quota_name = f.quota_name
    where f.days_elapsed < f.days_in_period
)

select
    tenant,
    quota_name,
    period_start,
    period_end,
    days_in_period,
    as_of_date,
    days_elapsed,
    used_to_date,
    actual_total,
    projected_total,
    projected_low,
    projected_high,
    projected_total - actual_total as error,
    analytics.pct_of(abs(projected_total - actual_total), actual_total) as ape,
    actual_total between projected_low and projected_high as in_interval,
    naive_projected_total,
    naive_projected_total - actual_total as naive_error,
    analytics.pct_of(abs(naive_projected_total - actual_total), actual_total) as naive_ape
from compared
