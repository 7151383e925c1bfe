-- Every day of every successfully loaded window has a row: a missing day would read as "not loaded".
select loaded.tenant, day::date as usage_date, loaded.window_start, loaded.window_end
from (select distinct tenant, window_start, window_end from raw._load_log where status = 'loaded') as loaded,
     range(loaded.window_start, loaded.window_end + 1, interval 1 day) as days(day)
where not exists (
    select 1 from raw.usage_daily as u where u.tenant = loaded.tenant and u.usage_date = day::date
)
