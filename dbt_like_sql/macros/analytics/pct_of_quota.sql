-- Percent of a quota, the one definition: plan_utilization.pct_used (of used) and
-- usage_forecast.projected_pct (of projected_total). Null when the quota is unlimited (null) or the
-- amount unknown; any use of a zero quota is an overage (+infinity); no use of it is 0 %.
-- A display figure: alert levels are decided exactly by analytics.quota_levels, never by this.
create macro analytics.pct_of_quota(amount, quota) as
    case
        when quota is null or amount is null then null
        when quota > 0 then 100.0 * amount::double / quota
        when amount > 0 then 'infinity'::double
        else 0.0
    end
