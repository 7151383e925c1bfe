-- Stage 3 of the forecast (docs/forecasting.md): how wide the 80 % interval is, learnt from the method's
-- own misses (split conformal, normalized per tenant). For each past forecast of a complete period, the
-- miss relative to the spread the method expected: (actual_total - projected_total) / projected_sd.
-- Tenants miss by different amounts even relative to that spread (weeks of zeros, a month-end peak), so
-- each miss is divided once more by its tenant's scale: the mean absolute relative miss of the tenant's
-- last 6 periods of the same kind (warm or warm-up, see `periods`), in the same days-remaining group.
-- A period's interval is its own scale times the 10th and 90th percentiles of those scaled misses, among
-- forecasts with as many days remaining (grouped 1-3, 4-7, 8-14, 15-21, 22+), from periods that ended
-- before it started: the tenant's own when it has 6 scaled periods among its 12 before; with 1-5, a
-- blend weighted by their number of its own percentiles and all tenants' (periods that ended in the 365
-- days before the period's month); with none and no scale yet, all tenants' unscaled misses. So no
-- interval is judged on the periods that calibrated it, and each only uses data loaded before its period
-- began.
--
-- The misses stay rows: each calibration set is a window frame over them (the tenant's 12 periods
-- before, or all tenants' 365 days before the month), and the percentiles are read from the frame with
-- nth_value(... order by error), so no set is ever built as a list and memory does not grow with them.
-- Only a target's row needs its frame: a miss's row gets an empty one (0 preceding to 1 preceding), so
-- the window reads no set for it (the calibration's build at 1,000 tenants: 11.8 -> 9.8 s). A target's
-- frame is counted in rows (its set's misses and the earlier targets' rows among them), which needs no
-- search by period or day for each row (8.9 -> 7.9 s; the same rows, up to the last bit of a double).
-- The windows' partitions are numbers (set_id, pool_id) and their rows carry no names, so they sort
-- and spill less (6.9-7.2 -> 5.4-6.3 s, the same rows). Each nth_value sorts the frames of its own, so
-- a target has two rows, one per bound, and one nth_value reads both (4.5-4.9 -> 3.4-3.5 s). Their
-- numbers are 4-byte integers, and the two sets of misses the windows read are computed where they are
-- read rather than held for the whole statement: within the writer's 384MB it no longer spills (~300 MB
-- before; 3.11-3.43 -> 2.85-2.94 s, docs/forecasting.md).
with periods as (
    -- A period is warm when the method has its full history on the period's eve: 16 weeks, so the
    -- weekday rates have four weeks and the growth term its two 8-week windows. Warm-up forecasts miss
    -- by more (no growth term, short windows), so a warm period's scale comes from warm periods only.
    select p.tenant, p.period_start, p.period_start - h.first_day >= 112 as is_warm
    from analytics.billing_periods as p
    join (select tenant, min(usage_date) as first_day from analytics.usage_long group by tenant) as h
        on h.tenant = p.tenant
),

errors as not materialized (
    -- Forecasts whose expected spread is zero (an all-zero window) or unknown have no relative miss. A
    -- miss under half the precision usage is kept in (0.001 of the unit, analytics.usage_long) is none:
    -- a forecast that was exactly right still misses by float residue (2.1 + 0.2 is not 2.3 in
    -- doubles), and ~1e-14 as the tenant's scale then divided its next misses into intervals 1e13 wide.
    select
        f.tenant, f.quota_name, f.period_start, f.period_end, f.remaining_from,
        case
            when abs(a.actual_total - f.projected_total) < 0.0005 then 0.0
            else (a.actual_total - f.projected_total) / f.projected_sd
        end as error
    from analytics.forecast_projection as f
    join analytics.forecast_actuals as a
        on a.tenant = f.tenant and a.period_start = f.period_start and a.quota_name = f.quota_name
    where f.remaining_from is not null and f.projected_sd > 0
),

period_errors as (
    select
        tenant, quota_name, period_start, remaining_from, any_value(period_end) as period_end,
        count(*) as errors, sum(abs(error)) as abs_errors
    from errors
    group by all
),

scaled_targets as (
    -- Every period, metric and days-remaining group an interval may be asked for: its place in the
    -- tenant's periods and its scale (null while no earlier period of its kind has misses).
    select
        *,
        case
            when is_warm then sum(e_abs_errors) filter (where e_is_warm) over scale_periods
                / sum(e_errors) filter (where e_is_warm) over scale_periods
            else sum(e_abs_errors) over scale_periods / sum(e_errors) over scale_periods
        end as scale
    from (
        select
            p.tenant, q.quota_name, p.period_start, g.remaining_from, p.is_warm,
            row_number() over (partition by p.tenant, q.quota_name, g.remaining_from order by p.period_start)::integer
                as period_number,
            dense_rank() over (order by p.tenant, q.quota_name, g.remaining_from)::integer as set_id,
            date_trunc('month', p.period_start)::date as pooled_before,
            e.errors as e_errors, e.abs_errors as e_abs_errors, e.is_warm as e_is_warm
        from periods as p
        cross join (select unnest(analytics.forecast_quotas()) as quota_name) as q
        -- the days-remaining groups forecast_projection defines (its remaining_from)
        cross join (select distinct remaining_from from analytics.forecast_projection where remaining_from is not null) as g
        left join (select e.*, w.is_warm from period_errors as e join periods as w using (tenant, period_start)) as e
            on e.tenant = p.tenant and e.period_start = p.period_start
            and e.quota_name = q.quota_name and e.remaining_from = g.remaining_from
    )
    window scale_periods as (
        partition by tenant, quota_name, remaining_from order by period_number
        rows between 6 preceding and 1 preceding
    )
),

targets as (
    -- The size of a target's own calibration set: its 12 periods before whose misses have a scale (none
    -- while the target has no scale itself).
    select
        *,
        case when scale > 0 then count(case when scale > 0 then e_errors end) over earlier_periods else 0 end
            as own_periods,
        case when scale > 0 then coalesce(sum(case when scale > 0 then e_errors end) over earlier_periods, 0) else 0 end
            as own_errors,
        -- The rows own_quantiles' frame spans: these misses, and two rows per earlier period with a scale.
        case when scale > 0 then own_errors + 2 * count(case when scale > 0 then 1 end) over earlier_periods end::integer
            as own_set_rows
    from scaled_targets
    window earlier_periods as (
        partition by tenant, quota_name, remaining_from order by period_number
        rows between 12 preceding and 1 preceding
    )
),

