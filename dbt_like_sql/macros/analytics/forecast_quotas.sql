-- The quotas the forecast covers: those with daily usage detail (voice_minutes, api_calls; storage_mb,
-- known only from summary snapshots, has none). The one list: forecast_projection and
-- forecast_actuals read these quotas, forecast_calibration makes a target per period for each,
-- usage_forecast reports them.
create macro analytics.forecast_quotas() as ['voice_minutes', 'api_calls']
