-- Split conformal's lower rank among n sorted misses: floor((n + 1) * 0.1), at least 1. With the upper
-- rank (conformal_rank_high) a new miss falls between the two 80 % of the time when it behaves like
-- the past ones. Used by every calibration set of analytics.forecast_calibration.
create macro analytics.conformal_rank_low(n) as greatest(1, floor((n + 1) * 0.1))::bigint
