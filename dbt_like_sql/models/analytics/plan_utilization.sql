-- Where each tenant stands against its plan: one row per tenant x billing period x quota.
-- The level is the most severe one of analytics.quota_levels that `used` reaches (analytics.quota_ladders).
select
    q.tenant,
    q.period_start,
    q.period_end,
    q.plan,
    q.billing_status,
    q.quota_name,
    q.used,
    q.quota,
    analytics.pct_of_quota(q.used, q.quota) as pct_used,
    -- Unknown plan or unknown use, unknown level: never an assumed plan's, never "ok" by default.
    case
        when q.quota_source = 'unknown' or q.used is null then 'unknown'
        else coalesce(analytics.level_reached(q.used, l.levels), 'ok')
    end as alert_level,
    q.quota_source,
    q.plan_source,
    q.days_loaded,
    q.is_current,
    q.summary_age_days
from analytics.period_quotas as q
left join analytics.quota_ladders as l
    on l.tenant = q.tenant and l.period_start = q.period_start and l.quota_name = q.quota_name
