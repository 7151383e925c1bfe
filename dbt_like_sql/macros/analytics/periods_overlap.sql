-- Whether two spans of days (first and last day included) share a day.
create macro analytics.periods_overlap(a_start, a_end, b_start, b_end) as a_start <= b_end and a_end >= b_start
