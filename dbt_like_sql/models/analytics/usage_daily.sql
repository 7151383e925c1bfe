-- Daily usage per tenant and UTC day, as loaded. A day the API omitted inside a loaded window is a
-- row of zeros; a day outside every loaded window has no row (not loaded is not the same as no usage).
select
    tenant,
    usage_date,
    voice_minutes,
    api_calls,
    llm_input_tokens,
    llm_output_tokens,
    -- Null only when the API sent no llm_tokens for the day; one missing side counts as zero.
    case
        when llm_input_tokens is not null or llm_output_tokens is not null
            then coalesce(llm_input_tokens, 0) + coalesce(llm_output_tokens, 0)
    end as llm_total_tokens
from raw.usage_daily
