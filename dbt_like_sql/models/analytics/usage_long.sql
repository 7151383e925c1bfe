-- Daily usage in long form, one row per tenant x day x metric: the shape every per-metric model reads,
-- so no model writes its own unpivot. `used` is an exact decimal at the metric's precision (0.001 of
-- the unit): sums and running totals are then the same whatever order DuckDB adds them in, which
-- alert levels at exactly 80 / 95 / 100 % depend on (the vendor sends at most one decimal).
--
-- One branch per metric rather than UNPIVOT: metric and quota_name (the plan quota the metric counts
-- against; LLM tokens have none) are literals of their branch, so a reader's filter on them
-- (`quota_name is not null`, `metric = 'api_calls'`) drops whole branches before any row is read.
select tenant, usage_date, 'voice_minutes' as metric, 'voice_minutes' as quota_name,
    voice_minutes::decimal(38, 3) as used
from analytics.usage_daily
union all
select tenant, usage_date, 'api_calls', 'api_calls', api_calls::decimal(38, 3)
from analytics.usage_daily
union all
select tenant, usage_date, 'llm_input_tokens', null, llm_input_tokens::decimal(38, 3)
from analytics.usage_daily
union all
select tenant, usage_date, 'llm_output_tokens', null, llm_output_tokens::decimal(38, 3)
from analytics.usage_daily
