-- The actual totals the forecast is judged and calibrated on: complete billing periods (every day
-- loaded) of the metrics with daily detail. Read by forecast_calibration and forecast_backtest.
select tenant, period_start, period_end, quota_name, used::double as actual_total
from analytics.period_quotas
where list_contains(analytics.forecast_quotas(), quota_name) and days_loaded = period_end - period_start + 1
