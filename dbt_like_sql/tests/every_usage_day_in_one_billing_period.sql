-- Every loaded day falls in exactly one billing period of its tenant (no gap, no overlap).
select u.tenant, u.usage_date, count(p.period_start) as periods
from analytics.usage_daily as u
left join analytics.billing_periods as p
    on p.tenant = u.tenant and u.usage_date between p.period_start and p.period_end
group by u.tenant, u.usage_date
having count(p.period_start) <> 1
