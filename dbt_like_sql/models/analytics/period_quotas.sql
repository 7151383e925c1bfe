-- Each tenant x billing period x quota: what was used and the quota it counts against, with where the
-- plan and the quota come from. plan_utilization adds the alert level; analytics.quota_levels turns
-- the quotas into the usage that reaches each level.
with periods as (
    select
        p.tenant, p.period_start, p.period_end, p.is_current,
        -- How old the tenant's latest snapshot is on its latest day (null without any snapshot).
        date_diff('day', c.last_captured, p.latest_day) as summary_age_days,
        s.billing_status,
        s.plan as snapshot_plan,
        -- A period without a snapshot takes the plan of the nearest earlier snapshot, else the nearest later one.
        coalesce(
            s.plan,
            last_value(s.plan ignore nulls) over (
                partition by p.tenant order by p.period_start rows between unbounded preceding and 1 preceding),
            first_value(s.plan ignore nulls) over (
                partition by p.tenant order by p.period_start rows between 1 following and unbounded following)
        ) as known_plan,
        -- ... and the limits of that snapshot's period: a tenant's own limits go with its plan (an
        -- enterprise deal's 1,500 minutes were read as the tier's unlimited in the periods before it).
        case when s.billing_period_start is null then coalesce(
            last_value(s.billing_period_start ignore nulls) over (
                partition by p.tenant order by p.period_start rows between unbounded preceding and 1 preceding),
            first_value(s.billing_period_start ignore nulls) over (
                partition by p.tenant order by p.period_start rows between 1 following and unbounded following)
        ) end as nearest_snapshot_period,
        coalesce(u.days_loaded, 0) as days_loaded
    from analytics.billing_periods as p
    left join analytics.period_snapshots as s
        on s.tenant = p.tenant and s.billing_period_start = p.period_start and s.is_latest_in_period
    left join analytics.period_usage as u on u.tenant = p.tenant and u.period_start = p.period_start
    left join (select tenant, max(captured_at)::date as last_captured from raw.usage_summary group by tenant) as c
        on c.tenant = p.tenant
),

planned as (
    -- No plan is ever assumed: without any snapshot, the plan declared in the tenants file, else none.
    select
        p.*,
        coalesce(p.known_plan, d.plan) as plan,
        case
            when p.snapshot_plan is not null then 'summary'
            when p.known_plan is not null then 'nearest_summary'
            when d.plan is not null then 'declared'
            else 'unknown'
        end as plan_source
    from periods as p
    left join raw.tenant_plans as d on d.tenant = p.tenant
),

tier_quotas as (
    -- A null quota in the tier table is unlimited.
    select plan, quota_name, quota
    from (select plan, voice_minutes, api_calls, storage_mb from seeds.plan_tiers)
    unpivot include nulls (quota for quota_name in (voice_minutes, api_calls, storage_mb))
),

summary_quotas as (
    select tenant, billing_period_start as period_start, quota_name, summary_used, summary_limit
    from (select * from analytics.period_snapshots where is_latest_in_period)
    unpivot include nulls ((summary_used, summary_limit) for quota_name in (
        (voice_minutes_used, voice_minutes_limit) as voice_minutes,
        (api_calls_used, api_calls_limit) as api_calls,
        (storage_mb_used, storage_mb_limit) as storage_mb
    ))
),

detail_used as (
    -- days_known: a loaded day may not report a metric (null, "not reported" is not zero)
    select tenant, period_start, quota_name, sum(used) as used, count(used) as days_known
    from analytics.usage_by_period
    where quota_name is not null
    group by all
),

quotas as (
    select
        p.*, n.quota_name, t.quota as tier_quota, s.summary_used, s.summary_limit,
        -- The summary reported the quota (a null limit there means unlimited) unless used and limit are both absent.
        coalesce(s.summary_used, s.summary_limit) is not null as summary_has_quota,
        e.summary_limit as nearest_limit,
        coalesce(e.summary_used, e.summary_limit) is not null as nearest_has_quota
    from planned as p
    cross join (select distinct quota_name from tier_quotas) as n
    left join tier_quotas as t on t.plan = p.plan and t.quota_name = n.quota_name
    left join summary_quotas as s
        on s.tenant = p.tenant and s.period_start = p.period_start and s.quota_name = n.quota_name
    left join summary_quotas as e
        on e.tenant = p.tenant and e.period_start = p.nearest_snapshot_period and e.quota_name = n.quota_name
)

select
    q.tenant,
    q.period_start,
    q.period_end,
    q.plan,
    q.plan_source,
    q.billing_status,
    q.quota_name,
    -- Voice minutes and API calls: the loaded days' sum, unknown (null) while no day of the period is
    -- loaded (a period known only from a snapshot: 0 there read as "0 %, ok" beside a vendor figure in
    -- overage); storage: the period's latest snapshot figure.
    case
        when q.quota_name = 'storage_mb' then q.summary_used::decimal(38, 3)
        when q.days_loaded > 0 then coalesce(d.used, 0)
    end as used,
    case
        when q.summary_has_quota then q.summary_limit
        when q.nearest_has_quota then q.nearest_limit
        else q.tier_quota
    end as quota,
    case
        when q.summary_has_quota then 'summary'
        when q.nearest_has_quota then 'nearest_summary'
        when q.plan is not null then 'plan_tier'
        else 'unknown'
    end as quota_source,
    q.days_loaded,
    case when q.quota_name <> 'storage_mb' then coalesce(d.days_known, 0) end as days_known,
    q.is_current,
    q.summary_age_days
from quotas as q
left join detail_used as d on d.tenant = q.tenant and d.period_start = q.period_start and d.quota_name = q.quota_name
