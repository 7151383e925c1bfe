-- One bound of a forecast's calibrated relative miss (analytics.forecast_calibration): the tenant's own
-- percentile times its scale when it has 6 periods of its own; with fewer, its own and all tenants'
-- scaled percentiles, each weighted by its number of periods out of 6, times its scale; without a
-- scale, all tenants' unscaled percentile.
create macro analytics.blended_error(own_periods, scale, own_error, pooled_error, unscaled_error) as
    case
        when own_periods >= 6 then scale * own_error
        when pooled_error is not null then scale * (own_periods * coalesce(own_error, 0) + (6 - own_periods) * pooled_error) / 6
        else unscaled_error
    end
