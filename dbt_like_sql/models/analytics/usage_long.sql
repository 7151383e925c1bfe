-- Daily usage in long form, one row per tenant x day x metric: the shape every per-metric model reads,
-- so no model writes its own unpivot. `used` is an exact decimal at the metric's precision (0.001 of
-- the unit): sums and running totals are then the same whatever order DuckDB adds them in, which
-- alert levels at exactly 80 / 95 / 100 % depend on (the vendor sends at most one decimal).
select
    tenant,
    usage_date,
    metric,
    -- The plan quota the metric counts against; LLM tokens have none.
    case when metric in ('voice_minutes', 'api_calls') then metric end as quota_name,
    used::decimal(38, 3) as used
from (select tenant, usage_date, voice_minutes, api_calls, llm_input_tokens, llm_output_tokens from analytics.usage_daily)
unpivot include nulls (used for metric in (voice_minutes, api_calls, llm_input_tokens, llm_output_tokens))
