-- The actual totals the forecast is judged and calibrated on: complete billing periods (every day
-- loaded with a value of the metric) of the metrics with daily detail. Read by forecast_calibration and
-- forecast_backtest. A day without the metric's value leaves the total unknown, and its forecasts would
-- have estimated that day (forecast_projection.days_estimated).
select tenant, period_start, period_end, quota_name, used::double as actual_total
from analytics.period_quotas
where list_contains(analytics.forecast_quotas(), quota_name) and days_known = period_end - period_start + 1
