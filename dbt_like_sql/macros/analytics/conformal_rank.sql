-- Split conformal's rank among n sorted misses for one bound of the 80 % interval: the lower (bound 1)
-- floor((n + 1) * 0.1), at least 1; the upper (bound 2) ceil((n + 1) * 0.9), at most n. A new miss falls
-- between the two 80 % of the time when it behaves like the past ones. Used by every calibration set of
-- analytics.forecast_calibration, where a target has a row per bound.
create macro analytics.conformal_rank(n, bound) as
    case when bound = 1 then greatest(1, floor((n + 1) * 0.1)) else least(n, ceil((n + 1) * 0.9)) end::integer
