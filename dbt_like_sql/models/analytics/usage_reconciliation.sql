-- The vendor's own figures against ours: for the latest summary snapshot of each tenant and billing
-- period, the summary's `used` vs the sum of our loaded daily rows over the days the snapshot wholly
-- covers (the period's start through the day before the capture day, UTC), per metric with daily detail.
-- The summary also counts the capture day up to the capture moment, which no loaded day can match: a
-- difference within that day's usage agrees, and until that day is loaded it cannot be judged
-- (comparing through the capture day itself made every current period 'missing_days', since today is
-- never loaded, and once loaded, 'details_higher' by the rest of that day). A positive difference beyond
-- it is usage the vendor counts and we do not have (late usage not re-fetched yet).
with latest_snapshot as (
    select
        tenant, period_start, period_end, captured_at, voice_minutes_used, api_calls_used,
        least(captured_at::date - 1, coalesce(period_end, captured_at::date)) as compared_through,
        -- The day the summary counts only in part: the capture day, when the snapshot was taken after
        -- its midnight and within the period.
        case
            when captured_at > captured_at::date and captured_at::date <= coalesce(period_end, captured_at::date)
                then captured_at::date
        end as capture_day
    from raw.usage_summary
    where period_start is not null
    qualify row_number() over (partition by tenant, period_start order by captured_at desc) = 1
),

summary_figures as (
    select *
    from latest_snapshot
    unpivot include nulls (summary_used for quota_name in (voice_minutes_used as voice_minutes, api_calls_used as api_calls))
),

compared_days as (
    select
        tenant, period_start, quota_name,
        unnest(range(period_start, compared_through + 1, interval 1 day))::date as usage_date
    from summary_figures
),

details as (
    select
        d.tenant, d.period_start, d.quota_name,
        count(*) as days_expected,
        count(u.usage_date) as days_loaded,
        sum(u.used) as used
    from compared_days as d
    left join analytics.usage_long as u
        on u.tenant = d.tenant and u.usage_date = d.usage_date and u.quota_name = d.quota_name
    group by all
),

compared as (
    select
        s.tenant, s.period_start, s.period_end, s.captured_at, s.compared_through, s.capture_day, s.quota_name,
        s.summary_used,
        case when coalesce(d.days_loaded, 0) > 0 then coalesce(d.used, 0) end as details_used,
        c.used as capture_day_used,
        coalesce(d.days_expected, 0) as days_expected,
        coalesce(d.days_loaded, 0) as days_loaded
    from summary_figures as s
    left join details as d on d.tenant = s.tenant and d.period_start = s.period_start and d.quota_name = s.quota_name
    left join analytics.usage_long as c
        on c.tenant = s.tenant and c.usage_date = s.capture_day and c.quota_name = s.quota_name
)

select
    tenant,
    period_start,
    period_end,
    quota_name,
    captured_at,
    compared_through,
    capture_day,
    summary_used,
    details_used,
    summary_used - coalesce(details_used, 0) as difference,
    analytics.pct_of(summary_used - coalesce(details_used, 0), summary_used) as difference_pct,
    capture_day_used,
    days_expected,
    days_loaded,
    days_expected - days_loaded as days_missing,
    -- Half a unit either way is the vendor's rounding (voice minutes to 0.1, calls to 1).
    case
        when summary_used is null then 'no_summary_figure'
        when days_loaded < days_expected then 'missing_days'
        when summary_used - coalesce(details_used, 0) <= -0.5 then 'details_higher'
        when summary_used - coalesce(details_used, 0) < 0.5 then 'match'
        when capture_day is null then 'summary_higher'
        when capture_day_used is null then 'capture_day_pending'
        when summary_used - coalesce(details_used, 0) < capture_day_used + 0.5 then 'match'
        else 'summary_higher'
    end as status
from compared
