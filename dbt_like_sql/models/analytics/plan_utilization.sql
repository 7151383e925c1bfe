-- Where each tenant stands against its plan: one row per tenant x billing period x quota.
with snapshots as (
    -- A snapshot belongs to the billing period its own period starts in (its capture day if it names none).
    select s.*, p.period_start as billing_period_start
    from raw.usage_summary as s
    join analytics.billing_periods as p
        on p.tenant = s.tenant
        and coalesce(s.period_start, s.captured_at::date) between p.period_start and p.period_end
),

period_snapshot as (
    select *
    from snapshots
    qualify row_number() over (partition by tenant, billing_period_start order by captured_at desc) = 1
),

periods as (
    select
        p.tenant, p.period_start, p.period_end, p.is_current,
        s.billing_status,
        s.captured_at is not null as has_snapshot,
        s.plan as snapshot_plan,
        -- A period without a snapshot takes the plan of the nearest earlier snapshot, else the nearest later one.
        coalesce(
            s.plan,
            last_value(s.plan ignore nulls) over (
                partition by p.tenant order by p.period_start rows between unbounded preceding and 1 preceding),
            first_value(s.plan ignore nulls) over (
                partition by p.tenant order by p.period_start rows between 1 following and unbounded following)
        ) as known_plan,
        s.voice_minutes_used, s.voice_minutes_limit,
        s.api_calls_used, s.api_calls_limit,
        s.storage_mb_used, s.storage_mb_limit,
        coalesce(u.days_loaded, 0) as days_loaded,
        u.voice_minutes as detail_voice_minutes,
        u.api_calls as detail_api_calls
    from analytics.billing_periods as p
    left join period_snapshot as s on s.tenant = p.tenant and s.billing_period_start = p.period_start
    left join analytics.period_usage as u on u.tenant = p.tenant and u.period_start = p.period_start
),

quotas as (
    select
        p.tenant, p.period_start, p.period_end, p.is_current, p.billing_status, p.days_loaded,
        coalesce(p.known_plan, (select min(plan) from seeds.plan_tiers where is_default)) as plan,
        case
            when p.snapshot_plan is not null then 'summary'
            when p.known_plan is not null then 'nearest_summary'
            else 'default'
        end as plan_source,
        q.quota_name,
        case q.quota_name
            when 'voice_minutes' then coalesce(p.detail_voice_minutes, 0)
            when 'api_calls' then coalesce(p.detail_api_calls, 0)
            else p.storage_mb_used
        end as used,
        case q.quota_name
            when 'voice_minutes' then p.voice_minutes_limit
            when 'api_calls' then p.api_calls_limit
            else p.storage_mb_limit
        end as summary_limit,
        -- The summary reported this quota (a null limit there means unlimited) unless used and limit are both absent.
        case q.quota_name
            when 'voice_minutes' then coalesce(p.voice_minutes_used, p.voice_minutes_limit)
            when 'api_calls' then coalesce(p.api_calls_used, p.api_calls_limit)
            else coalesce(p.storage_mb_used, p.storage_mb_limit)
        end is not null as summary_has_quota
    from periods as p
    cross join (values ('voice_minutes'), ('api_calls'), ('storage_mb')) as q(quota_name)
),

utilization as (
    select
        q.*,
        case
            when q.summary_has_quota then q.summary_limit
            when q.quota_name = 'voice_minutes' then t.voice_minutes
            when q.quota_name = 'api_calls' then t.api_calls
            else t.storage_mb
        end as quota,
        case when q.summary_has_quota then 'summary' else 'plan_tier' end as quota_source
    from quotas as q
    left join seeds.plan_tiers as t on t.plan = q.plan
),

scored as (
    select
        u.*,
        case
            when u.quota is null or u.used is null then null
            when u.quota > 0 then 100.0 * u.used / u.quota
            when u.used > 0 then 'infinity'::double  -- any use of a zero quota is an overage
            else 0.0
        end as pct_used
    from utilization as u
)

-- One pass: each row meets the thresholds it reaches and keeps the most severe (group by all = by the row).
select
    s.tenant,
    s.period_start,
    s.period_end,
    s.plan,
    s.billing_status,
    s.quota_name,
    s.used,
    s.quota,
    s.pct_used,
    coalesce(arg_max(t.alert_level, t.severity), 'ok') as alert_level,
    s.quota_source,
    s.plan_source,
    s.days_loaded,
    s.is_current
from scored as s
left join seeds.alert_thresholds as t
    on s.pct_used > t.threshold_pct or (t.inclusive and s.pct_used = t.threshold_pct)
group by all
