-- Billing periods per tenant (inclusive dates), following the calendar rather than the last snapshot.
-- The latest summary snapshot that names a period fixes the anchor day; periods roll forward (and
-- back) monthly on that anchor, clamped to short months, so a snapshot months old never pins an old
-- period. A period a snapshot states that is not a whole anchor month (a prorated first period such as
-- 03-10..03-31) is kept as the snapshot says, and the rest of the anchor period it cuts is a period of
-- its own. Tenants without such a snapshot get calendar months. The current period is the one
-- containing the tenant's latest day: its last loaded day or its last snapshot's capture day.
with stated as (
    select tenant, period_start, period_end, max(captured_at) as captured_at
    from raw.usage_summary
    where period_start is not null and period_end >= period_start
    group by tenant, period_start, period_end
),

latest_stated as (
    select
        tenant,
        arg_max(period_start, captured_at) as period_start,
        arg_max(period_end, captured_at) as period_end
    from stated
    group by tenant
),

anchors as (
    -- A whole anchor month starts on the anchor (clamped in short months) and ends the day before the
    -- next month's anchor. The start may be clamped (anchor 31 starts on Feb 28), the day after the end
    -- never is (a month that follows a short one has 31 days): the greater of the two is the anchor.
    -- A prorated period ends the day before an anchor, so that day gives the anchor.
    select
        tenant, period_start, period_end, whole_month_anchor,
        case
            when period_end + 1 = analytics.anchored_day(next_month, whole_month_anchor) then whole_month_anchor
            else day(period_end + 1)
        end as anchor_day
    from (
        select
            *,
            greatest(day(period_start), day(period_end + 1)) as whole_month_anchor,
            (date_trunc('month', period_start) + interval 1 month)::date as next_month
        from latest_stated
    )
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
        max(greatest(coalesce(period_end, captured_at::date), captured_at::date)) as last_date,
        max(captured_at::date) as last_captured
    from raw.usage_summary
    group by tenant
),

cycles as (
    select
        tenants.tenant,
        coalesce(a.anchor_day, 1) as anchor_day,
        greatest(u.last_date, n.last_captured) as latest_day,
        u.last_date as last_loaded_day,
        least(u.first_date, n.first_date) as span_start,
        greatest(u.last_date, n.last_date) as span_end
    from (select tenant from usage_span union select tenant from snapshot_span) as tenants
    left join anchors as a on a.tenant = tenants.tenant
    left join usage_span as u on u.tenant = tenants.tenant
    left join snapshot_span as n on n.tenant = tenants.tenant
),

month_bounds as (
    -- Months are numbered year * 12 + month - 1. A day belongs to the period starting in its own
    -- month when it is on or after that month's (clamped) anchor, else to the one starting a month earlier.
    select
        tenant, anchor_day, latest_day,
        analytics.anchor_month(span_start, anchor_day) as first_month,
        analytics.anchor_month(span_end, anchor_day) as last_month
    from cycles
),

months as (
    select
        tenant, anchor_day, latest_day,
        make_date(month_number // 12, month_number % 12 + 1, 1) as month_first,
        make_date((month_number + 1) // 12, (month_number + 1) % 12 + 1, 1) as next_month_first
    from (
        select *, unnest(range(first_month, last_month + 1)) as month_number
        from month_bounds
    )
),

regular as (
    select
        tenant, anchor_day, latest_day,
        analytics.anchored_day(month_first, anchor_day) as period_start,
        analytics.anchored_day(next_month_first, anchor_day) - 1 as period_end
    from months
),

prorated as (
    -- Stated periods that are not a regular period, unless a later snapshot states one overlapping it.
    select s.tenant, s.period_start, s.period_end
    from stated as s
    where not exists (
            select 1 from regular as r
            where r.tenant = s.tenant and r.period_start = s.period_start and r.period_end = s.period_end)
        and not exists (
            select 1 from stated as later
            where later.tenant = s.tenant and later.captured_at > s.captured_at
                and analytics.periods_overlap(later.period_start, later.period_end, s.period_start, s.period_end))
),

cut_days as (
    -- The days of a regular period that a prorated one overlaps and that it does not cover.
    select r.tenant, r.period_start as regular_start, d::date as day
    from regular as r
    cross join range(r.period_start, r.period_end + 1, interval 1 day) as days(d)
    where exists (
            select 1 from prorated as p
            where p.tenant = r.tenant and analytics.periods_overlap(p.period_start, p.period_end, r.period_start, r.period_end))
        and not exists (
            select 1 from prorated as p
            where p.tenant = r.tenant and d::date between p.period_start and p.period_end)
),

periods as (
    select tenant, period_start, period_end, 'regular' as period_kind
    from regular as r
    where not exists (
        select 1 from prorated as p
        where p.tenant = r.tenant and analytics.periods_overlap(p.period_start, p.period_end, r.period_start, r.period_end))
    union all
    -- A stated whole month under an anchor the tenant had before (a later snapshot moved it) is a
    -- regular period of that anchor, not a prorated one.
    select tenant, period_start, period_end, case
            when period_start = analytics.anchored_day(period_start, whole_month_anchor)
                and period_end + 1 = analytics.anchored_day(
                    (date_trunc('month', period_start) + interval 1 month)::date, whole_month_anchor)
                then 'regular'
            else 'prorated'
        end
    from (select *, greatest(day(period_start), day(period_end + 1)) as whole_month_anchor from prorated)
    union all
    select tenant, min(day), max(day), 'partial'
    from (
        select *, day - (row_number() over (partition by tenant, regular_start order by day))::integer as island
        from cut_days
    )
    group by tenant, regular_start, island
)

select
    p.tenant,
    p.period_start,
    p.period_end,
    (p.period_end - p.period_start + 1)::integer as days_in_period,
    c.anchor_day::integer as anchor_day,
    c.latest_day between p.period_start and p.period_end as is_current,
    p.period_kind,
    c.latest_day,
    c.last_loaded_day,
    least(c.last_loaded_day, p.period_end) as forecast_as_of
from periods as p
join cycles as c on c.tenant = p.tenant
-- A regular period always holds a day to cover; the cut-off rest of one may not.
where analytics.periods_overlap(p.period_start, p.period_end, c.span_start, c.span_end)
