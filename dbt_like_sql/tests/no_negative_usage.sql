-- No metric of a loaded day is negative (the API counts usage; a negative figure is a bad load).
select *
from raw.usage_daily
where voice_minutes < 0 or api_calls < 0 or llm_input_tokens < 0 or llm_output_tokens < 0
