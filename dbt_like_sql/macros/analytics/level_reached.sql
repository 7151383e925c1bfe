-- The most severe level of a ladder (analytics.quota_ladders.levels) that an amount reaches, by the
-- comparison analytics.quota_levels defines: amount >= usage_to_reach. A DECIMAL amount (used) is
-- compared exactly, a DOUBLE one (a forecast) as a double. Null when it reaches none, or when there is
-- no ladder (an unlimited or unknown quota). plan_utilization and usage_forecast assign levels with it.
create macro analytics.level_reached(amount, levels) as
    list_max(list_filter(levels, lambda level: amount >= level.usage_to_reach)).alert_level
