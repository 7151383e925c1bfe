-- Each tenant x billing period x quota's levels (analytics.quota_levels) as one list. A model that
-- assigns a level asks analytics.level_reached(amount, levels) for the most severe one its amount
-- reaches, rather than joining the levels with a comparison of its own: plan_utilization (used) and
-- usage_forecast (projected_total).
select
    tenant,
    period_start,
    quota_name,
    -- In no order (an ordered list() took 0.25 s at 1,000 tenants, this one 0.09 s): severity first, so
    -- the greatest entry is the most severe level.
    list({'severity': severity, 'alert_level': alert_level, 'usage_to_reach': usage_to_reach}) as levels
from analytics.quota_levels
group by all
