-- Billing periods per tenant (inclusive dates). The latest summary snapshot that names a period fixes
-- the tenant's anchor day; every other period keeps that anchor, clamped to short months. A tenant
-- without such a snapshot gets calendar months. Periods cover every day with usage, every snapshot
-- and the current period.
with latest_snapshot as (
    select
        tenant,
        arg_max({'period_start': period_start, 'period_end': period_end}, captured_at) as period
    from raw.usage_summary
    where period_start is not null
    group by tenant
),

usage_span as (
    select tenant, min(usage_date) as first_date, max(usage_date) as last_date
    from raw.usage_daily
    group by tenant
),

snapshot_span as (
    -- A snapshot without a period still marks its capture day as one to cover.
    select
        tenant,
        min(coalesce(period_start, captured_at::date)) as first_date,
        max(coalesce(period_start, captured_at::date)) as last_date
    from raw.usage_summary
    group by tenant
),

cycles as (
    select
        tenants.tenant,
        -- The current period's start may itself be clamped (anchor 31 starts on Feb 28); the day after
        -- its end never is, because every month that follows a short month has 31 days.
        coalesce(greatest(day(s.period_start), day(s.period_end + 1)), 1) as anchor_day,
        s.period_start as current_start,
        least(u.first_date, n.first_date, s.period_start) as span_start,
        greatest(u.last_date, n.last_date, s.period_end) as span_end
    from (select tenant from usage_span union select tenant from snapshot_span) as tenants
    left join (select tenant, unnest(period) from latest_snapshot) as s on s.tenant = tenants.tenant
    left join usage_span as u on u.tenant = tenants.tenant
    left join snapshot_span as n on n.tenant = tenants.tenant
),

month_bounds as (
    -- Months are numbered year * 12 + month - 1. A day belongs to the period starting in its own
    -- month when it is on or after that month's (clamped) anchor, else to the one starting a month earlier.
    select
        tenant, anchor_day, current_start,
        year(span_start) * 12 + month(span_start) - 1
            - case when day(span_start) < least(anchor_day, day(last_day(span_start))) then 1 else 0 end
            as first_month,
        year(span_end) * 12 + month(span_end) - 1
            - case when day(span_end) < least(anchor_day, day(last_day(span_end))) then 1 else 0 end
            as last_month
    from cycles
),

months as (
    select
        tenant, anchor_day, current_start, last_month, month_number,
        make_date(month_number // 12, month_number % 12 + 1, 1) as month_first,
        make_date((month_number + 1) // 12, (month_number + 1) % 12 + 1, 1) as next_month_first
    from (
        select *, unnest(range(first_month, last_month + 1)) as month_number
        from month_bounds
    )
),

periods as (
    select
        tenant, anchor_day, current_start, last_month, month_number,
        make_date(year(month_first), month(month_first), least(anchor_day, day(last_day(month_first))))
            as period_start,
        make_date(year(next_month_first), month(next_month_first), least(anchor_day, day(last_day(next_month_first))))
            - 1 as period_end
    from months
)

select
    tenant,
    period_start,
    period_end,
    (period_end - period_start + 1)::integer as days_in_period,
    anchor_day::integer as anchor_day,
    -- The latest snapshot's period; for a tenant without snapshots, the period of its last loaded day.
    coalesce(period_start = current_start, month_number = last_month) as is_current
from periods