scaled_errors as not materialized (
    -- Each miss divided by its tenant's scale as of its own period (misses without one are left out).
    select t.set_id, t.quota_name, t.remaining_from, t.period_number, e.period_end, e.error / t.scale as error
    from errors as e
    join targets as t using (tenant, quota_name, period_start, remaining_from)
    where t.scale > 0
),

pooled_targets as (
    -- All tenants' misses, for the months where some tenant lacks 6 periods of its own: scaled (for
    -- targets with a scale) and unscaled (for those without one yet).
    select
        m.quota_name, m.remaining_from, m.pooled_before, e.scaled,
        count(*) as pooled_periods,
        sum(e.errors) as pooled_errors
    from (select distinct quota_name, remaining_from, pooled_before from targets where own_periods < 6) as m
    join (
        select e.*, t.scale > 0 as scaled
        from period_errors as e
        join targets as t using (tenant, quota_name, period_start, remaining_from)
        where t.scale > 0
        union all
        select e.*, false from period_errors as e
    ) as e
        on e.quota_name = m.quota_name and e.remaining_from = m.remaining_from
        and e.period_end < m.pooled_before and e.period_end >= m.pooled_before - 365
    group by all
    having count(*) >= 6
),

own_quantiles as (
    -- A target's two rows, its lower bound's and then its upper's, sit after its 12 earlier periods' scaled
    -- misses (and their own target rows, whose errors are null and sort last); each row's frame holds
    -- exactly its set (the upper row's reaches over the lower one), and the row carries split conformal's
    -- rank for its bound (macros/analytics/conformal_rank). Every period with a scale has two rows, so
    -- the frame is counted in rows (own_set_rows), like pooled_quantiles'.
    select
        set_id, period_number,
        any_value(error) filter (where bound = 1) as error_low,
        any_value(error) filter (where bound = 2) as error_high
    from (
        select
            set_id, period_number, bound,
            nth_value(error, error_rank order by error nulls last) over own_set as error
        from (
            select
                set_id, period_number, error, null::utinyint as bound, null::integer as error_rank, 0 as set_rows
            from scaled_errors
            union all
            select t.set_id, t.period_number, null, b.bound,
                   case when t.own_periods >= 1 then analytics.conformal_rank(t.own_errors, b.bound) end,
                   t.own_set_rows + b.bound - 1
            from targets as t
            cross join (values (1::utinyint), (2::utinyint)) as b(bound)
            where t.scale > 0
        )
        window own_set as (
            partition by set_id order by period_number, bound nulls last
            rows between set_rows preceding and 1 preceding
        )
    )
    where bound is not null
    group by all
),

pools as (
    -- The pooled sets' partitions (metric, days-remaining group, scaled or not), numbered so the window
    -- below sorts and carries numbers only, and the range of period ends some pooled set reads (once
    -- every tenant has its own history, none).
    select
        row_number() over ()::integer as pool_id, quota_name, remaining_from, scaled,
        min(pooled_before) - 365 as first_end, max(pooled_before) as last_end
    from pooled_targets
    group by quota_name, remaining_from, scaled
),

pooled_quantiles as (
    -- The same over all tenants: a month's two rows sit after the misses of periods that ended in the 365
    -- days before it, scaled or not, and before those of its own day. Their frames are counted in rows:
    -- those misses (pooled_errors) and the earlier months' rows among them.
    select
        pool_id, set_day,
        any_value(error) filter (where bound = 1) as error_low,
        any_value(error) filter (where bound = 2) as error_high
    from (
        select
            pool_id, set_day, bound,
            nth_value(error, error_rank order by error nulls last) over pooled_set as error
        from (
            select p.pool_id, e.period_end as set_day, e.error,
                   null::utinyint as bound, null::integer as error_rank, 0 as set_rows
            from (
                select quota_name, remaining_from, period_end, error, true as scaled from scaled_errors
                union all
                select quota_name, remaining_from, period_end, error, false from errors
            ) as e
            join pools as p
                on p.quota_name = e.quota_name and p.remaining_from = e.remaining_from and p.scaled = e.scaled
                and e.period_end >= p.first_end and e.period_end < p.last_end
            union all
            select t.pool_id, t.pooled_before, null, b.bound,
                   analytics.conformal_rank(t.pooled_errors, b.bound),
                   (t.pooled_errors + 2 * t.earlier_months + b.bound - 1)::integer
            from (
                select p.pool_id, t.pooled_before, t.pooled_errors, count(*) over (
                    partition by p.pool_id order by t.pooled_before
                    range between interval 365 day preceding and interval 1 day preceding
                ) as earlier_months
                from pooled_targets as t
                join pools as p using (quota_name, remaining_from, scaled)
            ) as t
            cross join (values (1::utinyint), (2::utinyint)) as b(bound)
        )
        window pooled_set as (
            partition by pool_id order by set_day, bound nulls last
            rows between set_rows preceding and 1 preceding
        )
    )
    where bound is not null
    group by all
),

pooled as (
    -- A month's pooled percentiles, scaled and unscaled, with the set sizes they came from.
    select t.quota_name, t.remaining_from, t.pooled_before, t.scaled, t.pooled_periods, t.pooled_errors,
           q.error_low, q.error_high
    from pooled_targets as t
    join pools as p using (quota_name, remaining_from, scaled)
    join pooled_quantiles as q
        on q.pool_id = p.pool_id and q.set_day = t.pooled_before
),

chosen as (
    -- A target's own set when it has 6 periods; else all tenants' scaled misses (blended with its own
    -- when it has 1-5 periods, each weighted by its number of periods out of 6); else all tenants'
    -- unscaled misses. The percentiles of scaled misses are times the target's scale.
    select
        t.tenant, t.quota_name, t.period_start, t.remaining_from,
        case when t.own_periods >= 6 then 'tenant' else 'pooled' end as calibration_source,
        case when t.own_periods >= 6 then t.own_periods else coalesce(s.pooled_periods, r.pooled_periods) end
            as calibration_periods,
        case when t.own_periods >= 6 then t.own_errors else coalesce(s.pooled_errors, r.pooled_errors) end
            as calibration_errors,
        analytics.blended_error(t.own_periods, t.scale, o.error_low, s.error_low, r.error_low) as error_low,
        analytics.blended_error(t.own_periods, t.scale, o.error_high, s.error_high, r.error_high) as error_high
    from targets as t
    left join own_quantiles as o
        on o.set_id = t.set_id and o.period_number = t.period_number
    left join pooled as s
        on t.own_periods < 6 and t.scale > 0 and s.scaled and s.quota_name = t.quota_name
        and s.remaining_from = t.remaining_from and s.pooled_before = t.pooled_before
    left join pooled as r
        on t.own_periods < 6 and not r.scaled and r.quota_name = t.quota_name
        and r.remaining_from = t.remaining_from and r.pooled_before = t.pooled_before
)

select *
from chosen
where error_low is not null
