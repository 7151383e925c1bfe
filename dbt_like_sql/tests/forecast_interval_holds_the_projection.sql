-- Every forecast lies inside its own interval, and nothing is forecast below what is already used.
select *
from analytics.forecast_by_day
where projected_low > projected_total + 1e-6 * greatest(1, abs(projected_total))
   or projected_high < projected_total - 1e-6 * greatest(1, abs(projected_total))
   or projected_total < used_to_date - 1e-6 * greatest(1, abs(used_to_date))
