-- Percent of a base that is not a quota (an actual total, a summary's figure): null when the base is 0
-- or unknown. The forecast's errors and interval widths (forecast_backtest, forecast_accuracy) and the
-- reconciliation's difference use it; a quota's percent is analytics.pct_of_quota.
create macro analytics.pct_of(amount, base) as 100.0 * amount / nullif(base, 0)
