-- Every forecast the method makes, day by day, with its 80 % interval: analytics.forecast_projection
-- (stage 2) meets the relative misses of analytics.forecast_calibration (stage 3) for its period,
-- metric and days remaining. usage_forecast reads the latest row; forecast_backtest the past periods'.
-- See docs/forecasting.md for the method and its measured coverage.
select
    f.tenant,
    f.quota_name,
    f.period_start,
    f.period_end,
    f.as_of_date,
    f.days_elapsed,
    f.days_in_period,
    f.used_to_date,
    f.days_estimated,
    f.projected_total,
    -- The projection plus the 10th / 90th percentile of past relative misses times the expected spread;
    -- widened to hold the projection itself, and never below what is used. Nothing left: no spread.
    -- No interval without calibration, or without a spread to scale: under two weeks in the window, or
    -- a window without any spread (a zero-width interval there held 0.2 % of actuals in the sandbox
    -- backtest: small quantized usage is never exactly as projected).
    case
        when f.days_remaining = 0 then f.projected_total
        when f.projected_sd > 0 and c.error_low is not null then greatest(f.used_to_date, least(
            f.projected_total, f.projected_total + c.error_low * f.projected_sd
        ))
    end as projected_low,
    case
        when f.days_remaining = 0 then f.projected_total
        when f.projected_sd > 0 and c.error_high is not null
            then greatest(f.projected_total, f.projected_total + c.error_high * f.projected_sd)
    end as projected_high,
    f.naive_projected_total,
    f.weekday_rates,
    f.daily_growth,
    f.window_days,
    f.days_remaining,
    f.projected_sd,
    c.calibration_source,
    c.calibration_periods
from analytics.forecast_projection as f
left join analytics.forecast_calibration as c
    on c.tenant = f.tenant and c.quota_name = f.quota_name and c.period_start = f.period_start
    and c.remaining_from = f.remaining_from
