-- The number (year * 12 + month - 1) of the month whose anchored period holds `on_day`: its own month
-- from the anchor day on (analytics.anchored_day), else the month before.
create macro analytics.anchor_month(on_day, anchor_day) as
    year(on_day) * 12 + month(on_day) - 1
        - case when day(on_day) < least(anchor_day, day(last_day(on_day))) then 1 else 0 end
