-- The forecast's estimate of a day of the period so far without a loaded value (unknown, not zero): the
-- window's mean daily rate, the mean of the 7 weekday rates, with no growth (the day lies in or next to the
-- window the rates describe). forecast_projection adds it per such day to projected_total, and
-- usage_forecast_daily draws those days at it, so its path ends at projected_total.
create macro analytics.estimated_day(weekday_rates) as list_avg(weekday_rates)
