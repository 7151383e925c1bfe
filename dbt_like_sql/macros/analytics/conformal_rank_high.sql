-- Split conformal's upper rank among n sorted misses: ceil((n + 1) * 0.9), at most n (see
-- conformal_rank_low).
create macro analytics.conformal_rank_high(n) as least(n, ceil((n + 1) * 0.9))::bigint
