-- The one definition of alert levels. For every tenant x billing period x quota with a known, limited
-- quota and every level of seeds.alert_thresholds: the least usage that reaches the level. A level is
-- reached when used >= usage_to_reach, and every model compares that way, so no two disagree:
-- plan_utilization and usage_forecast through analytics.level_reached (on analytics.quota_ladders, these
-- rows as one list per quota), billing_alerts in its join of each level's first day.
--
-- Exact: usage is a DECIMAL(38,3) (analytics.usage_long), and threshold_pct * quota / 100 is rounded up
-- to that grid (an inclusive threshold: 80 % of 25 minutes is reached at 20.000) or to the next step
-- above it (an exclusive one: 100 % of 25 is overage from 25.001). No floating-point percentage decides.
with exact as (
    select
        q.tenant, q.period_start, q.quota_name, q.quota,
        t.alert_level, t.severity, t.threshold_pct, t.inclusive,
        -- DECIMAL * DECIMAL stays exact in DuckDB (a division would turn it into a DOUBLE).
        t.threshold_pct::decimal(9, 3) * q.quota::decimal(18, 3) * 0.01 as threshold_usage
    from analytics.period_quotas as q
    cross join seeds.alert_thresholds as t
    where q.quota is not null
)

select
    tenant,
    period_start,
    quota_name,
    quota,
    alert_level,
    severity,
    threshold_pct,
    -- Any use of a zero quota is an overage; no use at all reaches nothing.
    greatest(
        case
            when inclusive then ceil(threshold_usage * 1000) * 0.001
            else floor(threshold_usage * 1000) * 0.001 + 0.001
        end,
        0.001
    )::decimal(38, 3) as usage_to_reach
from exact
