-- Stage 3 of the forecast (docs/forecasting.md): how wide the 80 % interval is, learnt from the method's
-- own misses (split conformal). For each past forecast of a complete period, the miss relative to the
-- spread the method expected: (actual_total - projected_total) / projected_sd. Scaling by projected_sd
-- lets one tenant's misses speak for another's (a quiet tenant's spread is small, a spiky one's large).
-- A period's interval uses the 10th and 90th percentiles of those relative misses, among forecasts with
-- as many days remaining (grouped 1-3, 4-7, 8-14, 15-21, 22+), from periods that ended before it
-- started: the tenant's own when it has 6 complete periods among its 12 before, else all tenants'
-- periods that ended in the 365 days before the period's month. So no interval is judged on the
-- periods that calibrated it, and each only uses data loaded before its period began.
--
-- The misses stay rows: each calibration set is a window frame over them (the tenant's 12 periods
-- before, or all tenants' 365 days before the month), and the percentiles are read from the frame with
-- nth_value(... order by error), so no set is ever built as a list and memory does not grow with them.
with errors as (
    -- Forecasts whose expected spread is zero (an all-zero window) or unknown have no relative miss.
    select
        f.tenant, f.quota_name, f.period_start, f.period_end, f.remaining_from,
        (a.actual_total - f.projected_total) / f.projected_sd as error
    from analytics.forecast_projection as f
    join analytics.forecast_actuals as a
        on a.tenant = f.tenant and a.period_start = f.period_start and a.quota_name = f.quota_name
    where f.remaining_from is not null and f.projected_sd > 0
),

period_errors as (
    select tenant, quota_name, period_start, remaining_from, any_value(period_end) as period_end, count(*) as errors
    from errors
    group by all
),

targets as (
    -- Every period, metric and days-remaining group an interval may be asked for: its place in the
    -- tenant's periods, and the size of its own calibration set (its 12 periods before).
    select
        *,
        count(e_errors) over earlier_periods as own_periods,
        coalesce(sum(e_errors) over earlier_periods, 0) as own_errors
    from (
        select
            p.tenant, q.quota_name, p.period_start, g.remaining_from,
            row_number() over (partition by p.tenant, q.quota_name, g.remaining_from order by p.period_start)
                as period_number,
            date_trunc('month', p.period_start)::date as pooled_before,
            e.errors as e_errors
        from analytics.billing_periods as p
        cross join (values ('voice_minutes'), ('api_calls')) as q(quota_name)
        cross join (values (1), (4), (8), (15), (22)) as g(remaining_from)
        left join period_errors as e
            on e.tenant = p.tenant and e.period_start = p.period_start
            and e.quota_name = q.quota_name and e.remaining_from = g.remaining_from
    )
    window earlier_periods as (
        partition by tenant, quota_name, remaining_from order by period_number
        rows between 12 preceding and 1 preceding
    )
),

pooled_targets as (
    -- All tenants' misses, for the months where some tenant lacks history of its own.
    select
        m.quota_name, m.remaining_from, m.pooled_before,
        count(*) as pooled_periods,
        sum(e.errors) as pooled_errors
    from (select distinct quota_name, remaining_from, pooled_before from targets where own_periods < 6) as m
    join period_errors as e
        on e.quota_name = m.quota_name and e.remaining_from = m.remaining_from
        and e.period_end < m.pooled_before and e.period_end >= m.pooled_before - 365
    group by all
),

own_quantiles as (
    -- A target's row sits after its 12 earlier periods' misses; the frame holds exactly its set.
    -- Split conformal's ranks for n misses: floor((n + 1) * 0.1) and ceil((n + 1) * 0.9), so that a new
    -- miss falls between them 80 % of the time when it behaves like the past ones.
    select
        tenant, quota_name, period_start, remaining_from, is_target,
        nth_value(error, rank_low order by error nulls last) over own_set as error_low,
        nth_value(error, rank_high order by error nulls last) over own_set as error_high
    from (
        select t.tenant, t.quota_name, t.remaining_from, t.period_start, t.period_number, e.error, false as is_target,
               null::bigint as rank_low, null::bigint as rank_high
        from errors as e
        join targets as t using (tenant, quota_name, period_start, remaining_from)
        union all
        select tenant, quota_name, remaining_from, period_start, period_number, null, true,
               greatest(1, floor((own_errors + 1) * 0.1))::bigint, least(own_errors, ceil((own_errors + 1) * 0.9))::bigint
        from targets
        where own_periods >= 6
    )
    window own_set as (
        partition by tenant, quota_name, remaining_from order by period_number
        range between 12 preceding and 1 preceding
    )
),

pooled_quantiles as (
    -- The same over all tenants: a month's row sits after the misses of periods that ended in the 365
    -- days before it.
    select
        quota_name, remaining_from, day_number, is_target,
        nth_value(error, rank_low order by error nulls last) over pooled_set as error_low,
        nth_value(error, rank_high order by error nulls last) over pooled_set as error_high
    from (
        select e.quota_name, e.remaining_from, e.period_end - date '1970-01-01' as day_number, e.error, false as is_target,
               null::bigint as rank_low, null::bigint as rank_high
        from errors as e
        -- Only the misses some pooled set reads (once every tenant has its own history, none).
        join (
            select quota_name, remaining_from, min(pooled_before) - 365 as first_end, max(pooled_before) as last_end
            from pooled_targets where pooled_periods >= 6 group by all
        ) as used
            on used.quota_name = e.quota_name and used.remaining_from = e.remaining_from
            and e.period_end >= used.first_end and e.period_end < used.last_end
        union all
        select quota_name, remaining_from, pooled_before - date '1970-01-01', null, true,
               greatest(1, floor((pooled_errors + 1) * 0.1))::bigint,
               least(pooled_errors, ceil((pooled_errors + 1) * 0.9))::bigint
        from pooled_targets
        where pooled_periods >= 6
    )
    window pooled_set as (
        partition by quota_name, remaining_from order by day_number
        range between 365 preceding and 1 preceding
    )
)

-- A period's own set when it has one, else the pooled set of its month.
select
    t.tenant,
    t.quota_name,
    t.period_start,
    t.remaining_from,
    case when t.own_periods >= 6 then 'tenant' else 'pooled' end as calibration_source,
    case when t.own_periods >= 6 then t.own_periods else p.pooled_periods end as calibration_periods,
    case when t.own_periods >= 6 then t.own_errors else p.pooled_errors end as calibration_errors,
    coalesce(o.error_low, q.error_low) as error_low,
    coalesce(o.error_high, q.error_high) as error_high
from targets as t
left join own_quantiles as o
    on o.is_target and o.tenant = t.tenant and o.quota_name = t.quota_name
    and o.period_start = t.period_start and o.remaining_from = t.remaining_from
left join pooled_targets as p
    on t.own_periods < 6 and p.pooled_periods >= 6 and p.quota_name = t.quota_name
    and p.remaining_from = t.remaining_from and p.pooled_before = t.pooled_before
left join pooled_quantiles as q
    on q.is_target and q.quota_name = p.quota_name and q.remaining_from = p.remaining_from
    and q.day_number = p.pooled_before - date '1970-01-01'
where t.own_periods >= 6 or p.pooled_periods is not null
