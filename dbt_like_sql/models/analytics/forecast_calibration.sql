-- Stage 3 of the forecast (docs/forecasting.md): how wide the 80 % interval is, learnt from the method's
-- own misses (split conformal). For each past forecast of a complete period, the miss relative to the
-- spread the method expected: (actual_total - projected_total) / projected_sd. Scaling by projected_sd
-- lets one tenant's misses speak for another's (a quiet tenant's spread is small, a spiky one's large).
-- A period's interval uses the 10th and 90th percentiles of those relative misses, among forecasts with
-- as many days remaining (grouped 1-3, 4-7, 8-14, 15-21, 22+), from periods that ended before it
-- started: the tenant's own when it has 6 complete periods among its 12 before, else all tenants'
-- periods that ended in the 365 days before the period's month. So no interval is judged on the
-- periods that calibrated it, and each only uses data loaded before its period began.
with actuals as (
    -- Complete periods: every day loaded.
    select tenant, period_start, quota_name, used::double as actual_total
    from analytics.period_quotas
    where quota_name in ('voice_minutes', 'api_calls') and days_loaded = period_end - period_start + 1
),

period_errors as (
    -- The relative misses of one complete period, per metric and days-remaining group. Forecasts whose
    -- expected spread is zero (an all-zero window) or unknown have no relative miss.
    select
        f.tenant, f.quota_name, f.period_start, f.period_end, f.remaining_from,
        list((a.actual_total - f.projected_total) / f.projected_sd) as errors
    from analytics.forecast_projection as f
    join actuals as a on a.tenant = f.tenant and a.period_start = f.period_start and a.quota_name = f.quota_name
    where f.remaining_from is not null and f.projected_sd > 0
    group by all
),

targets as (
    -- Every period, metric and days-remaining group an interval may be asked for, with the period's
    -- own misses when it is complete (null otherwise).
    select
        p.tenant, q.quota_name, p.period_start, g.remaining_from,
        date_trunc('month', p.period_start)::date as pooled_before,
        e.errors
    from analytics.billing_periods as p
    cross join (values ('voice_minutes'), ('api_calls')) as q(quota_name)
    cross join (values (1), (4), (8), (15), (22)) as g(remaining_from)
    left join period_errors as e
        on e.tenant = p.tenant and e.period_start = p.period_start
        and e.quota_name = q.quota_name and e.remaining_from = g.remaining_from
),

own_history as (
    select
        tenant, quota_name, period_start, remaining_from, pooled_before,
        count(errors) over earlier_periods as own_periods,
        flatten(list(errors) filter (where errors is not null) over earlier_periods) as own_errors
    from targets
    window earlier_periods as (
        partition by tenant, quota_name, remaining_from order by period_start
        rows between 12 preceding and 1 preceding
    )
),

pooled as (
    -- All tenants' misses, for the months where some tenant lacks history of its own.
    select
        m.quota_name, m.remaining_from, m.pooled_before,
        count(*) as pooled_periods,
        flatten(list(e.errors)) as pooled_errors
    from (select distinct quota_name, remaining_from, pooled_before from own_history where own_periods < 6) as m
    join period_errors as e
        on e.quota_name = m.quota_name and e.remaining_from = m.remaining_from
        and e.period_end < m.pooled_before and e.period_end >= m.pooled_before - 365
    group by all
),

calibration_sets as (
    -- Each set of misses once: a tenant's own for one period, or all tenants' for one month (shared by
    -- every period of that month that needs it), sorted for the ranks below.
    select tenant, quota_name, period_start, remaining_from, 'tenant' as source, own_periods as periods,
           list_sort(own_errors) as errors
    from own_history
    where own_periods >= 6
    union all
    select null, quota_name, pooled_before, remaining_from, 'pooled', pooled_periods, list_sort(pooled_errors)
    from pooled
    where pooled_periods >= 6
),

quantiles as (
    -- Split conformal's ranks for n misses: floor((n + 1) * 0.1) and ceil((n + 1) * 0.9), so that a new
    -- miss falls between them 80 % of the time when it behaves like the past ones.
    select
        tenant, quota_name, period_start, remaining_from, source, periods,
        len(errors) as error_count,
        errors[greatest(1, floor((len(errors) + 1) * 0.1))::integer] as error_low,
        errors[least(len(errors), ceil((len(errors) + 1) * 0.9))::integer] as error_high
    from calibration_sets
)

-- A period's own set when it has one, else the pooled set of its month.
select
    o.tenant,
    o.quota_name,
    o.period_start,
    o.remaining_from,
    coalesce(t.source, p.source) as calibration_source,
    coalesce(t.periods, p.periods) as calibration_periods,
    coalesce(t.error_count, p.error_count) as calibration_errors,
    coalesce(t.error_low, p.error_low) as error_low,
    coalesce(t.error_high, p.error_high) as error_high
from own_history as o
left join quantiles as t
    on t.source = 'tenant' and t.tenant = o.tenant and t.quota_name = o.quota_name
    and t.period_start = o.period_start and t.remaining_from = o.remaining_from
left join quantiles as p
    on p.source = 'pooled' and o.own_periods < 6 and p.quota_name = o.quota_name
    and p.period_start = o.pooled_before and p.remaining_from = o.remaining_from
where coalesce(t.source, p.source) is not null
